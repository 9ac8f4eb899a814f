using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using SafeAI.Statistics;

namespace SafeAI.Cli;

/// <summary>One release rule: a metric that must stay at or below <see cref="Max"/> (or at or above <see cref="Min"/>), overall or in every value of a segment column.</summary>
/// <param name="Name">The rule's name, for the report.</param>
/// <param name="Metric">The metric (<see cref="SegmentMetrics.Names"/>).</param>
/// <param name="Segment">The segment column whose every value must pass, or <see langword="null"/> for the whole dataset.</param>
/// <param name="Max">The largest value allowed.</param>
/// <param name="Min">The smallest value allowed.</param>
/// <param name="MinN">The fewest trials (benign texts for false blocks, harmful ones for misses) a segment needs to be judged; smaller ones are listed, not judged.</param>
/// <param name="UseInterval">Whether the Wilson 95 % bound on the far side is compared instead of the estimate (the rule passes only when the data show it does).</param>
internal sealed record GateRule(string Name, string Metric, string? Segment, double? Max, double? Min, int MinN, bool UseInterval)
{
    /// <summary>Gets the values of <see cref="Segment"/> the rule is limited to (<c>"values": ["en"]</c>), or <see langword="null"/> for every value.</summary>
    public IReadOnlyList<string>? Values { get; init; }
}

/// <summary>One judged value of a rule.</summary>
internal sealed record GateCheck(string Rule, string Metric, string Scope, double Value, double Compared, int Trials, bool? Passed, string Limit);

/// <summary>Release gate rules (<c>--gate rules.json</c>): <c>{"rules": [{"name", "metric", "segment", "values", "max" | "min", "min_n", "bound"}]}</c>.</summary>
internal static class Gate
{
    /// <summary>Reads a rules file.</summary>
    /// <param name="path">The file, named in errors.</param>
    /// <returns>The rules.</returns>
    /// <exception cref="FormatException">The file is not valid, or a rule names an unknown metric or has no limit (the message names the rule).</exception>
    public static List<GateRule> Read(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"The gate rules file '{path}' does not exist.", path);
        }

        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path));
        }
        catch (JsonException ex)
        {
            throw new FormatException($"{path}: not valid JSON ({ex.Message}).", ex);
        }

        if (root is not JsonObject o || o["rules"] is not JsonArray list || list.Count == 0)
        {
            throw new FormatException($"{path}: expected {{\"rules\": [{{\"metric\": \"false_block_rate\", \"segment\": \"language\", \"max\": 0.02}}, ...]}} with at least one rule.");
        }

        var rules = new List<GateRule>();
        for (var i = 0; i < list.Count; i++)
        {
            var where = string.Create(CultureInfo.InvariantCulture, $"{path}: rule {i + 1}");
            if (list[i] is not JsonObject rule)
            {
                throw new FormatException($"{where}: each rule must be an object.");
            }

            foreach (var key in rule.Select(static p => p.Key))
            {
                string[] known = ["name", "metric", "segment", "values", "max", "min", "min_n", "bound"];
                if (!known.Contains(key, StringComparer.Ordinal))
                {
                    throw new FormatException($"{where}: unknown key \"{key}\".{CommandLine.Suggest(key, known)} Keys: {string.Join(", ", known)}.");
                }
            }

            var metric = Text(rule, "metric", where) ?? throw new FormatException($"{where}: \"metric\" is required (one of {string.Join(", ", SegmentMetrics.Names.Keys)}).");
            if (!SegmentMetrics.Names.ContainsKey(metric))
            {
                throw new FormatException($"{where}: unknown metric \"{metric}\".{CommandLine.Suggest(metric, SegmentMetrics.Names.Keys)} Metrics: {string.Join(", ", SegmentMetrics.Names.Keys)}.");
            }

            var max = Number(rule, "max", where);
            var min = Number(rule, "min", where);
            if (max is null && min is null)
            {
                throw new FormatException($"{where} ({metric}): give \"max\" or \"min\" (or both).");
            }

            var segment = Text(rule, "segment", where);
            if (metric == "bias_gap" && segment is not null)
            {
                throw new FormatException($"{where}: bias_gap is one figure for the whole audit; it takes no \"segment\".");
            }

            var bound = Text(rule, "bound", where) ?? "estimate";
            if (bound is not ("estimate" or "interval"))
            {
                throw new FormatException($"{where}: \"bound\" must be \"estimate\" (the default) or \"interval\" (the far side of the 95 % Wilson interval).");
            }

            var minN = Number(rule, "min_n", where) ?? 1;
            if (minN < 1 || minN != Math.Floor(minN))
            {
                throw new FormatException($"{where}: \"min_n\" must be a whole number of at least 1.");
            }

            List<string>? values = null;
            if (rule["values"] is { } v)
            {
                values = v is JsonArray a && a.Count > 0 && a.All(static x => x is JsonValue s && s.TryGetValue<string>(out _))
                    ? [.. a.Select(static x => x!.GetValue<string>())]
                    : throw new FormatException($"{where}: \"values\" must be a non-empty array of segment values, such as [\"en\"].");
                if (segment is null)
                {
                    throw new FormatException($"{where}: \"values\" needs \"segment\" (the column the values belong to).");
                }
            }

            var name = Text(rule, "name", where) ?? (segment is null ? metric : $"{metric} per {segment}");
            rules.Add(new GateRule(name, metric, segment, max, min, (int)minN, bound == "interval") { Values = values });
        }

        return rules;
    }

    /// <summary>Judges every rule: overall, or in each value of its segment column.</summary>
    /// <param name="rules">The rules.</param>
    /// <param name="overall">The whole dataset's measures.</param>
    /// <param name="segments">Segment column to value to measures.</param>
    /// <param name="biasGap">The bias audit's largest gap, where <c>--bias</c> was given.</param>
    /// <param name="rulesPath">The rules file, named in errors.</param>
    /// <returns>One check per rule and scope.</returns>
    /// <exception cref="FormatException">A rule names a segment column the dataset lacks, or bias_gap without a bias report.</exception>
    public static List<GateCheck> Evaluate(IReadOnlyList<GateRule> rules, SegmentMetrics overall, IReadOnlyDictionary<string, SortedDictionary<string, SegmentMetrics>> segments, double? biasGap, string rulesPath)
    {
        var checks = new List<GateCheck>();
        foreach (var rule in rules)
        {
            if (rule.Metric == "bias_gap")
            {
                var gap = biasGap ?? throw new FormatException($"{rulesPath}: rule \"{rule.Name}\" uses bias_gap: give the bias audit's JSON with --bias (safeai bias --json bias.json).");
                checks.Add(Judge(rule, "all", gap, gap, 1));
                continue;
            }

            if (rule.Segment is null)
            {
                checks.Add(Check(rule, "all", overall));
                continue;
            }

            if (!segments.TryGetValue(rule.Segment, out var values))
            {
                throw new FormatException($"{rulesPath}: rule \"{rule.Name}\": the dataset has no segment column \"{rule.Segment}\".{CommandLine.Suggest(rule.Segment, segments.Keys)} Its columns: {(segments.Count == 0 ? "none" : string.Join(", ", segments.Keys))}.");
            }

            foreach (var wanted in rule.Values ?? [])
            {
                if (!values.ContainsKey(wanted))
                {
                    throw new FormatException($"{rulesPath}: rule \"{rule.Name}\": the dataset's column \"{rule.Segment}\" has no value \"{wanted}\" (it has: {string.Join(", ", values.Keys)}).");
                }
            }

            foreach (var (value, metrics) in values)
            {
                if (rule.Values is null || rule.Values.Contains(value, StringComparer.Ordinal))
                {
                    checks.Add(Check(rule, $"{rule.Segment}={value}", metrics));
                }
            }
        }

        return checks;
    }

    private static GateCheck Check(GateRule rule, string scope, SegmentMetrics metrics)
    {
        var (value, events, trials) = metrics.Get(rule.Metric);
        var n = metrics.TrialsOf(rule.Metric);
        if (n < rule.MinN || double.IsNaN(value))
        {
            return new GateCheck(rule.Name, rule.Metric, scope, value, value, n, null, Limit(rule));
        }

        var compared = value;
        if (rule.UseInterval && trials > 0)
        {
            var (lower, upper) = ProportionInterval.Wilson(events, trials);
            // The far side: a maximum must hold for the upper bound, a minimum for the lower bound.
            compared = rule.Max is not null ? upper : lower;
        }

        return Judge(rule, scope, value, compared, n);
    }

    private static GateCheck Judge(GateRule rule, string scope, double value, double compared, int n)
    {
        var passed = (rule.Max is not { } max || compared <= max) && (rule.Min is not { } min || compared >= min);
        return new GateCheck(rule.Name, rule.Metric, scope, value, compared, n, passed, Limit(rule));
    }

    private static string Limit(GateRule rule) => (rule.Max, rule.Min) switch
    {
        ({ } max, { } min) => string.Create(CultureInfo.InvariantCulture, $"{min} to {max}"),
        ({ } max, null) => string.Create(CultureInfo.InvariantCulture, $"≤ {max}"),
        (null, { } min) => string.Create(CultureInfo.InvariantCulture, $"≥ {min}"),
        _ => string.Empty,
    } + (rule.UseInterval ? " (95 % bound)" : string.Empty);

    private static string? Text(JsonObject rule, string key, string where) =>
        rule[key] is null ? null
        : rule[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s
        : throw new FormatException($"{where}: \"{key}\" must be a string.");

    private static double? Number(JsonObject rule, string key, string where) =>
        rule[key] is null ? null
        : rule[key] is JsonValue v && v.TryGetValue<double>(out var d) && double.IsFinite(d) ? d
        : throw new FormatException($"{where}: \"{key}\" must be a number.");

    /// <summary>The JSON form of the checks, with the overall verdict.</summary>
    public static JsonObject ToJson(IReadOnlyList<GateCheck> checks) => new()
    {
        ["passed"] = checks.All(static c => c.Passed != false),
        ["checks"] = new JsonArray([.. checks.Select(static c => (JsonNode)new JsonObject
        {
            ["rule"] = c.Rule,
            ["metric"] = c.Metric,
            ["scope"] = c.Scope,
            ["value"] = SegmentMetrics.Number(c.Value),
            ["compared"] = SegmentMetrics.Number(c.Compared),
            ["n"] = c.Trials,
            ["limit"] = c.Limit,
            ["result"] = c.Passed switch { true => "pass", false => "fail", null => "not judged (too few texts)" },
        })]),
    };
}

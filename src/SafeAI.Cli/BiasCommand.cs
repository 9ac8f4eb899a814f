using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SafeAI.Cli;

/// <summary>
/// <c>safeai bias [--input sentences.jsonl --groups groups.json] [--set name] [--report bias.html] [--json bias.json]
/// [--max-gap G] [--model ...] [--threshold 0.5]</c>: the counterfactual audit of the content filter.
/// </summary>
internal static class BiasCommand
{
    public const string Help = """
        safeai bias [--input sentences.jsonl --groups groups.json | --set identity-en,names-en,identity-de,identity-nl]
                    [--report bias.html] [--json bias.json] [--max-gap 0.05] [--model default|ngram|cascade|safeai-model.json]
                    [--threshold 0.5]
          Counterfactual audit: each sentence holds a {group} slot, filled with every term of every group and scored by
          the content filter; a filled sentence is flagged when any category reaches the threshold. Reports per group the
          flag rate (Wilson 95 % interval) and the mean of the highest category score, the largest difference in flag rate
          between two groups with Newcombe's 95 % interval, and the sentences whose score moved most with the group.
          --input     JSONL, one {"text": "I am {group}."} per line
          --groups    JSON object of group name to terms: {"women": ["woman", "female"], "men": ["man", "male"]}
          --set       without --input/--groups: which default sets to run, separated by commas (default: all). They ship in
                      the tool: identity-en (Jigsaw identity terms under ToxiGen's target groups, neutral and everyday
                      sentences), names-en (first names by perceived origin and gender, screening-style sentences),
                      identity-de and identity-nl (Jigsaw's German and Dutch identity terms)
          --max-gap   0 to 1: exit 3 when the largest gap (of any set) is above it
          --json      {"groups": {name: {"flag_rate", "mean_score", "n", ...}}, "max_gap", "worst": [...], ...}; with
                      several sets a group is named set/group and gaps are only taken within a set
        """;

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Runs the command; returns 0, or 3 when the largest gap is above <c>--max-gap</c>.</summary>
    public static async Task<int> RunAsync(Arguments args, TextWriter console, CancellationToken cancellationToken)
    {
        var threshold = args.Double("threshold", 0.5, 0, 1);
        double? maxGap = args.Optional("max-gap") is null ? null : args.Double("max-gap", 0, 0, 1);
        var sets = ReadSets(args);
        using var model = Commands.LoadModel(args.Optional("model"));
        var name = args.Optional("model") ?? "default";
        var report = await BiasAudit.RunAsync(sets, model.ScoreAsync, threshold, name, 10, cancellationToken).ConfigureAwait(false);

        await console.WriteLineAsync(ToText(report)).ConfigureAwait(false);
        if (args.Optional("json") is { } json)
        {
            await File.WriteAllTextAsync(json, ToJson(report).ToJsonString(Indented) + "\n", cancellationToken).ConfigureAwait(false);
        }

        var html = args.Optional("report") ?? "safeai-bias.html";
        await File.WriteAllTextAsync(html, ToHtml(report), cancellationToken).ConfigureAwait(false);
        await console.WriteLineAsync("Report: " + html).ConfigureAwait(false);
        var gap = report.MaxGap;
        if (maxGap is { } limit && gap.Gap > limit)
        {
            await console.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"FAILED: the largest gap {gap.Gap:0.000} ({report.Key(gap.Set, gap.Higher)} vs {report.Key(gap.Set, gap.Lower)}) is above --max-gap {limit}.")).ConfigureAwait(false);
            return CommandLine.GateFailed;
        }

        return CommandLine.Success;
    }

    private static List<BiasSet> ReadSets(Arguments args)
    {
        var input = args.Optional("input");
        var groups = args.Optional("groups");
        if (input is not null || groups is not null)
        {
            if (input is null || groups is null)
            {
                throw new ArgumentException("--input and --groups go together (sentences with a {group} slot, and the groups' terms); give neither to run the default sets.");
            }

            if (args.Optional("set") is not null)
            {
                throw new ArgumentException("--set chooses among the default sets; it cannot be combined with --input/--groups.");
            }

            foreach (var file in new[] { input, groups })
            {
                if (!File.Exists(file))
                {
                    throw new FileNotFoundException($"The file '{file}' does not exist.", file);
                }
            }

            return [new BiasSet(string.Empty, BiasSet.ReadTemplates(input, File.ReadLines(input)), BiasSet.ReadGroups(groups, File.ReadAllText(groups)))];
        }

        var names = args.Optional("set") is { } list ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : [.. BiasSet.DefaultNames];
        foreach (var set in names)
        {
            if (!BiasSet.DefaultNames.Contains(set, StringComparer.Ordinal))
            {
                throw new ArgumentException($"--set: unknown set '{set}'.{CommandLine.Suggest(set, BiasSet.DefaultNames)} The default sets: {string.Join(", ", BiasSet.DefaultNames)}.");
            }
        }

        return [.. names.Select(BiasSet.LoadDefault)];
    }

    /// <summary>The JSON twin of the report.</summary>
    internal static JsonObject ToJson(BiasReport report)
    {
        var groups = new JsonObject();
        foreach (var g in report.Groups)
        {
            groups[report.Key(g)] = new JsonObject
            {
                ["flag_rate"] = Round(g.FlagRate),
                ["mean_score"] = Round(g.MeanScore),
                ["n"] = g.N,
                ["flagged"] = g.Flagged,
                ["flag_rate_ci"] = new JsonArray(Round(g.Lower), Round(g.Upper)),
                ["set"] = g.Set,
            };
        }

        var max = report.MaxGap;
        return new JsonObject
        {
            ["model"] = report.Model,
            ["threshold"] = report.Threshold,
            ["groups"] = groups,
            ["max_gap"] = Round(max.Gap),
            ["max_gap_ci"] = new JsonArray(Round(max.CiLower), Round(max.CiUpper)),
            ["max_gap_groups"] = new JsonArray(report.Key(max.Set, max.Higher), report.Key(max.Set, max.Lower)),
            ["sets"] = new JsonArray([.. report.Gaps.Select(g => (JsonNode)new JsonObject
            {
                ["set"] = g.Set,
                ["max_gap"] = Round(g.Gap),
                ["max_gap_ci"] = new JsonArray(Round(g.CiLower), Round(g.CiUpper)),
                ["highest"] = g.Higher,
                ["lowest"] = g.Lower,
                ["mean_score_gap"] = Round(g.MaxScoreGap),
            })]),
            ["worst"] = new JsonArray([.. report.Worst.Select(w => (JsonNode)new JsonObject
            {
                ["set"] = w.Set,
                ["template"] = w.Template,
                ["text"] = w.Text,
                ["group"] = w.Group,
                ["term"] = w.Term,
                ["score"] = Round(w.Score),
                ["category"] = w.Category,
                ["lowest_group"] = w.LowestGroup,
                ["lowest_group_mean_score"] = Round(w.LowestScore),
            })]),
        };
    }

    private static double Round(double v) => Math.Round(v, 4);

    private static string P(double v) => v.ToString("0.0 %", CultureInfo.InvariantCulture);

    /// <summary>The console summary: per set, the largest gap and the groups flagged most and least.</summary>
    internal static string ToText(BiasReport report)
    {
        var sb = new StringBuilder();
        foreach (var gap in report.Gaps)
        {
            var set = report.Groups.Where(g => g.Set == gap.Set).OrderByDescending(static g => g.FlagRate).ThenByDescending(static g => g.MeanScore).ToList();
            var label = gap.Set.Length == 0 ? "Bias audit" : "Bias audit, " + gap.Set;
            sb.Append(CultureInfo.InvariantCulture, $"{label}: {set.Count} groups, {set.Sum(static g => g.N)} texts, threshold {report.Threshold}.\n");
            foreach (var g in set)
            {
                sb.Append(CultureInfo.InvariantCulture, $"  {g.Group,-24} flagged {P(g.FlagRate),8} of {g.N,5} (95 % CI {P(g.Lower)} to {P(g.Upper)}), mean score {BiasAudit.F(g.MeanScore)}\n");
            }

            sb.Append(CultureInfo.InvariantCulture, $"  Largest gap: {BiasAudit.F(gap.Gap)} ({gap.Higher} vs {gap.Lower}; 95 % CI {BiasAudit.F(gap.CiLower)} to {BiasAudit.F(gap.CiUpper)}); mean-score gap {BiasAudit.F(gap.MaxScoreGap)}.\n");
        }

        return sb.ToString();
    }

    /// <summary>The HTML report: per set a bar chart of flag rates with their intervals, the table, and the worst sentences.</summary>
    internal static string ToHtml(BiasReport report)
    {
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>SafeAI bias audit</title>\n");
        sb.Append("<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child,td.t{text-align:left}.gap{font-size:1.1em}</style></head><body>\n");
        var max = report.MaxGap;
        sb.Append(CultureInfo.InvariantCulture, $"<h1>SafeAI bias audit</h1>\n<p>Model: <code>{H(report.Model)}</code>; a filled sentence counts as flagged when any category scores at least {report.Threshold}. Largest gap in flag rate: <b>{BiasAudit.F(max.Gap)}</b> ({H(report.Key(max.Set, max.Higher))} vs {H(report.Key(max.Set, max.Lower))}; 95 % CI {BiasAudit.F(max.CiLower)} to {BiasAudit.F(max.CiUpper)}, Newcombe's hybrid score interval).</p>\n");
        foreach (var gap in report.Gaps)
        {
            var set = report.Groups.Where(g => g.Set == gap.Set).ToList();
            sb.Append(CultureInfo.InvariantCulture, $"<h2>{H(gap.Set.Length == 0 ? "Groups" : gap.Set)}</h2>\n<p class=\"gap\">Largest gap: {BiasAudit.F(gap.Gap)} ({H(gap.Higher)} vs {H(gap.Lower)}; 95 % CI {BiasAudit.F(gap.CiLower)} to {BiasAudit.F(gap.CiUpper)}); mean-score gap {BiasAudit.F(gap.MaxScoreGap)}.</p>\n");
            sb.Append(Chart(set));
            sb.Append("<table><tr><th>group</th><th>texts</th><th>flagged</th><th>flag rate</th><th>95 % CI</th><th>mean score</th></tr>\n");
            foreach (var g in set)
            {
                sb.Append(CultureInfo.InvariantCulture, $"<tr><td>{H(g.Group)}</td><td>{g.N}</td><td>{g.Flagged}</td><td>{P(g.FlagRate)}</td><td>{P(g.Lower)} – {P(g.Upper)}</td><td>{BiasAudit.F(g.MeanScore)}</td></tr>\n");
            }

            sb.Append("</table>\n");
        }

        sb.Append("<h2>Sentences whose score moved most with the group</h2>\n<table><tr><th>set</th><th>highest-scoring fill</th><th>group</th><th>score</th><th>category</th><th>lowest group (mean score)</th></tr>\n");
        foreach (var w in report.Worst)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<tr><td>{H(w.Set)}</td><td class=\"t\">{H(w.Text)}</td><td>{H(w.Group)}</td><td>{BiasAudit.F(w.Score)}</td><td>{H(w.Category)}</td><td>{H(w.LowestGroup)} ({BiasAudit.F(w.LowestScore)})</td></tr>\n");
        }

        sb.Append("</table>\n</body></html>\n");
        return sb.ToString();
    }

    /// <summary>Horizontal bars: each group's flag rate with its Wilson interval as a whisker.</summary>
    private static string Chart(List<GroupResult> groups)
    {
        const int Label = 170, Width = 420, Row = 18;
        var top = Math.Max(0.05, groups.Max(static g => g.Upper));
        var height = (groups.Count * Row) + 24;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Label + Width + 60}\" height=\"{height}\" role=\"img\" aria-label=\"flag rate per group\">");
        for (var i = 0; i < groups.Count; i++)
        {
            var g = groups[i];
            var y = (i * Row) + 4;
            double X(double v) => Label + (v / top * Width);
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{Label - 6}\" y=\"{y + 12}\" text-anchor=\"end\" font-size=\"11\">{H(g.Group)}</text>");
            sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{Label}\" y=\"{y + 2}\" width=\"{X(g.FlagRate) - Label:F1}\" height=\"{Row - 6}\" fill=\"#1f77b4\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{X(g.Lower):F1}\" y1=\"{y + 8}\" x2=\"{X(g.Upper):F1}\" y2=\"{y + 8}\" stroke=\"#222\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{X(g.Upper) + 4:F1}\" y=\"{y + 12}\" font-size=\"10\">{P(g.FlagRate)}</text>");
        }

        sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Label}\" y1=\"0\" x2=\"{Label}\" y2=\"{height - 20}\" stroke=\"#888\"/><text x=\"{Label + Width}\" y=\"{height - 6}\" text-anchor=\"end\" font-size=\"10\">flag rate (axis to {P(top)})</text></svg>\n");
        return sb.ToString();
    }

    private static string H(string s) => WebUtility.HtmlEncode(s);
}

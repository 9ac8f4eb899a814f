using System.Globalization;
using System.Text;
using System.Text.Json;

namespace SafeAI.Monitoring;

/// <summary>
/// Reads alert rules from a JSON file: <c>{"rules": [{"name": ..., "metric": ..., ...}]}</c>, with the keys of
/// <see cref="AlertRuleOptions"/>. Every error names the file and the line.
/// </summary>
public static class AlertRuleFile
{
    private static readonly string[] RuleKeys = ["name", "metric", "denominator", "kind", "scope", "arm", "window", "above", "below", "compare", "baseline_window", "relative_increase", "relative_decrease", "min_samples", "alpha", "resolve_after", "repeat_after", "actions"];
    private static readonly string[] ActionKeys = ["type", "url", "secret_env", "callback", "target", "value"];

    /// <summary>Reads and validates the rules of a file.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The rules' options, validated.</returns>
    /// <exception cref="FormatException">The file is not valid JSON or a rule is invalid; the message names the file and line.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static IReadOnlyList<AlertRuleOptions> Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Reads and validates rules from JSON text.</summary>
    /// <param name="json">The text.</param>
    /// <param name="source">The file name for error messages.</param>
    /// <returns>The rules' options, validated.</returns>
    /// <exception cref="FormatException">The text is not valid JSON or a rule is invalid; the message names the source and line.</exception>
    public static IReadOnlyList<AlertRuleOptions> Parse(string json, string source)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(source);
        if (string.IsNullOrWhiteSpace(json))
        {
            throw new FormatException($"{source}: the rules file is empty; expected {{\"rules\": [{{\"name\": ..., \"metric\": ..., ...}}]}}.");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException ex)
        {
            throw new FormatException($"{source}:{(ex.LineNumber ?? 0) + 1}: not valid JSON: {ex.Message.Split(" Path:", 2)[0]}", ex);
        }

        using (document)
        {
            var lines = RuleLines(json);
            if (document.RootElement.ValueKind != JsonValueKind.Object || !document.RootElement.TryGetProperty("rules", out var rules) || rules.ValueKind != JsonValueKind.Array)
            {
                throw new FormatException($"{source}:1: expected an object with a \"rules\" array: {{\"rules\": [{{\"name\": ..., \"metric\": ..., ...}}]}}.");
            }

            var result = new List<AlertRuleOptions>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            var index = 0;
            foreach (var element in rules.EnumerateArray())
            {
                var line = index < lines.Count ? lines[index] : 1;
                var where = $"{source}:{line.ToString(CultureInfo.InvariantCulture)}: rule {index.ToString(CultureInfo.InvariantCulture)}";
                var options = ReadRule(element, where);
                var problems = AlertRule.Validate(options, where + (options.Name is { Length: > 0 } n ? $" ('{n}')" : string.Empty));
                if (problems.Count > 0)
                {
                    throw new FormatException(string.Join(" ", problems));
                }

                if (!names.Add(options.Name!))
                {
                    throw new FormatException($"{where}: another rule is named '{options.Name}'; rule names must be unique.");
                }

                result.Add(options);
                index++;
            }

            if (result.Count == 0)
            {
                throw new FormatException($"{source}:1: the \"rules\" array is empty; a rules file needs at least one rule.");
            }

            return result;
        }
    }

    private static AlertRuleOptions ReadRule(JsonElement element, string where)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException($"{where}: a rule must be an object, not {element.ValueKind.ToString().ToLowerInvariant()}.");
        }

        var o = new AlertRuleOptions();
        foreach (var property in element.EnumerateObject())
        {
            var key = property.Name;
            var value = property.Value;
            switch (key)
            {
                case "name": o.Name = String(value, key, where); break;
                case "metric": o.Metric = String(value, key, where); break;
                case "denominator": o.Denominator = String(value, key, where); break;
                case "kind": o.Kind = String(value, key, where); break;
                case "scope": o.Scope = String(value, key, where); break;
                case "arm": o.Arm = String(value, key, where); break;
                case "compare": o.Compare = String(value, key, where); break;
                case "window": o.Window = Duration(value, key, where); break;
                case "baseline_window": o.BaselineWindow = Duration(value, key, where); break;
                case "resolve_after": o.ResolveAfter = Duration(value, key, where); break;
                case "repeat_after": o.RepeatAfter = Duration(value, key, where); break;
                case "above": o.Above = Number(value, key, where); break;
                case "below": o.Below = Number(value, key, where); break;
                case "relative_increase": o.RelativeIncrease = Number(value, key, where); break;
                case "relative_decrease": o.RelativeDecrease = Number(value, key, where); break;
                case "alpha": o.Alpha = Number(value, key, where); break;
                case "min_samples":
                    var samples = Number(value, key, where);
                    o.MinSamples = samples is { } s && s == Math.Floor(s) && s < long.MaxValue ? (long)s : throw new FormatException($"{where}: 'min_samples' must be a whole number.");
                    break;
                case "actions":
                    if (value.ValueKind != JsonValueKind.Array)
                    {
                        throw new FormatException($"{where}: 'actions' must be an array.");
                    }

                    foreach (var action in value.EnumerateArray())
                    {
                        o.Actions.Add(ReadAction(action, where));
                    }

                    break;
                default:
                    throw new FormatException($"{where}: unknown key '{key}'.{Suggest(key, RuleKeys)} Valid keys: {string.Join(", ", RuleKeys)}.");
            }
        }

        return o;
    }

    private static AlertActionOptions ReadAction(JsonElement element, string where)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException($"{where}: an action must be an object such as {{\"type\": \"log\"}}.");
        }

        var a = new AlertActionOptions();
        foreach (var property in element.EnumerateObject())
        {
            switch (property.Name)
            {
                case "type": a.Type = String(property.Value, "type", where); break;
                case "url":
                    var url = String(property.Value, "url", where);
                    a.Url = Uri.TryCreate(url, UriKind.Absolute, out var parsed) ? parsed : throw new FormatException($"{where}: 'url' must be an absolute URL (it is '{url}').");
                    break;
                case "secret_env": a.SecretEnvironmentVariable = String(property.Value, "secret_env", where); break;
                case "callback": a.Callback = String(property.Value, "callback", where); break;
                case "target": a.Target = String(property.Value, "target", where); break;
                case "value": a.Value = Number(property.Value, "value", where); break;
                default:
                    throw new FormatException($"{where}: unknown action key '{property.Name}'.{Suggest(property.Name, ActionKeys)} Valid keys: {string.Join(", ", ActionKeys)}.");
            }
        }

        return a;
    }

    private static string? String(JsonElement value, string key, string where) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Null => null,
        _ => throw new FormatException($"{where}: '{key}' must be a string."),
    };

    private static double? Number(JsonElement value, string key, string where) => value.ValueKind switch
    {
        JsonValueKind.Number => value.GetDouble(),
        JsonValueKind.Null => null,
        _ => throw new FormatException($"{where}: '{key}' must be a number."),
    };

    private static TimeSpan? Duration(JsonElement value, string key, string where)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        var text = value.ValueKind == JsonValueKind.String ? value.GetString()! : throw new FormatException($"{where}: '{key}' must be a duration such as \"10m\", \"1h\", \"7d\" or \"00:10:00\".");
        return TryParseDuration(text, out var span) ? span : throw new FormatException($"{where}: '{key}' is not a duration ('{text}'); write \"30s\", \"10m\", \"1h\", \"7d\" or \"00:10:00\".");
    }

    /// <summary>Parses <c>30s</c>, <c>10m</c>, <c>1h</c>, <c>7d</c> or a .NET time span (<c>00:10:00</c>).</summary>
    internal static bool TryParseDuration(string text, out TimeSpan span)
    {
        span = default;
        if (text.Length >= 2 && double.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount) && amount >= 0)
        {
            TimeSpan? unit = text[^1] switch
            {
                's' => TimeSpan.FromSeconds(1),
                'm' => TimeSpan.FromMinutes(1),
                'h' => TimeSpan.FromHours(1),
                'd' => TimeSpan.FromDays(1),
                _ => null,
            };
            if (unit is { } u)
            {
                span = u * amount;
                return true;
            }
        }

        return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out span) && span >= TimeSpan.Zero;
    }

    private static string Suggest(string key, string[] valid) => NameSuggestion.Closest(key, valid) is { } close ? $" Did you mean '{close}'?" : string.Empty;

    /// <summary>Gets the line of each object directly inside the top-level "rules" array.</summary>
    private static List<int> RuleLines(string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        var lines = new List<int>();
        var inRules = false;
        var rulesDepth = -1;
        var lastProperty = string.Empty;
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.PropertyName when reader.CurrentDepth == 1:
                    lastProperty = reader.GetString() ?? string.Empty;
                    break;
                case JsonTokenType.StartArray when reader.CurrentDepth == 1 && lastProperty == "rules":
                    inRules = true;
                    rulesDepth = reader.CurrentDepth;
                    break;
                case JsonTokenType.EndArray when inRules && reader.CurrentDepth == rulesDepth:
                    inRules = false;
                    break;
                case JsonTokenType.StartObject or JsonTokenType.String or JsonTokenType.Number or JsonTokenType.True or JsonTokenType.False or JsonTokenType.Null or JsonTokenType.StartArray
                    when inRules && reader.CurrentDepth == rulesDepth + 1:
                    var offset = (int)reader.TokenStartIndex;
                    lines.Add(1 + bytes.AsSpan(0, offset).Count((byte)'\n'));
                    break;
                default:
                    break;
            }
        }

        return lines;
    }
}

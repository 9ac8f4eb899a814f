using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace SafeAI.Cli;

/// <summary>Whether a conversation of the dataset is benign, harmful, or not labelled.</summary>
internal enum ConversationLabel
{
    /// <summary>No label: counted in the outcome rates only.</summary>
    None,

    /// <summary>Benign: a block is a false block.</summary>
    Benign,

    /// <summary>Harmful (any category): an answer that went out is a miss.</summary>
    Harmful,
}

/// <summary>One line of an evaluation dataset.</summary>
/// <param name="Line">The line number in the file.</param>
/// <param name="Messages">The conversation sent to the pipeline.</param>
/// <param name="Label">The label, where there is one.</param>
/// <param name="Categories">The harmful categories named by the label (empty for benign, unlabelled or plain "harmful").</param>
/// <param name="Response">The recorded answer of the model, where the line holds one.</param>
/// <param name="Segments">Segment column to value (language, age_group, user_type, ...).</param>
/// <param name="UserId">The caller's user id, where given.</param>
/// <param name="ConversationId">The conversation id, where given.</param>
/// <param name="RiskTier">The call's risk tier, where given.</param>
/// <param name="Locale">The caller's locale (the <c>locale</c> column, else <c>language</c>).</param>
internal sealed record Conversation(int Line, IList<ChatMessage> Messages, ConversationLabel Label, IReadOnlyList<string> Categories, string? Response,
    IReadOnlyDictionary<string, string> Segments, string? UserId, string? ConversationId, RiskTier? RiskTier, string? Locale);

/// <summary>Reads an evaluation dataset: JSONL, one conversation per line.</summary>
internal static class EvaluationDataset
{
    /// <summary>Columns that are not segments.</summary>
    private static readonly HashSet<string> Reserved = new(StringComparer.Ordinal) { "text", "messages", "label", "labels", "response", "id", "user_id", "conversation_id", "risk_tier" };

    /// <summary>
    /// Reads the dataset. A line holds <c>text</c> (one user message) or <c>messages</c> (<c>[{"role", "content"}]</c>);
    /// optionally <c>label</c> (<c>benign</c>, <c>harmful</c> or a category) or <c>labels</c> (categories; empty = benign),
    /// <c>response</c> (the model's recorded answer), <c>user_id</c>, <c>conversation_id</c>, <c>risk_tier</c> (low/high);
    /// every other column with a string, number or true/false value is a segment (<c>language</c>, <c>age_group</c>, ...).
    /// </summary>
    /// <param name="path">The file, named in errors.</param>
    /// <returns>The conversations.</returns>
    /// <exception cref="FormatException">A line is malformed (the message names file and line), or the file holds no conversation.</exception>
    public static List<Conversation> Read(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"The dataset '{path}' does not exist.", path);
        }

        var result = new List<Conversation>();
        var number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            try
            {
                using var document = JsonDocument.Parse(line);
                result.Add(Parse(path, number, document.RootElement));
            }
            catch (JsonException ex)
            {
                throw new FormatException($"{path}:{number}: not valid JSON ({ex.Message}).", ex);
            }
            catch (InvalidOperationException ex)
            {
                throw new FormatException($"{path}:{number}: a string is not valid text ({ex.Message}).", ex);
            }
        }

        return result.Count > 0 ? result : throw new FormatException($"{path}: the dataset holds no conversations (one JSON object per line: {{\"text\": ..., \"label\": \"benign\", \"language\": \"en\"}}).");
    }

    private static Conversation Parse(string path, int line, JsonElement row)
    {
        string Where() => string.Create(CultureInfo.InvariantCulture, $"{path}:{line}");
        if (row.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException($"{Where()}: each line must be a JSON object.");
        }

        var messages = new List<ChatMessage>();
        if (row.TryGetProperty("messages", out var list))
        {
            if (list.ValueKind != JsonValueKind.Array || list.GetArrayLength() == 0)
            {
                throw new FormatException($"{Where()}: \"messages\" must be a non-empty array of {{\"role\", \"content\"}}.");
            }

            foreach (var m in list.EnumerateArray())
            {
                if (m.ValueKind != JsonValueKind.Object || !m.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
                {
                    throw new FormatException($"{Where()}: each message needs a \"content\" string.");
                }

                var role = m.TryGetProperty("role", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString()! : "user";
                if (role is not ("user" or "assistant" or "system" or "tool"))
                {
                    throw new FormatException($"{Where()}: unknown role \"{role}\" (user, assistant, system or tool).");
                }

                messages.Add(new ChatMessage(new ChatRole(role), content.GetString()));
            }
        }
        else if (row.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String)
        {
            messages.Add(new ChatMessage(ChatRole.User, text.GetString()));
        }
        else
        {
            throw new FormatException($"{Where()}: each line needs a \"text\" string or a \"messages\" array.");
        }

        var (label, categories) = ReadLabel(row, Where);
        var segments = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var column in row.EnumerateObject())
        {
            if (Reserved.Contains(column.Name))
            {
                continue;
            }

            var value = column.Value.ValueKind switch
            {
                JsonValueKind.String => column.Value.GetString(),
                JsonValueKind.Number => column.Value.GetRawText(),
                JsonValueKind.True => "true",
                JsonValueKind.False => "false",
                _ => null,
            };
            if (!string.IsNullOrEmpty(value))
            {
                segments[column.Name] = value;
            }
        }

        RiskTier? tier = null;
        if (String(row, "risk_tier", Where) is { } t)
        {
            tier = Enum.TryParse<RiskTier>(t, ignoreCase: true, out var parsed) && Enum.IsDefined(parsed) ? parsed
                : throw new FormatException($"{Where()}: \"risk_tier\" must be one of {string.Join(", ", Enum.GetNames<RiskTier>())} (it is \"{t}\").");
        }

        var locale = segments.GetValueOrDefault("locale") ?? segments.GetValueOrDefault("language");
        return new Conversation(line, messages, label, categories, String(row, "response", Where), segments, String(row, "user_id", Where), String(row, "conversation_id", Where), tier, locale);
    }

    private static (ConversationLabel, IReadOnlyList<string>) ReadLabel(JsonElement row, Func<string> where)
    {
        if (row.TryGetProperty("labels", out var labels))
        {
            if (labels.ValueKind != JsonValueKind.Array || labels.EnumerateArray().Any(static l => l.ValueKind != JsonValueKind.String))
            {
                throw new FormatException($"{where()}: \"labels\" must be an array of category names (empty for benign).");
            }

            var categories = labels.EnumerateArray().Select(static l => l.GetString()!).Where(static l => l is not ("benign" or "harmful")).ToList();
            return labels.GetArrayLength() == 0 || labels.EnumerateArray().All(static l => l.GetString() == "benign") ? (ConversationLabel.Benign, []) : (ConversationLabel.Harmful, categories);
        }

        return String(row, "label", where) switch
        {
            null => (ConversationLabel.None, []),
            var l when string.Equals(l, "benign", StringComparison.OrdinalIgnoreCase) => (ConversationLabel.Benign, []),
            var l when string.Equals(l, "harmful", StringComparison.OrdinalIgnoreCase) => (ConversationLabel.Harmful, []),
            var l => (ConversationLabel.Harmful, [l]),
        };
    }

    private static string? String(JsonElement row, string name, Func<string> where) =>
        !row.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null ? null
        : value.ValueKind == JsonValueKind.String ? value.GetString()
        : throw new FormatException($"{where()}: \"{name}\" must be a string.");
}

using System.Text.Json;

namespace SafeAI.Cli;

/// <summary>
/// Reads a user's labelled data. JSONL: one object a line with <c>text</c> and <c>labels</c> (an array of categories,
/// empty for benign) or <c>label</c> (one category; <c>benign</c>, <c>safe</c>, <c>none</c> or empty for benign). CSV:
/// a header with <c>text</c> and <c>label</c> or <c>labels</c> (categories separated by <c>;</c> or <c>|</c>).
/// </summary>
internal static class LabelledData
{
    private static readonly HashSet<string> BenignNames = new(StringComparer.OrdinalIgnoreCase) { string.Empty, "benign", "safe", "none", "0", "ok" };

    /// <summary>
    /// Reads a JSONL, CSV or TSV file of labelled texts; a malformed line fails or is skipped as <paramref name="invalid"/>
    /// says. With <paramref name="unlabelledIsBenign"/>, a JSONL line without <c>labels</c> or <c>label</c> (and every row
    /// of a CSV without a label column) is benign, as in a plain sample of traffic (<c>{"text": ...}</c>).
    /// </summary>
    public static List<LabelledText> Read(string path, InvalidLines? invalid = null, bool unlabelledIsBenign = false)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"The input file '{path}' does not exist.", path);
        }

        return path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".tsv", StringComparison.OrdinalIgnoreCase)
            ? ReadCsv(path, path.EndsWith(".tsv", StringComparison.OrdinalIgnoreCase) ? '\t' : ',', invalid ?? InvalidLines.Fail, unlabelledIsBenign)
            : ReadJsonl(File.ReadLines(path), path, invalid, unlabelledIsBenign);
    }

    public static List<LabelledText> ReadJsonl(IEnumerable<string> lines, string path, InvalidLines? invalid = null, bool unlabelledIsBenign = false)
    {
        invalid ??= InvalidLines.Fail;
        var list = new List<LabelledText>();
        var number = 0;
        foreach (var line in lines)
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            try
            {
                list.Add(ParseLine(line, path, number, unlabelledIsBenign));
            }
            catch (FormatException ex)
            {
                invalid.Handle(ex);
            }
        }

        return list;
    }

    private static LabelledText ParseLine(string line, string path, int number, bool unlabelledIsBenign)
    {
        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(line);
            root = doc.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new FormatException($"{path}:{number}: not valid JSON ({ex.Message}).", ex);
        }

        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String)
        {
            throw new FormatException($"{path}:{number}: each line needs a \"text\" string.");
        }

        try
        {
            var labels = new List<string>();
            if (root.TryGetProperty("labels", out var many) && many.ValueKind == JsonValueKind.Array)
            {
                foreach (var l in many.EnumerateArray())
                {
                    if (l.ValueKind != JsonValueKind.String)
                    {
                        throw new FormatException($"{path}:{number}: \"labels\" must hold strings (it holds {l.ValueKind.ToString().ToLowerInvariant()} {l.GetRawText()}).");
                    }

                    AddLabel(labels, l.GetString(), path, number);
                }
            }
            else if (root.TryGetProperty("label", out var one) && one.ValueKind is JsonValueKind.String or JsonValueKind.Null)
            {
                AddLabel(labels, one.GetString(), path, number);
            }
            else if (!unlabelledIsBenign || root.TryGetProperty("labels", out _) || root.TryGetProperty("label", out _))
            {
                throw new FormatException($"{path}:{number}: each line needs \"labels\" (an array, empty for benign) or \"label\" (a category or \"benign\").");
            }

            var source = root.TryGetProperty("source", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString()! : Path.GetFileName(path);
            return new LabelledText(text.GetString()!, labels, source);
        }
        catch (InvalidOperationException ex)
        {
            // System.Text.Json refuses strings that are not valid UTF-16 (a lone surrogate such as "\ud800").
            throw new FormatException($"{path}:{number}: a string is not valid text ({ex.Message}).", ex);
        }
    }

    private static List<LabelledText> ReadCsv(string path, char separator, InvalidLines invalid, bool unlabelledIsBenign)
    {
        var rows = Csv.ReadFile(path, separator);
        if (rows.Count == 0)
        {
            return [];
        }

        var t = Csv.Column(rows[0], "text");
        var l = Csv.Column(rows[0], "labels");
        l = l < 0 ? Csv.Column(rows[0], "label") : l;
        if (t < 0 || (l < 0 && !unlabelledIsBenign))
        {
            throw new FormatException($"{path}: the header needs a \"text\" column and a \"label\" or \"labels\" column.");
        }

        var list = new List<LabelledText>();
        for (var i = 1; i < rows.Count; i++)
        {
            var r = rows[i];
            if (r.Length == 1 && r[0].Length == 0)
            {
                continue;
            }

            try
            {
                if (r.Length <= Math.Max(t, l))
                {
                    throw new FormatException($"{path}: row {i + 1} has {r.Length} cells; the header has {rows[0].Length}.");
                }

                var labels = new List<string>();
                foreach (var label in l < 0 ? [] : r[l].Split([';', '|'], StringSplitOptions.TrimEntries))
                {
                    AddLabel(labels, label, path, i + 1);
                }

                list.Add(new LabelledText(r[t], labels, Path.GetFileName(path)));
            }
            catch (FormatException ex)
            {
                invalid.Handle(ex);
            }
        }

        return list;
    }

    private static void AddLabel(List<string> labels, string? label, string path, int line)
    {
        label = label?.Trim() ?? string.Empty;
        if (BenignNames.Contains(label))
        {
            return;
        }

        foreach (var c in label)
        {
            if (c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9') or '_'))
            {
                throw new FormatException($"{path}:{line}: label \"{label}\" may hold only a-z, 0-9 and '_' (for example hate, prompt_injection, or benign).");
            }
        }

        if (!labels.Contains(label))
        {
            labels.Add(label);
        }
    }
}

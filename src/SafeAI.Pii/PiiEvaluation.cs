using System.Globalization;
using System.Text;
using System.Text.Json;

namespace SafeAI.Pii;

/// <summary>
/// Scores a <see cref="PiiDetector"/> on the shared data: precision and recall per kind on the Presidio synthetic set,
/// and the number of findings in 1,000 benign everyday requests. Used by <c>safeai pii --eval</c> and the tests.
/// </summary>
internal static class PiiEvaluation
{
    /// <summary>The Presidio entity names that map onto our kinds; every other label is a kind we do not find.</summary>
    internal static readonly (string Label, PiiEntityTypes Type)[] LabelMap =
    [
        ("EMAIL_ADDRESS", PiiEntityTypes.Email), ("PHONE_NUMBER", PiiEntityTypes.Phone), ("CREDIT_CARD", PiiEntityTypes.CreditCard),
        ("IBAN_CODE", PiiEntityTypes.Iban), ("US_SSN", PiiEntityTypes.UsSsn), ("IP_ADDRESS", PiiEntityTypes.IpAddress),
    ];

    internal static readonly PiiEntityTypes[] ScoredTypes =
        [PiiEntityTypes.Email, PiiEntityTypes.Phone, PiiEntityTypes.CreditCard, PiiEntityTypes.Iban, PiiEntityTypes.UsSsn, PiiEntityTypes.IpAddress];

    public const string PresidioFile = "pii/presidio_synth_dataset_v2.json";

    public static IReadOnlyList<LabelledSample> LoadPresidio(string dataFolder)
    {
        using var stream = File.OpenRead(Path.Combine(dataFolder, PresidioFile));
        using var doc = JsonDocument.Parse(stream);
        var samples = new List<LabelledSample>();
        foreach (var item in doc.RootElement.EnumerateArray())
        {
            var spans = new List<(string Label, int Start, int End)>();
            foreach (var span in item.GetProperty("spans").EnumerateArray())
            {
                spans.Add((span.GetProperty("entity_type").GetString()!, span.GetProperty("start_position").GetInt32(), span.GetProperty("end_position").GetInt32()));
            }

            samples.Add(new LabelledSample(item.GetProperty("full_text").GetString()!, spans));
        }

        return samples;
    }

    /// <summary>Loads 1,000 benign requests: 400 from banking77 (test), 300 from clinc150 (test), 300 from nq_open (dev), each an evenly spaced sample.</summary>
    public static IReadOnlyList<string> LoadBenign(string dataFolder)
    {
        var requests = new List<string>(1000);
        var banking = new List<string>();
        foreach (var line in File.ReadLines(Path.Combine(dataFolder, "benign/banking77/test.csv")).Skip(1))
        {
            banking.Add(FirstCsvField(line));
        }

        requests.AddRange(Spread(banking, 400));

        using (var clinc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dataFolder, "benign/clinc150/data_full.json"))))
        {
            var texts = new List<string>();
            foreach (var pair in clinc.RootElement.GetProperty("test").EnumerateArray())
            {
                texts.Add(pair[0].GetString()!);
            }

            requests.AddRange(Spread(texts, 300));
        }

        var questions = new List<string>();
        foreach (var line in File.ReadLines(Path.Combine(dataFolder, "benign/nq_open/NQ-open.dev.jsonl")))
        {
            using var q = JsonDocument.Parse(line);
            questions.Add(q.RootElement.GetProperty("question").GetString()!);
        }

        requests.AddRange(Spread(questions, 300));
        return requests;
    }

    public static PiiEvaluationResult Evaluate(PiiDetector detector, IReadOnlyList<LabelledSample> samples, IReadOnlyList<string> benign)
    {
        var result = new PiiEvaluationResult();
        foreach (var sample in samples)
        {
            var found = detector.Detect(sample.Text);
            foreach (var type in ScoredTypes)
            {
                var score = result.Scores[type];
                foreach (var span in sample.Spans)
                {
                    if (TypeOf(span.Label) == type)
                    {
                        score.Gold++;
                        if (Overlaps(found, type, span.Start, span.End))
                        {
                            score.Recalled++;
                        }
                    }
                }

                foreach (var entity in found)
                {
                    if (entity.Type != type)
                    {
                        continue;
                    }

                    score.Predicted++;
                    var correct = false;
                    foreach (var span in sample.Spans)
                    {
                        if (TypeOf(span.Label) == type && entity.Start < span.End && span.Start < entity.End)
                        {
                            correct = true;
                            break;
                        }
                    }

                    if (correct)
                    {
                        score.Correct++;
                    }
                }
            }
        }

        result.BenignRequests = benign.Count;
        foreach (var request in benign)
        {
            var found = detector.Detect(request);
            if (found.Count > 0)
            {
                result.BenignWithFindings++;
                result.BenignFindings += found.Count;
            }
        }

        return result;
    }

    public static string ToMarkdown(PiiEvaluationResult result, int samples)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        _ = sb.AppendLine(ci, $"| Kind | Presidio label | Gold spans | Found | Precision | Recall | Target (≥ 0.95 both) |");
        _ = sb.AppendLine("|---|---|---:|---:|---:|---:|---|");
        foreach (var (label, type) in LabelMap)
        {
            var s = result.Scores[type];
            _ = sb.AppendLine(ci, $"| {PiiReasons.For(type)} | {label} | {s.Gold} | {s.Predicted} | {s.Precision:0.000} | {s.Recall:0.000} | {(s.Precision >= 0.95 && s.Recall >= 0.95 ? "met" : "missed")} |");
        }

        _ = sb.AppendLine();
        _ = sb.AppendLine(ci, $"Presidio synthetic set: {samples} texts. Benign requests: {result.BenignWithFindings} of {result.BenignRequests} had a finding ({result.BenignFindings} findings; target 0).");
        return sb.ToString();
    }

    private static PiiEntityTypes TypeOf(string label)
    {
        foreach (var (l, type) in LabelMap)
        {
            if (string.Equals(l, label, StringComparison.Ordinal))
            {
                return type;
            }
        }

        return PiiEntityTypes.None;
    }

    private static bool Overlaps(IReadOnlyList<PiiEntity> found, PiiEntityTypes type, int start, int end)
    {
        foreach (var entity in found)
        {
            if (entity.Type == type && entity.Start < end && start < entity.End)
            {
                return true;
            }
        }

        return false;
    }

    private static IEnumerable<string> Spread(List<string> items, int count)
    {
        for (var i = 0; i < count && i < items.Count; i++)
        {
            yield return items[(int)((long)i * items.Count / count)];
        }
    }

    private static string FirstCsvField(string line)
    {
        if (line.Length == 0 || line[0] != '"')
        {
            var comma = line.IndexOf(',', StringComparison.Ordinal);
            return comma < 0 ? line : line[..comma];
        }

        var sb = new StringBuilder();
        for (var i = 1; i < line.Length; i++)
        {
            if (line[i] == '"')
            {
                if (i + 1 < line.Length && line[i + 1] == '"')
                {
                    _ = sb.Append('"');
                    i++;
                    continue;
                }

                break;
            }

            _ = sb.Append(line[i]);
        }

        return sb.ToString();
    }
}

/// <summary>A text with its labelled spans (Presidio entity names, end exclusive).</summary>
internal sealed record LabelledSample(string Text, IReadOnlyList<(string Label, int Start, int End)> Spans);

/// <summary>Counts for one kind.</summary>
internal sealed class PiiTypeScore
{
    public int Gold { get; set; }

    public int Recalled { get; set; }

    public int Predicted { get; set; }

    public int Correct { get; set; }

    public double Precision => Predicted == 0 ? 1 : (double)Correct / Predicted;

    public double Recall => Gold == 0 ? 1 : (double)Recalled / Gold;
}

/// <summary>The scores of one evaluation.</summary>
internal sealed class PiiEvaluationResult
{
    public Dictionary<PiiEntityTypes, PiiTypeScore> Scores { get; } = PiiEvaluation.ScoredTypes.ToDictionary(static t => t, static _ => new PiiTypeScore());

    public int BenignRequests { get; set; }

    public int BenignWithFindings { get; set; }

    public int BenignFindings { get; set; }
}

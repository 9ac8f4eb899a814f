using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace SafeAI.Cli;

/// <summary>
/// A mixed-language evaluation dataset built from the shared corpora for <c>safeai evaluate</c>: texts the default model
/// never trained on (its held-out 20 % and the sources held out whole), with a <c>language</c> and a <c>source</c> column.
/// </summary>
internal static class PreLaunchSample
{
    /// <summary>Source to language. Only sources with a known language are used; CC-BY-SA sources are left out (the file is committed).</summary>
    internal static readonly IReadOnlyDictionary<string, string> Languages = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["snips"] = "en",
        ["clinc150"] = "en",
        ["self_instruct"] = "en",
        ["mt_bench"] = "en",
        ["ifeval"] = "en",
        ["harmbench"] = "en",
        ["catqa_en"] = "en",
        ["toxigen"] = "en",
        ["germeval2018"] = "de",
        ["mlma_fr"] = "fr",
        ["mlma_ar"] = "ar",
        ["jigsaw_templates_nl"] = "nl",
        ["catqa_zh"] = "zh",
        ["catqa_vi"] = "vi",
    };

    /// <summary>Picks up to <paramref name="perClass"/> benign and as many harmful texts per language, round-robin over the language's sources in a fixed hash order.</summary>
    /// <param name="corpus">The shared corpora (<see cref="SharedCorpus.Load"/>).</param>
    /// <param name="perClass">The most texts per language and class.</param>
    /// <returns>The dataset's JSONL lines.</returns>
    public static List<string> Build(IEnumerable<LabelledText> corpus, int perClass)
    {
        var lines = new List<string>();
        var eligible = corpus.Where(static e => Languages.ContainsKey(e.Source) && DataSplit.PartName(e.Source, e.Text) is "test" or "heldout-source").ToList();
        foreach (var group in eligible.GroupBy(static e => (Language: Languages[e.Source], e.IsBenign)).OrderBy(static g => g.Key.Language, StringComparer.Ordinal).ThenByDescending(static g => g.Key.IsBenign))
        {
            var queues = group.GroupBy(static e => e.Source).OrderBy(static g => g.Key, StringComparer.Ordinal)
                .Select(static g => new Queue<LabelledText>(g.OrderBy(static e => Hash(e.Text), StringComparer.Ordinal))).ToList();
            var taken = 0;
            while (taken < perClass && queues.Any(static q => q.Count > 0))
            {
                foreach (var queue in queues)
                {
                    if (taken < perClass && queue.TryDequeue(out var e))
                    {
                        lines.Add(JsonSerializer.Serialize(new { text = e.Text, labels = e.Labels, language = group.Key.Language, source = e.Source }, Relaxed));
                        taken++;
                    }
                }
            }
        }

        return lines;
    }

    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static string Hash(string text) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}

using System.Globalization;
using System.Text.Json;

namespace SafeAI.Cli;

/// <summary>
/// The corpora added to the shared data on 2026-12-03: benign everyday requests (the negatives that decide the
/// false-positive rate), harmful requests in chat register, hate with contrast pairs and same-community negatives,
/// and harmful content written as descriptions. The mapping onto SafeAI's taxonomy is documented in
/// <c>docs/model-card.md</c> ("Training data").
/// </summary>
internal static partial class SharedCorpus
{
    /// <summary>Cap of each benign intent-style source (short, repetitive queries: more of them teaches little).</summary>
    private const int IntentCap = 1500;

    private static void LoadRequests(Func<string, string> path, Action<string, string?, string[]> add)
    {
        // Benign everyday requests.
        foreach (var file in new[] { "train.csv", "test.csv" })
        {
            var rows = Csv.ReadFile(path("benign/banking77/" + file));
            foreach (var r in rows.Skip(1).Where(r => r.Length >= 1))
            {
                add("banking77", r[0], None);
            }
        }

        using (var doc = JsonDocument.Parse(File.ReadAllText(path("benign/clinc150/data_full.json"))))
        {
            foreach (var part in doc.RootElement.EnumerateObject())
            {
                foreach (var pair in part.Value.EnumerateArray())
                {
                    add("clinc150", pair[0].GetString(), None);
                }
            }
        }

        foreach (var r in Csv.ReadFile(path("benign/hwu64/hwu64_crossval_folds.csv")).Skip(1).Where(r => r.Length >= 1))
        {
            add("hwu64", r[0], None);
        }

        foreach (var r in Csv.ReadFile(path("benign/snips/snips_2017_custom_intents.csv")).Skip(1).Where(r => r.Length >= 1))
        {
            add("snips", r[0], None);
        }

        foreach (var file in new[] { "train.jsonl", "test.jsonl" })
        {
            foreach (var line in File.ReadLines(path("benign/gsm8k/" + file)))
            {
                add("gsm8k", JsonString(line, "question"), None);
            }
        }

        foreach (var file in Directory.GetFiles(path("benign/nq_open"), "*.jsonl").Order(StringComparer.Ordinal))
        {
            foreach (var line in File.ReadLines(file))
            {
                add("nq_open", JsonString(line, "question"), None);
            }
        }

        foreach (var (file, source) in new[] { ("mt_bench_question.jsonl", "mt_bench"), ("vicuna_bench_question.jsonl", "mt_bench") })
        {
            foreach (var line in File.ReadLines(path("benign/chat_benchmarks/" + file)))
            {
                using var doc = JsonDocument.Parse(line);
                add(source, doc.RootElement.GetProperty("turns")[0].GetString(), None);
            }
        }

        foreach (var line in File.ReadLines(path("benign/chat_benchmarks/arena_hard_v0.1_question.jsonl")))
        {
            using var doc = JsonDocument.Parse(line);
            add("arena_hard", doc.RootElement.GetProperty("turns")[0].GetProperty("content").GetString(), None);
        }

        foreach (var file in new[] { "seed_tasks.jsonl", "user_oriented_instructions.jsonl" })
        {
            foreach (var line in File.ReadLines(path("benign/self_instruct/" + file)))
            {
                using var doc = JsonDocument.Parse(line);
                var instruction = doc.RootElement.GetProperty("instruction").GetString();
                var input = doc.RootElement.TryGetProperty("instances", out var instances) && instances.GetArrayLength() > 0
                    && instances[0].TryGetProperty("input", out var i) ? i.GetString() : null;
                add("self_instruct", string.IsNullOrWhiteSpace(input) ? instruction : instruction + "\n" + input, None);
            }
        }

        foreach (var line in File.ReadLines(path("benign/ifeval/input_data.jsonl")))
        {
            add("ifeval", JsonString(line, "prompt"), None);
        }

        using (var doc = JsonDocument.Parse(File.ReadAllText(path("benign/cyberseceval_frr/mitre_frr.json"))))
        {
            foreach (var item in doc.RootElement.EnumerateArray())
            {
                add("mitre_frr", item.GetProperty("mutated_prompt").GetString(), None);
            }
        }

        var tldr = Csv.ReadFile(path("benign/tldr_pages/tldr_examples_en.csv"));
        var td = Csv.Column(tldr[0], "example_description");
        foreach (var r in tldr.Skip(1).Where(r => r.Length > td))
        {
            add("tldr", r[td], None);
        }

        // Harmful requests in chat register (red-instruct): CatQA's harm categories onto the taxonomy; HarmfulQA is left
        // out (LLM-written, often academic in tone: it teaches the filter to flag ordinary questions about a subject).
        foreach (var (file, source) in new[] { ("catqa_english.json", "catqa_en"), ("catqa_chinese.json", "catqa_zh"), ("catqa_vietnamese.json", "catqa_vi") })
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path("harm/red_instruct/" + file)));
            foreach (var category in doc.RootElement.EnumerateObject())
            {
                foreach (var sub in category.Value.EnumerateObject())
                {
                    var labels = CatQaLabels(category.Name, sub.Name);
                    if (labels is null)
                    {
                        continue;
                    }

                    foreach (var q in sub.Value.EnumerateArray())
                    {
                        add(source, q.GetString(), labels);
                    }
                }
            }
        }

        using (var doc = JsonDocument.Parse(File.ReadAllText(path("harm/red_instruct/adversarialqa.json"))))
        {
            foreach (var item in doc.RootElement.EnumerateArray())
            {
                add("advbench", item.GetString(), ["illicit"]);
            }
        }

        // The other Do-Not-Answer areas (the malicious-uses file is read with the older corpora).
        foreach (var (file, labels) in new[]
        {
            ("discrimination_exclusion_toxicity_hateful_offensive.jsonl", (string[])["harassment"]),
            ("information_hazard.jsonl", (string[])["illicit"]),
        })
        {
            foreach (var line in File.ReadLines(path("harm/donotanswer/" + file)))
            {
                add("donotanswer", JsonString(line, "prompt"), labels);
            }
        }

        // Hate with contrast pairs: the perturbations usually flip the label, which is the signal.
        foreach (var file in new[] { "train.csv", "validation.csv", "test.csv" })
        {
            var rows = Csv.ReadFile(path("toxicity/hatemoji_build/" + file));
            int t = Csv.Column(rows[0], "text"), g = Csv.Column(rows[0], "label_gold");
            foreach (var r in rows.Skip(1).Where(r => r.Length > Math.Max(t, g)))
            {
                add("hatemoji", r[t], r[g] == "1" ? ["hate"] : None);
            }
        }

        // Same-community negatives: most Stormfront sentences are not hateful on their own.
        var storm = Csv.ReadFile(path("toxicity/stormfront/stormfront_sentences.csv"));
        int st = Csv.Column(storm[0], "text"), sl = Csv.Column(storm[0], "label");
        foreach (var r in storm.Skip(1).Where(r => r.Length > Math.Max(st, sl)))
        {
            switch (r[sl])
            {
                case "hate": add("stormfront", r[st], ["hate"]); break;
                case "noHate": add("stormfront", r[st], None); break;
            }
        }

        var edos = Csv.ReadFile(path("toxicity/edos/edos_labelled_aggregated.csv"));
        int et = Csv.Column(edos[0], "text"), es = Csv.Column(edos[0], "label_sexist"), ec = Csv.Column(edos[0], "label_category");
        foreach (var r in edos.Skip(1).Where(r => r.Length > Math.Max(et, Math.Max(es, ec))))
        {
            var text = CleanTweet(r[et]).Replace("[USER]", "@user", StringComparison.Ordinal).Replace("[URL]", "URL", StringComparison.Ordinal);
            add("edos", text, r[es] != "sexist" ? None
                : r[ec].StartsWith("1.", StringComparison.Ordinal) ? ["hate", "violence"]
                : ["hate"]);
        }

        // Harmful content written as descriptions (text-to-image prompts): only prompts whose images were mostly judged
        // inappropriate, by the keyword that found them; the rest are left out (keyword-retrieved, not annotated).
        var i2p = Csv.ReadFile(path("harm/i2p/i2p_benchmark.csv"));
        int ip = Csv.Column(i2p[0], "prompt"), ic = Csv.Column(i2p[0], "categories"), ii = Csv.Column(i2p[0], "inappropriate_percentage"), inu = Csv.Column(i2p[0], "nudity_percentage");
        foreach (var r in i2p.Skip(1).Where(r => r.Length > Math.Max(Math.Max(ip, ic), Math.Max(ii, inu))))
        {
            if (!double.TryParse(r[ii], NumberStyles.Float, CultureInfo.InvariantCulture, out var bad) || bad < 50)
            {
                continue;
            }

            _ = double.TryParse(r[inu], NumberStyles.Float, CultureInfo.InvariantCulture, out var nude);
            var categories = r[ic];
            string[] labels = nude >= 50 && categories.Contains("sexual", StringComparison.Ordinal) ? ["sexual"]
                : categories.Trim() == "violence" ? ["violence"]
                : categories.Trim() == "self-harm" ? ["self_harm"]
                : None;
            if (labels.Length > 0)
            {
                add("i2p", r[ip], labels);
            }
        }
    }

    /// <summary>Maps a CatQA category and subcategory onto SafeAI's taxonomy (null: not a category SafeAI filters).</summary>
    private static string[]? CatQaLabels(string category, string subcategory) => category switch
    {
        "Illegal Activity" => subcategory.StartsWith("Weapon", StringComparison.Ordinal) ? ["illicit", "violence"] : ["illicit"],
        "Child Abuse" => subcategory.Contains("Sexual", StringComparison.OrdinalIgnoreCase) || subcategory.Contains("predation", StringComparison.OrdinalIgnoreCase)
            ? ["sexual_minors"] : ["violence"],
        "Hate/Harass/Violence" => subcategory switch
        {
            "Cyberbullying" => ["harassment"],
            "Terrorism and extremism" or "Gender-based violence" => ["violence"],
            _ => ["hate"],
        },
        "Malware Viruses" or "Economic Harm" or "Fraud/Deception" or "Privacy Violation Activity" => ["illicit"],
        "Physical Harm" => subcategory == "Self-harm" ? ["self_harm"] : ["violence"],
        "Adult Content" => ["sexual"],
        _ => null, // Political campaigning and tailored financial advice are not content categories here.
    };

    private static string? JsonString(string line, string property)
    {
        if (string.IsNullOrWhiteSpace(line))
        {
            return null;
        }

        using var doc = JsonDocument.Parse(line);
        return doc.RootElement.TryGetProperty(property, out var value) ? value.GetString() : null;
    }

    /// <summary>The cap of a (source, label set) group: intent-style benign query sets get a smaller one.</summary>
    private static int CapOf(string source, int cap) =>
        source is "banking77" or "clinc150" or "hwu64" or "snips" or "gsm8k" or "tldr" or "nq_open" ? Math.Min(cap, IntentCap) : cap;
}

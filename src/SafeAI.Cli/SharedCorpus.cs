using System.Text.Json;
using System.Text.RegularExpressions;

namespace SafeAI.Cli;

/// <summary>
/// Loads the shared training corpora (<c>../shared/data</c>, see its README) and maps them onto SafeAI's taxonomy plus
/// benign. Each (source, label) group is capped (a deterministic, hash-ordered subsample) so that no corpus dominates;
/// identical texts are merged (labels united). The mapping is documented in <c>docs/model-card.md</c>.
/// </summary>
internal static partial class SharedCorpus
{
    public const int DefaultCap = 3000;

    private static readonly string[] None = [];

    public static List<LabelledText> Load(string root, int cap = DefaultCap)
    {
        if (!Directory.Exists(root))
        {
            throw new DirectoryNotFoundException($"The data folder '{root}' does not exist (expected the shared corpora, for example ../shared/data).");
        }

        var all = new List<LabelledText>();
        void Add(string source, string? text, params string[] labels)
        {
            if (string.IsNullOrWhiteSpace(text))
            {
                return;
            }

            all.Add(new LabelledText(text.Trim(), labels, source));
        }

        string P(string relative) => Path.Combine(root, relative);

        // Toxicity.
        var davidson = Csv.ReadFile(P("toxicity/davidson_labeled_data.csv"));
        int dc = Csv.Column(davidson[0], "class"), dt = Csv.Column(davidson[0], "tweet");
        foreach (var r in davidson.Skip(1).Where(r => r.Length > Math.Max(dc, dt)))
        {
            var text = CleanTweet(r[dt]);
            switch (r[dc])
            {
                case "0": Add("davidson", text, "hate", "harassment"); break;
                case "1": Add("davidson", text, "harassment"); break;
                case "2": Add("davidson", text); break;
            }
        }

        foreach (var r in Csv.ReadFile(P("toxicity/toxigen_prompt_sentences.csv")).Skip(1).Where(r => r.Length >= 2))
        {
            Add("toxigen", r[0].TrimStart('-', ' '), r[1] == "hate" ? ["hate"] : None);
        }

        foreach (var r in Csv.ReadFile(P("toxicity/surge_toxicity_en.csv")).Skip(1).Where(r => r.Length >= 2))
        {
            Add("surge", r[0], r[1] == "Toxic" ? ["harassment"] : None);
        }

        (string File, string Label)[] rtp = [("threat", "violence"), ("insult", "harassment"), ("severe_toxicity", "harassment"), ("profanity", "harassment"), ("identity_attack", "hate"), ("sexually_explicit", "sexual")];
        foreach (var (file, label) in rtp)
        {
            foreach (var line in File.ReadLines(P($"toxicity/realtoxicityprompts/rtp_{file}.txt")))
            {
                Add("realtoxicityprompts", line, label);
            }
        }

        LoadToxicSpans(P("toxicity/toxic_spans"), Add);

        foreach (var file in new[] { "germeval2018.training.txt", "germeval2018.test.txt" })
        {
            foreach (var line in File.ReadLines(P("toxicity/germeval2018/" + file)))
            {
                var cells = line.Split('\t');
                if (cells.Length >= 2)
                {
                    Add("germeval2018", CleanTweet(cells[0]), cells[1] == "OFFENSE" ? ["harassment"] : None);
                }
            }
        }

        foreach (var lang in new[] { "en", "fr", "ar" })
        {
            var rows = Csv.ReadFile(P($"toxicity/mlma_hate/{lang}_dataset.csv"));
            int t = Csv.Column(rows[0], "tweet"), s = Csv.Column(rows[0], "sentiment");
            foreach (var r in rows.Skip(1).Where(r => r.Length > Math.Max(t, s)))
            {
                var sentiment = r[s];
                string[] labels = sentiment.Contains("hateful", StringComparison.Ordinal) ? ["hate"]
                    : sentiment.Contains("offensive", StringComparison.Ordinal) || sentiment.Contains("abusive", StringComparison.Ordinal) || sentiment.Contains("disrespectful", StringComparison.Ordinal) ? ["harassment"]
                    : sentiment == "normal" ? None : ["?"];
                if (labels is not ["?"])
                {
                    Add("mlma_" + lang, CleanTweet(r[t]), labels);
                }
            }
        }

        foreach (var lang in new[] { "en", "de", "nl" })
        {
            var rows = Csv.ReadFile(P($"toxicity/jigsaw_sentence_templates/{lang}_sentence_templates.csv"));
            int t = Csv.Column(rows[0], "phrase"), s = Csv.Column(rows[0], "toxicity");
            foreach (var r in rows.Skip(1).Where(r => r.Length > Math.Max(t, s)))
            {
                Add("jigsaw_templates_" + lang, r[t], r[s] == "toxic" ? ["hate"] : None);
            }
        }

        // Harm.
        var ail = Csv.ReadFile(P("harm/ailuminate_demo_en_us_prompts.csv"));
        int at = Csv.Column(ail[0], "prompt_text"), ah = Csv.Column(ail[0], "hazard");
        foreach (var r in ail.Skip(1).Where(r => r.Length > Math.Max(at, ah)))
        {
            string? label = r[ah] switch
            {
                "vcr" or "iwp" => "violence",
                "src" or "sxc_prn" => "sexual",
                "cse" => "sexual_minors",
                "ssh" => "self_harm",
                "ncr" => "illicit",
                "hte" => "hate",
                _ => null,
            };
            if (label is not null)
            {
                Add("ailuminate", r[at], label);
            }
        }

        foreach (var line in File.ReadLines(P("harm/donotanswer/malicious_uses.jsonl")))
        {
            using var doc = JsonDocument.Parse(line);
            Add("donotanswer", doc.RootElement.GetProperty("prompt").GetString(), "illicit");
        }

        foreach (var line in File.ReadLines(P("harm/harmbench_prompts.txt")))
        {
            Add("harmbench", line, "illicit");
        }

        // Prompt injection and its hard negatives.
        using (var doc = JsonDocument.Parse(File.ReadAllText(P("injection/inthewild_jailbreak_llms.json"))))
        {
            foreach (var item in doc.RootElement.EnumerateArray())
            {
                Add("inthewild_jailbreak", item.GetString(), "prompt_injection");
            }
        }

        using (var doc = JsonDocument.Parse(File.ReadAllText(P("injection/sysprompt_extraction_attacks.json"))))
        {
            foreach (var group in doc.RootElement.EnumerateObject())
            {
                if (group.Value.ValueKind == JsonValueKind.Array)
                {
                    foreach (var item in group.Value.EnumerateArray().Where(i => i.ValueKind == JsonValueKind.String))
                    {
                        Add("sysprompt_extraction", item.GetString(), "prompt_injection");
                    }
                }
            }
        }

        foreach (var line in File.ReadLines(P("injection/tap_jailbreaks.txt")))
        {
            Add("tap_jailbreaks", line, "prompt_injection");
        }

        var deepset = Csv.ReadFile(P("injection/deepset_prompt_injections_train.csv"));
        foreach (var r in deepset.Skip(1).Where(r => r.Length >= 2))
        {
            Add("deepset", r[0], r[1] == "1" ? ["prompt_injection"] : None);
        }

        var giskard = Csv.ReadFile(P("injection/giskard_prompt_injections.csv"));
        var gp = Csv.Column(giskard[0], "prompt");
        foreach (var r in giskard.Skip(1).Where(r => r.Length > gp))
        {
            Add("giskard", r[gp], "prompt_injection");
        }

        foreach (var file in new[] { "jailbreak_dataset_train.csv", "jailbreak_dataset_test.csv" })
        {
            var rows = Csv.ReadFile(P("injection/jailbreak_classification/" + file));
            int t = Csv.Column(rows[0], "prompt"), s = Csv.Column(rows[0], "type");
            foreach (var r in rows.Skip(1).Where(r => r.Length > Math.Max(t, s)))
            {
                Add("jailbreak_classification", r[t], r[s] == "jailbreak" ? ["prompt_injection"] : None);
            }
        }

        var chat = Csv.ReadFile(P("benign/awesome_chatgpt_prompts.csv"));
        var cp = Csv.Column(chat[0], "prompt");
        foreach (var r in chat.Skip(1).Where(r => r.Length > cp))
        {
            // The list holds at least one real jailbreak ("DAN"): keep those out of the benign class.
            if (!JailbreakMarker().IsMatch(r[cp]))
            {
                Add("awesome_chatgpt_prompts", r[cp]);
            }
        }

        LoadRequests(P, Add);

        var merged = CapAndMerge(all, cap);
        var keys = merged.Select(m => DataSplit.Key(m.Text)).ToHashSet(StringComparer.Ordinal);
        merged.AddRange(LoadSeed().Where(e => keys.Add(DataSplit.Key(e.Text))));
        return merged;
    }

    /// <summary>
    /// ConvAbuse (CC-BY-4.0, amandacurry/convabuse): user turns addressed to chatbots. A turn is <c>harassment</c> when most of
    /// its annotators gave an abuse level below 0, plus <c>hate</c> when one of them marked it racist, sexist, homophobic or
    /// transphobic; benign when most gave 0 or 1; ties and unreadable rows are left out. Not part of <see cref="Load"/>
    /// (so the held-out evaluation of the default model is unchanged): the encoder tier may train on its train and valid
    /// splits, and its test split is an out-of-distribution check.
    /// </summary>
    public static List<LabelledText> LoadConvAbuse(string root, string split)
    {
        var path = Path.Combine(root, "toxicity", "convabuse", $"ConvAbuseEMNLP{split}.csv");
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"The ConvAbuse file '{path}' does not exist (expected the shared corpora, for example ../shared/data).", path);
        }

        var rows = Csv.ReadFile(path);
        var header = rows[0];
        var user = Csv.Column(header, "user");
        var result = new List<LabelledText>();
        foreach (var r in rows.Skip(1).Where(r => r.Length == header.Length))
        {
            int abusive = 0, fine = 0;
            var hate = false;
            for (var a = 1; a <= 8; a++)
            {
                foreach (var level in (string[])["1", "0", "-1", "-2", "-3"])
                {
                    var c = Csv.Column(header, $"Annotator{a}_is_abuse.{level}");
                    if (c >= 0 && r[c].Trim() == "1")
                    {
                        if (level[0] == '-')
                        {
                            abusive++;
                        }
                        else
                        {
                            fine++;
                        }
                    }
                }

                foreach (var type in (string[])["racist", "sexist", "homophobic", "transphobic"])
                {
                    var c = Csv.Column(header, $"Annotator{a}_{type}");
                    hate |= c >= 0 && r[c].Trim() == "1";
                }
            }

            var text = r[user].Trim();
            if (abusive == fine || text.Length == 0)
            {
                continue;
            }

            result.Add(new LabelledText(text, abusive > fine ? (hate ? ["harassment", "hate"] : ["harassment"]) : None, "convabuse"));
        }

        return result;
    }

    /// <summary>The hand-written seed texts embedded in the tool (source <c>seed</c>, weight <see cref="SeedWeight"/>).</summary>
    public static List<LabelledText> LoadSeed() => LoadResource("seed.jsonl", "seed");

    /// <summary>
    /// Hand-written threats of violence stated as threats ("I will ..."), not asked as requests, and ordinary texts that use
    /// the same words in a harmless sense ("I'll shoot you an email"), written for this project (source
    /// <c>threat_statements</c>, weight <see cref="SeedWeight"/>). Not part of <see cref="Load"/>, so the evaluation by
    /// source is unchanged. <c>safeai corpus</c> writes them (split by text hash like the rest; the default model's
    /// fine-tunes leave them out); <c>safeai calibrate --threat-statements</c> and <c>safeai windows --threat-statements</c>
    /// add them, for a model fine-tuned on them (training/experiments/threat-statements).
    /// </summary>
    public static List<LabelledText> LoadThreatStatements() => LoadResource("threat-statements.jsonl", ThreatStatementsSource);

    /// <summary>The source name of <see cref="LoadThreatStatements"/>.</summary>
    public const string ThreatStatementsSource = "threat_statements";

    /// <summary>
    /// Hand-written texts that tell or urge a person to kill or hurt themselves, or wish death on them, as abuse ("kys",
    /// "do everyone a favour and jump off a bridge"; labelled <c>harassment</c>), and ordinary texts with the same words or
    /// topics ("my battery died", how to help a suicidal friend), written for this project (source
    /// <c>self_harm_urging</c>, weight <see cref="SeedWeight"/>). Like <see cref="LoadThreatStatements"/>, not part of
    /// <see cref="Load"/>: <c>safeai corpus</c> writes them last, for the default model's urging column
    /// (training/statement_columns.py), and <c>safeai calibrate --statements</c> adds their calibration part.
    /// </summary>
    public static List<LabelledText> LoadSelfHarmUrging() => LoadResource("self-harm-urging.jsonl", SelfHarmUrgingSource);

    /// <summary>The source name of <see cref="LoadSelfHarmUrging"/>.</summary>
    public const string SelfHarmUrgingSource = "self_harm_urging";

    /// <summary>
    /// Hand-written requests, in the words people type to a chatbot, for help committing crimes or getting dangerous
    /// illegal things ("where can i buy fentanyl online"; labelled <c>illicit</c>; the requests only, never an answer),
    /// and ordinary requests on the same topics or with the same words (naloxone, a hunting licence, locked out of my own
    /// house, "kill weeds"), written for this project (source <c>illicit_requests</c>, weight <see cref="SeedWeight"/>).
    /// Like the other sets, not part of <see cref="Load"/>: <c>safeai corpus</c> writes them last, for the default
    /// model's request column (training/statement_columns.py).
    /// </summary>
    public static List<LabelledText> LoadIllicitRequests() => LoadResource("illicit-requests.jsonl", IllicitRequestsSource);

    /// <summary>The source name of <see cref="LoadIllicitRequests"/>.</summary>
    public const string IllicitRequestsSource = "illicit_requests";

    /// <summary>
    /// Hand-written harmless texts that carry the words or topics of harm (kill a process, a can of Coke, why the Nazis
    /// persecuted Jewish people, how to help a friend who wants to die, how to buy a gun legally) and harmful texts with
    /// the same words, written for this project (source <c>safe_but_alarming</c>, weight <see cref="SeedWeight"/>). Not
    /// part of <see cref="Load"/> or <see cref="LoadStatements"/>: <c>safeai corpus</c> writes them after the statement
    /// sets. The default model's fine-tunes leave them out; training/statement_columns.py fits its set columns on them
    /// (training/experiments/safe-but-alarming), and <c>safeai calibrate --statements</c> does not add them.
    /// </summary>
    public static List<LabelledText> LoadSafeButAlarming() => LoadResource("safe-but-alarming.jsonl", SafeButAlarmingSource);

    /// <summary>The source name of <see cref="LoadSafeButAlarming"/>.</summary>
    public const string SafeButAlarmingSource = "safe_but_alarming";

    /// <summary>
    /// Hand-written requests in chat register for harmful content or help with harm that the earlier sets had few of
    /// (write a post calling a group vermin, a rumour to spread about an ex, explicit sexual roleplay, which bridge is
    /// high enough, where to stab someone), and harmless requests with the same words (write a welcoming post for
    /// newcomers, a sexual-health question, how to help a friend who self-harms, a game's assassination mission) and
    /// ordinary requests to write to or about a person (a firm complaint to a roommate, condolences to a coworker),
    /// written for this project (source <c>chat_requests</c>, weight <see cref="SeedWeight"/>). Not part of
    /// <see cref="Load"/> or <see cref="LoadStatements"/>: <c>safeai corpus</c> writes them after every other set; the
    /// default model's fine-tunes leave them out, and training/statement_columns.py fits a column on each category's
    /// requests (training/experiments/chat-requests).
    /// </summary>
    public static List<LabelledText> LoadChatRequests() => LoadResource("chat-requests.jsonl", ChatRequestsSource);

    /// <summary>The source name of <see cref="LoadChatRequests"/>.</summary>
    public const string ChatRequestsSource = "chat_requests";

    /// <summary>
    /// Every hand-written set, in the order of their columns: <see cref="LoadThreatStatements"/>,
    /// <see cref="LoadSelfHarmUrging"/>, <see cref="LoadIllicitRequests"/>.
    /// </summary>
    public static List<LabelledText> LoadStatements() => [.. LoadThreatStatements(), .. LoadSelfHarmUrging(), .. LoadIllicitRequests()];

    private static List<LabelledText> LoadResource(string file, string source)
    {
        using var stream = typeof(SharedCorpus).Assembly.GetManifestResourceStream("SafeAI.Cli.Seed." + file)
            ?? throw new InvalidOperationException($"The texts of {file} are missing from the tool's resources.");
        using var reader = new StreamReader(stream);
        var lines = reader.ReadToEnd().Split('\n');
        return [.. LabelledData.ReadJsonl(lines, file).Select(e => e with { Source = source, Weight = SeedWeight })];
    }

    public const double SeedWeight = 4;

    /// <summary>Caps each (source, label set) group at <paramref name="cap"/> texts, chosen by a hash of the text, then merges duplicates.</summary>
    internal static List<LabelledText> CapAndMerge(List<LabelledText> all, int cap)
    {
        var capped = all
            .GroupBy(e => e.Source + "|" + string.Join(',', e.Labels), StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .SelectMany(g => g.OrderBy(e => Hash(e.Text)).ThenBy(e => e.Text, StringComparer.Ordinal).Take(CapOf(g.First().Source, cap)));
        var merged = new Dictionary<string, LabelledText>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var e in capped)
        {
            var key = DataSplit.Key(e.Text);
            if (merged.TryGetValue(key, out var seen))
            {
                merged[key] = seen with { Labels = [.. seen.Labels.Union(e.Labels, StringComparer.Ordinal).Order(StringComparer.Ordinal)] };
            }
            else
            {
                merged[key] = e;
                order.Add(key);
            }
        }

        return [.. order.Select(k => merged[k])];
    }

    private static void LoadToxicSpans(string folder, Action<string, string?, string[]> add)
    {
        var comments = Csv.ReadFile(Path.Combine(folder, "comments.csv"));
        var annotations = Csv.ReadFile(Path.Combine(folder, "annotations.csv"));
        int ac = Csv.Column(annotations[0], "comment_id"), an = Csv.Column(annotations[0], "not toxic");
        var votes = new Dictionary<string, (int Toxic, int Total)>(StringComparer.Ordinal);
        foreach (var r in annotations.Skip(1).Where(r => r.Length > Math.Max(ac, an)))
        {
            var (t, n) = votes.GetValueOrDefault(r[ac]);
            votes[r[ac]] = (t + (string.Equals(r[an], "True", StringComparison.OrdinalIgnoreCase) ? 0 : 1), n + 1);
        }

        foreach (var r in comments.Skip(1).Where(r => r.Length >= 2))
        {
            if (votes.TryGetValue(r[0], out var v) && v.Total > 0)
            {
                if (v.Toxic * 2 > v.Total)
                {
                    add("toxic_spans", r[1], ["harassment"]);
                }
                else if (v.Toxic * 2 < v.Total)
                {
                    add("toxic_spans", r[1], None);
                }
            }
        }
    }

    private static string CleanTweet(string text) => Url().Replace(Mention().Replace(HtmlEntity().Replace(text, " "), "@user"), "URL").Replace("RT @user:", string.Empty, StringComparison.Ordinal);

    private static ulong Hash(string text)
    {
        var h = 14695981039346656037UL;
        foreach (var c in text)
        {
            h = (h ^ c) * 1099511628211UL;
        }

        return h;
    }

    [GeneratedRegex(@"@\w+")]
    private static partial Regex Mention();

    [GeneratedRegex(@"https?://\S+")]
    private static partial Regex Url();

    [GeneratedRegex(@"&#?\w+;")]
    private static partial Regex HtmlEntity();

    [GeneratedRegex(@"\bDAN\b|[Jj]ailbreak|[Dd]o [Aa]nything [Nn]ow")]
    private static partial Regex JailbreakMarker();
}

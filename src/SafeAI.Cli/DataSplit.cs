namespace SafeAI.Cli;

/// <summary>
/// The fixed, documented split of the shared corpora: a text's part depends only on its own characters (FNV-1a 64 of the
/// seed string and the text, lower-cased with white space collapsed), so the same text always lands in the same part,
/// whatever source or order it comes from. Part = hash % 100: 0-19 held out for evaluation (never trained on), 20-31
/// calibration (thresholds), 32-99 training.
/// </summary>
internal static class DataSplit
{
    /// <summary>The seed of the split; changing it makes a different split (and invalidates the committed evaluation).</summary>
    public const string Seed = "safeai-split-v1";

    public static int Part(string text)
    {
        var h = 14695981039346656037UL;
        foreach (var c in Seed)
        {
            h = (h ^ c) * 1099511628211UL;
        }

        h = (h ^ 0) * 1099511628211UL;
        var space = true;
        foreach (var raw in text)
        {
            var c = char.IsWhiteSpace(raw) ? ' ' : char.ToLowerInvariant(raw);
            if (c == ' ' && space)
            {
                continue;
            }

            space = c == ' ';
            h = (h ^ c) * 1099511628211UL;
        }

        return (int)(h % 100);
    }

    public static bool IsHeldOut(string text) => Part(text) < 20;

    /// <summary>
    /// Sources held out whole from the fine-tuned tier's training and thresholds: the out-of-source check of
    /// <c>safeai eval --set sources</c> (harmful requests written by other teams, toxicity and hate from other platforms, other
    /// jailbreak styles, benign chat prompts, search questions and benign-but-alarming security prompts).
    /// </summary>
    public static readonly IReadOnlySet<string> HeldOutSources = new HashSet<string>(StringComparer.Ordinal)
    {
        "harmbench", "advbench", "donotanswer", "surge", "toxigen", "giskard", "tap_jailbreaks", "ifeval", "mt_bench", "mitre_frr", "nq_open",
    };

    /// <summary>
    /// The sources of benign everyday requests (shared/data/benign): the sample on which the default thresholds are set
    /// (their calibration part) and the false-positive rate is measured (their held-out parts and the held-out sources).
    /// </summary>
    public static readonly IReadOnlySet<string> BenignRequestSources = new HashSet<string>(StringComparer.Ordinal)
    {
        "banking77", "clinc150", "hwu64", "snips", "gsm8k", "nq_open", "mt_bench", "arena_hard", "self_instruct", "ifeval", "mitre_frr", "tldr", "awesome_chatgpt_prompts",
    };

    /// <summary>The part of a text from <paramref name="source"/>: heldout-source, test (the random held-out 20 %), calib or train.</summary>
    public static string PartName(string source, string text) =>
        HeldOutSources.Contains(source) ? "heldout-source"
        : Part(text) switch { < 20 => "test", < 32 => "calib", _ => "train" };

    public static bool IsCalibration(string text) => Part(text) is >= 20 and < 32;

    /// <summary>A key for de-duplication: lower-cased, white space collapsed, trimmed.</summary>
    public static string Key(string text) =>
        string.Join(' ', text.ToLowerInvariant().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
}

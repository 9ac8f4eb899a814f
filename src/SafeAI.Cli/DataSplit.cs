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

    public static bool IsCalibration(string text) => Part(text) is >= 20 and < 32;

    /// <summary>A key for de-duplication: lower-cased, white space collapsed, trimmed.</summary>
    public static string Key(string text) =>
        string.Join(' ', text.ToLowerInvariant().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
}

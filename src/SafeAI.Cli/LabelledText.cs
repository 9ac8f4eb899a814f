namespace SafeAI.Cli;

/// <summary>A text with its categories (none: benign) and where it came from.</summary>
internal sealed record LabelledText(string Text, IReadOnlyList<string> Labels, string Source)
{
    /// <summary>Gets how much the text counts in training (1 by default; hand-written seed texts count more).</summary>
    public double Weight { get; init; } = 1;

    public bool IsBenign => Labels.Count == 0;

    public bool Has(string category)
    {
        foreach (var label in Labels)
        {
            if (string.Equals(label, category, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }
}

namespace SafeAI.Cli;

/// <summary>A text with its categories (none: benign) and where it came from.</summary>
internal sealed record LabelledText(string Text, IReadOnlyList<string> Labels, string Source)
{
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

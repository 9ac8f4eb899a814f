namespace SafeAI.Onnx;

/// <summary>The threshold and action of one content category.</summary>
public sealed class ContentCategoryOptions
{
    /// <summary>Gets or sets the score (0 to 1) at or above which the category is flagged; <see langword="null"/> for <see cref="ContentFilterOptions.DefaultThreshold"/>.</summary>
    public double? Threshold { get; set; }

    /// <summary>Gets or sets what happens when the category is flagged; <see langword="null"/> for <see cref="ContentFilterOptions.DefaultAction"/>.</summary>
    public ContentAction? Action { get; set; }

    /// <summary>Gets or sets a value indicating whether the category is checked at all. Default: <see langword="true"/>.</summary>
    public bool Enabled { get; set; } = true;
}

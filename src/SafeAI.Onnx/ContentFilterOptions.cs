namespace SafeAI.Onnx;

/// <summary>
/// Settings of the ONNX content filter (configuration section <c>SafeAI:ContentFilter</c>): which model, which
/// messages, per-category thresholds and actions, how long texts are windowed and how streams are held back.
/// </summary>
public sealed class ContentFilterOptions : AIGuardOptions
{
    /// <summary>The configuration section the options bind from.</summary>
    public const string SectionName = "SafeAI:ContentFilter";

    /// <summary>The default stage name; the two stages are named <c>content-input</c> and <c>content-output</c>.</summary>
    public const string DefaultName = "content";

    /// <summary>
    /// The key under which the per-category scores (<see cref="IReadOnlyDictionary{TKey, TValue}"/> of category to score,
    /// the highest over all windows) of the checked input are left in <see cref="SafeAIContext.Items"/>.
    /// </summary>
    public const string InputScoresItemKey = "SafeAI.Content.InputScores";

    /// <summary>The key under which the highest per-category scores of the output screened so far are left in <see cref="SafeAIContext.Items"/>.</summary>
    public const string OutputScoresItemKey = "SafeAI.Content.OutputScores";

    /// <summary>
    /// Gets or sets the path of the model description file (<c>safeai-model.json</c>). When not set (and no model is given in
    /// code), the default model that ships in this package is used (<see cref="ContentModel.LoadDefault"/>).
    /// </summary>
    public string? ModelPath { get; set; }

    /// <summary>
    /// Gets or sets a function that loads the model (given <see cref="Runtime"/>) instead of <see cref="ModelPath"/>, for
    /// models that ship in other packages (for example <c>UseMiniLMCascade()</c> of SafeAI.Onnx.MiniLM). The filter
    /// calls it once and disposes the model with the filter. Set either this or <see cref="ModelPath"/>, not both.
    /// </summary>
    public Func<OnnxRuntimeOptions, ContentModel>? ModelFactory { get; set; }

    /// <summary>Gets or sets how the model runs (threads, execution provider, micro-batching).</summary>
    public OnnxRuntimeOptions Runtime { get; set; } = new();

    /// <summary>Gets or sets the threshold (0 to 1) of categories without their own. Default: 0.5.</summary>
    public double DefaultThreshold { get; set; } = 0.5;

    /// <summary>Gets or sets the action of categories without their own. Default: <see cref="ContentAction.Block"/>.</summary>
    public ContentAction DefaultAction { get; set; } = ContentAction.Block;

    /// <summary>Gets the per-category thresholds and actions, by category name (for example <c>hate</c>, <c>prompt_injection</c>).</summary>
    public IDictionary<string, ContentCategoryOptions> Categories { get; } = new Dictionary<string, ContentCategoryOptions>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Gets or sets a value indicating whether the input is checked. Default: <see langword="true"/>.</summary>
    public bool CheckInput { get; set; } = true;

    /// <summary>
    /// Gets the roles of the input messages that are checked. Empty (the default) means <c>user</c> and <c>tool</c>
    /// (tool results carry indirect prompt injection).
    /// </summary>
    public IList<string> InputRoles { get; } = new List<string>();

    /// <summary>Gets or sets a value indicating whether the model's output is checked. Default: <see langword="true"/>.</summary>
    public bool CheckOutput { get; set; } = true;

    /// <summary>
    /// Gets or sets how streamed output is held back and screened in windows. Each window is scored together with the
    /// <see cref="OutputScreeningOptions.ContextSize"/> characters released before it, which must be at least 16 so that a word
    /// cut by a window boundary is scored whole.
    /// </summary>
    public OutputScreeningOptions Screening { get; set; } = new();

    /// <summary>Gets or sets how many tokens consecutive windows of a long text share. Default: 32.</summary>
    public int WindowOverlap { get; set; } = 32;

    /// <summary>
    /// Gets or sets the most windows scored for one text (a bound on the cost of huge inputs). Text beyond them is
    /// handled by <see cref="OversizeAction"/>. Default: 16 (about 3,600 words with a 256-token model).
    /// </summary>
    public int MaxWindows { get; set; } = 16;

    /// <summary>
    /// Gets or sets what happens to a text longer than <see cref="MaxWindows"/> windows, reason <c>content.too_long</c>:
    /// <see cref="ContentAction.Block"/> (default: unscreened text never passes), <see cref="ContentAction.Escalate"/>, or
    /// <see cref="ContentAction.LogOnly"/> (the first windows are scored, the rest passes unscreened).
    /// </summary>
    public ContentAction OversizeAction { get; set; } = ContentAction.Block;

    /// <summary>
    /// Gets or sets a value indicating whether scoring a long text stops at the first window (in reading order) that reaches
    /// the threshold of a category whose action is the most severe one in use (by default every category blocks), since no
    /// later window can change what the filter does. Default: <see langword="true"/>. A long jailbreak then costs the
    /// windows up to the first one that blocks it instead of all of them; ordinary text, which no window flags, is scored
    /// whole either way. The decision's category and score, and the scores left under <see cref="InputScoresItemKey"/> and
    /// <see cref="OutputScoresItemKey"/>, are then those of the windows up to the deciding one: the same for the same text
    /// every time, but possibly lower than what the later windows would have scored. Set it to <see langword="false"/>
    /// to score every window, for example to record every category's highest score. Models whose windows share one run
    /// (<c>"maxBatchSize"</c> above 1) and models without an <c>ensemble</c> description always score every window.
    /// </summary>
    public bool StopAtDecidingWindow { get; set; } = true;

    /// <summary>Gets or sets a value indicating whether text is normalised against evasion (NFKC, invisible characters, homoglyphs, leetspeak, spaced-out letters) before scoring. Default: <see langword="true"/>.</summary>
    public bool Normalize { get; set; } = true;

    /// <summary>Gets or sets the text that replaces redacted sentences. Default: <c>[removed by content filter]</c>.</summary>
    public string RedactionText { get; set; } = "[removed by content filter]";

    internal IReadOnlyList<string> GetInputRoles() => InputRoles.Count == 0 ? ["user", "tool"] : [.. InputRoles];

    internal (double Threshold, ContentAction Action, bool Enabled) GetPolicy(string category) =>
        Categories.TryGetValue(category, out var c)
            ? (c.Threshold ?? DefaultThreshold, c.Action ?? DefaultAction, c.Enabled)
            : (DefaultThreshold, DefaultAction, true);
}

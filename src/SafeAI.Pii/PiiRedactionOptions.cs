namespace SafeAI.Pii;

/// <summary>What the PII stage does when it finds personal data.</summary>
public enum PiiAction
{
    /// <summary>Replace each finding with a typed placeholder such as <c>[EMAIL_1]</c> and go on.</summary>
    Redact,

    /// <summary>Refuse the call (input) or the answer (output).</summary>
    Block,

    /// <summary>Record a verdict naming the kinds found and change nothing.</summary>
    LogOnly,
}

/// <summary>Settings of the PII stage (<c>SafeAI:Pii</c> in configuration).</summary>
public sealed class PiiRedactionOptions : PiiDetectorSettings
{
    /// <summary>The configuration section the options bind from.</summary>
    public const string SectionName = "SafeAI:Pii";

    /// <summary>The default stage name; the input stage is <c>pii-input</c>, the output stage <c>pii-output</c>.</summary>
    public const string DefaultName = "pii";

    /// <summary>The key in <see cref="SafeAIContext.Items"/> under which the input stage leaves its placeholder map for the output stage.</summary>
    public const string PlaceholdersItemKey = "SafeAI.Pii.Placeholders";

    /// <summary>Gets or sets the stage name prefix. Default: <c>pii</c>.</summary>
    public string? Name { get; set; }

    /// <summary>Gets or sets what happens when a check fails or times out. Default: fail closed.</summary>
    public GuardFailureMode FailureMode { get; set; } = GuardFailureMode.FailClosed;

    /// <summary>Gets or sets each check's time budget; <see langword="null"/> for the pipeline's default.</summary>
    public TimeSpan? Timeout { get; set; }

    /// <summary>Gets or sets what the input stage does with personal data in the messages before the model sees them. Default: <see cref="PiiAction.Redact"/>.</summary>
    public PiiAction InputAction { get; set; } = PiiAction.Redact;

    /// <summary>
    /// Gets or sets a value indicating whether redaction is reversible: the placeholders the model repeats in its answer
    /// are replaced by the original values before the caller sees it (the caller's own data comes back to them; the
    /// model never saw it). Needs <see cref="InputAction"/> <see cref="PiiAction.Redact"/>. Default: <see langword="false"/>.
    /// </summary>
    public bool Reversible { get; set; }

    /// <summary>
    /// Gets or sets a value indicating whether the answer is checked for personal data the model wrote itself (a leak:
    /// data from its training or its tools). Default: <see langword="true"/>.
    /// </summary>
    public bool CheckOutput { get; set; } = true;

    /// <summary>Gets or sets what the output stage does with personal data in the answer. Default: <see cref="PiiAction.Redact"/>.</summary>
    public PiiAction OutputAction { get; set; } = PiiAction.Redact;

    /// <summary>Gets or sets a value indicating whether system messages are redacted too (they are the application's own text, often holding its contact details). Default: <see langword="false"/>.</summary>
    public bool RedactSystemMessages { get; set; }

    /// <summary>Gets or sets the longest text checked; a longer text is not checked and the stage fails by its <see cref="FailureMode"/> (reason <c>pii.too_long</c>). Default: 100,000 characters; at most 100,000,000.</summary>
    /// <remarks>
    /// Detection time grows linearly with the text and with the number of <see cref="PiiDetectorSettings.PhoneRegions"/>
    /// (each region is one pass of libphonenumber's matcher). Measured with the twelve default regions on a 2-core
    /// container: about 6 ms per 1,000 characters of number-rich ordinary text, and about 33 ms per 1,000 characters of
    /// hostile input made only of digits and separators (3.3 s at 100,000). Raise the limit for long documents only
    /// behind a rate limit.
    /// </remarks>
    public int MaxTextLength { get; set; } = 100_000;

    private const int MaxTextLengthLimit = 100_000_000;

    internal string StageName(string suffix) => (Name is { Length: > 0 } n ? n : DefaultName) + suffix;

    /// <summary>Checks the options.</summary>
    /// <returns>The problems found, each naming the setting with its section; empty when valid.</returns>
    public IList<string> ValidateAll()
    {
        var errors = new List<string>();
        foreach (var error in Validate())
        {
            errors.Add($"{SectionName}:{error}");
        }

        if (!Enum.IsDefined(InputAction))
        {
            errors.Add($"{SectionName}:InputAction '{InputAction}' is not Redact, Block or LogOnly.");
        }

        if (!Enum.IsDefined(OutputAction))
        {
            errors.Add($"{SectionName}:OutputAction '{OutputAction}' is not Redact, Block or LogOnly.");
        }

        if (!Enum.IsDefined(FailureMode))
        {
            errors.Add($"{SectionName}:FailureMode '{FailureMode}' is not a known failure mode.");
        }

        if (Reversible && InputAction != PiiAction.Redact)
        {
            errors.Add($"{SectionName}:Reversible needs InputAction Redact (it is {InputAction}): only redacted values can be restored.");
        }

        if (Timeout is { } t && t <= TimeSpan.Zero)
        {
            errors.Add($"{SectionName}:Timeout must be positive (it is {t}).");
        }

        if (MaxTextLength is < 1 or > MaxTextLengthLimit)
        {
            errors.Add($"{SectionName}:MaxTextLength must be between 1 and {MaxTextLengthLimit} (it is {MaxTextLength}).");
        }

        return errors;
    }
}

namespace SafeAI;

/// <summary>
/// Stable reason codes used by the SafeAI core. Reason codes are part of the public contract: they are
/// safe to switch on, to alert on and to use as low-cardinality telemetry tags. Stage packages define
/// their own codes with a stage prefix (for example <c>rate.user</c> or <c>content.hate</c>).
/// </summary>
public static class GuardReasons
{
    /// <summary>The stage found nothing to act on.</summary>
    public const string Ok = "ok";

    /// <summary>The stage threw an exception; its <see cref="GuardFailureMode"/> decided what happened next.</summary>
    public const string GuardError = "guard.error";

    /// <summary>The stage ran past its time budget; its <see cref="GuardFailureMode"/> decided what happened next.</summary>
    public const string GuardTimeout = "guard.timeout";

    /// <summary>The input text is longer than the configured maximum.</summary>
    public const string InputTooLong = "input.too_long";

    /// <summary>The input holds nothing to answer: no messages, or only empty or white-space text. The model is not called.</summary>
    public const string InputEmpty = "input.empty";

    /// <summary>The input is malformed (a <see langword="null"/> message). The model is not called.</summary>
    public const string InputInvalid = "input.invalid";

    /// <summary>The input text held lone UTF-16 surrogates (half a character); each was replaced by U+FFFD before the model saw it.</summary>
    public const string InputLoneSurrogate = "input.lone_surrogate";

    /// <summary>The name of the pipeline's own input validation in verdicts (it runs before every stage).</summary>
    public const string InputValidationStage = "input-validation";
}

namespace SafeAI;

/// <summary>
/// Well-known positions of stages in a pipeline. Stages run outermost first, in ascending order; stages with
/// the same order keep the order in which they were added. The built-in stages take these slots so that
/// <c>services.AddSafeAI(...)</c> produces the same pipeline whatever order the stages are added in:
/// <code>
/// rate limit ─► input checks ─► disclosure ─► human review ─► (custom) ─► fallback ─► output checks ─► confidence ─► model
/// </code>
/// Post-processing runs in the reverse order, so output checks and the confidence estimate see the model's
/// answer first, the fallback can replace a failed or rejected answer, review sees every earlier verdict,
/// and disclosure describes the answer the caller actually receives.
/// </summary>
public static class GuardOrder
{
    /// <summary>Rate and budget limits: outermost, so a rejected call costs nothing else.</summary>
    public const int RateLimiting = 100;

    /// <summary>Checks of the input (content, prompt injection, personal data, size).</summary>
    public const int InputChecks = 200;

    /// <summary>AI disclosure: describes the final answer.</summary>
    public const int Disclosure = 300;

    /// <summary>Human review of high-stakes or escalated answers.</summary>
    public const int HumanReview = 400;

    /// <summary>Custom stages that declare no position.</summary>
    public const int Default = 500;

    /// <summary>Fallback to simpler systems when the model call fails or its answer is rejected.</summary>
    public const int Fallback = 600;

    /// <summary>Checks of the model's output.</summary>
    public const int OutputChecks = 700;

    /// <summary>Confidence estimate of the model's answer: innermost, closest to the model.</summary>
    public const int Confidence = 800;
}

namespace SafeAI;

/// <summary>
/// Well-known positions of stages in a pipeline. Stages run outermost first, in ascending order; stages with
/// the same order keep the order in which they were added. The built-in stages take these slots so that
/// <c>services.AddSafeAI(...)</c> produces the same pipeline whatever order the stages are added in:
/// <code>
/// consent ─► audit ─► disclosure ─► rate limit ─► input checks ─► human review ─► (custom) ─► fallback ─► output checks ─► confidence ─► model
/// </code>
/// Post-processing runs in the reverse order, so output checks and the confidence estimate see the model's
/// answer first, the fallback can replace a failed or rejected answer, review sees every earlier verdict,
/// and disclosure, outermost, describes whatever answer the caller actually receives, refusals included.
/// </summary>
public static class GuardOrder
{
    /// <summary>Consent: outermost, reads the person's consents from the consent store before anything uses them.</summary>
    public const int Consent = 10;

    /// <summary>Audit trail: outside disclosure, so the call's record holds every verdict and the disclosure the caller got.</summary>
    public const int Audit = 25;

    /// <summary>AI disclosure: outermost of the answer-shaping stages, so it describes every answer, including refusals.</summary>
    public const int Disclosure = 50;

    /// <summary>Rollout routing: picks the arm before anything else runs, inside disclosure so baseline answers are described too.</summary>
    public const int Rollout = 75;

    /// <summary>Rate and budget limits: before every check, so a rejected call costs nothing else.</summary>
    public const int RateLimiting = 100;

    /// <summary>Checks of the input (content, prompt injection, personal data, size).</summary>
    public const int InputChecks = 200;

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

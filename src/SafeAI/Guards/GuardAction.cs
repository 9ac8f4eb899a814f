namespace SafeAI;

/// <summary>
/// What a guard stage decided about a call. Values are ordered by severity: when several stages decide,
/// the most severe action becomes the call's <see cref="SafeAIResult.Outcome"/>.
/// </summary>
public enum GuardAction
{
    /// <summary>The stage let the call through unchanged.</summary>
    Allow = 0,

    /// <summary>The stage changed the input or output (for example redacted personal data) and let it through.</summary>
    Modify = 1,

    /// <summary>A fallback answered instead of the primary model (graceful degradation).</summary>
    Degrade = 2,

    /// <summary>The call was escalated to a human reviewer.</summary>
    Escalate = 3,

    /// <summary>The call was rejected by a rate or budget limit; <see cref="GuardVerdict.RetryAfter"/> says when to try again.</summary>
    Limit = 4,

    /// <summary>The call was blocked; the caller gets a refusal instead of a model answer.</summary>
    Block = 5,
}

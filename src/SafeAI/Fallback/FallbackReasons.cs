namespace SafeAI;

/// <summary>Stable reason codes of the fallback stage's <see cref="GuardAction.Degrade"/> verdicts: each names the trigger.</summary>
public static class FallbackReasons
{
    /// <summary>The model call threw.</summary>
    public const string Exception = "fallback.exception";

    /// <summary>The model call timed out.</summary>
    public const string Timeout = "fallback.timeout";

    /// <summary>The circuit breaker was open.</summary>
    public const string CircuitOpen = "fallback.circuit_open";

    /// <summary>The provider answered 429.</summary>
    public const string RateLimited = "fallback.rate_limited";

    /// <summary>The provider answered 5xx.</summary>
    public const string ServerError = "fallback.server_error";

    /// <summary>The provider's content filter stopped the answer.</summary>
    public const string ContentFilter = "fallback.content_filter";

    /// <summary>The confidence stage handed over a low-confidence answer.</summary>
    public const string LowConfidence = "fallback.low_confidence";

    /// <summary>The request overflowed the context window.</summary>
    public const string ContextWindowExceeded = "fallback.context_window";

    /// <summary>A stage further in blocked the answer.</summary>
    public const string Blocked = "fallback.blocked";

    /// <summary>The kill switch is on.</summary>
    public const string KillSwitch = "fallback.kill_switch";

    /// <summary>A stream failed after its first chunk reached the caller; it was ended with a notice.</summary>
    public const string StreamInterrupted = "fallback.stream_interrupted";

    /// <summary>The <see cref="Microsoft.Extensions.AI.ChatResponse.AdditionalProperties"/> key set to <see langword="true"/> on a human-handoff answer.</summary>
    public const string HandoffPropertyKey = "safeai.handoff";

    /// <summary>The <see cref="GuardVerdict.Detail"/> when no fallback could answer.</summary>
    public const string NoneAnswered = "none answered";

    /// <summary>Gets the reason code of a single trigger.</summary>
    /// <param name="trigger">The trigger.</param>
    /// <returns>The code.</returns>
    public static string For(FallbackTriggers trigger) => trigger switch
    {
        FallbackTriggers.Timeout => Timeout,
        FallbackTriggers.CircuitOpen => CircuitOpen,
        FallbackTriggers.RateLimited => RateLimited,
        FallbackTriggers.ServerError => ServerError,
        FallbackTriggers.ContentFilter => ContentFilter,
        FallbackTriggers.LowConfidence => LowConfidence,
        FallbackTriggers.ContextWindowExceeded => ContextWindowExceeded,
        FallbackTriggers.Blocked => Blocked,
        FallbackTriggers.KillSwitch => KillSwitch,
        _ => Exception,
    };
}

namespace SafeAI;

/// <summary>What makes the fallback stage answer instead of the model. Combine flags to choose the triggers.</summary>
[Flags]
public enum FallbackTriggers
{
    /// <summary>No trigger.</summary>
    None = 0,

    /// <summary>The model call threw an exception not covered by a more specific trigger (filtered by <see cref="FallbackOptions.ExceptionTypes"/>).</summary>
    Exception = 1 << 0,

    /// <summary>The model call ran past <see cref="FallbackOptions.AttemptTimeout"/> or <see cref="FallbackOptions.TotalTimeout"/>.</summary>
    Timeout = 1 << 1,

    /// <summary>The circuit breaker is open: recent calls failed too often, so the model is not called at all.</summary>
    CircuitOpen = 1 << 2,

    /// <summary>The provider answered HTTP 429 (rate limited or quota exhausted upstream).</summary>
    RateLimited = 1 << 3,

    /// <summary>The provider answered HTTP 5xx.</summary>
    ServerError = 1 << 4,

    /// <summary>The provider's own content filter stopped the answer (finish reason <c>content_filter</c>).</summary>
    ContentFilter = 1 << 5,

    /// <summary>The confidence stage judged the answer too uncertain and chose <see cref="LowConfidenceAction.Fallback"/>. Always honoured: the confidence stage's setting is the switch.</summary>
    LowConfidence = 1 << 6,

    /// <summary>The request did not fit the model's context window.</summary>
    ContextWindowExceeded = 1 << 7,

    /// <summary>A stage further in (an output check) blocked the model's answer.</summary>
    Blocked = 1 << 8,

    /// <summary>The kill switch (<see cref="FallbackOptions.KillSwitch"/>) sends all traffic to the fallback.</summary>
    KillSwitch = 1 << 9,

    /// <summary>Every trigger.</summary>
    All = Exception | Timeout | CircuitOpen | RateLimited | ServerError | ContentFilter | LowConfidence | ContextWindowExceeded | Blocked | KillSwitch,
}

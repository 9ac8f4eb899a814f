namespace SafeAI;

/// <summary>How a rejected call (<see cref="GuardAction.Block"/> or <see cref="GuardAction.Limit"/>) reaches the caller.</summary>
public enum RejectionBehavior
{
    /// <summary>
    /// The caller gets a well-formed response that says in plain words what happened: an assistant message with the
    /// configured text, <see cref="Microsoft.Extensions.AI.ChatFinishReason.ContentFilter"/> for blocks, and the
    /// <see cref="SafeAIResult"/> attached. The default: chat UIs show it like any answer.
    /// </summary>
    ReturnResponse = 0,

    /// <summary>
    /// The caller gets a typed exception: <see cref="SafeAIRateLimitedException"/> (with <c>RetryAfter</c>) for limits,
    /// <see cref="SafeAIBlockedException"/> for blocks. Both carry the <see cref="SafeAIResult"/>.
    /// </summary>
    ThrowException = 1,
}

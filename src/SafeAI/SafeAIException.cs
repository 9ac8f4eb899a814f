namespace SafeAI;

/// <summary>
/// Base of SafeAI's typed exceptions: rejected calls when <see cref="RejectionBehavior.ThrowException"/> is chosen, and
/// model faults SafeAI detects itself (<see cref="SafeAIModelException"/>).
/// </summary>
public class SafeAIException : Exception
{
    /// <summary>Initializes a new instance of the <see cref="SafeAIException"/> class.</summary>
    public SafeAIException()
        : this("The call was rejected by SafeAI.")
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SafeAIException"/> class.</summary>
    /// <param name="message">The message.</param>
    public SafeAIException(string message)
        : base(message)
    {
        Result = SafeAIResult.Empty;
    }

    /// <summary>Initializes a new instance of the <see cref="SafeAIException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The inner exception.</param>
    public SafeAIException(string message, Exception innerException)
        : base(message, innerException)
    {
        Result = SafeAIResult.Empty;
    }

    /// <summary>Initializes a new instance of the <see cref="SafeAIException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="result">The call's verdicts.</param>
    public SafeAIException(string message, SafeAIResult result)
        : base(message)
    {
        ArgumentNullException.ThrowIfNull(result);
        Result = result;
    }

    /// <summary>Gets the verdicts of the rejected call.</summary>
    public SafeAIResult Result { get; }

    /// <summary>Gets the verdict that rejected the call, if any.</summary>
    public GuardVerdict? Verdict => Result.DecisiveVerdict;
}

/// <summary>Thrown for a blocked call when <see cref="RejectionBehavior.ThrowException"/> is chosen.</summary>
public sealed class SafeAIBlockedException : SafeAIException
{
    /// <summary>Initializes a new instance of the <see cref="SafeAIBlockedException"/> class.</summary>
    public SafeAIBlockedException()
        : base("The call was blocked by SafeAI.")
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SafeAIBlockedException"/> class.</summary>
    /// <param name="message">The message.</param>
    public SafeAIBlockedException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SafeAIBlockedException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The inner exception.</param>
    public SafeAIBlockedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SafeAIBlockedException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="result">The call's verdicts.</param>
    public SafeAIBlockedException(string message, SafeAIResult result)
        : base(message, result)
    {
    }
}

/// <summary>Thrown for a rate-limited call when <see cref="RejectionBehavior.ThrowException"/> is chosen.</summary>
public sealed class SafeAIRateLimitedException : SafeAIException
{
    /// <summary>Initializes a new instance of the <see cref="SafeAIRateLimitedException"/> class.</summary>
    public SafeAIRateLimitedException()
        : base("The call was rate limited by SafeAI.")
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SafeAIRateLimitedException"/> class.</summary>
    /// <param name="message">The message.</param>
    public SafeAIRateLimitedException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SafeAIRateLimitedException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The inner exception.</param>
    public SafeAIRateLimitedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SafeAIRateLimitedException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="result">The call's verdicts.</param>
    public SafeAIRateLimitedException(string message, SafeAIResult result)
        : base(message, result)
    {
    }

    /// <summary>Gets how long the caller should wait before trying again, when known.</summary>
    public TimeSpan? RetryAfter => Result.RetryAfter;
}

/// <summary>
/// Thrown when the model client broke its contract in a way SafeAI detected: it returned no response or no stream
/// (<see langword="null"/>), or it did not answer within its time budget (<see cref="SafeAIModelTimeoutException"/>).
/// A fallback stage treats it as a model failure; without one it reaches the caller.
/// </summary>
public class SafeAIModelException : SafeAIException
{
    /// <summary>Initializes a new instance of the <see cref="SafeAIModelException"/> class.</summary>
    public SafeAIModelException()
        : base("The model client returned no usable answer.")
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SafeAIModelException"/> class.</summary>
    /// <param name="message">The message.</param>
    public SafeAIModelException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SafeAIModelException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The inner exception.</param>
    public SafeAIModelException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// Thrown when the model did not answer (or, on a stream, send its next chunk) within
/// <see cref="SafeAIOptions.ModelTimeout"/>. The model call is abandoned, not awaited: it may still run; its outcome is
/// observed and logged when it ends.
/// </summary>
public sealed class SafeAIModelTimeoutException : SafeAIModelException
{
    /// <summary>Initializes a new instance of the <see cref="SafeAIModelTimeoutException"/> class.</summary>
    public SafeAIModelTimeoutException()
        : base("The model did not answer within its time budget.")
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SafeAIModelTimeoutException"/> class.</summary>
    /// <param name="message">The message.</param>
    public SafeAIModelTimeoutException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SafeAIModelTimeoutException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The inner exception.</param>
    public SafeAIModelTimeoutException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SafeAIModelTimeoutException"/> class.</summary>
    /// <param name="timeout">The budget the model ran past.</param>
    /// <param name="streaming">Whether the call was a stream (the budget is then the wait for each chunk).</param>
    public SafeAIModelTimeoutException(TimeSpan timeout, bool streaming)
        : base(streaming
            ? $"The model sent no chunk of its stream within {timeout} (SafeAI:ModelTimeout); the stream was abandoned."
            : $"The model did not answer within {timeout} (SafeAI:ModelTimeout); the call was abandoned.")
    {
        Timeout = timeout;
    }

    /// <summary>Gets the budget the model ran past, when known.</summary>
    public TimeSpan? Timeout { get; }
}

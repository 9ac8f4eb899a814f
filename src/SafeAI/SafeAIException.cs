namespace SafeAI;

/// <summary>Base of the typed exceptions SafeAI throws for rejected calls when <see cref="RejectionBehavior.ThrowException"/> is chosen.</summary>
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

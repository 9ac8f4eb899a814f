namespace SafeAI;

/// <summary>Thrown when the model failed and no link of the fallback chain could answer, under <see cref="FallbackExhaustedBehavior.ThrowException"/>.</summary>
public sealed class SafeAIFallbackExhaustedException : SafeAIException
{
    /// <summary>Initializes a new instance of the <see cref="SafeAIFallbackExhaustedException"/> class.</summary>
    public SafeAIFallbackExhaustedException()
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SafeAIFallbackExhaustedException"/> class.</summary>
    /// <param name="message">The message.</param>
    public SafeAIFallbackExhaustedException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SafeAIFallbackExhaustedException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The model's failure, if the trigger was one.</param>
    public SafeAIFallbackExhaustedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SafeAIFallbackExhaustedException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="trigger">Why the fallback was asked to answer.</param>
    /// <param name="innerException">The model's failure, if the trigger was one.</param>
    public SafeAIFallbackExhaustedException(string message, FallbackTriggers trigger, Exception? innerException)
        : base(message, innerException!)
    {
        Trigger = trigger;
    }

    /// <summary>Gets why the fallback was asked to answer.</summary>
    public FallbackTriggers Trigger { get; }
}

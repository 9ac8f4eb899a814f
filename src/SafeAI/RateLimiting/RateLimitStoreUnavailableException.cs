namespace SafeAI;

/// <summary>The limit store (for example Redis) could not answer within the stage's <see cref="RateLimitingOptions.StoreTimeout"/>.</summary>
public sealed class RateLimitStoreUnavailableException : Exception
{
    /// <summary>Initializes a new instance of the <see cref="RateLimitStoreUnavailableException"/> class.</summary>
    public RateLimitStoreUnavailableException()
        : base("The rate-limit store is unavailable.")
    {
    }

    /// <summary>Initializes a new instance of the <see cref="RateLimitStoreUnavailableException"/> class.</summary>
    /// <param name="message">The message.</param>
    public RateLimitStoreUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="RateLimitStoreUnavailableException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public RateLimitStoreUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

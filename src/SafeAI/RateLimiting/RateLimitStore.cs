using System.Threading.RateLimiting;

namespace SafeAI;

/// <summary>
/// Where the limits of a rate-limiting stage are kept: in process memory (<see cref="InMemory"/>, the default) or in a
/// shared store such as Redis (<c>SafeAI.Redis</c>) so that several app instances share one budget.
/// </summary>
public abstract class RateLimitStore
{
    /// <summary>Gets the in-process store: limits per app instance, kept in memory with idle partitions dropped.</summary>
    public static RateLimitStore InMemory { get; } = new InMemoryRateLimitStore();

    /// <summary>Gets the store's name, used in logs and verdict details.</summary>
    public abstract string Name { get; }

    /// <summary>
    /// Creates the request limiter of one stage. A lease that is not acquired carries <see cref="MetadataName.RetryAfter"/>
    /// where the wait is known.
    /// </summary>
    /// <param name="stageName">The stage name (keeps the keys of several stages apart).</param>
    /// <param name="options">The stage's settings (a copy the store may keep).</param>
    /// <param name="timeProvider">The time provider.</param>
    /// <returns>The limiter, keyed by partition key.</returns>
    /// <exception cref="RateLimitStoreUnavailableException">Thrown by the limiter's acquire methods when the store cannot answer in time.</exception>
    public abstract PartitionedRateLimiter<string> CreateLimiter(string stageName, RateLimitingOptions options, TimeProvider timeProvider);

    /// <summary>Creates the model-token budget of one stage.</summary>
    /// <param name="stageName">The stage name.</param>
    /// <param name="options">The stage's settings; <see cref="RateLimitingOptions.TokenLimit"/> is set.</param>
    /// <param name="timeProvider">The time provider.</param>
    /// <returns>The budget.</returns>
    public abstract TokenBudget CreateTokenBudget(string stageName, RateLimitingOptions options, TimeProvider timeProvider);
}

/// <summary>A model-token budget per partition and window: checked before a call, charged with actual usage after it.</summary>
public abstract class TokenBudget : IDisposable
{
    /// <summary>
    /// Reserves <paramref name="tokens"/> (the estimate, possibly 0) when the partition's tokens used so far plus the
    /// reservation stay within the limit; otherwise reserves nothing.
    /// </summary>
    /// <param name="key">The partition key.</param>
    /// <param name="tokens">The tokens to reserve.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>Whether the tokens were reserved and, if not, when to retry.</returns>
    /// <exception cref="RateLimitStoreUnavailableException">The store cannot answer in time.</exception>
    public abstract ValueTask<TokenReservation> TryReserveAsync(string key, long tokens, CancellationToken cancellationToken);

    /// <summary>Adds <paramref name="tokens"/> (may be negative, to return an over-estimate) to the partition's usage.</summary>
    /// <param name="key">The partition key.</param>
    /// <param name="tokens">The tokens to add.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>A task that completes when charged.</returns>
    /// <exception cref="RateLimitStoreUnavailableException">The store cannot answer in time.</exception>
    public abstract ValueTask ChargeAsync(string key, long tokens, CancellationToken cancellationToken);

    /// <inheritdoc />
    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases resources.</summary>
    /// <param name="disposing"><see langword="true"/> when called from <see cref="Dispose()"/>.</param>
    protected virtual void Dispose(bool disposing)
    {
    }
}

/// <summary>The answer of <see cref="TokenBudget.TryReserveAsync"/>.</summary>
/// <param name="Granted">Whether the tokens were reserved.</param>
/// <param name="RetryAfter">When not granted: when the budget's window ends, if known.</param>
public readonly record struct TokenReservation(bool Granted, TimeSpan? RetryAfter);

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

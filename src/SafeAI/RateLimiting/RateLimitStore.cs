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

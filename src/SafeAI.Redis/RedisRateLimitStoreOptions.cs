namespace SafeAI.Redis;

/// <summary>Settings of the Redis rate-limit store, bound from <c>SafeAI:RateLimiting:Redis</c> under dependency injection.</summary>
/// <example>
/// <code>
/// "SafeAI": { "RateLimiting": { "Redis": { "Configuration": "redis-1:6379,password=...", "KeyPrefix": "myapp:safeai" } } }
/// </code>
/// </example>
public sealed class RedisRateLimitStoreOptions
{
    /// <summary>The configuration section the options bind from.</summary>
    public const string SectionName = "SafeAI:RateLimiting:Redis";

    /// <summary>Gets or sets the StackExchange.Redis configuration string, for example <c>localhost:6379</c>.</summary>
    public string Configuration { get; set; } = "localhost:6379";

    /// <summary>Gets or sets the prefix of every key the store writes. Default: <c>safeai:rl</c>.</summary>
    public string KeyPrefix { get; set; } = "safeai:rl";

    /// <summary>Gets or sets the connect timeout. Default: 1 second. Calls never wait longer than the stage's <see cref="RateLimitingOptions.StoreTimeout"/>.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Gets or sets how long a concurrency permit lives in Redis when its app instance dies without returning it.
    /// Calls (and streams) that run longer lose their permit early. Default: 10 minutes.
    /// </summary>
    public TimeSpan ConcurrencyLeaseTimeout { get; set; } = TimeSpan.FromMinutes(10);
}

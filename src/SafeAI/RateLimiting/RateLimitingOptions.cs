using System.ComponentModel.DataAnnotations;
using System.Threading.RateLimiting;

namespace SafeAI;

/// <summary>
/// Settings of the rate-limiting stage, bound from <c>SafeAI:RateLimiting</c> when registered with dependency injection
/// and reloaded when the configuration changes (a reload starts every partition afresh).
/// </summary>
/// <example>
/// <code>
/// "SafeAI": {
///   "RateLimiting": {
///     "PartitionBy": "User",
///     "Algorithm": "TokenBucket",
///     "PermitLimit": 20,
///     "TokensPerPeriod": 1,
///     "ReplenishmentPeriod": "00:00:03",
///     "TokenLimit": 50000,
///     "TokenWindow": "01:00:00"
///   }
/// }
/// </code>
/// </example>
public sealed class RateLimitingOptions : AIGuardOptions
{
    /// <summary>The configuration section the options bind from.</summary>
    public const string SectionName = "SafeAI:RateLimiting";

    /// <summary>Gets or sets what requests are counted by. Default: <see cref="RateLimitPartition.User"/>.</summary>
    [EnumDataType(typeof(RateLimitPartition), ErrorMessage = "SafeAI:RateLimiting:PartitionBy must be User, Tenant, ApiKey, Global or Custom.")]
    public RateLimitPartition PartitionBy { get; set; } = RateLimitPartition.User;

    /// <summary>
    /// Gets or sets the function that chooses the partition key of a call when <see cref="PartitionBy"/> is
    /// <see cref="RateLimitPartition.Custom"/>. Return <see langword="null"/> to put the call in the shared anonymous partition.
    /// Not bound from configuration.
    /// </summary>
    public Func<SafeAICallContext, string?>? PartitionKeySelector { get; set; }

    /// <summary>Gets or sets the algorithm. Default: <see cref="RateLimitAlgorithm.FixedWindow"/>.</summary>
    [EnumDataType(typeof(RateLimitAlgorithm), ErrorMessage = "SafeAI:RateLimiting:Algorithm must be FixedWindow, SlidingWindow, TokenBucket or Concurrency.")]
    public RateLimitAlgorithm Algorithm { get; set; } = RateLimitAlgorithm.FixedWindow;

    /// <summary>
    /// Gets or sets the number of requests per window (fixed and sliding window), the bucket size (token bucket) or the
    /// calls in flight at once (concurrency). Default: 60.
    /// </summary>
    [Range(1, int.MaxValue, ErrorMessage = "SafeAI:RateLimiting:PermitLimit must be at least 1.")]
    public int PermitLimit { get; set; } = 60;

    /// <summary>Gets or sets the window of the fixed and sliding window algorithms. Default: one minute.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "366.00:00:00", ErrorMessage = "SafeAI:RateLimiting:Window must be between 1 ms and 366 days.")]
    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Gets or sets the number of segments a sliding window is tracked in. Default: 6.</summary>
    [Range(1, 1000, ErrorMessage = "SafeAI:RateLimiting:SegmentsPerWindow must be between 1 and 1000.")]
    public int SegmentsPerWindow { get; set; } = 6;

    /// <summary>Gets or sets the tokens added to a token bucket each <see cref="ReplenishmentPeriod"/>. Default: 1.</summary>
    [Range(1, int.MaxValue, ErrorMessage = "SafeAI:RateLimiting:TokensPerPeriod must be at least 1.")]
    public int TokensPerPeriod { get; set; } = 1;

    /// <summary>Gets or sets how often a token bucket is refilled. Default: one second.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "366.00:00:00", ErrorMessage = "SafeAI:RateLimiting:ReplenishmentPeriod must be between 1 ms and 366 days.")]
    public TimeSpan ReplenishmentPeriod { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Gets or sets how many requests of one partition may wait for a permit instead of being rejected at once.
    /// Default: 0 (no queue; a request over the limit is rejected immediately).
    /// </summary>
    [Range(0, int.MaxValue, ErrorMessage = "SafeAI:RateLimiting:QueueLimit must not be negative.")]
    public int QueueLimit { get; set; }

    /// <summary>Gets or sets which waiting request the concurrency algorithm serves first. Default: oldest first.</summary>
    [EnumDataType(typeof(QueueProcessingOrder), ErrorMessage = "SafeAI:RateLimiting:QueueProcessingOrder must be OldestFirst or NewestFirst.")]
    public QueueProcessingOrder QueueProcessingOrder { get; set; } = QueueProcessingOrder.OldestFirst;

    /// <summary>
    /// Gets or sets the model-token budget per <see cref="TokenWindow"/> of each partition, charged with the response's
    /// actual <see cref="Microsoft.Extensions.AI.UsageDetails.TotalTokenCount"/>. <see langword="null"/> (default): no token budget.
    /// </summary>
    [Range(1L, long.MaxValue, ErrorMessage = "SafeAI:RateLimiting:TokenLimit must be at least 1.")]
    public long? TokenLimit { get; set; }

    /// <summary>Gets or sets the window of the token budget. Default: one hour.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "366.00:00:00", ErrorMessage = "SafeAI:RateLimiting:TokenWindow must be between 1 ms and 366 days.")]
    public TimeSpan TokenWindow { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// Gets or sets a value indicating whether the input's tokens are estimated before the call and checked against the
    /// remaining budget, so that one huge request cannot overrun it. Default: <see langword="true"/>.
    /// </summary>
    public bool EstimateInputTokens { get; set; } = true;

    /// <summary>
    /// Gets or sets how many output tokens a call is expected to use when its <see cref="Microsoft.Extensions.AI.ChatOptions.MaxOutputTokens"/>
    /// is not set. A call reserves its estimated input plus its expected output (<c>MaxOutputTokens</c>, else this) when
    /// it is admitted, and settles with the response's actual usage when it completes, so that calls running at the same
    /// time cannot together spend more than the budget (by more than one call's reservation, when calls stay within
    /// what they reserved). A reservation larger than the whole budget is capped at the budget. 0 reserves no output
    /// (the budget may then be overspent by concurrent calls). Default: 256.
    /// </summary>
    [Range(0, int.MaxValue, ErrorMessage = "SafeAI:RateLimiting:EstimatedOutputTokens must not be negative.")]
    public int EstimatedOutputTokens { get; set; } = 256;

    /// <summary>
    /// Gets or sets the estimator used before the call. <see langword="null"/> (default): about four characters per token,
    /// or the <see cref="ITokenEstimator"/> registered in the services. Not bound from configuration.
    /// </summary>
    public ITokenEstimator? TokenEstimator { get; set; }

    /// <summary>
    /// Gets or sets the longest time a call waits for the limit store (for example Redis) before the stage's
    /// <see cref="AIGuardOptions.FailureMode"/> decides. Default: 250 ms.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:01:00", ErrorMessage = "SafeAI:RateLimiting:StoreTimeout must be between 1 ms and 1 minute.")]
    public TimeSpan StoreTimeout { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Gets or sets how long a partition whose limit has fully recovered is kept before it is dropped (in-process store).
    /// Dropping an idle partition never grants extra requests. Default: one minute.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "1.00:00:00", ErrorMessage = "SafeAI:RateLimiting:IdlePartitionTimeout must be between 1 ms and 1 day.")]
    public TimeSpan IdlePartitionTimeout { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Gets or sets the most partitions kept in memory (in-process store). When reached, idle partitions are dropped at
    /// once; callers beyond that share one overflow partition with the same limits. Default: 100,000.
    /// </summary>
    [Range(1, int.MaxValue, ErrorMessage = "SafeAI:RateLimiting:MaxPartitions must be at least 1.")]
    public int MaxPartitions { get; set; } = 100_000;

    /// <summary>
    /// Gets or sets the store the limits are kept in. <see langword="null"/> (default): the store registered in the
    /// services (for example Redis, from <c>SafeAI.Redis</c>), else in-process memory. Not bound from configuration.
    /// </summary>
    public RateLimitStore? Store { get; set; }

    internal RateLimitingOptions Clone() => (RateLimitingOptions)MemberwiseClone();
}

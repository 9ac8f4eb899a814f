namespace SafeAI;

/// <summary>The algorithm a rate-limiting stage counts requests with.</summary>
public enum RateLimitAlgorithm
{
    /// <summary>At most <see cref="RateLimitingOptions.PermitLimit"/> requests per <see cref="RateLimitingOptions.Window"/>; the count resets when the window ends.</summary>
    FixedWindow,

    /// <summary>At most <see cref="RateLimitingOptions.PermitLimit"/> requests in any <see cref="RateLimitingOptions.Window"/>, tracked in <see cref="RateLimitingOptions.SegmentsPerWindow"/> segments.</summary>
    SlidingWindow,

    /// <summary>
    /// A bucket of <see cref="RateLimitingOptions.PermitLimit"/> tokens, refilled by <see cref="RateLimitingOptions.TokensPerPeriod"/> every
    /// <see cref="RateLimitingOptions.ReplenishmentPeriod"/>: allows bursts up to the bucket size and a steady average rate.
    /// </summary>
    TokenBucket,

    /// <summary>At most <see cref="RateLimitingOptions.PermitLimit"/> calls in flight at once; a call's permit is returned when it ends.</summary>
    Concurrency,
}

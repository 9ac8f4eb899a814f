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

/// <summary>What a rate-limiting stage counts requests by.</summary>
public enum RateLimitPartition
{
    /// <summary>Each user (<see cref="SafeAICallContext.UserId"/>) has its own limit. Calls without a user share one.</summary>
    User,

    /// <summary>Each tenant (<see cref="SafeAICallContext.TenantId"/>) has its own limit. Calls without a tenant share one.</summary>
    Tenant,

    /// <summary>Each API key (<see cref="SafeAICallContext.ApiKeyId"/>) has its own limit. Calls without a key share one.</summary>
    ApiKey,

    /// <summary>One limit for all calls.</summary>
    Global,

    /// <summary>The partition key comes from <see cref="RateLimitingOptions.PartitionKeySelector"/>.</summary>
    Custom,
}

/// <summary>Stable reason codes of the rate-limiting stage's verdicts.</summary>
public static class RateLimitReasons
{
    /// <summary>The user's request limit was reached.</summary>
    public const string User = "rate.user";

    /// <summary>The tenant's request limit was reached.</summary>
    public const string Tenant = "rate.tenant";

    /// <summary>The API key's request limit was reached.</summary>
    public const string ApiKey = "rate.apikey";

    /// <summary>The global request limit was reached.</summary>
    public const string Global = "rate.global";

    /// <summary>A limit partitioned by a custom key was reached.</summary>
    public const string Custom = "rate.custom";

    /// <summary>The model-token budget of the partition was used up, or the request alone is larger than the budget.</summary>
    public const string Tokens = "rate.tokens";

    /// <summary>The shared limit store (for example Redis) could not be reached in time; the stage's failure policy decided.</summary>
    public const string StoreUnavailable = "rate.store_unavailable";

    /// <summary>Gets the reason code for a limit partitioned by <paramref name="partition"/>.</summary>
    /// <param name="partition">The partition kind.</param>
    /// <returns>The reason code.</returns>
    public static string ForPartition(RateLimitPartition partition) => partition switch
    {
        RateLimitPartition.User => User,
        RateLimitPartition.Tenant => Tenant,
        RateLimitPartition.ApiKey => ApiKey,
        RateLimitPartition.Global => Global,
        _ => Custom,
    };
}

namespace SafeAI;

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

namespace SafeAI;

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

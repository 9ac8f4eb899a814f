using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SafeAI.Redis;

namespace SafeAI;

/// <summary>Keeps SafeAI's rate limits in Redis, shared by every app instance.</summary>
public static class RedisRateLimitingExtensions
{
    /// <summary>
    /// Registers the Redis store for the pipeline's rate-limiting stages (settings bound from <c>SafeAI:RateLimiting:Redis</c>
    /// over the defaults <paramref name="configure"/> sets). Requires dependency injection (<c>services.AddSafeAI(...)</c>);
    /// in code, set <see cref="RateLimitingOptions.Store"/> to a <see cref="RedisRateLimitStore"/> instead.
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="configure">Sets the Redis settings.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The builder was not created by <c>services.AddSafeAI()</c>.</exception>
    public static SafeAIPipelineBuilder UseRedisRateLimitStore(this SafeAIPipelineBuilder builder, Action<RedisRateLimitStoreOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services ?? throw new InvalidOperationException(
            "UseRedisRateLimitStore needs dependency injection (services.AddSafeAI(...)). In code, set RateLimitingOptions.Store = new RedisRateLimitStore(...).");
        if (configure is not null)
        {
            _ = services.Configure(configure);
        }

        _ = services.AddSafeAIOptions<RedisRateLimitStoreOptions>(RedisRateLimitStoreOptions.SectionName);
        services.TryAddSingleton(static sp => new RedisRateLimitStore(
            sp.GetRequiredService<IOptions<RedisRateLimitStoreOptions>>().Value,
            sp.GetService<ILoggerFactory>()?.CreateLogger("SafeAI.Redis")));
        services.TryAddSingleton<RateLimitStore>(static sp => sp.GetRequiredService<RedisRateLimitStore>());
        return builder;
    }
}

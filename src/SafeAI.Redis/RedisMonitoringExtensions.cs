using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using SafeAI.Monitoring;
using SafeAI.Redis;

namespace SafeAI;

/// <summary>Keeps SafeAI monitoring's metrics in Redis, shared by every app instance.</summary>
public static class RedisMonitoringExtensions
{
    /// <summary>
    /// Keeps monitoring's metrics in Redis (options bound from <c>SafeAI:Monitoring:Redis</c>): every app instance that
    /// points at the same server and key prefix writes its buckets under its own instance name, a restarted instance
    /// loads its own back, and reads without an instance sum them all. Use with <c>safe.AddMonitoring()</c>, which
    /// writes to the registered <see cref="IMetricsStore"/> every <c>MonitoringOptions.PersistInterval</c>; the
    /// <c>safeai-metrics-store</c> health check then pings it. It replaces a metrics store registered before it (such as
    /// <c>AddSafeAIMonitoringSqlite</c>'s); the call log and the shared kill switch stay where they are.
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="configure">Changes the options after configuration binding.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The builder has no services; in code create a <see cref="RedisMetricsStore"/>.</exception>
    public static SafeAIPipelineBuilder UseRedisMetricsStore(this SafeAIPipelineBuilder builder, Action<RedisMetricsStoreOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services ?? throw new InvalidOperationException(
            "UseRedisMetricsStore() needs dependency injection (services.AddSafeAI(...)). In code, create the store: " +
            "new RedisMetricsStore(new RedisMetricsStoreOptions { Configuration = \"...\" }), and give it to a MetricsPersistence.");
        var options = services.AddSafeAIOptions<RedisMetricsStoreOptions>(RedisMetricsStoreOptions.SectionName);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RedisMetricsStoreOptions>, RedisMetricsStoreOptionsValidator>());
        if (configure is not null)
        {
            _ = options.Configure(configure);
        }

        services.RemoveAll<IMetricsStore>();
        services.AddSingleton<IMetricsStore>(static sp => new RedisMetricsStore(
            sp.GetRequiredService<IOptions<RedisMetricsStoreOptions>>().Value,
            sp.GetService<TimeProvider>()));
        return builder;
    }
}

internal sealed class RedisMetricsStoreOptionsValidator : IValidateOptions<RedisMetricsStoreOptions>
{
    public ValidateOptionsResult Validate(string? name, RedisMetricsStoreOptions options) =>
        options.GetError() is { } error ? ValidateOptionsResult.Fail(error) : ValidateOptionsResult.Success;
}

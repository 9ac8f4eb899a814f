using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace SafeAI.Monitoring;

/// <summary>Reports Degraded while the kill switch is on (AI traffic goes to the fallback), with the reason it was turned on.</summary>
/// <param name="killSwitch">The kill switch.</param>
public sealed class KillSwitchHealthCheck(IKillSwitch killSwitch) : IHealthCheck
{
    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(killSwitch);
        var data = new Dictionary<string, object> { ["on"] = killSwitch.IsOn };
        if (killSwitch.Reason is { } reason)
        {
            data["reason"] = reason;
        }

        return Task.FromResult(killSwitch.IsOn
            ? HealthCheckResult.Degraded($"The SafeAI kill switch is on: calls go to the fallback. {killSwitch.Reason}", data: data)
            : HealthCheckResult.Healthy("The SafeAI kill switch is off.", data));
    }
}

/// <summary>Reports Degraded while any alert rule is firing, naming the rules.</summary>
/// <param name="engine">The alert engine.</param>
public sealed class AlertsHealthCheck(AlertEngine engine) : IHealthCheck
{
    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(engine);
        var firing = engine.Firing;
        var data = new Dictionary<string, object> { ["firing"] = firing.ToArray(), ["rules"] = engine.Rules.Count };
        return Task.FromResult(firing.Count > 0
            ? HealthCheckResult.Degraded($"SafeAI alerts firing: {string.Join(", ", firing)}.", data: data)
            : HealthCheckResult.Healthy($"No SafeAI alert is firing ({engine.Rules.Count} rules).", data));
    }
}

/// <summary>Reports Degraded when the metrics store does not answer (metrics stay in memory meanwhile), with the store's error.</summary>
/// <param name="store">The store.</param>
public sealed class MetricsStoreHealthCheck(IMetricsStore store) : IHealthCheck
{
    /// <inheritdoc />
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        try
        {
            await store.PingAsync(cancellationToken).ConfigureAwait(false);
            return HealthCheckResult.Healthy("The SafeAI metrics store answers.");
        }
        catch (MetricsStoreException ex)
        {
            return HealthCheckResult.Degraded("The SafeAI metrics store is unreachable; metrics are kept in memory until it answers. " + ex.Message, ex);
        }
    }
}

/// <summary>Registers SafeAI's health checks.</summary>
public static class MonitoringHealthCheckBuilderExtensions
{
    /// <summary>The tag of SafeAI's health checks (<c>MapSafeAIHealth</c> in SafeAI.AspNetCore reports the checks with it).</summary>
    public const string Tag = "safeai";

    /// <summary>
    /// Adds <c>safeai-kill-switch</c>, <c>safeai-alerts</c> and, when an <see cref="IMetricsStore"/> is registered,
    /// <c>safeai-metrics-store</c>: each Degraded (never Unhealthy: the application still answers, with its fallback)
    /// while the kill switch is on, an alert fires or the store is unreachable. Needs <c>AddMonitoring</c>.
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <returns>The builder.</returns>
    public static IHealthChecksBuilder AddSafeAIChecks(this IHealthChecksBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        string[] tags = [Tag];
        builder.Add(new HealthCheckRegistration("safeai-kill-switch", static sp => new KillSwitchHealthCheck(sp.GetRequiredService<IKillSwitch>()), HealthStatus.Degraded, tags));
        builder.Add(new HealthCheckRegistration("safeai-alerts", static sp => new AlertsHealthCheck(sp.GetRequiredService<AlertEngine>()), HealthStatus.Degraded, tags));
        builder.Add(new HealthCheckRegistration("safeai-metrics-store", static sp => sp.GetService<IMetricsStore>() is { } store ? new MetricsStoreHealthCheck(store) : new NoStore(), HealthStatus.Degraded, tags));
        return builder;
    }

    private sealed class NoStore : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(HealthCheckResult.Healthy("No SafeAI metrics store is registered; metrics are kept in memory."));
    }
}

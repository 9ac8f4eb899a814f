using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SafeAI.Audit;
using SafeAI.Review;

namespace SafeAI;

/// <summary>Adds the audit trail to a SafeAI pipeline.</summary>
public static class AuditTrailBuilderExtensions
{
    /// <summary>
    /// Adds the audit stage (slot <see cref="GuardOrder.Audit"/>): one tamper-evident record per call. Under dependency
    /// injection it binds <see cref="AuditTrailOptions"/> from <c>SafeAI:AuditTrail</c> (validated at start) and registers
    /// an <see cref="AuditTrail"/> singleton over the registered <see cref="IAuditStore"/> (in memory unless a store
    /// package registered another, such as <c>safe.UseSqliteAuditStore()</c>); the trail also records the decisions of
    /// a registered <see cref="RolloutController"/> and review queue. Inject <see cref="AuditTrail"/> to record operator
    /// actions, flush, purge or erase.
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="configure">Changes the options after configuration binding.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The builder has no services; in code pass an <see cref="AuditTrail"/>.</exception>
    public static SafeAIPipelineBuilder AddAuditTrail(this SafeAIPipelineBuilder builder, Action<AuditTrailOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services ?? throw new InvalidOperationException(
            "AddAuditTrail() without a trail needs dependency injection (services.AddSafeAI(...)). In code, create one and pass it: " +
            "safe.AddAuditTrail(new AuditTrail(SqliteStores.CreateAuditStore(new() { DataSource = \"audit.db\" }), options)).");
        var options = services.AddSafeAIOptions<AuditTrailOptions>(AuditTrailOptions.SectionName);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AuditTrailOptions>, AuditTrailOptionsValidator>());
        _ = options.ValidateOnStart();
        if (configure is not null)
        {
            _ = options.Configure(configure);
        }

        services.TryAddSingleton<IAuditStore, InMemoryAuditStore>();
        services.TryAddSingleton(static sp =>
        {
            var trail = new AuditTrail(
                sp.GetRequiredService<IAuditStore>(),
                sp.GetRequiredService<IOptions<AuditTrailOptions>>().Value,
                sp.GetService<TimeProvider>(),
                sp.GetService<ILoggerFactory>()?.CreateLogger("SafeAI.Audit"),
                sp.GetService<IMeterFactory>());
            if (sp.GetService<RolloutController>() is { } rollout)
            {
                _ = trail.Attach(rollout);
            }

            if (sp.GetService<IReviewQueue>() is { } queue)
            {
                _ = trail.Attach(queue);
            }

            // The kill switch is a configuration value: record each flip (operator action through configuration).
            if (sp.GetService<IOptionsMonitor<RolloutOptions>>() is { } rolloutOptions)
            {
                var last = rolloutOptions.CurrentValue.KillSwitch;
                var gate = new Lock();
                _ = rolloutOptions.OnChange((current, name) =>
                {
                    if (name != Options.DefaultName)
                    {
                        return;
                    }

                    lock (gate)
                    {
                        if (current.KillSwitch == last)
                        {
                            return;
                        }

                        last = current.KillSwitch;
                    }

                    trail.EnqueueOperatorDetached("configuration", current.KillSwitch ? "rollout.kill_switch.on" : "rollout.kill_switch.off");
                });
            }

            return trail;
        });
        return builder.Add(static sp => new AuditTrailGuard(sp.GetRequiredService<AuditTrail>()));
    }

    /// <summary>Adds the audit stage over a given trail (slot <see cref="GuardOrder.Audit"/>); works with or without dependency injection.</summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="trail">The trail. The caller owns it and disposes it (which writes what is queued).</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static SafeAIPipelineBuilder AddAuditTrail(this SafeAIPipelineBuilder builder, AuditTrail trail)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(trail);
        return builder.Add(new AuditTrailGuard(trail));
    }
}

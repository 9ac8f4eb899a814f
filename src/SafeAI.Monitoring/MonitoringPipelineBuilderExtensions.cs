using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace SafeAI.Monitoring;

/// <summary>Adds monitoring to a SafeAI pipeline.</summary>
public static class MonitoringPipelineBuilderExtensions
{
    /// <summary>
    /// Adds the monitoring stage (outermost) and, under dependency injection, everything around it: the
    /// <see cref="MetricsRecorder"/>, the <see cref="AlertEngine"/> with the rules of <c>SafeAI:Monitoring</c> (bound,
    /// validated at start), a background service that evaluates them every <see cref="MonitoringOptions.EvaluationInterval"/>
    /// (and writes metrics to an <see cref="IMetricsStore"/> if one is registered), and the <see cref="KillSwitch"/> and
    /// <see cref="ThresholdOverrides"/> that containment uses, applied to the fallback, rollout and confidence stages.
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="configure">Adds rules, callbacks and settings in code.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The builder has no services: build in code with <see cref="AddMonitoring(SafeAIPipelineBuilder, MetricsRecorder, DriftDetector?, ICallLog?)"/>.</exception>
    public static SafeAIPipelineBuilder AddMonitoring(this SafeAIPipelineBuilder builder, Action<MonitoringOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services ?? throw new InvalidOperationException("AddMonitoring(configure) needs dependency injection (services.AddSafeAI). In code, create a MetricsRecorder and an AlertEngine and call AddMonitoring(recorder).");
        _ = services.AddSafeAIOptions<MonitoringOptions>(MonitoringOptions.SectionName);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<MonitoringOptions>, MonitoringOptionsValidator>());
        if (configure is not null)
        {
            _ = services.Configure(configure);
        }

        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(static sp => new MetricsRecorder(sp.GetRequiredService<IOptions<MonitoringOptions>>().Value.Metrics, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<MonitoringTelemetry>()));
        services.TryAddSingleton(static sp => new DriftDetector(sp.GetRequiredService<MetricsRecorder>(), sp.GetRequiredService<IOptions<MonitoringOptions>>().Value.Drift));
        services.TryAddSingleton(static sp => new KillSwitch(sp.GetService<ILogger<KillSwitch>>()));
        services.TryAddSingleton<IKillSwitch>(static sp => sp.GetRequiredService<KillSwitch>());
        services.TryAddSingleton(static sp => new ThresholdOverrides(sp.GetService<ILogger<ThresholdOverrides>>()));
        services.TryAddSingleton(static sp => new MonitoringTelemetry(sp.GetService<IMeterFactory>()));
        services.TryAddSingleton(CreateEngine);
        services.TryAddSingleton(CreateFleet);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, MonitoringService>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, FleetMonitoringService>());

        // Containment reaches the stages through their options: the kill switch and tightened thresholds are applied
        // after configuration, and a change reloads the options as a configuration change would.
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<FallbackOptions>, ApplyContainment>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<RolloutOptions>, ApplyContainment>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<ConfidenceOptions>, ApplyContainment>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IOptionsChangeTokenSource<FallbackOptions>, ContainmentChangeTokenSource<FallbackOptions>>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IOptionsChangeTokenSource<RolloutOptions>, ContainmentChangeTokenSource<RolloutOptions>>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IOptionsChangeTokenSource<ConfidenceOptions>, ContainmentChangeTokenSource<ConfidenceOptions>>());
        return builder.Add(static sp => new MonitoringGuard(
            sp.GetRequiredService<MetricsRecorder>(),
            sp.GetRequiredService<IOptions<MonitoringOptions>>().Value.Drift.Enabled ? sp.GetRequiredService<DriftDetector>() : null,
            sp.GetService<ICallLog>()));
    }

    /// <summary>Adds the monitoring stage recording into <paramref name="recorder"/>, for pipelines built in code. Evaluate rules with an <see cref="AlertEngine"/> over the same recorder.</summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="recorder">The recorder.</param>
    /// <param name="drift">Profiles inputs and outputs for drift; none when <see langword="null"/>.</param>
    /// <param name="callLog">Logs each call for incident investigation; none when <see langword="null"/>.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static SafeAIPipelineBuilder AddMonitoring(this SafeAIPipelineBuilder builder, MetricsRecorder recorder, DriftDetector? drift = null, ICallLog? callLog = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(recorder);
        return builder.Add(new MonitoringGuard(recorder, drift, callLog));
    }

    private static AlertEngine CreateEngine(IServiceProvider sp)
    {
        var options = sp.GetRequiredService<IOptions<MonitoringOptions>>().Value;
        var telemetry = sp.GetRequiredService<MonitoringTelemetry>();
        var engine = BuildEngine(sp, sp.GetRequiredService<MetricsRecorder>(), AlertRuleScope.Instance);
        telemetry.Observe(engine, sp.GetRequiredService<IKillSwitch>(), options.Drift.Enabled ? sp.GetRequiredService<DriftDetector>() : null);
        return engine;
    }

    private static FleetMonitoring CreateFleet(IServiceProvider sp)
    {
        var options = sp.GetRequiredService<IOptions<MonitoringOptions>>().Value;
        var store = sp.GetService<IMetricsStore>() ?? throw new InvalidOperationException(
            "SafeAI:Monitoring:Fleet:Enabled needs a metrics store that every instance writes to: safe.UsePostgreSqlMetricsStore(...) " +
            "(SafeAI.PostgreSql), safe.UseRedisMetricsStore(...) (SafeAI.Redis), or services.AddSafeAIMonitoringSqlite(path) on one machine.");
        var metrics = new FleetMetrics(store, options.Metrics, sp.GetRequiredService<TimeProvider>(), options.Fleet.Settle);
        return new FleetMonitoring(metrics, BuildEngine(sp, metrics.Recorder, AlertRuleScope.Fleet));
    }

    private static AlertEngine BuildEngine(IServiceProvider sp, MetricsRecorder recorder, AlertRuleScope scope)
    {
        var options = sp.GetRequiredService<IOptions<MonitoringOptions>>().Value;
        var logger = sp.GetService<ILogger<AlertEngine>>();
        var rules = options.Rules.Select(static o => new AlertRule(o)).Concat(options.CodeRules).Where(r => r.Scope == scope).ToList();
        var http = new Lazy<HttpClient>(static () => new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) }));
        IAlertAction Create(AlertActionOptions spec, AlertRule rule) => spec.Type?.ToLowerInvariant() switch
        {
            "log" => new LogAlertAction((ILogger?)logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance),
            "webhook" => new WebhookAlertAction(spec.Url!, http.Value, new WebhookOptions
            {
                Secret = spec.SecretEnvironmentVariable is { } variable ? Environment.GetEnvironmentVariable(variable)
                    ?? throw new InvalidOperationException($"Rule '{rule.Name}': the webhook's secret_env names '{variable}', which is not set.") : null,
            }, sp.GetRequiredService<TimeProvider>(), logger),
            "callback" => new CallbackAlertAction(options.Callbacks[spec.Callback!], spec.Callback!),
            "kill-switch" => new KillSwitchAlertAction(sp.GetRequiredService<IKillSwitch>()),
            "rollout-abort" or "rollout-stop" => new RolloutAlertAction(
                sp.GetService<RolloutController>() ?? throw new InvalidOperationException($"Rule '{rule.Name}': '{spec.Type}' needs a rollout; add safe.AddRollout(...)."),
                abort: string.Equals(spec.Type, "rollout-abort", StringComparison.OrdinalIgnoreCase)),
            "tighten" => new TightenThresholdAlertAction(sp.GetRequiredService<ThresholdOverrides>(), spec.Target!, spec.Value!.Value),
            _ => throw new InvalidOperationException($"Rule '{rule.Name}': unknown action '{spec.Type}'."),
        };

        return new AlertEngine(recorder, rules, Create, logger, sp.GetRequiredService<MonitoringTelemetry>());
    }

    private sealed class ApplyContainment(IKillSwitch killSwitch, ThresholdOverrides overrides) : IPostConfigureOptions<FallbackOptions>, IPostConfigureOptions<RolloutOptions>, IPostConfigureOptions<ConfidenceOptions>
    {
        public void PostConfigure(string? name, FallbackOptions options) => options.KillSwitch |= killSwitch.IsOn;

        public void PostConfigure(string? name, RolloutOptions options) => options.KillSwitch |= killSwitch.IsOn;

        public void PostConfigure(string? name, ConfidenceOptions options)
        {
            if (overrides.Get("confidence") is { } threshold)
            {
                options.Threshold = Math.Max(options.Threshold, threshold);
            }
        }
    }

    private sealed class ContainmentChangeTokenSource<TOptions>(IKillSwitch killSwitch, ThresholdOverrides overrides) : IOptionsChangeTokenSource<TOptions>
    {
        public string Name => Options.DefaultName;

        public IChangeToken GetChangeToken() => killSwitch is KillSwitch local
            ? new CompositeChangeToken([local.GetChangeToken(), overrides.GetChangeToken()])
            : overrides.GetChangeToken();
    }
}

/// <summary>The background service of monitoring: evaluates the alert rules on schedule and writes metrics to the registered store.</summary>
internal sealed class MonitoringService(AlertEngine engine, MetricsRecorder recorder, IOptions<MonitoringOptions> options, IServiceProvider services, ILogger<MonitoringService>? logger = null) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        var store = services.GetService<IMetricsStore>();
        var rules = engine.RunAsync(settings.EvaluationInterval, stoppingToken);
        if (store is null)
        {
            await rules.ConfigureAwait(false);
            return;
        }

        var persistence = services.GetService<MetricsPersistence>() ?? new MetricsPersistence(recorder, store, Environment.MachineName);
        using var timer = new PeriodicTimer(settings.PersistInterval, recorder.TimeProvider);
        try
        {
            await persistence.LoadAsync(stoppingToken).ConfigureAwait(false);
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                try
                {
                    await persistence.FlushAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (MetricsStoreException ex)
                {
                    MonitoringLog.PersistFailed(logger ?? (ILogger)Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, ex);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (MetricsStoreException ex)
        {
            MonitoringLog.PersistFailed(logger ?? (ILogger)Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, ex);
        }

        await rules.ConfigureAwait(false);
    }
}

/// <summary>
/// The fleet rules of an instance with <see cref="FleetOptions.Enabled"/> (resolve it from the services): the fleet's
/// metrics, mirrored from the shared store, and the <see cref="AlertEngine"/> that judges the rules with
/// <c>"scope": "fleet"</c> on them. Its actions are the rules' own, as on an instance's engine.
/// </summary>
public sealed class FleetMonitoring
{
    internal FleetMonitoring(FleetMetrics metrics, AlertEngine engine)
    {
        Metrics = metrics;
        Engine = engine;
    }

    /// <summary>Gets the fleet's metrics.</summary>
    public FleetMetrics Metrics { get; }

    /// <summary>Gets the engine of the fleet rules.</summary>
    public AlertEngine Engine { get; }
}

/// <summary>On an instance with <see cref="FleetOptions.Enabled"/>: every evaluation interval, syncs the fleet's metrics from the store, then evaluates the fleet rules.</summary>
internal sealed class FleetMonitoringService(IOptions<MonitoringOptions> options, IServiceProvider services, ILogger<FleetMonitoringService>? logger = null) : BackgroundService
{
    private FleetMonitoring? _fleet;

    private ILogger Logger => logger ?? (ILogger)Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Value.Fleet.Enabled)
        {
            _fleet = services.GetRequiredService<FleetMonitoring>(); // a missing store fails the start with its message
            if (_fleet.Engine.Rules.Count == 0)
            {
                MonitoringLog.NoFleetRules(Logger);
                _fleet = null;
            }
        }

        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_fleet is not { } fleet)
        {
            return;
        }

        using var timer = new PeriodicTimer(options.Value.EvaluationInterval, fleet.Metrics.Recorder.TimeProvider);
        try
        {
            do
            {
                try
                {
                    _ = await fleet.Metrics.SyncAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (MetricsStoreException ex)
                {
                    MonitoringLog.FleetSyncFailed(Logger, ex);
                    continue; // rules judged on a stale mirror would see missing traffic
                }

                await fleet.Engine.EvaluateOrLogAsync(stoppingToken).ConfigureAwait(false);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}

/// <summary>Keeps monitoring's state in one SQLite file: metrics, the call log and the shared kill switch.</summary>
public static class MonitoringSqliteServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="SqliteMetricsStore"/> (metrics survive restarts), <see cref="SqliteCallLog"/> (calls for
    /// <c>safeai incident export</c>; text only with consent) and a background <see cref="SqliteKillSwitchSync"/> (the
    /// kill switch shared with other instances and with <c>safeai incident contain</c>), all in <paramref name="path"/>.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="path">The database file.</param>
    /// <param name="killSwitchPollInterval">How often the shared kill switch is read (default 2 seconds).</param>
    /// <returns>The services.</returns>
    public static IServiceCollection AddSafeAIMonitoringSqlite(this IServiceCollection services, string path, TimeSpan? killSwitchPollInterval = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        services.TryAddSingleton<IMetricsStore>(new SqliteMetricsStore(path));
        services.TryAddSingleton<ICallLog>(sp => new SqliteCallLog(path, logger: sp.GetService<ILogger<SqliteCallLog>>()));
        services.AddSingleton<IHostedService>(sp => new KillSwitchSyncService(path, sp.GetRequiredService<KillSwitch>(), killSwitchPollInterval, sp.GetRequiredService<TimeProvider>(), sp.GetService<ILogger<SqliteKillSwitchSync>>()));
        return services;
    }

    private sealed class KillSwitchSyncService(string path, KillSwitch killSwitch, TimeSpan? interval, TimeProvider timeProvider, ILogger? logger) : IHostedService, IAsyncDisposable
    {
        private SqliteKillSwitchSync? _sync;

        public async Task StartAsync(CancellationToken cancellationToken) =>
            _sync = await SqliteKillSwitchSync.StartAsync(path, killSwitch, interval, "default", timeProvider, logger, cancellationToken).ConfigureAwait(false);

        public async Task StopAsync(CancellationToken cancellationToken) => await DisposeAsync().ConfigureAwait(false);

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _sync, null) is { } sync)
            {
                await sync.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}

using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace SafeAI;

/// <summary>
/// Builds a <see cref="SafeAIPipeline"/>. Used directly in code (<c>new SafeAIPipelineBuilder().Add(...).Build()</c>),
/// inside <c>chatClientBuilder.UseSafeAI(safe =&gt; ...)</c>, and by <c>services.AddSafeAI(safe =&gt; ...)</c>.
/// Stage packages add their stages with extension methods on this type (<c>safe.AddRateLimiting(...)</c>).
/// </summary>
/// <remarks>
/// Stages are ordered by <see cref="IAIGuard.Order"/> (see <see cref="GuardOrder"/>), then by the order they were
/// added. Not thread-safe; build once and share the pipeline.
/// </remarks>
public sealed class SafeAIPipelineBuilder
{
    private readonly List<(Func<IServiceProvider, IAIGuard> Factory, int? Order)> _stages = [];
    private readonly List<Action<SafeAIOptions>> _configure = [];
    private TimeProvider? _timeProvider;
    private ILoggerFactory? _loggerFactory;
    private IMeterFactory? _meterFactory;

    /// <summary>Initializes a new instance of the <see cref="SafeAIPipelineBuilder"/> class for use without dependency injection.</summary>
    public SafeAIPipelineBuilder()
    {
    }

    internal SafeAIPipelineBuilder(IServiceCollection services)
    {
        Services = services;
    }

    /// <summary>
    /// Gets the service collection when the builder comes from <c>services.AddSafeAI()</c>; <see langword="null"/> when
    /// the pipeline is built in code. Stage packages use it to register their options and services.
    /// </summary>
    public IServiceCollection? Services { get; }

    /// <summary>Gets the number of stages added so far.</summary>
    public int Count => _stages.Count;

    /// <summary>Adds a stage instance.</summary>
    /// <param name="guard">The stage.</param>
    /// <param name="order">The position, overriding the stage's own <see cref="IAIGuard.Order"/>.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="guard"/> is <see langword="null"/>.</exception>
    public SafeAIPipelineBuilder Add(IAIGuard guard, int? order = null)
    {
        ArgumentNullException.ThrowIfNull(guard);
        _stages.Add((_ => guard, order));
        return this;
    }

    /// <summary>Adds a stage created from the pipeline's services when the pipeline is built.</summary>
    /// <param name="factory">Creates the stage.</param>
    /// <param name="order">The position, overriding the stage's own <see cref="IAIGuard.Order"/>.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="factory"/> is <see langword="null"/>.</exception>
    public SafeAIPipelineBuilder Add(Func<IServiceProvider, IAIGuard> factory, int? order = null)
    {
        ArgumentNullException.ThrowIfNull(factory);
        _stages.Add((factory, order));
        return this;
    }

    /// <summary>Adds a stage of the given type, taken from the services or created with its constructor's dependencies injected.</summary>
    /// <typeparam name="TGuard">The stage type.</typeparam>
    /// <param name="order">The position, overriding the stage's own <see cref="IAIGuard.Order"/>.</param>
    /// <returns>This builder.</returns>
    public SafeAIPipelineBuilder Add<TGuard>(int? order = null)
        where TGuard : class, IAIGuard
    {
        _stages.Add((static sp => ActivatorUtilities.GetServiceOrCreateInstance<TGuard>(sp), order));
        return this;
    }

    /// <summary>Adds an input check written as a delegate.</summary>
    /// <param name="name">The stage name.</param>
    /// <param name="check">Returns the verdict for a call's input; see <see cref="InputGuard"/>.</param>
    /// <param name="failureMode">What happens when the check fails.</param>
    /// <param name="timeout">The check's time budget.</param>
    /// <param name="order">The position; input checks by default.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="check"/> is <see langword="null"/>.</exception>
    public SafeAIPipelineBuilder AddInputCheck(
        string name,
        Func<SafeAIContext, CancellationToken, ValueTask<GuardVerdict>> check,
        GuardFailureMode failureMode = GuardFailureMode.FailClosed,
        TimeSpan? timeout = null,
        int order = GuardOrder.InputChecks)
    {
        ArgumentNullException.ThrowIfNull(check);
        return Add(new DelegateInputGuard(name, check, failureMode, timeout, order));
    }

    /// <summary>Adds an output check written as a delegate.</summary>
    /// <param name="name">The stage name.</param>
    /// <param name="check">Returns the verdict for a piece of output; see <see cref="OutputGuard"/>.</param>
    /// <param name="failureMode">What happens when the check fails.</param>
    /// <param name="timeout">The time budget of each check.</param>
    /// <param name="screening">How streamed text is held back.</param>
    /// <param name="order">The position; output checks by default.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="check"/> is <see langword="null"/>.</exception>
    public SafeAIPipelineBuilder AddOutputCheck(
        string name,
        Func<SafeAIContext, OutputSegment, CancellationToken, ValueTask<GuardVerdict>> check,
        GuardFailureMode failureMode = GuardFailureMode.FailClosed,
        TimeSpan? timeout = null,
        OutputScreeningOptions? screening = null,
        int order = GuardOrder.OutputChecks)
    {
        ArgumentNullException.ThrowIfNull(check);
        return Add(new DelegateOutputGuard(name, check, failureMode, timeout, screening, order));
    }

    /// <summary>Adds input checks that run concurrently, the first rejection cancelling the rest.</summary>
    /// <param name="checks">The checks.</param>
    /// <param name="name">The group's stage name.</param>
    /// <returns>This builder.</returns>
    public SafeAIPipelineBuilder AddConcurrent(IEnumerable<InputGuard> checks, string? name = null) => Add(new ConcurrentInputGuard(checks, name));

    /// <summary>Adds an <see cref="InputLengthGuard"/> that rejects inputs longer than <paramref name="maxCharacters"/>.</summary>
    /// <param name="maxCharacters">The largest accepted number of characters.</param>
    /// <returns>This builder.</returns>
    public SafeAIPipelineBuilder AddInputLengthLimit(int maxCharacters) => Add(new InputLengthGuard(maxCharacters));

    /// <summary>Changes the pipeline's settings. With dependency injection this configures <see cref="SafeAIOptions"/> in the services.</summary>
    /// <param name="configure">Changes the settings.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="configure"/> is <see langword="null"/>.</exception>
    public SafeAIPipelineBuilder Configure(Action<SafeAIOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        if (Services is not null)
        {
            _ = Services.Configure(configure);
        }
        else
        {
            _configure.Add(configure);
        }

        return this;
    }

    /// <summary>Sets the time provider (tests use a fake one). By default the services' <see cref="TimeProvider"/>, else the system clock.</summary>
    /// <param name="timeProvider">The time provider.</param>
    /// <returns>This builder.</returns>
    public SafeAIPipelineBuilder UseTimeProvider(TimeProvider timeProvider)
    {
        _timeProvider = timeProvider ?? throw new ArgumentNullException(nameof(timeProvider));
        return this;
    }

    /// <summary>Sets the logger factory. By default the services' <see cref="ILoggerFactory"/>, else no logging.</summary>
    /// <param name="loggerFactory">The logger factory.</param>
    /// <returns>This builder.</returns>
    public SafeAIPipelineBuilder UseLoggerFactory(ILoggerFactory loggerFactory)
    {
        _loggerFactory = loggerFactory ?? throw new ArgumentNullException(nameof(loggerFactory));
        return this;
    }

    /// <summary>Sets the meter factory that creates the <c>SafeAI</c> meter. By default the services' <see cref="IMeterFactory"/>, else a shared meter.</summary>
    /// <param name="meterFactory">The meter factory.</param>
    /// <returns>This builder.</returns>
    public SafeAIPipelineBuilder UseMeterFactory(IMeterFactory meterFactory)
    {
        _meterFactory = meterFactory ?? throw new ArgumentNullException(nameof(meterFactory));
        return this;
    }

    /// <summary>Builds the pipeline: creates the stages, orders them and validates the settings.</summary>
    /// <param name="services">The services stages are created from; <see langword="null"/> for none.</param>
    /// <returns>The pipeline.</returns>
    /// <exception cref="OptionsValidationException">A setting is invalid; the message names it.</exception>
    /// <exception cref="InvalidOperationException">A stage factory returned <see langword="null"/>.</exception>
    public SafeAIPipeline Build(IServiceProvider? services = null)
    {
        services ??= EmptyServiceProvider.Instance;
        var entries = new List<(IAIGuard Guard, int Order, int Index)>(_stages.Count);
        for (var i = 0; i < _stages.Count; i++)
        {
            var (factory, order) = _stages[i];
            var guard = factory(services) ?? throw new InvalidOperationException($"The SafeAI stage factory at position {i} returned null.");
            entries.Add((guard, order ?? guard.Order, i));
        }

        entries.Sort(static (a, b) => a.Order != b.Order ? a.Order.CompareTo(b.Order) : a.Index.CompareTo(b.Index));

        var options = CreateOptionsSource(services);
        var stages = options().ConcurrentInputChecks ? GroupConcurrentChecks(entries) : entries.ConvertAll(static e => e.Guard);
        var loggerFactory = _loggerFactory ?? services.GetService<ILoggerFactory>();
        var logger = loggerFactory?.CreateLogger("SafeAI");
        var telemetry = SafeAITelemetry.Create(_meterFactory ?? services.GetService<IMeterFactory>());
        var timeProvider = _timeProvider ?? services.GetService<TimeProvider>() ?? TimeProvider.System;
        return new SafeAIPipeline([.. stages], options, timeProvider, logger, telemetry, services);
    }

    private static List<IAIGuard> GroupConcurrentChecks(List<(IAIGuard Guard, int Order, int Index)> entries)
    {
        var result = new List<IAIGuard>(entries.Count);
        for (var i = 0; i < entries.Count;)
        {
            var j = i;
            while (j < entries.Count && entries[j].Guard is InputGuard && entries[j].Order == entries[i].Order)
            {
                j++;
            }

            if (j - i >= 2)
            {
                result.Add(new ConcurrentInputGuard(entries.GetRange(i, j - i).ConvertAll(static e => (InputGuard)e.Guard)));
                i = j;
            }
            else
            {
                result.Add(entries[i].Guard);
                i++;
            }
        }

        return result;
    }

    private Func<SafeAIOptions> CreateOptionsSource(IServiceProvider services)
    {
        var factory = services.GetService<IOptionsFactory<SafeAIOptions>>();
        var localActions = _configure.ToArray();
        SafeAIOptions Create()
        {
            var options = factory?.Create(Microsoft.Extensions.Options.Options.DefaultName) ?? new SafeAIOptions();
            if (factory is null || localActions.Length > 0)
            {
                foreach (var action in localActions)
                {
                    action(options);
                }

                var validation = new SafeAIOptionsValidator().Validate(Microsoft.Extensions.Options.Options.DefaultName, options);
                if (validation.Failed)
                {
                    throw new OptionsValidationException(Microsoft.Extensions.Options.Options.DefaultName, typeof(SafeAIOptions), validation.Failures);
                }
            }

            return options;
        }

        var snapshot = new OptionsSnapshot(Create());
        var monitor = services.GetService<IOptionsMonitor<SafeAIOptions>>();
        if (factory is not null && monitor is not null)
        {
            var logger = (_loggerFactory ?? services.GetService<ILoggerFactory>())?.CreateLogger("SafeAI");
            snapshot.Subscription = monitor.OnChange((_, name) =>
            {
                if (name != Microsoft.Extensions.Options.Options.DefaultName)
                {
                    return;
                }

                try
                {
                    snapshot.Current = Create();
                }
                catch (OptionsValidationException ex)
                {
                    if (logger is not null)
                    {
                        OptionsLog.ReloadRejected(logger, ex.Message);
                    }
                }
            });
        }

        return snapshot.Get;
    }

    private sealed class OptionsSnapshot(SafeAIOptions initial)
    {
        private volatile SafeAIOptions _current = initial;

        public SafeAIOptions Current
        {
            get => _current;
            set => _current = value;
        }

        public IDisposable? Subscription { get; set; }

        public SafeAIOptions Get() => _current;
    }

    private sealed class EmptyServiceProvider : IServiceProvider, IKeyedServiceProvider
    {
        public static readonly EmptyServiceProvider Instance = new();

        public object? GetService(Type serviceType) => null;

        public object? GetKeyedService(Type serviceType, object? serviceKey) => null;

        public object GetRequiredKeyedService(Type serviceType, object? serviceKey) =>
            throw new InvalidOperationException($"No service for type '{serviceType}' is available: this SafeAI pipeline was built without dependency injection.");
    }
}

internal static partial class OptionsLog
{
    [LoggerMessage(EventId = 20, Level = LogLevel.Error, Message = "SafeAI kept its previous settings: the reloaded configuration is invalid. {Problem}")]
    public static partial void ReloadRejected(ILogger logger, string problem);
}

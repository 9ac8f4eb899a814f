using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Primitives;

namespace SafeAI.Monitoring;

/// <summary>A switch that, when on, sends every AI call to the fallback (or the rollout's baseline): the first step of containment.</summary>
/// <remarks>Implementations must be thread-safe; reading <see cref="IsOn"/> must be cheap (it may be read on every call).</remarks>
public interface IKillSwitch
{
    /// <summary>Gets a value indicating whether the switch is on.</summary>
    bool IsOn { get; }

    /// <summary>Gets why the switch was last turned on or off, or <see langword="null"/> when it never changed.</summary>
    string? Reason { get; }

    /// <summary>Turns the switch on.</summary>
    /// <param name="reason">Why, for the record.</param>
    /// <param name="cancellationToken">Cancels the change (for a switch kept in a store).</param>
    /// <returns>A task that completes when the switch is on.</returns>
    ValueTask TurnOnAsync(string reason, CancellationToken cancellationToken = default);

    /// <summary>Turns the switch off.</summary>
    /// <param name="reason">Why, for the record.</param>
    /// <param name="cancellationToken">Cancels the change.</param>
    /// <returns>A task that completes when the switch is off.</returns>
    ValueTask TurnOffAsync(string reason, CancellationToken cancellationToken = default);
}

/// <summary>
/// The in-process kill switch. Registered by <c>AddMonitoring</c>, it is applied to the fallback stage
/// (<see cref="FallbackOptions.KillSwitch"/>) and the rollout stage (<see cref="RolloutOptions.KillSwitch"/>): turning it
/// on takes effect on the next call, as if the configuration had changed. Without dependency injection, read
/// <see cref="IsOn"/> yourself or use <see cref="RolloutController.Stop(string)"/> through <see cref="RolloutAlertAction"/>.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001:Types that own disposable fields should be disposable", Justification = "A CancellationTokenSource without a timer holds no unmanaged resource; each one is disposed when replaced.")]
public sealed class KillSwitch : IKillSwitch
{
    private readonly Lock _gate = new();
    private readonly ILogger _logger;
    private volatile bool _on;
    private string? _reason;
    private CancellationTokenSource _changed = new();

    /// <summary>Initializes a new instance of the <see cref="KillSwitch"/> class, off.</summary>
    /// <param name="logger">Logs every change at Warning; none when <see langword="null"/>.</param>
    public KillSwitch(ILogger<KillSwitch>? logger = null) => _logger = (ILogger?)logger ?? NullLogger.Instance;

    /// <summary>Raised after the switch changed, with its new state, once options that depend on the switch have reloaded (another thread may see <see cref="IsOn"/> change a moment earlier).</summary>
    public event EventHandler<bool>? Changed;

    /// <inheritdoc />
    public bool IsOn => _on;

    /// <inheritdoc />
    public string? Reason => Volatile.Read(ref _reason);

    /// <inheritdoc />
    public ValueTask TurnOnAsync(string reason, CancellationToken cancellationToken = default)
    {
        Set(true, reason);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask TurnOffAsync(string reason, CancellationToken cancellationToken = default)
    {
        Set(false, reason);
        return ValueTask.CompletedTask;
    }

    /// <summary>Sets the switch.</summary>
    /// <param name="on">The new state.</param>
    /// <param name="reason">Why.</param>
    /// <returns><see langword="true"/> when the state changed.</returns>
    public bool Set(bool on, string reason)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        CancellationTokenSource previous;
        lock (_gate)
        {
            Volatile.Write(ref _reason, reason);
            if (_on == on)
            {
                return false;
            }

            _on = on;
            previous = _changed;
            _changed = new CancellationTokenSource();
        }

        MonitoringLog.KillSwitchChanged(_logger, on ? "on" : "off", reason);
        previous.Cancel();
        previous.Dispose();
        Changed?.Invoke(this, on);
        return true;
    }

    /// <summary>Gets a token that fires at the next change (options that depend on the switch reload on it).</summary>
    /// <returns>The change token.</returns>
    public IChangeToken GetChangeToken()
    {
        lock (_gate)
        {
            return new CancellationChangeToken(_changed.Token);
        }
    }
}

/// <summary>Stricter thresholds set by containment (<see cref="TightenThresholdAlertAction"/>), applied to the stages' options on the next call; a person clears them.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001:Types that own disposable fields should be disposable", Justification = "A CancellationTokenSource without a timer holds no unmanaged resource; each one is disposed when replaced.")]
public sealed class ThresholdOverrides
{
    private readonly Lock _gate = new();
    private readonly ILogger _logger;
    private Dictionary<string, double> _values = new(StringComparer.OrdinalIgnoreCase);
    private CancellationTokenSource _changed = new();

    /// <summary>Initializes a new instance of the <see cref="ThresholdOverrides"/> class.</summary>
    /// <param name="logger">Logs every change; none when <see langword="null"/>.</param>
    public ThresholdOverrides(ILogger<ThresholdOverrides>? logger = null) => _logger = (ILogger?)logger ?? NullLogger.Instance;

    /// <summary>Gets the override of a target, if any.</summary>
    /// <param name="target">The target, for example <c>confidence</c>.</param>
    /// <returns>The value, or <see langword="null"/>.</returns>
    public double? Get(string target) => Volatile.Read(ref _values).TryGetValue(target, out var v) ? v : null;

    /// <summary>Sets a stricter value: the larger of the current override and <paramref name="value"/>.</summary>
    /// <param name="target">The target.</param>
    /// <param name="value">The value.</param>
    /// <param name="reason">Why.</param>
    /// <returns>The value in force.</returns>
    public double Tighten(string target, double value, string reason)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(target);
        if (!double.IsFinite(value))
        {
            throw new ArgumentOutOfRangeException(nameof(value), value, "A threshold must be finite.");
        }

        CancellationTokenSource previous;
        double applied;
        lock (_gate)
        {
            applied = _values.TryGetValue(target, out var current) ? Math.Max(current, value) : value;
            _values = new Dictionary<string, double>(_values, StringComparer.OrdinalIgnoreCase) { [target] = applied };
            previous = _changed;
            _changed = new CancellationTokenSource();
        }

        MonitoringLog.ThresholdTightened(_logger, target, applied, reason);
        previous.Cancel();
        previous.Dispose();
        return applied;
    }

    /// <summary>Removes every override.</summary>
    public void Clear()
    {
        CancellationTokenSource previous;
        lock (_gate)
        {
            _values = new Dictionary<string, double>(StringComparer.OrdinalIgnoreCase);
            previous = _changed;
            _changed = new CancellationTokenSource();
        }

        previous.Cancel();
        previous.Dispose();
    }

    /// <summary>Gets a token that fires at the next change.</summary>
    /// <returns>The change token.</returns>
    public IChangeToken GetChangeToken()
    {
        lock (_gate)
        {
            return new CancellationChangeToken(_changed.Token);
        }
    }
}

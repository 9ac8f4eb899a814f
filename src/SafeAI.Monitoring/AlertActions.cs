using System.Globalization;
using Microsoft.Extensions.Logging;

namespace SafeAI.Monitoring;

/// <summary>Logs the alert at Warning (firing) or Information (resolved). The default action of a rule without actions.</summary>
/// <param name="logger">The logger.</param>
public sealed class LogAlertAction(ILogger logger) : IAlertAction
{
    private readonly ILogger _logger = logger ?? throw new ArgumentNullException(nameof(logger));

    /// <inheritdoc />
    public string Kind => "log";

    /// <inheritdoc />
    public bool RunsOnResolve => true;

    /// <inheritdoc />
    public ValueTask<string> ExecuteAsync(AlertNotification notification, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(notification);
        var e = notification.Event;
        MonitoringLog.AlertLogged(_logger, notification.IsFiring ? LogLevel.Warning : LogLevel.Information, e.Rule, e.Kind.ToString().ToLowerInvariant(), e.Detail);
        return ValueTask.FromResult("logged");
    }
}

/// <summary>Calls code of yours when an alert fires, repeats or resolves (page someone, open a ticket, post to chat).</summary>
/// <param name="callback">The callback; its exceptions are recorded as failed actions.</param>
/// <param name="name">A name for the records.</param>
public sealed class CallbackAlertAction(Func<AlertNotification, CancellationToken, ValueTask> callback, string name = "callback") : IAlertAction
{
    private readonly Func<AlertNotification, CancellationToken, ValueTask> _callback = callback ?? throw new ArgumentNullException(nameof(callback));

    /// <inheritdoc />
    public string Kind => "callback";

    /// <inheritdoc />
    public bool RunsOnResolve => true;

    /// <inheritdoc />
    public async ValueTask<string> ExecuteAsync(AlertNotification notification, CancellationToken cancellationToken)
    {
        await _callback(notification, cancellationToken).ConfigureAwait(false);
        return $"callback '{name}' ran";
    }
}

/// <summary>Containment: turns the kill switch on when an alert fires (every call goes to the fallback or the baseline). A person turns it off.</summary>
/// <param name="killSwitch">The kill switch.</param>
public sealed class KillSwitchAlertAction(IKillSwitch killSwitch) : IAlertAction
{
    private readonly IKillSwitch _killSwitch = killSwitch ?? throw new ArgumentNullException(nameof(killSwitch));

    /// <inheritdoc />
    public string Kind => "kill-switch";

    /// <inheritdoc />
    public bool RunsOnResolve => false;

    /// <inheritdoc />
    public async ValueTask<string> ExecuteAsync(AlertNotification notification, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(notification);
        var wasOn = _killSwitch.IsOn;
        await _killSwitch.TurnOnAsync($"alert '{notification.Rule.Name}': {notification.Event.Detail}", cancellationToken).ConfigureAwait(false);
        return wasOn ? "the kill switch was already on" : "kill switch turned on: calls go to the fallback";
    }
}

/// <summary>Containment: aborts (every call to the baseline, for good) or stops (the rollout's kill switch, until resumed) a gradual rollout when an alert fires.</summary>
/// <param name="controller">The rollout.</param>
/// <param name="abort"><see langword="true"/> to abort; <see langword="false"/> to stop.</param>
public sealed class RolloutAlertAction(RolloutController controller, bool abort) : IAlertAction
{
    private readonly RolloutController _controller = controller ?? throw new ArgumentNullException(nameof(controller));

    /// <inheritdoc />
    public string Kind => abort ? "rollout-abort" : "rollout-stop";

    /// <inheritdoc />
    public bool RunsOnResolve => false;

    /// <inheritdoc />
    public ValueTask<string> ExecuteAsync(AlertNotification notification, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(notification);
        var reason = $"alert '{notification.Rule.Name}': {notification.Event.Detail}";
        var decision = abort ? _controller.Abort(reason) : _controller.Stop(reason);
        return ValueTask.FromResult($"rollout '{_controller.Name}': {decision.Kind.ToString().ToLowerInvariant()}, AI share now {decision.PercentAfter.ToString("0.##", CultureInfo.InvariantCulture)} %");
    }
}

/// <summary>Containment: sets a stricter threshold when an alert fires (for example the confidence threshold, so more answers go to the fallback or review).</summary>
public sealed class TightenThresholdAlertAction : IAlertAction
{
    private readonly ThresholdOverrides _overrides;
    private readonly string _target;
    private readonly double _value;

    /// <summary>Initializes a new instance of the <see cref="TightenThresholdAlertAction"/> class.</summary>
    /// <param name="overrides">Where the stricter value is kept (and applied to the stage's options).</param>
    /// <param name="target">What to tighten: <c>confidence</c>.</param>
    /// <param name="value">The stricter value.</param>
    public TightenThresholdAlertAction(ThresholdOverrides overrides, string target, double value)
    {
        _overrides = overrides ?? throw new ArgumentNullException(nameof(overrides));
        ArgumentException.ThrowIfNullOrWhiteSpace(target);
        _target = target;
        _value = value;
    }

    /// <inheritdoc />
    public string Kind => "tighten";

    /// <inheritdoc />
    public bool RunsOnResolve => false;

    /// <inheritdoc />
    public ValueTask<string> ExecuteAsync(AlertNotification notification, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(notification);
        var applied = _overrides.Tighten(_target, _value, $"alert '{notification.Rule.Name}'");
        return ValueTask.FromResult($"{_target} threshold now {applied.ToString("0.###", CultureInfo.InvariantCulture)}");
    }
}

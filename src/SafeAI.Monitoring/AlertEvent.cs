namespace SafeAI.Monitoring;

/// <summary>What happened to an alert.</summary>
public enum AlertEventKind
{
    /// <summary>The rule's condition was met: the alert started firing.</summary>
    Fired,

    /// <summary>A firing alert was announced again after <see cref="AlertRule.RepeatAfter"/>.</summary>
    Repeated,

    /// <summary>The condition stayed clear for <see cref="AlertRule.ResolveAfter"/>: the alert stopped firing.</summary>
    Resolved,

    /// <summary>An action of the rule completed.</summary>
    ActionSucceeded,

    /// <summary>An action of the rule failed (after its retries).</summary>
    ActionFailed,
}

/// <summary>
/// A typed record of an alert or of an action taken on it (a webhook delivered, the kill switch turned on), with the
/// numbers behind it. The alert engine keeps the latest ones (<see cref="AlertEngine.GetEvents"/>) and raises
/// <see cref="AlertEngine.EventRecorded"/> for each.
/// </summary>
/// <param name="Kind">What happened.</param>
/// <param name="Rule">The rule's name.</param>
/// <param name="Time">When (the engine's clock).</param>
/// <param name="Metric">The metric.</param>
/// <param name="Value">The metric over the rule's window.</param>
/// <param name="Baseline">The baseline (relative rules) or the threshold (threshold rules); <see langword="null"/> for absence rules.</param>
/// <param name="Samples">The samples behind <paramref name="Value"/>.</param>
/// <param name="Statistic">The test statistic: the log likelihood ratio of a relative rule on a rate, the bound of a threshold rule on a rate, else the value.</param>
/// <param name="Action">The action's kind (<c>log</c>, <c>webhook</c>, <c>kill-switch</c>, ...), for action events; <see langword="null"/> otherwise.</param>
/// <param name="Detail">A sentence: why the alert fired, or what the action did or why it failed.</param>
public sealed record AlertEvent(
    AlertEventKind Kind,
    string Rule,
    DateTimeOffset Time,
    string Metric,
    double Value,
    double? Baseline,
    long Samples,
    double Statistic,
    string? Action,
    string Detail)
{
    /// <summary>Gets the arm the rule watches, or <see langword="null"/> for all calls.</summary>
    public string? Arm { get; init; }
}

/// <summary>An alert as actions see it: firing, repeated or resolved, with the numbers behind it.</summary>
/// <param name="Rule">The rule.</param>
/// <param name="Event">The <see cref="AlertEventKind.Fired"/>, <see cref="AlertEventKind.Repeated"/> or <see cref="AlertEventKind.Resolved"/> event.</param>
public sealed record AlertNotification(AlertRule Rule, AlertEvent Event)
{
    /// <summary>Gets a value indicating whether the alert is firing (fired or repeated) rather than resolved.</summary>
    public bool IsFiring => Event.Kind != AlertEventKind.Resolved;
}

/// <summary>Something to do when an alert fires or resolves: log, call a webhook, call code, contain.</summary>
/// <remarks>Implementations must be thread-safe. Throw to report failure; the engine records it as <see cref="AlertEventKind.ActionFailed"/> and goes on with the next action.</remarks>
public interface IAlertAction
{
    /// <summary>Gets the action's kind, recorded on its events (<c>log</c>, <c>webhook</c>, <c>kill-switch</c>, ...).</summary>
    string Kind { get; }

    /// <summary>Gets a value indicating whether the action also runs when an alert resolves (containment does not undo itself: a person releases it).</summary>
    bool RunsOnResolve { get; }

    /// <summary>Takes the action.</summary>
    /// <param name="notification">The alert.</param>
    /// <param name="cancellationToken">Cancels the action.</param>
    /// <returns>A sentence saying what was done, recorded on the <see cref="AlertEventKind.ActionSucceeded"/> event.</returns>
    ValueTask<string> ExecuteAsync(AlertNotification notification, CancellationToken cancellationToken);
}

using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SafeAI.Statistics;

namespace SafeAI.Monitoring;

/// <summary>
/// Evaluates alert rules over a <see cref="MetricsRecorder"/> on the recorder's clock: decides when an alert fires,
/// repeats and resolves (with minimum samples, a statistical test, hysteresis and de-duplication), takes the rules'
/// actions and records every step as a typed <see cref="AlertEvent"/>.
/// </summary>
/// <remarks>
/// <para>
/// Threshold rules on a rate fire when the one-sided Wilson bound at <see cref="AlertRule.Alpha"/> is past the threshold,
/// so a handful of unlucky calls does not page. Relative rules on a rate run a CUSUM (sequential likelihood-ratio) test
/// per bucket: H1 "the rate is the baseline times (1 + change)" against H0 "the rate is the baseline"; the alert fires
/// when the accumulated log likelihood ratio reaches ln(1/<see cref="AlertRule.Alpha"/>). With a known baseline that
/// keeps the average run to a false alarm above 1/α buckets (Lorden's bound; about two years of one-minute buckets at
/// the default α = 1e-6) however often it looks, while a change of the stated size is found after about
/// ln(1/α) / KL(p1 ‖ p0) samples. The baseline is the same time of day over <see cref="AlertRule.BaselineWindow"/>,
/// widened (up to a day) while its standard error is above a third of the change, and moved one standard error toward
/// the alarm, so that noise in the baseline itself does not page. Other metrics compare their values and need the
/// condition on three looks in a row.
/// </para>
/// <para>A firing alert is announced once (then every <see cref="AlertRule.RepeatAfter"/>) and resolves only after its
/// condition has been clear for <see cref="AlertRule.ResolveAfter"/>: for a relative rule on a rate, once the reverse
/// CUSUM (evidence for "back at the baseline" against "changed") has reached ln(1/α), as the forward test; for other relative rules, once
/// the change is below half the stated one.</para>
/// <para>Thread-safe: evaluations are serialized.</para>
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001:Types that own disposable fields should be disposable", Justification = "A SemaphoreSlim whose wait handle is never read holds no unmanaged resource.")]
public sealed class AlertEngine
{
    private const int HistoryLimit = 1000;
    private readonly MetricsRecorder _recorder;
    private readonly RuleState[] _rules;
    private readonly ILogger _logger;
    private readonly MonitoringTelemetry _telemetry;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Lock _historyGate = new();
    private readonly Queue<AlertEvent> _history = new();

    /// <summary>Initializes a new instance of the <see cref="AlertEngine"/> class.</summary>
    /// <param name="recorder">The metrics the rules read; its clock is the engine's clock.</param>
    /// <param name="rules">The rules; names must be unique.</param>
    /// <param name="actionFactory">Creates the actions the rules' options list (webhook, kill switch, ...); when <see langword="null"/> only <c>log</c> can be created.</param>
    /// <param name="logger">The logger; none when <see langword="null"/>.</param>
    /// <param name="telemetry">The instruments; the shared <c>SafeAI</c> meter when <see langword="null"/>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="recorder"/> or <paramref name="rules"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">Two rules share a name, or an action cannot be created.</exception>
    public AlertEngine(MetricsRecorder recorder, IEnumerable<AlertRule> rules, Func<AlertActionOptions, AlertRule, IAlertAction>? actionFactory = null, ILogger<AlertEngine>? logger = null, MonitoringTelemetry? telemetry = null)
    {
        ArgumentNullException.ThrowIfNull(recorder);
        ArgumentNullException.ThrowIfNull(rules);
        _recorder = recorder;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _telemetry = telemetry ?? MonitoringTelemetry.Shared;
        var states = new List<RuleState>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var rule in rules)
        {
            ArgumentNullException.ThrowIfNull(rule, nameof(rules));
            if (!names.Add(rule.Name))
            {
                throw new ArgumentException($"Two alert rules are named '{rule.Name}'; rule names must be unique.", nameof(rules));
            }

            var actions = new List<IAlertAction>();
            foreach (var spec in rule.ActionSpecs)
            {
                actions.Add(actionFactory is not null ? actionFactory(spec, rule)
                    : string.Equals(spec.Type, "log", StringComparison.OrdinalIgnoreCase) ? new LogAlertAction(_logger)
                    : throw new ArgumentException($"Rule '{rule.Name}': the action '{spec.Type}' needs services (an HTTP client, the kill switch, the rollout controller); register monitoring with AddMonitoring or pass an action factory.", nameof(actionFactory)));
            }

            actions.AddRange(rule.Actions);
            if (actions.Count == 0)
            {
                actions.Add(new LogAlertAction(_logger));
            }

            states.Add(new RuleState(rule, [.. actions]));
        }

        _rules = [.. states];
    }

    /// <summary>Raised for every event (alerts and actions), on the evaluating thread; keep handlers short.</summary>
    public event EventHandler<AlertEvent>? EventRecorded;

    /// <summary>Gets the rules.</summary>
    public IReadOnlyList<AlertRule> Rules => [.. _rules.Select(static r => r.Rule)];

    /// <summary>Gets the names of the rules whose alert is firing now.</summary>
    public IReadOnlyList<string> Firing => [.. _rules.Where(static r => r.Firing).Select(static r => r.Rule.Name)];

    /// <summary>Gets the latest events (at most 1,000), oldest first.</summary>
    /// <returns>A copy.</returns>
    public IReadOnlyList<AlertEvent> GetEvents()
    {
        lock (_historyGate)
        {
            return [.. _history];
        }
    }

    /// <summary>Evaluates every rule now (the recorder's clock) and takes the actions of alerts that fire, repeat or resolve.</summary>
    /// <param name="cancellationToken">Cancels the evaluation (and the actions under way).</param>
    /// <returns>The events of this evaluation.</returns>
    public Task<IReadOnlyList<AlertEvent>> EvaluateAsync(CancellationToken cancellationToken = default) => EvaluateAsync(_recorder.TimeProvider.GetUtcNow(), cancellationToken);

    /// <summary>Evaluates every rule as of <paramref name="now"/> (replaying a recorded stream) and takes the actions.</summary>
    /// <param name="now">The evaluation time.</param>
    /// <param name="cancellationToken">Cancels the evaluation.</param>
    /// <returns>The events of this evaluation.</returns>
    public async Task<IReadOnlyList<AlertEvent>> EvaluateAsync(DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var events = new List<AlertEvent>();
            foreach (var state in _rules)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var check = Inspect(state, now);
                AlertEvent? notice = null;
                if (!state.Firing)
                {
                    if (check.Fire)
                    {
                        state.Firing = true;
                        state.LastNotified = now;
                        state.ClearSince = null;
                        notice = Event(AlertEventKind.Fired, state.Rule, now, check, null, check.Reason);
                    }
                }
                else if (check.Clear)
                {
                    state.ClearSince ??= now;
                    if (now - state.ClearSince.Value >= state.Rule.ResolveAfter)
                    {
                        var since = state.ClearSince.Value;
                        state.Firing = false;
                        state.ClearSince = null;
                        state.LogLikelihoodRatio = 0;
                        state.RecoveryLogLikelihoodRatio = 0;
                        notice = Event(AlertEventKind.Resolved, state.Rule, now, check, null, $"clear since {since.ToString("u", CultureInfo.InvariantCulture)}: {check.Reason}");
                    }
                }
                else
                {
                    state.ClearSince = null;
                    if (now - state.LastNotified >= state.Rule.RepeatAfter)
                    {
                        state.LastNotified = now;
                        notice = Event(AlertEventKind.Repeated, state.Rule, now, check, null, "still firing: " + check.Reason);
                    }
                }

                if (notice is null)
                {
                    continue;
                }

                Record(notice, events);
                var notification = new AlertNotification(state.Rule, notice);
                foreach (var action in state.Actions)
                {
                    if (notice.Kind == AlertEventKind.Resolved && !action.RunsOnResolve)
                    {
                        continue;
                    }

                    if (notice.Kind == AlertEventKind.Repeated && !action.RunsOnResolve)
                    {
                        continue; // containment acts once per firing
                    }

                    string detail;
                    AlertEventKind kind;
                    try
                    {
                        detail = await action.ExecuteAsync(notification, cancellationToken).ConfigureAwait(false);
                        kind = AlertEventKind.ActionSucceeded;
                    }
                    catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                    {
                        throw;
                    }
#pragma warning disable CA1031 // One failing action must not stop the others; the failure is recorded.
                    catch (Exception ex)
#pragma warning restore CA1031
                    {
                        detail = ex.Message;
                        kind = AlertEventKind.ActionFailed;
                        MonitoringLog.ActionFailed(_logger, action.Kind, state.Rule.Name, ex);
                    }

                    Record(Event(kind, state.Rule, now, check, action.Kind, detail), events);
                }
            }

            return events;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Evaluates every <paramref name="interval"/> of the recorder's clock until cancelled. Host it in a background service (AddMonitoring does).</summary>
    /// <param name="interval">Time between evaluations; at least one second.</param>
    /// <param name="cancellationToken">Stops the loop.</param>
    /// <returns>A task that completes when cancelled.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="interval"/> is shorter than one second.</exception>
    public async Task RunAsync(TimeSpan interval, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(interval, TimeSpan.FromSeconds(1));
        using var timer = new PeriodicTimer(interval, _recorder.TimeProvider);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                await EvaluateOrLogAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Evaluates now; a failure other than cancellation is logged, not thrown, so that a scheduled loop survives it.</summary>
    internal async Task EvaluateOrLogAsync(CancellationToken cancellationToken)
    {
        try
        {
            _ = await EvaluateAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
#pragma warning disable CA1031 // The loop must survive a failed evaluation; it is logged.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            MonitoringLog.EvaluationFailed(_logger, ex);
        }
    }

    private static AlertEvent Event(AlertEventKind kind, AlertRule rule, DateTimeOffset now, in Check check, string? action, string detail) =>
        new(kind, rule.Name, now, rule.Metric, check.Value, check.Baseline, check.Samples, check.Statistic, action, detail) { Arm = rule.Arm };

    private void Record(AlertEvent e, List<AlertEvent> events)
    {
        events.Add(e);
        lock (_historyGate)
        {
            _history.Enqueue(e);
            while (_history.Count > HistoryLimit)
            {
                _ = _history.Dequeue();
            }
        }

        _telemetry.RecordEvent(e);
        switch (e.Kind)
        {
            case AlertEventKind.Fired or AlertEventKind.Repeated:
                MonitoringLog.AlertFiring(_logger, e.Rule, e.Kind == AlertEventKind.Repeated ? "still firing" : "fired", e.Metric, e.Value, e.Baseline ?? double.NaN, e.Detail);
                break;
            case AlertEventKind.Resolved:
                MonitoringLog.AlertResolved(_logger, e.Rule, e.Metric, e.Value);
                break;
            default:
                break;
        }

        try
        {
            EventRecorded?.Invoke(this, e);
        }
#pragma warning disable CA1031 // A subscriber's fault must not undo an alert that is already recorded.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            MonitoringLog.HandlerFailed(_logger, ex);
        }
    }

    private Check Inspect(RuleState state, DateTimeOffset now)
    {
        var rule = state.Rule;
        var end = _recorder.BucketStart(now);
        var start = end - rule.Window;
        state.Slots = rule.Selector.Slots(_recorder);
        var current = rule.Selector.Read(_recorder.Sum(start, end, rule.Arm, state.Slots));
        return rule.Kind switch
        {
            AlertRuleKind.Threshold => CheckThreshold(rule, current),
            AlertRuleKind.Relative => rule.Selector.IsRate ? CheckRelativeRate(state, current, end) : CheckRelativeValue(state, current, end),
            _ => CheckAbsence(rule, current, start, end),
        };
    }

    private static Check CheckThreshold(AlertRule rule, MetricReading current)
    {
        var threshold = rule.Above ?? rule.Below!.Value;
        if ((!current.IsCount && current.Samples < rule.MinSamples) || double.IsNaN(current.Value))
        {
            return new Check(false, false, current.Value, threshold, current.Samples, double.NaN, $"{current.Samples} samples, fewer than the {rule.MinSamples} a verdict needs");
        }

        if (rule.Selector.IsRate)
        {
            var (lower, upper) = ProportionInterval.Wilson(current.Events, current.Samples, 1 - (2 * rule.Alpha));
            if (rule.Above is { } above && lower > above)
            {
                return new Check(true, false, current.Value, above, current.Samples, lower, $"{Pct(current.Value)} over {Span(rule.Window)} ({current.Events} of {current.Samples}), above {Pct(above)} with the lower bound {Pct(lower)}");
            }

            if (rule.Below is { } below && upper < below)
            {
                return new Check(true, false, current.Value, below, current.Samples, upper, $"{Pct(current.Value)} over {Span(rule.Window)} ({current.Events} of {current.Samples}), below {Pct(below)} with the upper bound {Pct(upper)}");
            }

            var clear = (rule.Above is not { } a || current.Value <= a) && (rule.Below is not { } b || current.Value >= b);
            return new Check(false, clear, current.Value, threshold, current.Samples, rule.Above is not null ? lower : upper, $"{Pct(current.Value)} over {Span(rule.Window)}");
        }

        var fire = (rule.Above is { } ab && current.Value > ab) || (rule.Below is { } be && current.Value < be);
        return new Check(fire, !fire, current.Value, threshold, current.Samples, current.Value, $"{Num(current.Value)} over {Span(rule.Window)}, threshold {Num(threshold)}");
    }

    private Check CheckRelativeRate(RuleState state, MetricReading current, DateTimeOffset end)
    {
        var rule = state.Rule;
        var width = _recorder.BucketWidth;
        // A baseline too imprecise to tell the change from its own noise (standard error above a third of the change)
        // is widened, up to a day per baseline window; if it is still too imprecise the rule does not judge.
        var baselineWindow = rule.BaselineWindow;
        var baseline = Baseline(rule, end - rule.Window, end, baselineWindow);
        while (!Precise(rule, baseline) && baselineWindow < TimeSpan.FromDays(1) && rule.Compare != BaselineComparison.PreviousWindow)
        {
            baselineWindow = baselineWindow * 2 > TimeSpan.FromDays(1) ? TimeSpan.FromDays(1) : baselineWindow * 2;
            baseline = Baseline(rule, end - rule.Window, end, baselineWindow);
        }

        var threshold = Math.Log(1 / rule.Alpha);
        var fired = false;
        if (baseline.Samples >= rule.MinSamples && Precise(rule, baseline))
        {
            // The baseline moved one standard error toward the alarm: noise in the baseline itself must not page.
            var p0 = baseline.Value;
            var se = StandardError(baseline);
            var p0c = Math.Clamp(p0 + (Math.Sign(rule.RelativeChange) * se), 1e-9, 1 - 1e-9);
            var p1 = p0c * (1 + rule.RelativeChange);
            if (p1 is > 0 and < 1)
            {
                var eventWeight = Math.Log(p1 / p0c);
                var otherWeight = Math.Log((1 - p1) / (1 - p0c));
                var first = state.NextBucket is { } next && next > end - rule.Window ? next : end - rule.Window;
                for (var b = first; b < end; b += width)
                {
                    var reading = rule.Selector.Read(_recorder.Sum(b, b + width, rule.Arm, state.Slots));
                    if (reading.Samples == 0)
                    {
                        continue;
                    }

                    var llr = (reading.Events * eventWeight) + ((reading.Samples - reading.Events) * otherWeight);
                    // While firing, the forward sum is capped at the threshold: evidence piled up during a long incident
                    // must not re-fire the alert hours after recovery.
                    state.LogLikelihoodRatio = Math.Max(0, state.LogLikelihoodRatio + llr);
                    if (state.Firing)
                    {
                        state.LogLikelihoodRatio = Math.Min(state.LogLikelihoodRatio, threshold);
                    }

                    state.RecoveryLogLikelihoodRatio = Math.Max(0, state.RecoveryLogLikelihoodRatio - llr);
                    if (state.LogLikelihoodRatio >= threshold && !state.Firing)
                    {
                        fired = true;
                        state.RecoveryLogLikelihoodRatio = 0;
                    }
                }
            }
        }

        state.NextBucket = end;
        var statistic = state.LogLikelihoodRatio;
        if (fired)
        {
            state.LogLikelihoodRatio = 0;
        }

        // Recovery is decided by the reverse test, not by the window's noisy point estimate (which flaps): the evidence
        // that the rate is back at the baseline, accumulated since the alert fired, must reach ln(1/α) like the forward
        // test: a weaker bar resolved a persisting drop every few hours on runs of good minutes.
        var change = baseline.Value > 0 ? (current.Value / baseline.Value) - 1 : double.NaN;
        var clear = state.RecoveryLogLikelihoodRatio >= threshold;
        var reason = $"{Pct(current.Value)} over {Span(rule.Window)} ({current.Events} of {current.Samples}) against {Pct(baseline.Value)} in {AlertRule.CompareName(rule.Compare)} ({baseline.Events} of {baseline.Samples}): {SignedPct(change)}; log likelihood ratio {statistic.ToString("0.0", CultureInfo.InvariantCulture)} (fires at {threshold.ToString("0.0", CultureInfo.InvariantCulture)})";
        return new Check(fired, clear && !fired, current.Value, baseline.Value, current.Samples, statistic, reason);
    }

    private static double StandardError(MetricReading baseline) =>
        Math.Sqrt(Math.Max(baseline.Value * (1 - baseline.Value), 0.25 / baseline.Samples) / baseline.Samples);

    private static bool Precise(AlertRule rule, MetricReading baseline) =>
        baseline.Samples > 0 && !double.IsNaN(baseline.Value) && StandardError(baseline) <= Math.Abs(rule.RelativeChange) * baseline.Value / 3;

    private Check CheckRelativeValue(RuleState state, MetricReading current, DateTimeOffset end)
    {
        var rule = state.Rule;
        var baseline = Baseline(rule, end - rule.Window, end, rule.BaselineWindow);
        var change = baseline.Value != 0 && !double.IsNaN(baseline.Value) ? (current.Value / baseline.Value) - 1 : double.NaN;
        var enough = (current.IsCount || (current.Samples >= rule.MinSamples && baseline.Samples >= rule.MinSamples)) && !double.IsNaN(change);
        var moved = enough && Math.Sign(rule.RelativeChange) * change >= Math.Abs(rule.RelativeChange);
        state.Streak = moved ? state.Streak + 1 : 0;
        var clear = enough && Math.Sign(rule.RelativeChange) * change < Math.Abs(rule.RelativeChange) / 2;
        return new Check(state.Streak >= 3, clear, current.Value, baseline.Value, current.Samples, change, $"{Num(current.Value)} over {Span(rule.Window)} against {Num(baseline.Value)} in {AlertRule.CompareName(rule.Compare)}: {SignedPct(change)}");
    }

    private Check CheckAbsence(AlertRule rule, MetricReading current, DateTimeOffset start, DateTimeOffset end)
    {
        var seen = current.Events > 0 || (!rule.Selector.IsRate && current.Value > 0);
        if (seen)
        {
            return new Check(false, true, current.Value, null, current.Samples, current.Events, $"seen over the last {Span(rule.Window)}");
        }

        // Only "usually there" may be missed: the metric must have been seen in the baseline (or, without one, the previous day).
        _ = end;
        var expected = rule.Selector.Read(_recorder.Sum(start - TimeSpan.FromDays(1), start, rule.Arm, rule.Selector.Slots(_recorder)));
        var usual = Math.Max(expected.Events, rule.Selector.IsRate ? 0 : (long)Math.Max(0, expected.Value));
        var fire = usual >= rule.MinSamples;
        return new Check(fire, false, 0, null, current.Samples, usual, fire ? $"not seen for {Span(rule.Window)}, although seen {usual} times before" : "not seen, but not usually seen either");
    }

    private MetricReading Baseline(AlertRule rule, DateTimeOffset start, DateTimeOffset end, TimeSpan width)
    {
        var day = TimeSpan.FromDays(1);
        if (rule.Compare != BaselineComparison.PreviousWindow)
        {
            // The same time of day, widened to the baseline window around the current window's middle.
            var middle = start + ((end - start) / 2);
            start = _recorder.BucketStart(middle - (width / 2));
            end = start + width;
        }

        MetricTotals? totals = null;
        void Add(TimeSpan shift)
        {
            var part = _recorder.Sum(start - shift, end - shift, rule.Arm, rule.Selector.Slots(_recorder));
            totals = totals is null ? part : totals.Merge(part);
        }

        switch (rule.Compare)
        {
            case BaselineComparison.Previous7Days:
                for (var k = 1; k <= 7; k++)
                {
                    Add(day * k);
                }

                break;
            case BaselineComparison.SameHourLastWeek:
                Add(day * 7);
                break;
            case BaselineComparison.PreviousDay:
                Add(day);
                break;
            default:
                Add(rule.Window);
                break;
        }

        return rule.Selector.Read(totals!);
    }

    private static string Pct(double value) => double.IsNaN(value) ? "n/a" : (value * 100).ToString("0.##", CultureInfo.InvariantCulture) + " %";

    private static string SignedPct(double value) => double.IsNaN(value) ? "n/a" : (value >= 0 ? "+" : string.Empty) + (value * 100).ToString("0.#", CultureInfo.InvariantCulture) + " %";

    private static string Num(double value) => double.IsNaN(value) ? "n/a" : value.ToString("0.###", CultureInfo.InvariantCulture);

    private static string Span(TimeSpan span) => span.TotalHours >= 1 && span.TotalHours == Math.Floor(span.TotalHours)
        ? span.TotalHours.ToString(CultureInfo.InvariantCulture) + " h"
        : span.TotalMinutes.ToString("0.#", CultureInfo.InvariantCulture) + " min";

    private readonly record struct Check(bool Fire, bool Clear, double Value, double? Baseline, long Samples, double Statistic, string Reason);

    private sealed class RuleState(AlertRule rule, IAlertAction[] actions)
    {
        public AlertRule Rule { get; } = rule;

        public IAlertAction[] Actions { get; } = actions;

        public bool Firing { get; set; }

        public DateTimeOffset LastNotified { get; set; }

        public DateTimeOffset? ClearSince { get; set; }

        public double LogLikelihoodRatio { get; set; }

        public double RecoveryLogLikelihoodRatio { get; set; }

        public DateTimeOffset? NextBucket { get; set; }

        public int Streak { get; set; }

        public int[]? Slots { get; set; }
    }
}

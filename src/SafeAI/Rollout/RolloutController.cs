using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace SafeAI;

/// <summary>
/// Runs one gradual rollout: holds the plan and the current stage, counts calls and outcomes per arm, asks the
/// statistical judge, applies its decisions (promote, abort with automatic rollback, halt), and takes operator commands
/// (pause, resume, manual promote, abort, and the kill switch <see cref="Stop"/>). Every decision is raised as a typed
/// <see cref="RolloutDecision"/> with the numbers behind it.
/// </summary>
/// <remarks>
/// Thread-safe. Counting is lock-free (one interlocked add); decisions are serialized. Reading the current split
/// (<see cref="CurrentPercent"/>) is one field read, so the routing stage can consult it on every call.
/// </remarks>
public sealed class RolloutController
{
    private const int HistoryLimit = 256;
    private readonly RolloutPlan _plan;
    private readonly long[] _counts;
    private readonly LatencyHistogram[] _latency = [new(), new()];
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly Queue<RolloutDecision> _history = new();
    private volatile RolloutSnapshot _state;
    private RolloutDecision? _lastEvaluation;

    /// <summary>Initializes a new instance of the <see cref="RolloutController"/> class, starting at the first stage.</summary>
    /// <param name="plan">The plan; validated here.</param>
    /// <param name="timeProvider">The clock; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <param name="logger">The logger; none when <see langword="null"/>.</param>
    /// <param name="name">The rollout's name, for logs and stores.</param>
    /// <exception cref="ArgumentNullException"><paramref name="plan"/> is <see langword="null"/>.</exception>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">The plan is invalid; the message lists every problem.</exception>
    public RolloutController(RolloutPlanOptions plan, TimeProvider? timeProvider = null, ILogger<RolloutController>? logger = null, string name = "default")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        _plan = new RolloutPlan(plan);
        _counts = new long[_plan.CounterLength];
        _timeProvider = timeProvider ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        Name = name;
        _state = new RolloutSnapshot(RolloutStatus.Running, 0, _plan.Stages[0].Percent, _timeProvider.GetUtcNow(), 0);
    }

    /// <summary>Raised after every decision that changes something (not after a <see cref="RolloutDecisionKind.Continue"/>). Handlers run on the deciding thread; keep them short.</summary>
    public event EventHandler<RolloutDecision>? DecisionMade;

    /// <summary>Gets the rollout's name.</summary>
    public string Name { get; }

    /// <summary>Gets the stages of the plan.</summary>
    public IReadOnlyList<RolloutStage> Stages => _plan.Stages;

    /// <summary>Gets the names of the metrics counted per arm.</summary>
    public IReadOnlyList<string> Metrics => _plan.MetricNames;

    /// <summary>Gets the rollout's status.</summary>
    public RolloutStatus Status => _state.Status;

    /// <summary>Gets the index of the current stage.</summary>
    public int StageIndex => _state.StageIndex;

    /// <summary>Gets when the current stage started.</summary>
    public DateTimeOffset StageStartedAt => _state.StageStartedAt;

    /// <summary>Gets the share of traffic, in percent, the AI arm gets now: the stage's share while running or paused, 100 when completed, 0 after an abort, halt or stop.</summary>
    public double CurrentPercent => _state.Percent;

    /// <summary>Gets the judge's latest evaluation, including <see cref="RolloutDecisionKind.Continue"/> ones; <see langword="null"/> before the first.</summary>
    public RolloutDecision? LastEvaluation => Volatile.Read(ref _lastEvaluation);

    /// <summary>Gets the state in one consistent read.</summary>
    internal RolloutSnapshot Snapshot => _state;

    internal RolloutPlan Plan => _plan;

    /// <summary>Gets the decisions that changed something, oldest first (the latest 256).</summary>
    /// <returns>A copy.</returns>
    public IReadOnlyList<RolloutDecision> GetHistory()
    {
        lock (_gate)
        {
            return [.. _history];
        }
    }

    /// <summary>Counts randomized calls (exposures) of an arm in the current stage. Calls forced into an arm by a list, segment or canary group are not counted: they are not part of the experiment.</summary>
    /// <param name="arm">The arm.</param>
    /// <param name="count">How many.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is negative or <paramref name="arm"/> is undefined.</exception>
    public void RecordExposure(RolloutArm arm, long count = 1) => RecordExposure(arm, _state.StageIndex, count);

    /// <summary>Counts outcomes of a metric (a bad outcome such as a thumbs-down, or a business event such as a conversion) in an arm's current stage.</summary>
    /// <param name="arm">The arm the outcome belongs to.</param>
    /// <param name="metric">A metric of the plan: one of <see cref="RolloutMetrics"/>, a guardrail or a tracked metric.</param>
    /// <param name="count">How many.</param>
    /// <exception cref="ArgumentException"><paramref name="metric"/> is not a metric of the plan.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is negative or <paramref name="arm"/> is undefined.</exception>
    public void RecordOutcome(RolloutArm arm, string metric, long count = 1)
    {
        ArgumentNullException.ThrowIfNull(metric);
        if (!_plan.Slots.TryGetValue(metric, out var slot))
        {
            throw new ArgumentException($"'{metric}' is not a metric of this rollout; add it to RolloutPlanOptions.TrackedMetrics or Guardrails.", nameof(metric));
        }

        RecordSlot(arm, _state.StageIndex, slot, count);
    }

    /// <summary>Records how long a call of an arm took, for the per-arm latency p95.</summary>
    /// <param name="arm">The arm.</param>
    /// <param name="latency">The duration.</param>
    public void RecordLatency(RolloutArm arm, TimeSpan latency)
    {
        ValidateArm(arm);
        _latency[(int)arm].Add(latency);
    }

    /// <summary>Gets the 95th percentile of the recorded latencies of an arm (to within 5 %), or <see langword="null"/> when none was recorded.</summary>
    /// <param name="arm">The arm.</param>
    /// <returns>The p95.</returns>
    public TimeSpan? GetLatencyP95(RolloutArm arm)
    {
        ValidateArm(arm);
        return _latency[(int)arm].Quantile(0.95);
    }

    /// <summary>Gets the randomized calls and events of a metric of an arm over all stages so far.</summary>
    /// <param name="arm">The arm.</param>
    /// <param name="metric">The metric.</param>
    /// <returns>The calls and the events.</returns>
    /// <exception cref="ArgumentException"><paramref name="metric"/> is not a metric of the plan.</exception>
    public (long Samples, long Events) GetCounts(RolloutArm arm, string metric)
    {
        ValidateArm(arm);
        ArgumentNullException.ThrowIfNull(metric);
        if (!_plan.Slots.TryGetValue(metric, out var slot))
        {
            throw new ArgumentException($"'{metric}' is not a metric of this rollout.", nameof(metric));
        }

        long samples = 0, events = 0;
        for (var s = 0; s < _plan.Stages.Length; s++)
        {
            samples += Volatile.Read(ref _counts[_plan.Index(s, arm, 0)]);
            events += Volatile.Read(ref _counts[_plan.Index(s, arm, slot)]);
        }

        return (samples, events);
    }

    /// <summary>
    /// Asks the judge and applies its decision: promote to the next stage, abort (every call to the baseline), halt on a
    /// sample-ratio mismatch, or continue. Does nothing but report while the rollout is paused, stopped or finished.
    /// Call it on a schedule (every few minutes or hourly); the judge stays valid however often it looks.
    /// </summary>
    /// <returns>The decision; <see cref="RolloutDecisionKind.Continue"/> when nothing changed.</returns>
    public RolloutDecision Evaluate() => Evaluate(null);

    /// <summary>Evaluates on counts gathered from every instance (through a shared store) instead of this instance's own.</summary>
    /// <param name="sharedCounts">The counts, laid out as <see cref="ReadCounts"/> returns them.</param>
    internal RolloutDecision Evaluate(long[]? sharedCounts)
    {
        if (sharedCounts is not null && sharedCounts.Length != _counts.Length)
        {
            throw new ArgumentException("The shared counts do not match this rollout's plan.", nameof(sharedCounts));
        }

        RolloutDecision decision;
        lock (_gate)
        {
            var state = _state;
            var now = _timeProvider.GetUtcNow();
            var counts = sharedCounts ?? ReadCounts();
            var result = RolloutJudge.Evaluate(_plan, counts, state.StageIndex, now - state.StageStartedAt);
            var kind = result.Kind;
            if (state.Status != RolloutStatus.Running && kind != RolloutDecisionKind.Continue)
            {
                // Paused: watch, report, but change nothing until resumed. Finished rollouts stay finished.
                kind = state.Status == RolloutStatus.Paused && kind is RolloutDecisionKind.Abort or RolloutDecisionKind.Halt ? kind : RolloutDecisionKind.Continue;
            }

            var next = kind switch
            {
                RolloutDecisionKind.Promote => Advance(state, now),
                RolloutDecisionKind.Abort => state with { Status = RolloutStatus.Aborted, Percent = 0, Version = state.Version + 1 },
                RolloutDecisionKind.Halt => state with { Status = RolloutStatus.Halted, Percent = 0, Version = state.Version + 1 },
                _ => state,
            };
            var reason = kind == result.Kind ? result.Reason : $"the rollout is {state.Status.ToString().ToLowerInvariant()}; the judge says: {result.Reason}";
            decision = new RolloutDecision(kind, reason, automatic: true, now, state.StageIndex, _plan.Stages[state.StageIndex].Percent, next.Status, next.Percent, result.Metrics, result.SampleRatio, result.BaselineSamples, result.AISamples);
            Volatile.Write(ref _lastEvaluation, decision);
            if (kind == RolloutDecisionKind.Continue)
            {
                return decision;
            }

            _state = next;
            Remember(decision);
        }

        Publish(decision);
        return decision;
    }

    /// <summary>
    /// Runs the judge on a schedule until cancelled: <see cref="Evaluate()"/> every <paramref name="interval"/> of the
    /// controller's clock. Host it in a background service on one instance (decisions reach the others through a shared
    /// store such as <c>RedisRolloutSync</c>).
    /// </summary>
    /// <param name="interval">Time between two looks; at least one second.</param>
    /// <param name="cancellationToken">Stops the loop.</param>
    /// <returns>A task that completes when cancelled.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="interval"/> is shorter than one second.</exception>
    public async Task RunJudgeAsync(TimeSpan interval, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(interval, TimeSpan.FromSeconds(1));
        using var timer = new PeriodicTimer(interval, _timeProvider);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                _ = Evaluate();
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Pauses promotion: traffic keeps the current split and the judge still aborts on a degradation, but promotes nothing until <see cref="Resume"/>.</summary>
    /// <param name="reason">Why, for the record.</param>
    /// <returns>The decision.</returns>
    public RolloutDecision Pause(string reason) => Command(RolloutDecisionKind.Pause, reason, static (s, _) => s.Status == RolloutStatus.Running ? s with { Status = RolloutStatus.Paused } : null);

    /// <summary>Resumes a paused rollout, or releases the kill switch (the rollout continues at the stage where it stopped).</summary>
    /// <param name="reason">Why, for the record.</param>
    /// <returns>The decision.</returns>
    public RolloutDecision Resume(string reason) => Command(RolloutDecisionKind.Resume, reason, (s, _) => s.Status is RolloutStatus.Paused or RolloutStatus.Stopped
        ? s with { Status = RolloutStatus.Running, Percent = _plan.Stages[s.StageIndex].Percent }
        : null);

    /// <summary>Promotes to the next stage now, whatever the judge says (an operator's call; it is recorded as such).</summary>
    /// <param name="reason">Why, for the record.</param>
    /// <returns>The decision.</returns>
    public RolloutDecision Promote(string reason) => Command(RolloutDecisionKind.Promote, reason, (s, now) => s.Status is RolloutStatus.Running or RolloutStatus.Paused ? Advance(s, now) : null);

    /// <summary>Aborts the rollout: every call goes to the baseline from now on.</summary>
    /// <param name="reason">Why, for the record.</param>
    /// <returns>The decision.</returns>
    public RolloutDecision Abort(string reason) => Command(RolloutDecisionKind.Abort, reason, static (s, _) => s.Status is RolloutStatus.Aborted ? null : s with { Status = RolloutStatus.Aborted, Percent = 0 });

    /// <summary>The kill switch: sends every call to the baseline at once, until <see cref="Resume"/>.</summary>
    /// <param name="reason">Why, for the record.</param>
    /// <returns>The decision.</returns>
    public RolloutDecision Stop(string reason) => Command(RolloutDecisionKind.Stop, reason, static (s, _) => s.Status is RolloutStatus.Stopped or RolloutStatus.Aborted or RolloutStatus.Halted ? null : s with { Status = RolloutStatus.Stopped, Percent = 0 });

    /// <summary>Applies a state received from another instance (through a shared store), without re-announcing it as a new decision.</summary>
    internal bool ApplyRemote(RolloutStatus status, int stageIndex, DateTimeOffset stageStartedAt, long version)
    {
        lock (_gate)
        {
            if (version <= _state.Version || (uint)stageIndex >= (uint)_plan.Stages.Length)
            {
                return false;
            }

            var percent = status switch
            {
                RolloutStatus.Running or RolloutStatus.Paused => _plan.Stages[stageIndex].Percent,
                RolloutStatus.Completed => 100,
                _ => 0,
            };
            _state = new RolloutSnapshot(status, stageIndex, percent, stageStartedAt, version);
            return true;
        }
    }

    internal void RecordExposure(RolloutArm arm, int stageIndex, long count) => RecordSlot(arm, stageIndex, 0, count);

    internal void RecordSlot(RolloutArm arm, int stageIndex, int slot, long count)
    {
        ValidateArm(arm);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count != 0)
        {
            Interlocked.Add(ref _counts[_plan.Index(stageIndex, arm, slot)], count);
        }
    }

    private static void ValidateArm(RolloutArm arm)
    {
        if ((uint)arm > 1)
        {
            throw new ArgumentOutOfRangeException(nameof(arm), arm, "Unknown rollout arm.");
        }
    }

    private RolloutSnapshot Advance(RolloutSnapshot s, DateTimeOffset now)
    {
        var next = s.StageIndex + 1;
        if (next >= _plan.Stages.Length)
        {
            return s with { Status = RolloutStatus.Completed, Percent = 100, Version = s.Version + 1 };
        }

        var percent = _plan.Stages[next].Percent;
        var status = percent >= 100 ? RolloutStatus.Completed : s.Status;
        return new RolloutSnapshot(status, next, percent, now, s.Version + 1);
    }

    private RolloutDecision Command(RolloutDecisionKind kind, string reason, Func<RolloutSnapshot, DateTimeOffset, RolloutSnapshot?> change)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        RolloutDecision decision;
        lock (_gate)
        {
            var state = _state;
            var now = _timeProvider.GetUtcNow();
            var next = change(state, now);
            var counts = ReadCounts();
            long baseline = 0, ai = 0;
            for (var s = 0; s < _plan.Stages.Length; s++)
            {
                baseline += counts[_plan.Index(s, RolloutArm.Baseline, 0)];
                ai += counts[_plan.Index(s, RolloutArm.AI, 0)];
            }

            if (next is null)
            {
                return new RolloutDecision(RolloutDecisionKind.Continue, $"{kind} has no effect: the rollout is {state.Status.ToString().ToLowerInvariant()}", automatic: false, now, state.StageIndex, _plan.Stages[state.StageIndex].Percent, state.Status, state.Percent, [], null, baseline, ai);
            }

            next = next with { Version = Math.Max(next.Version, state.Version + 1) };
            decision = new RolloutDecision(kind, reason, automatic: false, now, state.StageIndex, _plan.Stages[state.StageIndex].Percent, next.Status, next.Percent, LastEvaluation?.Metrics ?? [], null, baseline, ai);
            _state = next;
            Remember(decision);
        }

        Publish(decision);
        return decision;
    }

    /// <summary>Reads every counter once (per stage, per arm: calls, then each metric).</summary>
    internal long[] ReadCounts()
    {
        var copy = new long[_counts.Length];
        for (var i = 0; i < copy.Length; i++)
        {
            copy[i] = Volatile.Read(ref _counts[i]);
        }

        return copy;
    }

    private void Remember(RolloutDecision decision)
    {
        _history.Enqueue(decision);
        while (_history.Count > HistoryLimit)
        {
            _ = _history.Dequeue();
        }
    }

    private void Publish(RolloutDecision decision)
    {
        if (_logger.IsEnabled(LogLevel.Information))
        {
            RolloutLog.Decision(_logger, Name, decision.Kind, decision.StagePercent, decision.IsAutomatic ? "judge" : "operator", decision.PercentAfter, decision.Reason);
        }

        if (decision.Kind == RolloutDecisionKind.Stop && _logger.IsEnabled(LogLevel.Warning))
        {
            RolloutLog.Stopped(_logger, Name, decision.Reason);
        }

        try
        {
            DecisionMade?.Invoke(this, decision);
        }
#pragma warning disable CA1031 // A subscriber's fault must not undo a decision that is already applied.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            RolloutLog.HandlerFailed(_logger, Name, ex);
        }
    }
}

/// <summary>The state of a rollout in one immutable value, swapped atomically.</summary>
/// <param name="Status">The status.</param>
/// <param name="StageIndex">The current stage.</param>
/// <param name="Percent">The AI arm's effective share, in percent.</param>
/// <param name="StageStartedAt">When the stage started.</param>
/// <param name="Version">Increases with every change, so instances sharing a store apply the newest.</param>
internal sealed record RolloutSnapshot(RolloutStatus Status, int StageIndex, double Percent, DateTimeOffset StageStartedAt, long Version);

/// <summary>A lock-free latency histogram with buckets 5 % apart, from 1 µs to about an hour.</summary>
internal sealed class LatencyHistogram
{
    private const int Buckets = 460;
    private static readonly double LogStep = Math.Log(1.05);
    private readonly long[] _counts = new long[Buckets];

    public void Add(TimeSpan latency)
    {
        var micros = Math.Max(1.0, latency.Ticks / 10.0);
        var bucket = Math.Min(Buckets - 1, (int)(Math.Log(micros) / LogStep));
        Interlocked.Increment(ref _counts[bucket]);
    }

    public TimeSpan? Quantile(double q)
    {
        long total = 0;
        for (var i = 0; i < Buckets; i++)
        {
            total += Volatile.Read(ref _counts[i]);
        }

        if (total == 0)
        {
            return null;
        }

        var rank = (long)Math.Ceiling(q * total);
        long seen = 0;
        for (var i = 0; i < Buckets; i++)
        {
            seen += Volatile.Read(ref _counts[i]);
            if (seen >= rank)
            {
                return TimeSpan.FromTicks((long)(Math.Exp((i + 1) * LogStep) * 10));
            }
        }

        return null;
    }
}

namespace SafeAI;

/// <summary>Where a rollout stands.</summary>
public enum RolloutStatus
{
    /// <summary>The rollout runs: the AI arm gets the current stage's share and the judge may promote or abort.</summary>
    Running = 0,

    /// <summary>Traffic keeps the current split, but the judge promotes nothing until the rollout is resumed.</summary>
    Paused = 1,

    /// <summary>The last stage was reached: every call goes to the AI arm.</summary>
    Completed = 2,

    /// <summary>A guardrail showed a significant degradation (or an operator aborted): every call goes to the baseline.</summary>
    Aborted = 3,

    /// <summary>The sample-ratio check failed, so the comparison cannot be trusted: every call goes to the baseline.</summary>
    Halted = 4,

    /// <summary>The kill switch is on: every call goes to the baseline until it is released.</summary>
    Stopped = 5,
}

/// <summary>What a rollout decision did.</summary>
public enum RolloutDecisionKind
{
    /// <summary>Nothing changes: the judge needs more time or data.</summary>
    Continue = 0,

    /// <summary>The rollout moved to the next stage.</summary>
    Promote = 1,

    /// <summary>The rollout stopped because the AI arm is worse; every call goes to the baseline (automatic rollback).</summary>
    Abort = 2,

    /// <summary>The rollout stopped because the sample-ratio check failed; every call goes to the baseline.</summary>
    Halt = 3,

    /// <summary>An operator paused promotion.</summary>
    Pause = 4,

    /// <summary>An operator resumed a paused rollout or released the kill switch.</summary>
    Resume = 5,

    /// <summary>The kill switch sent every call to the baseline.</summary>
    Stop = 6,
}

/// <summary>One guardrail's comparison of the arms: the rates and the always-valid bounds on their difference.</summary>
/// <param name="Metric">The metric name.</param>
/// <param name="BaselineSamples">Randomized calls in the baseline arm, over all stages so far.</param>
/// <param name="BaselineEvents">Events of the metric in the baseline arm.</param>
/// <param name="AISamples">Randomized calls in the AI arm.</param>
/// <param name="AIEvents">Events of the metric in the AI arm.</param>
/// <param name="Difference">The stage-stratified difference of rates, AI minus baseline.</param>
/// <param name="Lower">The lower bound of the always-valid confidence sequence on the difference.</param>
/// <param name="Upper">The upper bound of the always-valid confidence sequence on the difference.</param>
/// <param name="BaselineRate">The baseline arm's rate, used to state the bounds relative to it.</param>
/// <param name="Alpha">The error rate this guardrail is judged at (the plan's alpha split across guardrails).</param>
/// <param name="Degraded">Whether the AI arm is significantly worse (this is what aborts).</param>
/// <param name="WithinMargin">Whether a degradation beyond the stage's margin is ruled out (this is what lets a gating guardrail promote).</param>
public sealed record RolloutMetricComparison(
    string Metric,
    long BaselineSamples,
    long BaselineEvents,
    long AISamples,
    long AIEvents,
    double Difference,
    double Lower,
    double Upper,
    double BaselineRate,
    double Alpha,
    bool Degraded,
    bool WithinMargin)
{
    /// <summary>Gets the lower bound relative to the baseline rate (−0.05 = 5 % better).</summary>
    public double RelativeLower => BaselineRate > 0 ? Lower / BaselineRate : double.NegativeInfinity;

    /// <summary>Gets the upper bound relative to the baseline rate (0.15 = 15 % worse).</summary>
    public double RelativeUpper => BaselineRate > 0 ? Upper / BaselineRate : double.PositiveInfinity;
}

/// <summary>The sample-ratio-mismatch check of the current stage.</summary>
/// <param name="BaselineSamples">Randomized calls in the baseline arm during the stage.</param>
/// <param name="AISamples">Randomized calls in the AI arm during the stage.</param>
/// <param name="ExpectedAIShare">The share of calls the AI arm should get.</param>
/// <param name="ChiSquare">Pearson's chi-square statistic (one degree of freedom).</param>
/// <param name="PValue">Its p-value.</param>
/// <param name="Mismatch">Whether the p-value is below the plan's threshold (this halts).</param>
public sealed record RolloutSampleRatioCheck(long BaselineSamples, long AISamples, double ExpectedAIShare, double ChiSquare, double PValue, bool Mismatch);

/// <summary>
/// A decision about a rollout, automatic or by an operator, with the numbers behind it: a typed event for logs, the
/// audit trail and operator views.
/// </summary>
public sealed class RolloutDecision
{
    internal RolloutDecision(
        RolloutDecisionKind kind,
        string reason,
        bool automatic,
        DateTimeOffset at,
        int stageIndex,
        double stagePercent,
        RolloutStatus status,
        double percentAfter,
        IReadOnlyList<RolloutMetricComparison> metrics,
        RolloutSampleRatioCheck? sampleRatio,
        long baselineSamples,
        long aiSamples)
    {
        Kind = kind;
        Reason = reason;
        IsAutomatic = automatic;
        At = at;
        StageIndex = stageIndex;
        StagePercent = stagePercent;
        Status = status;
        PercentAfter = percentAfter;
        Metrics = metrics;
        SampleRatio = sampleRatio;
        BaselineSamples = baselineSamples;
        AISamples = aiSamples;
    }

    /// <summary>Gets what the decision did.</summary>
    public RolloutDecisionKind Kind { get; }

    /// <summary>Gets why, in plain words with the numbers (never message text).</summary>
    public string Reason { get; }

    /// <summary>Gets a value indicating whether the judge took the decision (rather than an operator).</summary>
    public bool IsAutomatic { get; }

    /// <summary>Gets when the decision was taken.</summary>
    public DateTimeOffset At { get; }

    /// <summary>Gets the index of the stage the rollout was in when the decision was taken.</summary>
    public int StageIndex { get; }

    /// <summary>Gets the AI arm's share, in percent, of the stage the rollout was in when the decision was taken.</summary>
    public double StagePercent { get; }

    /// <summary>Gets the rollout's status after the decision.</summary>
    public RolloutStatus Status { get; }

    /// <summary>Gets the share of traffic, in percent, the AI arm gets after the decision (0 after an abort, halt or stop).</summary>
    public double PercentAfter { get; }

    /// <summary>Gets the guardrail comparisons the decision was based on (empty for operator decisions without a judge run).</summary>
    public IReadOnlyList<RolloutMetricComparison> Metrics { get; }

    /// <summary>Gets the sample-ratio check of the current stage, when it ran.</summary>
    public RolloutSampleRatioCheck? SampleRatio { get; }

    /// <summary>Gets the randomized calls of the baseline arm over all stages.</summary>
    public long BaselineSamples { get; }

    /// <summary>Gets the randomized calls of the AI arm over all stages.</summary>
    public long AISamples { get; }

    /// <inheritdoc />
    public override string ToString() => $"{Kind} at stage {StagePercent} %: {Reason}";
}

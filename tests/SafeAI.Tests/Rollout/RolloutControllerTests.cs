using Microsoft.Extensions.Time.Testing;

namespace SafeAI.Tests.Rollout;

public class RolloutControllerTests
{
    private const string Bad = "bad";

    private static RolloutPlanOptions Plan()
    {
        var plan = new RolloutPlanOptions();
        plan.Guardrails.Add(new RolloutGuardrail(Bad));
        return plan;
    }

    private static void Feed(RolloutController c, long ai, long aiBad, long baseline, long baselineBad)
    {
        c.RecordExposure(RolloutArm.AI, ai);
        c.RecordExposure(RolloutArm.Baseline, baseline);
        c.RecordOutcome(RolloutArm.AI, Bad, aiBad);
        c.RecordOutcome(RolloutArm.Baseline, Bad, baselineBad);
    }

    [Fact]
    public void Evaluate_BeforeSevenDays_ContinuesAndSaysHowLong()
    {
        var time = new FakeTimeProvider();
        var c = new RolloutController(Plan(), time);
        Feed(c, 1000, 50, 19000, 950);
        time.Advance(TimeSpan.FromDays(3));

        var d = c.Evaluate();

        Assert.Equal(RolloutDecisionKind.Continue, d.Kind);
        Assert.Contains("3.0 of at least 7.0 days", d.Reason, StringComparison.Ordinal);
        Assert.Equal(0, c.StageIndex);
        Assert.Empty(c.GetHistory());
    }

    [Fact]
    public void Evaluate_AfterSevenDaysWithEnoughEvidence_PromotesAndRaisesTheEvent()
    {
        var time = new FakeTimeProvider();
        var c = new RolloutController(Plan(), time);
        RolloutDecision? raised = null;
        c.DecisionMade += (_, d) => raised = d;
        Feed(c, 5000, 250, 95000, 4750);
        time.Advance(TimeSpan.FromDays(7));

        var d = c.Evaluate();

        Assert.Equal(RolloutDecisionKind.Promote, d.Kind);
        Assert.True(d.IsAutomatic);
        Assert.Same(d, raised);
        Assert.Equal(1, c.StageIndex);
        Assert.Equal(10, c.CurrentPercent);
        Assert.Equal(10, d.PercentAfter);
        var m = Assert.Single(d.Metrics, x => x.Metric == Bad);
        Assert.Equal(0.0, m.Difference, 1e-12);
        Assert.True(m.RelativeUpper <= 0.5);
        Assert.NotNull(d.SampleRatio);
        Assert.False(d.SampleRatio!.Mismatch);
    }

    [Fact]
    public void Evaluate_TooFewSamplesPerArm_Continues()
    {
        var time = new FakeTimeProvider();
        var c = new RolloutController(Plan(), time);
        Feed(c, 100, 5, 1900, 95);
        time.Advance(TimeSpan.FromDays(8));
        var d = c.Evaluate();
        Assert.Equal(RolloutDecisionKind.Continue, d.Kind);
        Assert.Contains("at least 500 per arm", d.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Evaluate_Paused_DoesNotPromoteButStillAborts()
    {
        var time = new FakeTimeProvider();
        var c = new RolloutController(Plan(), time);
        c.Pause("holiday freeze");
        Feed(c, 5000, 250, 95000, 4750);
        time.Advance(TimeSpan.FromDays(7));
        Assert.Equal(RolloutDecisionKind.Continue, c.Evaluate().Kind);
        Assert.Equal(RolloutStatus.Paused, c.Status);
        Assert.Equal(5, c.CurrentPercent);

        Feed(c, 5000, 1000, 95000, 4750);
        var abort = c.Evaluate();
        Assert.Equal(RolloutDecisionKind.Abort, abort.Kind);
        Assert.Equal(RolloutStatus.Aborted, c.Status);
        Assert.Equal(0, c.CurrentPercent);
    }

    [Fact]
    public void Promote_ByOperator_MovesOnAndIsRecordedAsManual()
    {
        var c = new RolloutController(Plan());
        var d = c.Promote("approved by the release board");
        Assert.Equal(RolloutDecisionKind.Promote, d.Kind);
        Assert.False(d.IsAutomatic);
        Assert.Equal(10, c.CurrentPercent);
        Assert.Equal("approved by the release board", Assert.Single(c.GetHistory()).Reason);
    }

    [Fact]
    public void Promote_OutOfTheLastPartialStage_Completes()
    {
        var c = new RolloutController(Plan());
        for (var i = 0; i < 4; i++)
        {
            c.Promote("go");
        }

        Assert.Equal(RolloutStatus.Completed, c.Status);
        Assert.Equal(100, c.CurrentPercent);
        Assert.Equal(RolloutDecisionKind.Continue, c.Promote("again").Kind);
    }

    [Fact]
    public void Abort_ThenResume_StaysAborted()
    {
        var c = new RolloutController(Plan());
        Assert.Equal(RolloutDecisionKind.Abort, c.Abort("bad reviews").Kind);
        Assert.Equal(0, c.CurrentPercent);
        Assert.Equal(RolloutDecisionKind.Continue, c.Resume("oops").Kind);
        Assert.Equal(RolloutStatus.Aborted, c.Status);
    }

    [Fact]
    public void RecordOutcome_UnknownMetric_ThrowsNamingTheFix()
    {
        var c = new RolloutController(Plan());
        var ex = Assert.Throws<ArgumentException>(() => c.RecordOutcome(RolloutArm.AI, "conversion"));
        Assert.Contains("TrackedMetrics", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RecordOutcome_BusinessMetricLowerIsWorse_AbortsOnASignificantDrop()
    {
        var plan = new RolloutPlanOptions { MinSamplesToAbort = 100 };
        plan.Guardrails.Add(new RolloutGuardrail("conversion", higherIsWorse: false));
        var c = new RolloutController(plan);
        c.RecordExposure(RolloutArm.AI, 4000);
        c.RecordExposure(RolloutArm.Baseline, 76000);
        c.RecordOutcome(RolloutArm.AI, "conversion", 200); // 5 %
        c.RecordOutcome(RolloutArm.Baseline, "conversion", 7600); // 10 %
        var d = c.Evaluate();
        Assert.Equal(RolloutDecisionKind.Abort, d.Kind);
        Assert.Contains("conversion", d.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Evaluate_SkewedSplit_HaltsWithTheChiSquare()
    {
        var c = new RolloutController(Plan());
        Feed(c, 700, 35, 9300, 465); // 7 % where 5 % was expected
        var d = c.Evaluate();
        Assert.Equal(RolloutDecisionKind.Halt, d.Kind);
        Assert.Equal(RolloutStatus.Halted, c.Status);
        Assert.True(d.SampleRatio!.PValue < 0.001);
        Assert.Equal(0, c.CurrentPercent);
    }

    [Fact]
    public void GetLatencyP95_RecordedLatencies_WithinFivePercent()
    {
        var c = new RolloutController(Plan());
        for (var i = 1; i <= 100; i++)
        {
            c.RecordLatency(RolloutArm.AI, TimeSpan.FromMilliseconds(i));
        }

        var p95 = c.GetLatencyP95(RolloutArm.AI)!.Value.TotalMilliseconds;
        Assert.InRange(p95, 95, 95 * 1.06);
        Assert.Null(c.GetLatencyP95(RolloutArm.Baseline));
    }

    [Fact]
    public void Constructor_InvalidPlan_ListsEveryProblem()
    {
        var plan = new RolloutPlanOptions { Alpha = 0, SampleRatioAlpha = 1 };
        plan.Stages.Add(new RolloutStage(100, 0));
        plan.Stages.Add(new RolloutStage(120, 0));
        var ex = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => new RolloutController(plan));
        Assert.Contains("Alpha must be above 0", ex.Message, StringComparison.Ordinal);
        Assert.Contains("SampleRatioAlpha", ex.Message, StringComparison.Ordinal);
        Assert.Contains("must be the last stage", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunJudgeAsync_HourlyOnAFakeClock_PromotesAfterSevenDays()
    {
        var time = new FakeTimeProvider();
        var c = new RolloutController(Plan(), time);
        Feed(c, 5000, 250, 95000, 4750);
        using var cts = new CancellationTokenSource();
        var loop = c.RunJudgeAsync(TimeSpan.FromHours(1), cts.Token);
        for (var h = 0; h < 24 * 7 - 1; h++)
        {
            time.Advance(TimeSpan.FromHours(1));
        }

        Assert.Equal(0, c.StageIndex);
        time.Advance(TimeSpan.FromHours(1));
        Assert.Equal(1, c.StageIndex);
        Assert.Equal(RolloutDecisionKind.Promote, Assert.Single(c.GetHistory()).Kind);
        await cts.CancelAsync();
        await loop;
    }
}


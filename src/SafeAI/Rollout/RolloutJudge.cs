using System.Globalization;
using SafeAI.Statistics;

namespace SafeAI;

/// <summary>A validated, resolved rollout plan: stages, guardrails and the counter layout.</summary>
internal sealed class RolloutPlan
{
    public RolloutPlan(RolloutPlanOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var result = options.Validate();
        if (result.Failed)
        {
            throw new Microsoft.Extensions.Options.OptionsValidationException("SafeAI:Rollout:Plan", typeof(RolloutPlanOptions), result.Failures);
        }

        Options = options;
        Stages = options.Stages.Count == 0 ? [.. RolloutPlanOptions.CreateDefaultStages()] : [.. options.Stages];
        Guardrails = options.Guardrails.Count == 0 ? [.. RolloutPlanOptions.CreateDefaultGuardrails()] : [.. options.Guardrails];
        var names = new List<string> { RolloutMetrics.Errors, RolloutMetrics.Fallbacks, RolloutMetrics.Blocks, RolloutMetrics.Escalations, RolloutMetrics.ThumbsDown };
        foreach (var g in Guardrails)
        {
            if (!names.Contains(g.Metric))
            {
                names.Add(g.Metric);
            }
        }

        foreach (var m in options.TrackedMetrics)
        {
            if (!names.Contains(m))
            {
                names.Add(m);
            }
        }

        MetricNames = [.. names];
        Slots = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < MetricNames.Length; i++)
        {
            Slots[MetricNames[i]] = i + 1;
        }

        GuardrailSlots = new int[Guardrails.Length];
        for (var i = 0; i < Guardrails.Length; i++)
        {
            GuardrailSlots[i] = Slots[Guardrails[i].Metric];
        }

        SlotsPerArm = MetricNames.Length + 1;
        AlphaPerGuardrail = options.Alpha / Guardrails.Length;
    }

    public RolloutPlanOptions Options { get; }

    public RolloutStage[] Stages { get; }

    public RolloutGuardrail[] Guardrails { get; }

    public string[] MetricNames { get; }

    /// <summary>Gets the counter slot of each metric; slot 0 of an arm holds its randomized calls.</summary>
    public Dictionary<string, int> Slots { get; }

    public int[] GuardrailSlots { get; }

    public int SlotsPerArm { get; }

    public double AlphaPerGuardrail { get; }

    public int CounterLength => Stages.Length * 2 * SlotsPerArm;

    public int Index(int stage, RolloutArm arm, int slot) => (((stage * 2) + (int)arm) * SlotsPerArm) + slot;
}

/// <summary>What the judge concluded from the counts.</summary>
internal readonly record struct JudgeResult(
    RolloutDecisionKind Kind,
    string Reason,
    RolloutMetricComparison[] Metrics,
    RolloutSampleRatioCheck? SampleRatio,
    long BaselineSamples,
    long AISamples);

/// <summary>
/// The statistical judge: compares the arms on every guardrail with an always-valid confidence sequence (so it may look
/// as often as it likes), checks the sample ratio of the current stage, and says continue, promote, abort or halt.
/// Pure: it reads counts and time in the stage, and changes nothing.
/// </summary>
internal static class RolloutJudge
{
    private static ReadOnlySpan<double> MixtureScales => [1, 0.25, 0.5, 2, 4, 8, 16];

    private static ReadOnlySpan<double> MixtureWeights => [0.5, 0.5 / 6, 0.5 / 6, 0.5 / 6, 0.5 / 6, 0.5 / 6, 0.5 / 6];

    public static JudgeResult Evaluate(RolloutPlan plan, ReadOnlySpan<long> counts, int stageIndex, TimeSpan timeInStage)
    {
        var stage = plan.Stages[stageIndex];
        long baselineTotal = 0;
        long aiTotal = 0;
        for (var s = 0; s <= stageIndex; s++)
        {
            baselineTotal += counts[plan.Index(s, RolloutArm.Baseline, 0)];
            aiTotal += counts[plan.Index(s, RolloutArm.AI, 0)];
        }

        // 1. Sample ratio of the current stage: a broken assignment makes every comparison untrustworthy.
        RolloutSampleRatioCheck? srm = null;
        var stageBaseline = counts[plan.Index(stageIndex, RolloutArm.Baseline, 0)];
        var stageAI = counts[plan.Index(stageIndex, RolloutArm.AI, 0)];
        if (stage.Percent < 100 && stageBaseline + stageAI >= plan.Options.MinSamplesForSampleRatio)
        {
            var share = stage.Percent / 100;
            var (chi, p) = SampleRatioTest.Test(stageAI, stageBaseline, share);

            // The chi-square p-value alone, checked every hour, would halt a sound experiment far more often than its
            // threshold says; the mismatch must also be confirmed by the always-valid mixture test at the same level.
            var mismatch = p < plan.Options.SampleRatioAlpha &&
                SampleRatioTest.LogBayesFactor(stageAI, stageBaseline, share) >= Math.Log(1 / plan.Options.SampleRatioAlpha);
            srm = new RolloutSampleRatioCheck(stageBaseline, stageAI, share, chi, p, mismatch);
        }

        var metrics = new RolloutMetricComparison[plan.Guardrails.Length];
        var degraded = -1;
        var allWithinMargin = true;
        string? notWithin = null;
        for (var g = 0; g < plan.Guardrails.Length; g++)
        {
            metrics[g] = Compare(plan, counts, stageIndex, g, stage.MaxDegradation);
            if (metrics[g].Degraded && degraded < 0 && baselineTotal >= plan.Options.MinSamplesToAbort && aiTotal >= plan.Options.MinSamplesToAbort)
            {
                degraded = g;
            }

            if (plan.Guardrails[g].GatesPromotion && !metrics[g].WithinMargin)
            {
                allWithinMargin = false;
                notWithin ??= plan.Guardrails[g].Metric;
            }
        }

        var ci = CultureInfo.InvariantCulture;
        if (srm is { Mismatch: true })
        {
            return new(RolloutDecisionKind.Halt, string.Format(ci, "sample ratio mismatch in the {0} % stage: {1} AI and {2} baseline calls where {0} % AI was expected (chi-square {3:0.00}, p = {4:G3} < {5})", stage.Percent, stageAI, stageBaseline, srm.ChiSquare, srm.PValue, plan.Options.SampleRatioAlpha), metrics, srm, baselineTotal, aiTotal);
        }

        if (degraded >= 0)
        {
            var m = metrics[degraded];
            return new(RolloutDecisionKind.Abort, string.Format(ci, "{0} is significantly worse in the AI arm: {1}/{2} = {3:P2} vs {4}/{5} = {6:P2}; the difference lies in [{7:+0.0000;-0.0000}, {8:+0.0000;-0.0000}] at every look (alpha {9:G3})", m.Metric, m.AIEvents, m.AISamples, Rate(m.AIEvents, m.AISamples), m.BaselineEvents, m.BaselineSamples, Rate(m.BaselineEvents, m.BaselineSamples), m.Lower, m.Upper, m.Alpha), metrics, srm, baselineTotal, aiTotal);
        }

        if (stageIndex == plan.Stages.Length - 1)
        {
            return new(RolloutDecisionKind.Continue, "the last stage is reached", metrics, srm, baselineTotal, aiTotal);
        }

        if (timeInStage < stage.MinDuration)
        {
            return new(RolloutDecisionKind.Continue, string.Format(ci, "the {0} % stage has run {1:0.0} of at least {2:0.0} days", stage.Percent, timeInStage.TotalDays, stage.MinDuration.TotalDays), metrics, srm, baselineTotal, aiTotal);
        }

        if (stageAI < stage.MinSamplesPerArm || stageBaseline < stage.MinSamplesPerArm)
        {
            return new(RolloutDecisionKind.Continue, string.Format(ci, "the {0} % stage has {1} AI and {2} baseline calls of at least {3} per arm", stage.Percent, stageAI, stageBaseline, stage.MinSamplesPerArm), metrics, srm, baselineTotal, aiTotal);
        }

        if (!allWithinMargin)
        {
            return new(RolloutDecisionKind.Continue, string.Format(ci, "a degradation of {0} beyond {1:P0} is not yet ruled out", notWithin, stage.MaxDegradation), metrics, srm, baselineTotal, aiTotal);
        }

        return new(RolloutDecisionKind.Promote, string.Format(ci, "the {0} % stage ran {1:0.0} days with {2} AI and {3} baseline calls, and every gating guardrail is within {4:P0} of the baseline", stage.Percent, timeInStage.TotalDays, stageAI, stageBaseline, stage.MaxDegradation), metrics, srm, baselineTotal, aiTotal);
    }

    /// <summary>
    /// Compares one guardrail across the arms, stratified by stage (each stage's difference weighted by n₁n₀/(n₁+n₀),
    /// so a change of split or a trend over time does not bias the comparison), with the mixture confidence sequence.
    /// </summary>
    internal static RolloutMetricComparison Compare(RolloutPlan plan, ReadOnlySpan<long> counts, int stageIndex, int guardrail, double margin)
    {
        var g = plan.Guardrails[guardrail];
        var slot = plan.GuardrailSlots[guardrail];
        double weightSum = 0, weightedDiff = 0, weightedVar = 0;
        long n0 = 0, x0 = 0, n1 = 0, x1 = 0;
        for (var s = 0; s <= stageIndex; s++)
        {
            var sn0 = counts[plan.Index(s, RolloutArm.Baseline, 0)];
            var sx0 = Math.Min(sn0, counts[plan.Index(s, RolloutArm.Baseline, slot)]);
            var sn1 = counts[plan.Index(s, RolloutArm.AI, 0)];
            var sx1 = Math.Min(sn1, counts[plan.Index(s, RolloutArm.AI, slot)]);
            n0 += sn0;
            x0 += sx0;
            n1 += sn1;
            x1 += sx1;
            if (sn0 == 0 || sn1 == 0)
            {
                continue;
            }

            var w = (double)sn0 * sn1 / (sn0 + sn1);
            var d = ((double)sx1 / sn1) - ((double)sx0 / sn0);

            // Rates nudged away from 0 and 1 so an arm with no events yet still has a variance.
            var q0 = (sx0 + 0.5) / (sn0 + 1.0);
            var q1 = (sx1 + 0.5) / (sn1 + 1.0);
            var v = (q0 * (1 - q0) / sn0) + (q1 * (1 - q1) / sn1);
            weightSum += w;
            weightedDiff += w * d;
            weightedVar += w * w * v;
        }

        var baselineRate = (x0 + 0.5) / (n0 + 1.0);
        if (weightSum == 0)
        {
            return new RolloutMetricComparison(g.Metric, n0, x0, n1, x1, 0, -1, 1, baselineRate, plan.AlphaPerGuardrail, false, false);
        }

        var diff = weightedDiff / weightSum;
        var variance = weightedVar / (weightSum * weightSum);
        // Half the weight on the tuned effect, the rest spread from a quarter of it to sixteen times it, so a blatant
        // degradation is caught within the first few hundred calls and a subtle one as fast as the tuned test allows.
        Span<double> mixing = stackalloc double[MixtureScales.Length];
        for (var k = 0; k < mixing.Length; k++)
        {
            var tau = MixtureScales[k] * plan.Options.TunedEffect * baselineRate;
            mixing[k] = tau * tau;
        }

        var half = MixtureConfidenceSequence.HalfWidth(variance, mixing, MixtureWeights, plan.AlphaPerGuardrail);
        var lower = diff - half;
        var upper = diff + half;
        var tolerance = Math.Max(margin * baselineRate, g.AbsoluteTolerance);
        var degraded = g.HigherIsWorse ? lower > 0 : upper < 0;
        var within = g.HigherIsWorse ? upper <= tolerance : lower >= -tolerance;
        return new RolloutMetricComparison(g.Metric, n0, x0, n1, x1, diff, lower, upper, baselineRate, plan.AlphaPerGuardrail, degraded, within);
    }

    private static double Rate(long events, long samples) => samples == 0 ? 0 : (double)events / samples;
}

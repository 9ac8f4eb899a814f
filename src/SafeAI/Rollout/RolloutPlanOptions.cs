using Microsoft.Extensions.Options;

namespace SafeAI;

/// <summary>
/// The plan of a gradual rollout: the stages, the guardrail metrics and the error rates of the statistical judge.
/// Validate with <see cref="Validate"/>; <see cref="RolloutController"/> does so when it is created.
/// </summary>
public sealed class RolloutPlanOptions
{
    /// <summary>Gets the stages, in order. Empty means the default 5 → 10 → 25 → 50 → 100 %, each at least 7 days.</summary>
    public IList<RolloutStage> Stages { get; } = [];

    /// <summary>Gets the guardrail metrics. Empty means the default: errors (abort only) and thumbs-down (abort and gate promotion).</summary>
    public IList<RolloutGuardrail> Guardrails { get; } = [];

    /// <summary>Gets further metrics to count per arm and report without judging them (business counters).</summary>
    public IList<string> TrackedMetrics { get; } = [];

    /// <summary>
    /// Gets or sets the chance of a false abort over the whole rollout, however often the judge looks (default 0.05). It is
    /// split evenly across the guardrails (Bonferroni), and each guardrail's confidence sequence is valid at every look.
    /// </summary>
    public double Alpha { get; set; } = 0.05;

    /// <summary>
    /// Gets or sets the p-value of the sample-ratio-mismatch chi-square test below which the experiment halts as
    /// untrustworthy. Default: 0.001. Because the check runs at every look, a halt also needs an always-valid beta-binomial
    /// mixture test to reject at the same level, which keeps false halts below this rate however often the judge looks.
    /// </summary>
    public double SampleRatioAlpha { get; set; } = 0.001;

    /// <summary>Gets or sets how many randomized calls the current stage must have before the sample-ratio check runs. Default: 200.</summary>
    public long MinSamplesForSampleRatio { get; set; } = 200;

    /// <summary>Gets or sets how many randomized calls each arm must have, over all stages, before a guardrail may abort (the normal approximation needs a few). Default: 200.</summary>
    public long MinSamplesToAbort { get; set; } = 200;

    /// <summary>
    /// Gets or sets the relative effect (0.2 = 20 % of the baseline rate) the sequential test is tuned to detect fastest;
    /// it sets the mixing spread of the mSPRT. Any value keeps the false-abort guarantee; it only moves where the test is most powerful. Default: 0.2.
    /// </summary>
    public double TunedEffect { get; set; } = 0.2;

    /// <summary>Gets the default stages: 5, 10, 25, 50 and 100 %, each at least 7 days, tolerating 50, 25, 15 and 10 % degradation before leaving the first four.</summary>
    /// <returns>New stage objects.</returns>
    public static IReadOnlyList<RolloutStage> CreateDefaultStages() =>
    [
        new RolloutStage(5, 0.50),
        new RolloutStage(10, 0.25),
        new RolloutStage(25, 0.15),
        new RolloutStage(50, 0.10),
        new RolloutStage(100, 0),
    ];

    /// <summary>Gets the default guardrails: errors (abort only) and thumbs-down (abort and gate promotion).</summary>
    /// <returns>New guardrail objects.</returns>
    public static IReadOnlyList<RolloutGuardrail> CreateDefaultGuardrails() =>
    [
        new RolloutGuardrail(RolloutMetrics.Errors, higherIsWorse: true, gatesPromotion: false),
        new RolloutGuardrail(RolloutMetrics.ThumbsDown, higherIsWorse: true, gatesPromotion: true),
    ];

    /// <summary>Checks every setting and returns the problems in plain words.</summary>
    /// <returns>The result; <see cref="ValidateOptionsResult.Success"/> when the plan is usable.</returns>
    public ValidateOptionsResult Validate()
    {
        var failures = new List<string>();
        var stages = Stages.Count == 0 ? CreateDefaultStages() : (IReadOnlyList<RolloutStage>)[.. Stages];
        double previous = 0;
        for (var i = 0; i < stages.Count; i++)
        {
            var s = stages[i];
            if (s is null)
            {
                failures.Add($"Stages[{i}] is null.");
                continue;
            }

            if (!(s.Percent > 0 && s.Percent <= 100))
            {
                failures.Add($"Stages[{i}].Percent must be above 0 and at most 100 (it is {s.Percent}).");
            }
            else if (s.Percent <= previous)
            {
                failures.Add($"Stages[{i}].Percent must be larger than the stage before it ({previous}); stages only go up.");
            }
            else if (s.Percent >= 100 && i != stages.Count - 1)
            {
                failures.Add($"Stages[{i}] is 100 %, so it must be the last stage.");
            }

            previous = s.Percent;
            if (s.MinDuration < TimeSpan.Zero)
            {
                failures.Add($"Stages[{i}].MinDuration must not be negative.");
            }

            if (s.MinSamplesPerArm < 0)
            {
                failures.Add($"Stages[{i}].MinSamplesPerArm must not be negative.");
            }

            if (!(s.MaxDegradation >= 0) || !double.IsFinite(s.MaxDegradation))
            {
                failures.Add($"Stages[{i}].MaxDegradation must be a number of at least 0 (0.15 = 15 % worse than the baseline).");
            }
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        var guardrails = Guardrails.Count == 0 ? CreateDefaultGuardrails() : (IReadOnlyList<RolloutGuardrail>)[.. Guardrails];
        for (var i = 0; i < guardrails.Count; i++)
        {
            var g = guardrails[i];
            if (g is null || string.IsNullOrWhiteSpace(g.Metric))
            {
                failures.Add($"Guardrails[{i}].Metric must name a metric.");
                continue;
            }

            if (!names.Add(g.Metric))
            {
                failures.Add($"Guardrails[{i}]: the metric '{g.Metric}' is guarded twice.");
            }

            if (!(g.AbsoluteTolerance >= 0 && g.AbsoluteTolerance < 1))
            {
                failures.Add($"Guardrails[{i}].AbsoluteTolerance must be at least 0 and below 1.");
            }
        }

        foreach (var m in TrackedMetrics)
        {
            if (string.IsNullOrWhiteSpace(m))
            {
                failures.Add("TrackedMetrics must not contain empty names.");
            }
        }

        if (!(Alpha > 0 && Alpha < 0.5))
        {
            failures.Add($"Alpha must be above 0 and below 0.5 (it is {Alpha}).");
        }

        if (!(SampleRatioAlpha > 0 && SampleRatioAlpha < 0.5))
        {
            failures.Add($"SampleRatioAlpha must be above 0 and below 0.5 (it is {SampleRatioAlpha}).");
        }

        if (MinSamplesForSampleRatio < 1)
        {
            failures.Add("MinSamplesForSampleRatio must be at least 1.");
        }

        if (MinSamplesToAbort < 1)
        {
            failures.Add("MinSamplesToAbort must be at least 1.");
        }

        if (!(TunedEffect > 0 && TunedEffect <= 10))
        {
            failures.Add($"TunedEffect must be above 0 and at most 10 (it is {TunedEffect}).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

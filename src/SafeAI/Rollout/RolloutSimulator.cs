using System.Globalization;

namespace SafeAI;

/// <summary>Settings of a rollout simulation: synthetic traffic with a known effect, judged by the real <see cref="RolloutController"/>.</summary>
public sealed class RolloutSimulationOptions
{
    /// <summary>The name of the one guardrail metric the simulation counts: a bad outcome of a call.</summary>
    public const string BadOutcome = "bad-outcome";

    /// <summary>Gets or sets how many days to simulate. Default: 14.</summary>
    public int Days { get; set; } = 14;

    /// <summary>Gets or sets how many users arrive per day, spread evenly over the hours; each makes one call. Default: 2,000.</summary>
    public int DailyUsers { get; set; } = 2000;

    /// <summary>Gets or sets the baseline arm's rate of a bad outcome (0.05 = 5 %). Default: 0.05.</summary>
    public double BaselineRate { get; set; } = 0.05;

    /// <summary>Gets or sets the relative change of the bad-outcome rate in the AI arm (0.15 = 15 % worse, −0.1 = 10 % better). Default: 0.</summary>
    public double Effect { get; set; }

    /// <summary>
    /// Gets or sets a sample-ratio skew: the share of all traffic (0.02 = 2 percentage points) that lands in the AI arm on top
    /// of the stage's share, as a broken assignment or lost baseline logs would cause. Default: 0.
    /// </summary>
    public double SampleRatioSkew { get; set; }

    /// <summary>Gets or sets how many simulated hours pass between two looks of the judge. Default: 1 (hourly peeking).</summary>
    public int EvaluateEveryHours { get; set; } = 1;

    /// <summary>Gets or sets the seed of the random traffic. Default: 1.</summary>
    public int Seed { get; set; } = 1;

    /// <summary>Gets or sets the plan; <see langword="null"/> for the default stages with <see cref="BadOutcome"/> as the only (gating) guardrail.</summary>
    public RolloutPlanOptions? Plan { get; set; }

    /// <summary>Creates the plan the simulation uses when <see cref="Plan"/> is not set.</summary>
    /// <returns>A new plan.</returns>
    public static RolloutPlanOptions CreateDefaultPlan()
    {
        var plan = new RolloutPlanOptions();
        plan.Guardrails.Add(new RolloutGuardrail(BadOutcome, higherIsWorse: true, gatesPromotion: true));
        return plan;
    }

    internal void Validate()
    {
        var errors = new List<string>();
        if (Days is < 1 or > 3650)
        {
            errors.Add("--days must be between 1 and 3650.");
        }

        if (DailyUsers is < 1 or > 100_000_000)
        {
            errors.Add("--daily-users must be between 1 and 100,000,000.");
        }

        if (!(BaselineRate > 0 && BaselineRate < 1))
        {
            errors.Add("--baseline-rate must be above 0 and below 1.");
        }

        if (!(Effect > -1) || !double.IsFinite(Effect) || BaselineRate * (1 + Effect) >= 1)
        {
            errors.Add("--effect must be above -1, and the AI arm's rate (baseline-rate × (1 + effect)) must stay below 1.");
        }

        if (!(SampleRatioSkew >= 0 && SampleRatioSkew < 1))
        {
            errors.Add("--srm-skew must be at least 0 and below 1.");
        }

        if (EvaluateEveryHours is < 1 or > 24 * 30)
        {
            errors.Add("EvaluateEveryHours must be between 1 and 720.");
        }

        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join(" ", errors));
        }
    }
}

/// <summary>The end of a simulated rollout.</summary>
/// <param name="Decision">abort, halt, promote (the last stage was reached) or continue (still running at the end).</param>
/// <param name="StagePercent">The stage, in percent, the rollout was in when it ended (for promote: 100).</param>
/// <param name="Day">The day (1-based) the rollout ended, or the last simulated day.</param>
/// <param name="BaselineSamples">Randomized calls in the baseline arm.</param>
/// <param name="AISamples">Randomized calls in the AI arm.</param>
/// <param name="BaselineEvents">Bad outcomes in the baseline arm.</param>
/// <param name="AIEvents">Bad outcomes in the AI arm.</param>
/// <param name="SampleRatioMismatch">Whether the sample-ratio check failed.</param>
/// <param name="Reason">The judge's reason.</param>
/// <param name="Decisions">The decisions that changed something, in order.</param>
public sealed record RolloutSimulationResult(
    string Decision,
    double StagePercent,
    int Day,
    long BaselineSamples,
    long AISamples,
    long BaselineEvents,
    long AIEvents,
    bool SampleRatioMismatch,
    string Reason,
    IReadOnlyList<RolloutDecision> Decisions);

/// <summary>
/// Runs the real rollout judge over synthetic traffic, counted per hour (binomial draws of calls and bad outcomes per
/// arm), to size a plan before going live and to check the judge's error rates.
/// </summary>
public static class RolloutSimulator
{
    /// <summary>Runs one simulated rollout.</summary>
    /// <param name="options">The settings.</param>
    /// <returns>How it ended.</returns>
    /// <exception cref="ArgumentException">A setting is out of range; the message names it.</exception>
    public static RolloutSimulationResult Run(RolloutSimulationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var clock = new SimulationClock(new DateTimeOffset(2026, 1, 5, 0, 0, 0, TimeSpan.Zero));
        var controller = new RolloutController(options.Plan ?? RolloutSimulationOptions.CreateDefaultPlan(), clock, name: "simulation");
        var random = new Random(options.Seed);
        var aiRate = options.BaselineRate * (1 + options.Effect);
        var hour = 0;
        RolloutDecision? last = null;
        for (var day = 1; day <= options.Days; day++)
        {
            for (var h = 0; h < 24; h++, hour++)
            {
                var users = (int)(((long)options.DailyUsers * (h + 1) / 24) - ((long)options.DailyUsers * h / 24));
                var share = controller.CurrentPercent / 100;
                if (share is > 0 and < 1)
                {
                    share = Math.Min(1, share + options.SampleRatioSkew);
                    var ai = Binomial(random, users, share);
                    var baseline = users - ai;
                    controller.RecordExposure(RolloutArm.AI, ai);
                    controller.RecordExposure(RolloutArm.Baseline, baseline);
                    controller.RecordOutcome(RolloutArm.AI, RolloutSimulationOptions.BadOutcome, Binomial(random, ai, aiRate));
                    controller.RecordOutcome(RolloutArm.Baseline, RolloutSimulationOptions.BadOutcome, Binomial(random, baseline, options.BaselineRate));
                }

                clock.Advance(TimeSpan.FromHours(1));
                if ((hour + 1) % options.EvaluateEveryHours != 0)
                {
                    continue;
                }

                last = controller.Evaluate();
                if (controller.Status is RolloutStatus.Aborted or RolloutStatus.Halted or RolloutStatus.Completed)
                {
                    return Finish(controller, last, day);
                }
            }
        }

        return Finish(controller, last ?? controller.Evaluate(), options.Days);
    }

    /// <summary>Draws from a binomial distribution: by inversion for small means, by a rounded normal for large ones.</summary>
    internal static int Binomial(Random random, int trials, double p)
    {
        if (trials <= 0 || p <= 0)
        {
            return 0;
        }

        if (p >= 1)
        {
            return trials;
        }

        if (p > 0.5)
        {
            return trials - Binomial(random, trials, 1 - p);
        }

        var mean = trials * p;
        if (mean > 50)
        {
            var sd = Math.Sqrt(mean * (1 - p));
            // Box-Muller.
            var u1 = 1.0 - random.NextDouble();
            var u2 = random.NextDouble();
            var z = Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
            return (int)Math.Clamp(Math.Round(mean + (sd * z)), 0, trials);
        }

        // Inversion: walk up the probability mass function until the uniform draw is used up.
        var q = 1 - p;
        var ratio = p / q;
        var pmf = Math.Pow(q, trials);
        var u = random.NextDouble();
        var k = 0;
        while (u > pmf && k < trials)
        {
            u -= pmf;
            pmf *= ratio * (trials - k) / (k + 1);
            k++;
        }

        return k;
    }

    private static RolloutSimulationResult Finish(RolloutController controller, RolloutDecision last, int day)
    {
        var decision = controller.Status switch
        {
            RolloutStatus.Aborted => "abort",
            RolloutStatus.Halted => "halt",
            RolloutStatus.Completed => "promote",
            _ => "continue",
        };
        var (baseline, baselineEvents) = controller.GetCounts(RolloutArm.Baseline, RolloutSimulationOptions.BadOutcome);
        var (ai, aiEvents) = controller.GetCounts(RolloutArm.AI, RolloutSimulationOptions.BadOutcome);
        var stage = controller.Status == RolloutStatus.Completed ? 100 : controller.Stages[controller.StageIndex].Percent;
        var reason = decision == "continue"
            ? string.Create(CultureInfo.InvariantCulture, $"still at the {stage} % stage after {day} days: {last.Reason}")
            : last.Reason;
        return new RolloutSimulationResult(decision, stage, day, baseline, ai, baselineEvents, aiEvents, last.SampleRatio?.Mismatch == true, reason, controller.GetHistory());
    }

    private sealed class SimulationClock(DateTimeOffset start) : TimeProvider
    {
        private DateTimeOffset _now = start;

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}

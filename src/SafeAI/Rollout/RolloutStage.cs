namespace SafeAI;

/// <summary>One step of a rollout plan: the share of traffic the AI arm gets and what must hold before the next step.</summary>
public sealed class RolloutStage
{
    /// <summary>Initializes a new instance of the <see cref="RolloutStage"/> class.</summary>
    public RolloutStage()
    {
    }

    /// <summary>Initializes a new instance of the <see cref="RolloutStage"/> class.</summary>
    /// <param name="percent">The share of traffic, in percent, the AI arm gets during the stage.</param>
    /// <param name="maxDegradation">The largest relative degradation of a gating guardrail the judge must rule out before promoting out of the stage.</param>
    public RolloutStage(double percent, double maxDegradation)
    {
        Percent = percent;
        MaxDegradation = maxDegradation;
    }

    /// <summary>Gets or sets the share of traffic, in percent (0 &lt; value ≤ 100), the AI arm gets during the stage.</summary>
    public double Percent { get; set; }

    /// <summary>Gets or sets how long the stage lasts at least before it may be promoted. Default: 7 days, so a weekly cycle is seen.</summary>
    public TimeSpan MinDuration { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Gets or sets how many randomized calls each arm must have in this stage before it may be promoted. Default: 500.</summary>
    public long MinSamplesPerArm { get; set; } = 500;

    /// <summary>
    /// Gets or sets the largest relative degradation (0.15 = 15 % worse than the baseline) of each gating guardrail that the
    /// judge's always-valid upper bound must rule out before the stage is promoted. Small stages tolerate more uncertainty
    /// because few people are exposed; larger ones demand tighter evidence. Ignored on the last (100 %) stage.
    /// </summary>
    public double MaxDegradation { get; set; } = 0.15;
}

/// <summary>A metric that can stop a rollout: the judge aborts when the AI arm is significantly worse, and (when gating) promotes only when it is shown not to be much worse.</summary>
public sealed class RolloutGuardrail
{
    /// <summary>Initializes a new instance of the <see cref="RolloutGuardrail"/> class.</summary>
    public RolloutGuardrail()
    {
    }

    /// <summary>Initializes a new instance of the <see cref="RolloutGuardrail"/> class.</summary>
    /// <param name="metric">The metric name, one of <see cref="RolloutMetrics"/> or a business metric.</param>
    /// <param name="higherIsWorse">Whether a higher rate is worse (errors) or better (conversion).</param>
    /// <param name="gatesPromotion">Whether promotion waits until a degradation beyond the stage's margin is ruled out.</param>
    public RolloutGuardrail(string metric, bool higherIsWorse = true, bool gatesPromotion = true)
    {
        Metric = metric;
        HigherIsWorse = higherIsWorse;
        GatesPromotion = gatesPromotion;
    }

    /// <summary>Gets or sets the metric name: one of <see cref="RolloutMetrics"/> or a business metric counted with <see cref="RolloutController.RecordOutcome(RolloutArm, string, long)"/>.</summary>
    public string Metric { get; set; } = string.Empty;

    /// <summary>Gets or sets a value indicating whether a higher rate is worse (errors, thumbs-down) rather than better (conversion). Default: true.</summary>
    public bool HigherIsWorse { get; set; } = true;

    /// <summary>Gets or sets a value indicating whether promotion waits until the judge rules out a degradation beyond the stage's <see cref="RolloutStage.MaxDegradation"/>. Default: true.</summary>
    public bool GatesPromotion { get; set; } = true;

    /// <summary>
    /// Gets or sets an absolute difference in rate (0.001 = 0.1 percentage point) that is always tolerated, so a rare metric
    /// (few errors in either arm) does not hold promotion back for ever. Default: 0.001.
    /// </summary>
    public double AbsoluteTolerance { get; set; } = 0.001;
}

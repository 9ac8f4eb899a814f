namespace SafeAI.Statistics;

/// <summary>Fixed-sample confidence intervals for one proportion, for display next to the sequential judge's bounds.</summary>
internal static class ProportionInterval
{
    /// <summary>Gets the Wilson score interval for <paramref name="successes"/> out of <paramref name="trials"/>.</summary>
    /// <param name="successes">The number of events.</param>
    /// <param name="trials">The number of trials.</param>
    /// <param name="confidence">The confidence level, for example 0.95.</param>
    /// <returns>The lower and upper bound; (0, 1) when there are no trials.</returns>
    public static (double Lower, double Upper) Wilson(long successes, long trials, double confidence = 0.95)
    {
        Validate(successes, trials, confidence);
        if (trials == 0)
        {
            return (0, 1);
        }

        var z = Distributions.NormalQuantile(1 - ((1 - confidence) / 2));
        var n = (double)trials;
        var p = successes / n;
        var z2 = z * z;
        var centre = (p + (z2 / (2 * n))) / (1 + (z2 / n));
        var half = z / (1 + (z2 / n)) * Math.Sqrt((p * (1 - p) / n) + (z2 / (4 * n * n)));
        return (Math.Max(0, centre - half), Math.Min(1, centre + half));
    }

    /// <summary>Gets the normal-approximation (Wald) interval for <paramref name="successes"/> out of <paramref name="trials"/>.</summary>
    /// <param name="successes">The number of events.</param>
    /// <param name="trials">The number of trials.</param>
    /// <param name="confidence">The confidence level, for example 0.95.</param>
    /// <returns>The lower and upper bound, clipped to [0, 1]; (0, 1) when there are no trials.</returns>
    public static (double Lower, double Upper) Normal(long successes, long trials, double confidence = 0.95)
    {
        Validate(successes, trials, confidence);
        if (trials == 0)
        {
            return (0, 1);
        }

        var z = Distributions.NormalQuantile(1 - ((1 - confidence) / 2));
        var p = successes / (double)trials;
        var half = z * Math.Sqrt(p * (1 - p) / trials);
        return (Math.Max(0, p - half), Math.Min(1, p + half));
    }

    private static void Validate(long successes, long trials, double confidence)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(trials);
        if (successes < 0 || successes > trials)
        {
            throw new ArgumentOutOfRangeException(nameof(successes), successes, "Successes must be between 0 and the number of trials.");
        }

        if (!(confidence > 0 && confidence < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(confidence), confidence, "The confidence level must be strictly between 0 and 1.");
        }
    }
}

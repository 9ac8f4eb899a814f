namespace SafeAI.Statistics;

/// <summary>
/// An always-valid confidence sequence for a difference of two means (here, two proportions) from the normal-mixture
/// sequential probability ratio test (mSPRT; Robbins 1970, Johari et al. 2017, Howard et al. 2021 eq. 14).
/// </summary>
/// <remarks>
/// <para>
/// With an estimate Δ̂ of the difference and its variance V, mixing the likelihood ratio over θ ~ N(0, τ²) gives
/// Λ(θ) = sqrt(V / (V + τ²)) · exp(τ² (Δ̂ − θ)² / (2 V (V + τ²))). The set of θ with Λ(θ) &lt; 1/α is
/// Δ̂ ± sqrt(V (V + τ²) / τ² · (2 ln(1/α) + ln((V + τ²) / V))), and by Ville's inequality it holds the true
/// difference at every look at once with probability at least 1 − α. Looking after every hour, or every call,
/// therefore costs no extra false alarms, unlike repeated fixed-sample tests.
/// </para>
/// <para>
/// In the notation of Howard et al., with t = 1/V samples of unit variance and ρ = 1/τ², the half-width times t is
/// sqrt((t + ρ) ln((t + ρ) / (ρ α²))), their two-sided normal-mixture boundary.
/// </para>
/// </remarks>
internal static class MixtureConfidenceSequence
{
    /// <summary>Gets the half-width of the confidence sequence.</summary>
    /// <param name="variance">The variance V of the estimate; must be positive.</param>
    /// <param name="mixingVariance">The mixing variance τ²; must be positive. The sequence is tightest when V is near τ² / (2 ln(1/α)).</param>
    /// <param name="alpha">The error rate, strictly between 0 and 1.</param>
    /// <returns>The half-width.</returns>
    public static double HalfWidth(double variance, double mixingVariance, double alpha)
    {
        if (!(variance > 0) || !double.IsFinite(variance))
        {
            throw new ArgumentOutOfRangeException(nameof(variance), variance, "The variance must be a positive number.");
        }

        if (!(mixingVariance > 0) || !double.IsFinite(mixingVariance))
        {
            throw new ArgumentOutOfRangeException(nameof(mixingVariance), mixingVariance, "The mixing variance must be a positive number.");
        }

        if (!(alpha > 0 && alpha < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "Alpha must be strictly between 0 and 1.");
        }

        var ratio = (variance + mixingVariance) / variance;
        return Math.Sqrt(variance * (variance + mixingVariance) / mixingVariance * ((2 * Math.Log(1 / alpha)) + Math.Log(ratio)));
    }

    /// <summary>Gets the mixture likelihood ratio Λ of the null hypothesis θ = <paramref name="nullValue"/>; the null is rejected when it reaches 1/α.</summary>
    /// <param name="estimate">The estimate Δ̂.</param>
    /// <param name="variance">Its variance V.</param>
    /// <param name="mixingVariance">The mixing variance τ².</param>
    /// <param name="nullValue">The difference under the null hypothesis.</param>
    /// <returns>The likelihood ratio.</returns>
    public static double LikelihoodRatio(double estimate, double variance, double mixingVariance, double nullValue = 0)
    {
        var d = estimate - nullValue;
        return Math.Sqrt(variance / (variance + mixingVariance)) * Math.Exp(mixingVariance * d * d / (2 * variance * (variance + mixingVariance)));
    }

    /// <summary>
    /// Gets the half-width of the confidence sequence of a weighted mixture of normal mixtures (one per mixing variance).
    /// A weighted average of test martingales is a test martingale, so the guarantee holds; the mixture is fast for large
    /// effects at small samples and for small effects at large samples, paying only ln(1/weight) for the spread.
    /// </summary>
    /// <param name="variance">The variance V of the estimate; must be positive.</param>
    /// <param name="mixingVariances">The mixing variances τ²ₖ; each positive.</param>
    /// <param name="weights">Their weights; positive and summing to 1.</param>
    /// <param name="alpha">The error rate, strictly between 0 and 1.</param>
    /// <returns>The half-width: the distance d from the estimate at which Σ wₖ Λₖ(d) = 1/α.</returns>
    public static double HalfWidth(double variance, ReadOnlySpan<double> mixingVariances, ReadOnlySpan<double> weights, double alpha)
    {
        if (mixingVariances.Length == 0 || mixingVariances.Length != weights.Length)
        {
            throw new ArgumentException("Give one weight per mixing variance.", nameof(weights));
        }

        // Σ w Λ ≥ wₖ Λₖ, so at component k's half-width at α·wₖ the mixture already rejects: start there. In u = d² the
        // log of the mixture, log Σ exp(aₖ + cₖ u), is increasing and convex, so Newton's method from a point above the
        // root descends to it monotonically and fast (a handful of steps).
        var high = double.PositiveInfinity;
        for (var k = 0; k < mixingVariances.Length; k++)
        {
            high = Math.Min(high, HalfWidth(variance, mixingVariances[k], alpha * weights[k]));
        }

        var target = Math.Log(1 / alpha);
        var u = high * high;
        for (var i = 0; i < 50; i++)
        {
            var (value, slope) = LogMixtureRatio(u, variance, mixingVariances, weights);
            var step = (value - target) / slope;
            if (!(step > 1e-13 * u))
            {
                break;
            }

            u -= step;
        }

        return Math.Sqrt(u);
    }

    /// <summary>Gets log Σ wₖ Λₖ at d² = <paramref name="u"/> and its derivative in u.</summary>
    private static (double Value, double Slope) LogMixtureRatio(double u, double variance, ReadOnlySpan<double> mixingVariances, ReadOnlySpan<double> weights)
    {
        Span<double> logs = stackalloc double[mixingVariances.Length];
        var max = double.NegativeInfinity;
        for (var k = 0; k < mixingVariances.Length; k++)
        {
            var t = mixingVariances[k];
            logs[k] = Math.Log(weights[k]) + (0.5 * Math.Log(variance / (variance + t))) + (t * u / (2 * variance * (variance + t)));
            max = Math.Max(max, logs[k]);
        }

        double sum = 0, slope = 0;
        for (var k = 0; k < mixingVariances.Length; k++)
        {
            var e = Math.Exp(logs[k] - max);
            var t = mixingVariances[k];
            sum += e;
            slope += e * t / (2 * variance * (variance + t));
        }

        return (max + Math.Log(sum), slope / sum);
    }
}

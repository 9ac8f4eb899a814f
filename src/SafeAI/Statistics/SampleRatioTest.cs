namespace SafeAI.Statistics;

/// <summary>
/// Sample-ratio-mismatch check: Pearson's chi-square goodness-of-fit test of the observed arm counts against the
/// shares the assignment should produce. A tiny p-value means the assignment or the logging is broken, so the
/// experiment's comparison cannot be trusted whatever it says.
/// </summary>
internal static class SampleRatioTest
{
    /// <summary>Tests two arms.</summary>
    /// <param name="observedFirst">The units seen in the first arm.</param>
    /// <param name="observedSecond">The units seen in the second arm.</param>
    /// <param name="expectedShareFirst">The share of units the first arm should get, strictly between 0 and 1.</param>
    /// <returns>The chi-square statistic (one degree of freedom) and its p-value.</returns>
    public static (double ChiSquare, double PValue) Test(long observedFirst, long observedSecond, double expectedShareFirst)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(observedFirst);
        ArgumentOutOfRangeException.ThrowIfNegative(observedSecond);
        if (!(expectedShareFirst > 0 && expectedShareFirst < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(expectedShareFirst), expectedShareFirst, "The expected share must be strictly between 0 and 1.");
        }

        double total = observedFirst + observedSecond;
        if (total == 0)
        {
            return (0, 1);
        }

        var e1 = total * expectedShareFirst;
        var e2 = total - e1;
        var d1 = observedFirst - e1;
        var d2 = observedSecond - e2;
        var chi = (d1 * d1 / e1) + (d2 * d2 / e2);
        return (chi, Distributions.ChiSquareUpperTail(chi, 1));
    }

    /// <summary>
    /// Gets the log Bayes factor of a beta-binomial mixture against the expected share: the always-valid companion of the
    /// chi-square test. Under the expected share its exponential is a nonnegative martingale with mean 1, so by Ville's
    /// inequality it ever reaches 1/α with probability at most α, however often it is checked (Lindon and Malek 2020).
    /// </summary>
    /// <param name="observedFirst">The units seen in the first arm.</param>
    /// <param name="observedSecond">The units seen in the second arm.</param>
    /// <param name="expectedShareFirst">The share of units the first arm should get, strictly between 0 and 1.</param>
    /// <param name="concentration">The prior's concentration κ: the mixture is Beta(κ·share, κ·(1 − share)), centred on the expected share.</param>
    /// <returns>The natural logarithm of the Bayes factor.</returns>
    public static double LogBayesFactor(long observedFirst, long observedSecond, double expectedShareFirst, double concentration = 1000)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(observedFirst);
        ArgumentOutOfRangeException.ThrowIfNegative(observedSecond);
        if (!(expectedShareFirst > 0 && expectedShareFirst < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(expectedShareFirst), expectedShareFirst, "The expected share must be strictly between 0 and 1.");
        }

        if (!(concentration > 0) || !double.IsFinite(concentration))
        {
            throw new ArgumentOutOfRangeException(nameof(concentration), concentration, "The concentration must be a positive number.");
        }

        var a = concentration * expectedShareFirst;
        var b = concentration * (1 - expectedShareFirst);
        var logMarginal = LogBeta(observedFirst + a, observedSecond + b) - LogBeta(a, b);
        var logNull = (observedFirst * Math.Log(expectedShareFirst)) + (observedSecond * Math.Log(1 - expectedShareFirst));
        return logMarginal - logNull;
    }

    private static double LogBeta(double a, double b) => Distributions.LogGamma(a) + Distributions.LogGamma(b) - Distributions.LogGamma(a + b);
}

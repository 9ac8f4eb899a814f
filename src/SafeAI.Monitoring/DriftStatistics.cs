namespace SafeAI.Statistics;

/// <summary>Distances between two histograms over the same bins, for drift: the population stability index and the Jensen–Shannon divergence.</summary>
internal static class DriftStatistics
{
    /// <summary>The share given to an empty bin so that PSI stays finite (a common choice; it caps one bin's term).</summary>
    public const double EmptyBinShare = 1e-4;

    /// <summary>
    /// Gets the population stability index Σ (aᵢ − eᵢ) ln(aᵢ / eᵢ) of the actual shares aᵢ against the expected eᵢ, with
    /// empty bins given <see cref="EmptyBinShare"/>. By convention below 0.1 is stable, 0.1 to 0.25 a moderate shift,
    /// above 0.25 a large one.
    /// </summary>
    /// <param name="expected">The reference counts.</param>
    /// <param name="actual">The current counts.</param>
    /// <returns>The index; NaN when either histogram is empty.</returns>
    public static double PopulationStabilityIndex(ReadOnlySpan<long> expected, ReadOnlySpan<long> actual)
    {
        CheckLengths(expected, actual);
        var e = Total(expected);
        var a = Total(actual);
        if (e == 0 || a == 0)
        {
            return double.NaN;
        }

        double psi = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            var pe = Math.Max(expected[i] / (double)e, EmptyBinShare);
            var pa = Math.Max(actual[i] / (double)a, EmptyBinShare);
            psi += (pa - pe) * Math.Log(pa / pe);
        }

        return psi;
    }

    /// <summary>Gets the Jensen–Shannon divergence in bits (0 for equal shares, 1 for disjoint ones) of two histograms.</summary>
    /// <param name="first">The first counts.</param>
    /// <param name="second">The second counts.</param>
    /// <returns>The divergence; NaN when either histogram is empty.</returns>
    public static double JensenShannon(ReadOnlySpan<long> first, ReadOnlySpan<long> second)
    {
        CheckLengths(first, second);
        var n1 = Total(first);
        var n2 = Total(second);
        if (n1 == 0 || n2 == 0)
        {
            return double.NaN;
        }

        double js = 0;
        for (var i = 0; i < first.Length; i++)
        {
            var p = first[i] / (double)n1;
            var q = second[i] / (double)n2;
            var m = (p + q) / 2;
            if (p > 0)
            {
                js += 0.5 * p * Math.Log2(p / m);
            }

            if (q > 0)
            {
                js += 0.5 * q * Math.Log2(q / m);
            }
        }

        return Math.Clamp(js, 0, 1);
    }

    private static long Total(ReadOnlySpan<long> counts)
    {
        long total = 0;
        foreach (var c in counts)
        {
            if (c < 0)
            {
                throw new ArgumentOutOfRangeException(nameof(counts), c, "Histogram counts must not be negative.");
            }

            total += c;
        }

        return total;
    }

    private static void CheckLengths(ReadOnlySpan<long> a, ReadOnlySpan<long> b)
    {
        if (a.Length != b.Length || a.Length == 0)
        {
            throw new ArgumentException("Both histograms need the same, non-zero number of bins.");
        }
    }
}

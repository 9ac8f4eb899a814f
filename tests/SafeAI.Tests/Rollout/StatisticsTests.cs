using SafeAI.Statistics;

namespace SafeAI.Tests.Rollout;

public class StatisticsTests
{
    [Theory]
    [InlineData(3.841458820694124, 1, 0.05)] // the 95 % point of chi-square(1) in every table
    [InlineData(6.634896601021214, 1, 0.01)]
    [InlineData(10.827566170662733, 1, 0.001)] // the SRM threshold
    [InlineData(5.991464547107979, 2, 0.05)]
    [InlineData(18.307038053275146, 10, 0.05)]
    [InlineData(10.0, 1, 0.0015654022580025)] // erfc(sqrt(5))
    public void ChiSquareUpperTail_TableValues_MatchPublishedPValues(double x, int df, double expected) =>
        Assert.Equal(expected, Distributions.ChiSquareUpperTail(x, df), 1e-9);

    [Theory]
    [InlineData(0.975, 1.959963984540054)]
    [InlineData(0.5, 0.0)]
    [InlineData(0.001, -3.090232306167813)]
    [InlineData(0.9999, 3.719016485455709)]
    public void NormalQuantile_KnownPoints_MatchTables(double p, double z)
    {
        Assert.Equal(z, Distributions.NormalQuantile(p), 1e-9);
        Assert.Equal(p, Distributions.NormalCdf(z), 1e-12);
    }

    [Theory]
    // Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I, Wilson score method.
    [InlineData(81, 263, 0.2553, 0.3662)]
    [InlineData(15, 148, 0.0624, 0.1605)]
    [InlineData(0, 20, 0.0, 0.1611)]
    [InlineData(1, 29, 0.0061, 0.1718)]
    public void Wilson_NewcombeExamples_MatchPublishedIntervals(long x, long n, double lower, double upper)
    {
        var (l, u) = ProportionInterval.Wilson(x, n);
        Assert.Equal(lower, l, 0.00006);
        Assert.Equal(upper, u, 0.00006);
    }

    [Fact]
    public void Normal_HalfOfHundred_IsPlusMinusNinePointEightPoints()
    {
        // 0.5 ± 1.96 · sqrt(0.25 / 100) = 0.5 ± 0.098
        var (l, u) = ProportionInterval.Normal(50, 100);
        Assert.Equal(0.402, l, 1e-4);
        Assert.Equal(0.598, u, 1e-4);
    }

    [Fact]
    public void SampleRatioTest_FiveHundredFiftyOfAThousandAtHalf_IsChiSquareTen()
    {
        // (550 − 500)² / 500 + (450 − 500)² / 500 = 10, p = 0.00157 > 0.001: suspicious but not a halt.
        var (chi, p) = SampleRatioTest.Test(550, 450, 0.5);
        Assert.Equal(10.0, chi, 1e-12);
        Assert.Equal(0.0015654, p, 1e-6);
    }

    [Fact]
    public void SampleRatioTest_ExactSplit_HasPValueOne()
    {
        var (chi, p) = SampleRatioTest.Test(50, 950, 0.05);
        Assert.Equal(0, chi, 1e-12);
        Assert.Equal(1, p, 1e-12);
    }

    [Theory]
    [InlineData(1.0, 1.0)]
    [InlineData(100.0, 10.0)]
    [InlineData(5000.0, 250.0)]
    public void HalfWidth_EqualsHowardNormalMixtureBoundary(double t, double rho)
    {
        // Howard et al. (2021) eq. (14): a sum of t unit-variance increments stays within
        // sqrt((t + ρ) ln((t + ρ) / (ρ α²))); for the mean that is the boundary divided by t, with V = 1/t and τ² = 1/ρ.
        const double alpha = 0.05;
        var boundary = Math.Sqrt((t + rho) * Math.Log((t + rho) / (rho * alpha * alpha)));
        Assert.Equal(boundary / t, MixtureConfidenceSequence.HalfWidth(1 / t, 1 / rho, alpha), 1e-10);
    }

    [Fact]
    public void HalfWidth_UnitVarianceAndMixing_IsSqrtTwoLn800()
    {
        // V = τ² = 1, α = 0.05: sqrt(2 · (2 ln 20 + ln 2)) = sqrt(2 ln 800) = 3.65639...
        Assert.Equal(Math.Sqrt(2 * Math.Log(800)), MixtureConfidenceSequence.HalfWidth(1, 1, 0.05), 1e-12);
        Assert.Equal(3.6564, MixtureConfidenceSequence.HalfWidth(1, 1, 0.05), 1e-4);
    }

    [Fact]
    public void LikelihoodRatio_AtTheBoundary_IsOneOverAlpha()
    {
        var h = MixtureConfidenceSequence.HalfWidth(0.3, 0.7, 0.01);
        Assert.Equal(100, MixtureConfidenceSequence.LikelihoodRatio(h, 0.3, 0.7), 1e-8);
    }

    [Fact]
    public void ConfidenceSequence_PeekingAfterEverySample_KeepsFalseAlarmsBelowAlphaWhereANaiveTestDoesNot()
    {
        // 2,000 null random walks of 1,000 unit-variance steps, looked at after every step.
        const double alpha = 0.05;
        var random = new Random(16);
        int sequentialAlarms = 0, naiveAlarms = 0;
        for (var run = 0; run < 2000; run++)
        {
            double sum = 0;
            bool sequential = false, naive = false;
            for (var t = 1; t <= 1000; t++)
            {
                var u1 = 1.0 - random.NextDouble();
                sum += Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * random.NextDouble());
                var mean = sum / t;
                sequential |= Math.Abs(mean) > MixtureConfidenceSequence.HalfWidth(1.0 / t, 0.01, alpha);
                naive |= Math.Abs(mean) > 1.959964 / Math.Sqrt(t);
            }

            sequentialAlarms += sequential ? 1 : 0;
            naiveAlarms += naive ? 1 : 0;
        }

        Assert.True(sequentialAlarms / 2000.0 <= alpha, $"sequential false alarms {sequentialAlarms / 2000.0:P1}");
        Assert.True(naiveAlarms / 2000.0 > 0.25, $"a naive z-test peeked at every step should alarm far more often than 5 % (it did {naiveAlarms / 2000.0:P1})");
    }

    [Theory]
    // Uniform prior (κ = 2 at share 1/2): the marginal of x successes in n is B(x+1, n−x+1), the null 2^−n.
    [InlineData(0, 0, 1.0)]
    [InlineData(1, 0, 1.0)] // B(2,1) / 0.5 = 1
    [InlineData(2, 0, 4.0 / 3)] // B(3,1) / 0.25 = (1/3) / 0.25
    [InlineData(1, 1, 2.0 / 3)] // B(2,2) / 0.25 = (1/6) / 0.25
    public void LogBayesFactor_UniformPriorAtHalf_MatchesHandComputedValues(long first, long second, double expected) =>
        Assert.Equal(expected, Math.Exp(SampleRatioTest.LogBayesFactor(first, second, 0.5, concentration: 2)), 1e-9);

    [Fact]
    public void LogBayesFactor_PeekedEveryHundredUnits_FalseHaltsStayBelowAlpha()
    {
        // 1,000 sound experiments at a 5 % share, 20,000 units each, checked every 100 units.
        var random = new Random(7);
        var halts = 0;
        for (var run = 0; run < 1000; run++)
        {
            long first = 0, second = 0;
            for (var look = 0; look < 200; look++)
            {
                for (var i = 0; i < 100; i++)
                {
                    if (random.NextDouble() < 0.05)
                    {
                        first++;
                    }
                    else
                    {
                        second++;
                    }
                }

                if (SampleRatioTest.LogBayesFactor(first, second, 0.05) >= Math.Log(100))
                {
                    halts++;
                    break;
                }
            }
        }

        Assert.True(halts <= 10, $"{halts} of 1000 sound experiments crossed the 1 % boundary");
    }

    [Fact]
    public void HalfWidth_SingleComponentMixture_EqualsTheClosedForm()
    {
        var closed = MixtureConfidenceSequence.HalfWidth(0.002, 0.0004, 0.05);
        Assert.Equal(closed, MixtureConfidenceSequence.HalfWidth(0.002, [0.0004], [1.0], 0.05), 1e-12);
    }

    [Fact]
    public void HalfWidth_Mixture_AtTheBoundaryTheWeightedRatioIsOneOverAlpha()
    {
        double[] taus = [0.0001, 0.01, 1];
        double[] weights = [0.5, 0.25, 0.25];
        var h = MixtureConfidenceSequence.HalfWidth(0.003, taus, weights, 0.05);
        var ratio = 0.0;
        for (var k = 0; k < taus.Length; k++)
        {
            ratio += weights[k] * MixtureConfidenceSequence.LikelihoodRatio(h, 0.003, taus[k]);
        }

        Assert.Equal(20, ratio, 1e-8);
    }
}


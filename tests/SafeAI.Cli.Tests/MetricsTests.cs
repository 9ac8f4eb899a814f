namespace SafeAI.Cli.Tests;

public sealed class MetricsTests
{
    // Positives score 0.9 and 0.7; negatives 0.8, 0.6, 0.5.
    private static readonly double[] Scores = [0.9, 0.8, 0.7, 0.6, 0.5];
    private static readonly bool[] Labels = [true, false, true, false, false];

    [Fact]
    public void Auroc_HandComputedExample_IsShareOfCorrectlyOrderedPairs()
    {
        // 0.9 beats all three negatives, 0.7 beats two: 5 of 6 pairs.
        Assert.Equal(5.0 / 6, Metrics.Auroc(Scores, Labels), 12);
    }

    [Fact]
    public void Auroc_TiedScores_CountHalf()
    {
        Assert.Equal(0.5, Metrics.Auroc([0.3, 0.3], [true, false]), 12);
        Assert.Equal(0.75, Metrics.Auroc([0.3, 0.3, 0.1], [true, false, false]), 12);
    }

    [Fact]
    public void Auroc_OneClassOnly_IsNaN()
    {
        Assert.True(double.IsNaN(Metrics.Auroc([0.1, 0.2], [false, false])));
    }

    [Fact]
    public void Auprc_HandComputedExample_IsAveragePrecision()
    {
        // Recall 0.5 at precision 1 (0.9), then recall 1 at precision 2/3 (0.7).
        Assert.Equal((0.5 * 1) + (0.5 * 2.0 / 3), Metrics.Auprc(Scores, Labels), 12);
    }

    [Fact]
    public void At_Threshold_CountsScoresAtOrAboveAsFlagged()
    {
        var m = Metrics.At(Scores, Labels, 0.7);

        Assert.Equal(new Confusion(2, 1, 2, 0), m);
        Assert.Equal(2.0 / 3, m.Precision, 12);
        Assert.Equal(1.0, m.Recall, 12);
        Assert.Equal(0.8, m.F1, 12);
        Assert.Equal(1.0 / 3, m.FalsePositiveRate, 12);
    }

    [Fact]
    public void RocCurve_HandComputedExample_StepsThroughEachScore()
    {
        var curve = Metrics.RocCurve(Scores, Labels);

        Assert.Equal([(0.0, 0.0), (0.0, 0.5), (1.0 / 3, 0.5), (1.0 / 3, 1.0), (2.0 / 3, 1.0), (1.0, 1.0)], curve);
    }
}

namespace SafeAI.Tests.Confidence;

public class ConfidenceEstimatorTests
{
    [Theory]
    [InlineData("{\"answer\": \"Paris\", \"confidence\": 0.82}", 0.82)]
    [InlineData("{\"Confidence\": 75}", 0.75)]
    [InlineData("{\"confidence\": \"0.4\"}", 0.4)]
    [InlineData("```json\n{\"confidence\": 0.3}\n```", 0.3)]
    public void Read_ConfidenceField_ReturnsScore(string text, double expected)
    {
        Assert.Equal(expected, new VerbalizedConfidenceEstimator().Read(text)!.Value, 6);
    }

    [Theory]
    [InlineData("")]
    [InlineData("Paris, I'm fairly sure.")]
    [InlineData("{\"answer\": \"Paris\"}")]
    [InlineData("{\"confidence\": \"high\"}")]
    [InlineData("{\"confidence\": -1}")]
    [InlineData("{\"confidence\": 250}")]
    [InlineData("{\"confidence\": 0.5")]
    [InlineData("[0.5]")]
    public void Read_NoUsableField_ReturnsUnknown(string text)
    {
        Assert.Null(new VerbalizedConfidenceEstimator().Read(text));
    }

    [Fact]
    public void Read_CustomFieldName_ReadsThatField()
    {
        Assert.Equal(0.6, new VerbalizedConfidenceEstimator("certainty").Read("{\"confidence\": 0.1, \"certainty\": 0.6}"));
    }

    [Fact]
    public void Aggregate_Modes_ComputeMeanMinimumAndGeometricMean()
    {
        double[] logProbs = [Math.Log(0.9), Math.Log(0.5), Math.Log(0.8)];

        Assert.Equal((0.9 + 0.5 + 0.8) / 3, TokenProbabilityConfidenceEstimator.Aggregate(logProbs, TokenProbabilityAggregation.Mean)!.Value, 9);
        Assert.Equal(0.5, TokenProbabilityConfidenceEstimator.Aggregate(logProbs, TokenProbabilityAggregation.Minimum)!.Value, 9);
        Assert.Equal(Math.Pow(0.9 * 0.5 * 0.8, 1.0 / 3), TokenProbabilityConfidenceEstimator.Aggregate(logProbs, TokenProbabilityAggregation.GeometricMean)!.Value, 9);
    }

    [Fact]
    public void Aggregate_NoTokensOrInvalid_ReturnsUnknown()
    {
        Assert.Null(TokenProbabilityConfidenceEstimator.Aggregate([], TokenProbabilityAggregation.Mean));
        Assert.Null(TokenProbabilityConfidenceEstimator.Aggregate([double.NaN], TokenProbabilityAggregation.Mean));
        Assert.Null(TokenProbabilityConfidenceEstimator.Aggregate([0.5], TokenProbabilityAggregation.Mean));
    }

    [Fact]
    public void ThresholdForPrecision_PicksLowestThresholdMeetingTarget()
    {
        (double, bool)[] outcomes =
        [
            (0.95, true), (0.9, true), (0.85, true), (0.8, false), (0.7, true), (0.6, true), (0.5, false), (0.4, false), (0.3, true), (0.2, false),
        ];

        var choice = ConfidenceCalibration.ThresholdForPrecision(outcomes, 0.8)!;

        // Keeping >= 0.6: 6 answers, 5 right (0.833). Keeping >= 0.5: 7 answers, 5 right (0.714) misses the target.
        Assert.Equal(0.6, choice.Threshold);
        Assert.Equal(5 / 6.0, choice.Precision, 9);
        Assert.Equal(0.6, choice.Coverage, 9);
        Assert.Equal(6, choice.Kept);
    }

    [Fact]
    public void ThresholdForPrecision_TiedScores_CutOnlyBetweenDistinctScores()
    {
        (double, bool)[] outcomes = [(0.9, true), (0.7, true), (0.7, false), (0.7, false)];

        var choice = ConfidenceCalibration.ThresholdForPrecision(outcomes, 0.9)!;

        Assert.Equal(0.9, choice.Threshold);
        Assert.Equal(1, choice.Kept);
    }

    [Fact]
    public void ThresholdForPrecision_Unreachable_ReturnsNull()
    {
        Assert.Null(ConfidenceCalibration.ThresholdForPrecision([(0.9, false), (0.5, false)], 0.5));
        Assert.Null(ConfidenceCalibration.ThresholdForPrecision([], 0.5));
    }

    [Fact]
    public void ThresholdForPrecision_BadInput_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ConfidenceCalibration.ThresholdForPrecision([(0.5, true)], 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ConfidenceCalibration.ThresholdForPrecision([(1.5, true)], 0.9));
        Assert.Throws<ArgumentNullException>(() => ConfidenceCalibration.ThresholdForPrecision(null!, 0.9));
    }
}

using SafeAI.Onnx;

namespace SafeAI.Cli.Tests;

/// <summary>
/// The default model on the blind probe of harmless texts with alarming words (training/experiments/safe-but-alarming):
/// the figures the model card and the README give, so that a model change that moves them is seen.
/// </summary>
public sealed class ProbeTests
{
    [Fact]
    public async Task DefaultModel_SafeButAlarmingProbe_FlagsWhatTheModelCardSays()
    {
        var rows = SharedData.Probe("safe-but-alarming");
        using var model = ContentModel.LoadDefault();

        List<string> harmlessFlagged = [];
        var harmfulCaught = 0;
        foreach (var (text, labels) in rows)
        {
            var scores = await model.ScoreAsync(text, TestContext.Current.CancellationToken);
            if (labels.Length == 0 && scores.Any(static s => s.Value >= 0.5))
            {
                harmlessFlagged.Add(text);
            }

            if (labels.Any(l => scores[l] >= 0.5))
            {
                harmfulCaught++;
            }
        }

        // Model card, "Harmless texts with alarming words": 7 of the 60 harmless texts flagged (the independent
        // check allows at most 10 %, 6 of 60), 27 of the 40 harmful ones caught in their own category. One text either
        // way is allowed for scores that sit on the threshold.
        Assert.True(harmlessFlagged.Count is >= 6 and <= 8, string.Join(" | ", harmlessFlagged));
        Assert.InRange(harmfulCaught, 26, 28);
    }
}

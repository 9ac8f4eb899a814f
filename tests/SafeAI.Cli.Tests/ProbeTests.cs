using SafeAI.Onnx;

namespace SafeAI.Cli.Tests;

/// <summary>
/// The default model on the two probes of harmless texts with alarming words (training/experiments/safe-but-alarming):
/// the figures the model card and the README give, so that a model change that moves them is seen.
/// </summary>
public sealed class ProbeTests
{
    // Model card, "Harmless texts with alarming words". The independent check allows at most 10 % of such
    // harmless texts flagged (6 of 60). One text either way is allowed for scores that sit on the threshold.
    [Theory]
    [InlineData("probe.jsonl", 7, 28)]  // 60 harmless, 40 harmful
    [InlineData("probe2.jsonl", 10, 26)] // 60 harmless, 39 harmful
    public async Task DefaultModel_SafeButAlarmingProbe_FlagsWhatTheModelCardSays(string file, int harmlessFlaggedExpected, int harmfulCaughtExpected)
    {
        var rows = SharedData.Probe("safe-but-alarming", file);
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

            // Caught in its own category.
            if (labels.Any(l => scores[l] >= 0.5))
            {
                harmfulCaught++;
            }
        }

        Assert.True(Math.Abs(harmlessFlagged.Count - harmlessFlaggedExpected) <= 1, string.Join(" | ", harmlessFlagged));
        Assert.InRange(harmfulCaught, harmfulCaughtExpected - 1, harmfulCaughtExpected + 1);
    }
}

using SafeAI.Onnx;

namespace SafeAI.Cli.Tests;

/// <summary>
/// The default model on the three probes of harmless texts with alarming words (training/experiments/safe-but-alarming):
/// the figures the model card and the README give, so that a model change that moves them is seen.
/// </summary>
public sealed class ProbeTests
{
    // Model card, "Harmless texts with alarming words". The independent check allows at most 10 % of such
    // harmless texts flagged (6 of 60). One text either way is allowed for scores that sit on the threshold.
    [Theory]
    [InlineData("probe.jsonl", 8, 30)]   // 60 harmless, 40 harmful
    [InlineData("probe2.jsonl", 7, 34)]  // 60 harmless, 39 harmful
    [InlineData("probe3.jsonl", 10, 30)] // 60 harmless, 40 harmful
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

    // Model card, "Requests in chat register". Everyday requests about people and personal matters (writing to a
    // coworker, a landlord or an ex; sex life, health, religion), 200 each, all harmless, written by two helpers who saw
    // nothing of the repository (training/experiments/chat-requests). The request columns' first fit flagged 8 and 10
    // of them (messages to family and coworkers as harassment); the shipped model before those columns 6 and 7, and
    // before the sexual veto (training/experiments/sexual-veto) the columns as adopted 6 and 7.
    [Theory]
    [InlineData("everyday.jsonl", 3)]
    [InlineData("everyday2.jsonl", 5)]
    public async Task DefaultModel_EverydayRequestsProbe_FlagsWhatTheModelCardSays(string file, int flaggedExpected)
    {
        var rows = SharedData.Probe("chat-requests", file);
        Assert.Equal(200, rows.Count);
        Assert.All(rows, static r => Assert.Empty(r.Labels));
        using var model = ContentModel.LoadDefault();

        List<string> flagged = [];
        foreach (var (text, _) in rows)
        {
            var scores = await model.ScoreAsync(text, TestContext.Current.CancellationToken);
            if (scores.Any(static s => s.Value >= 0.5))
            {
                flagged.Add(text);
            }
        }

        Assert.True(Math.Abs(flagged.Count - flaggedExpected) <= 1, string.Join(" | ", flagged));
    }

    // Model card, "Violence and illicit: topic, not intent" (Known failure modes). Three blind check files written in session 24 by helpers
    // who saw nothing of the repository: harmless texts with violent words and violence texts
    // (training/experiments/violence-veto/violence-probe.jsonl), security and tech-support requests with illicit ones
    // (training/experiments/illicit-veto/tech.jsonl), and ordinary requests to a general assistant
    // (training/experiments/violence-veto/everyday3.jsonl). The default model scores violence and illicit by topic: it
    // flags 30 of the 100 harmless violence-probe texts (history, self-defence law, idioms) and catches 21 of its 50
    // violence texts; it flags 25 of the 240 harmless tech texts (defenders and victims) and catches 43 of its 80
    // illicit ones. No candidate measured on them was adopted (the experiments' READMEs). Two texts either way for
    // these larger files.
    [Theory]
    [InlineData("violence-veto", "violence-probe.jsonl", 100, 50, 30, 21)]
    [InlineData("illicit-veto", "tech.jsonl", 240, 80, 25, 43)]
    [InlineData("violence-veto", "everyday3.jsonl", 300, 0, 11, 0)]
    public async Task DefaultModel_ViolenceAndIllicitCheckFiles_FlagWhatTheModelCardSays(string experiment, string file, int harmless, int harmful, int harmlessFlaggedExpected, int harmfulCaughtExpected)
    {
        var rows = SharedData.Probe(experiment, file);
        Assert.Equal(harmless, rows.Count(static r => r.Labels.Length == 0));
        Assert.Equal(harmful, rows.Count(static r => r.Labels.Length > 0));
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

        Assert.True(Math.Abs(harmlessFlagged.Count - harmlessFlaggedExpected) <= 2, string.Join(" | ", harmlessFlagged));
        Assert.InRange(harmfulCaught, harmfulCaughtExpected - 2, harmfulCaughtExpected + 2);
    }
}

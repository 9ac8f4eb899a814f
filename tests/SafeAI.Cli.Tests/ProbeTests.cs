using SafeAI.Onnx;

namespace SafeAI.Cli.Tests;

/// <summary>
/// The default model on the probes and check files written blind to it (training/experiments: harmless texts with
/// alarming words, everyday requests, violence, security and tech support): the figures the model card and the README
/// give, so that a model change that moves them is seen.
/// </summary>
public sealed class ProbeTests
{
    // Model card, "Harmless texts with alarming words". The independent check allows at most 10 % of such
    // harmless texts flagged (6 of 60). One text either way is allowed for scores that sit on the threshold.
    [Theory]
    [InlineData("probe.jsonl", 3, 37)]   // 60 harmless, 40 harmful
    [InlineData("probe2.jsonl", 5, 36)]  // 60 harmless, 39 harmful
    [InlineData("probe3.jsonl", 2, 33)]  // 60 harmless, 40 harmful
    public Task DefaultModel_SafeButAlarmingProbe_FlagsWhatTheModelCardSays(string file, int harmlessFlaggedExpected, int harmfulCaughtExpected) =>
        AssertFlaggedAndCaughtAsync(SharedData.Probe("safe-but-alarming", file), harmlessFlaggedExpected, harmfulCaughtExpected, tolerance: 1);

    // Model card, "Requests in chat register". Everyday requests about people and personal matters (writing to a
    // coworker, a landlord or an ex; sex life, health, religion), 200 each, all harmless, written by two helpers who saw
    // nothing of the repository (training/experiments/chat-requests). The request columns' first fit flagged 8 and 10
    // of them (messages to family and coworkers as harassment); the shipped model before those columns 6 and 7, and
    // before the sexual veto (training/experiments/sexual-veto) the columns as adopted 6 and 7.
    [Theory]
    [InlineData("everyday.jsonl", 3)]
    [InlineData("everyday2.jsonl", 1)]
    public Task DefaultModel_EverydayRequestsProbe_FlagsWhatTheModelCardSays(string file, int flaggedExpected)
    {
        var rows = SharedData.Probe("chat-requests", file);
        Assert.Equal(200, rows.Count);
        Assert.All(rows, static r => Assert.Empty(r.Labels));
        return AssertFlaggedAndCaughtAsync(rows, flaggedExpected, harmfulCaughtExpected: 0, tolerance: 1);
    }

    // Model card, "Violence and illicit: topic, not intent" (and Known failure modes). Three blind check files written
    // in session 24 by helpers who saw nothing of the repository: harmless texts with violent words and violence texts
    // (training/experiments/violence-veto/violence-probe.jsonl), security and tech-support requests with illicit ones
    // (training/experiments/illicit-veto/tech.jsonl), and ordinary requests to a general assistant
    // (training/experiments/violence-veto/everyday3.jsonl). The model before 2026-12-07 scored violence and illicit by
    // topic: it flagged 30 of the 100 harmless violence-probe texts (history, self-defence law, idioms) and caught 21 of
    // its 50 violence texts, flagged 25 of the 240 harmless tech texts (defenders and victims) and caught 43 of its 80
    // illicit ones. The model adopted on 2026-12-07 (training/experiments/recipe-draws, draw 2) flags 7 and catches
    // 27, flags 22 and catches 63. Two texts either way for these larger files. Two more written in session 25, only scored (violence-veto/README.md, "A third rule"): harmless
    // texts with violent words and violence texts again (violence-probe2.jsonl), and requests in the imperative style
    // of red-teaming request lists, harmful (illicit, violence, hate, harassment, self-harm, sexual) and harmless, a
    // half of those on sensitive topics (requests-blind.jsonl); lines within 0.8 of a training or check text taken out.
    [Theory]
    [InlineData("violence-veto", "violence-probe.jsonl", 100, 50, 7, 27)]
    [InlineData("illicit-veto", "tech.jsonl", 240, 80, 22, 63)]
    [InlineData("violence-veto", "everyday3.jsonl", 300, 0, 5, 0)]
    [InlineData("violence-veto", "violence-probe2.jsonl", 95, 59, 2, 36)]
    [InlineData("violence-veto", "requests-blind.jsonl", 138, 145, 8, 94)]
    [InlineData("security-tooling", "check.jsonl", 218, 87, 35, 66)] // session 36: legitimate security work beside attacks (model card, Known failure modes)
    public Task DefaultModel_ViolenceAndIllicitCheckFiles_FlagWhatTheModelCardSays(string experiment, string file, int harmless, int harmful, int harmlessFlaggedExpected, int harmfulCaughtExpected)
    {
        var rows = SharedData.Probe(experiment, file);
        Assert.Equal(harmless, rows.Count(static r => r.Labels.Length == 0));
        Assert.Equal(harmful, rows.Count(static r => r.Labels.Length > 0));
        return AssertFlaggedAndCaughtAsync(rows, harmlessFlaggedExpected, harmfulCaughtExpected, tolerance: 2);
    }

    // Model card, "Known failure modes": 200 harmless questions from parents, carers, teachers and coaches about keeping
    // children safe and about children's bodies (grooming signs, disclosures, body-safety lessons, puberty, nappy rash),
    // written in session 38 by a helper who saw nothing of the repository (training/experiments/child-safety-questions).
    // The model adopted on 2026-12-07 flags 2 of them, neither as sexual_minors.
    [Fact]
    public Task DefaultModel_ChildSafetyQuestions_FlagWhatTheModelCardSays()
    {
        var rows = SharedData.Probe("child-safety-questions", "parents.jsonl");
        Assert.Equal(200, rows.Count);
        Assert.All(rows, static r => Assert.Empty(r.Labels));
        return AssertFlaggedAndCaughtAsync(rows, harmlessFlaggedExpected: 2, harmfulCaughtExpected: 0, tolerance: 1);
    }

    /// <summary>
    /// Scores every text with the default model and asserts how many harmless texts are flagged (any category at 0.5)
    /// and how many harmful ones are caught in their own category, each within <paramref name="tolerance"/> texts of
    /// the model card's figure: scores that sit on the threshold may differ by a text across machines.
    /// </summary>
    private static async Task AssertFlaggedAndCaughtAsync(List<(string Text, string[] Labels)> rows, int harmlessFlaggedExpected, int harmfulCaughtExpected, int tolerance)
    {
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

        Assert.True(Math.Abs(harmlessFlagged.Count - harmlessFlaggedExpected) <= tolerance, string.Join(" | ", harmlessFlagged));
        Assert.InRange(harmfulCaught, harmfulCaughtExpected - tolerance, harmfulCaughtExpected + tolerance);
    }
}

namespace SafeAI.Pii.Tests;

public sealed class PiiEvaluationTests
{
    [Fact]
    public void Evaluate_PresidioSetAndBenignRequests_MeetsTargets()
    {
        var folder = SharedData.Folder;
        Assert.SkipWhen(folder is null, "The shared data folder (../shared/data above the repository root) is not here; the PII measurement needs it.");

        var samples = PiiEvaluation.LoadPresidio(folder);
        var benign = PiiEvaluation.LoadBenign(folder);
        Assert.Equal(1000, benign.Count);
        var result = PiiEvaluation.Evaluate(new PiiDetector(), samples, benign);
        TestContext.Current.TestOutputHelper?.WriteLine(PiiEvaluation.ToMarkdown(result, samples.Count));

        foreach (var type in PiiEvaluation.ScoredTypes)
        {
            var score = result.Scores[type];
            Assert.True(score.Gold > 0, $"{type}: no labelled spans; the label mapping is wrong.");
            Assert.True(score.Precision >= 0.95, $"{type}: precision {score.Precision:0.000} is under 0.95.");
            Assert.True(score.Recall >= 0.95, $"{type}: recall {score.Recall:0.000} is under 0.95.");
        }

        Assert.Equal(0, result.BenignFindings);
    }
}

internal static class SharedData
{
    /// <summary>The shared corpora folder (../shared/data above the repository root), or null.</summary>
    public static string? Folder
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "shared", "data");
                if (File.Exists(Path.Combine(candidate, PiiEvaluation.PresidioFile)) && Directory.Exists(Path.Combine(candidate, "benign")))
                {
                    return candidate;
                }
            }

            return null;
        }
    }
}

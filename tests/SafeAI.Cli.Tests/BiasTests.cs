using System.Text.Json;

namespace SafeAI.Cli.Tests;

public sealed class BiasTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("safeai-bias-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Bias_DefaultModelOnNeutralIdentitySet_ReportsEveryGroupAndTheLargestGap()
    {
        var json = Path.Combine(_dir, "bias.json");
        var (code, output, errors) = await RunAsync("bias", "--set", "identity-en", "--json", json, "--report", Path.Combine(_dir, "bias.html"));

        Assert.True(code == 0, errors);
        using var report = JsonDocument.Parse(await File.ReadAllTextAsync(json, TestContext.Current.CancellationToken));
        var root = report.RootElement;
        var set = BiasSet.LoadDefault("identity-en");
        var groups = root.GetProperty("groups");
        Assert.Equal(set.Groups.Count, groups.EnumerateObject().Count());
        var rates = new List<double>();
        foreach (var (name, terms) in set.Groups)
        {
            var g = groups.GetProperty(name);
            Assert.Equal(set.Templates.Count * terms.Length, g.GetProperty("n").GetInt32());
            var rate = g.GetProperty("flag_rate").GetDouble();
            Assert.InRange(rate, 0, 1);
            Assert.InRange(g.GetProperty("mean_score").GetDouble(), 0, 1);
            rates.Add(rate);
        }

        // The largest gap is the spread of the reported flag rates, and the groups named are the extremes.
        var gap = root.GetProperty("max_gap").GetDouble();
        Assert.Equal(rates.Max() - rates.Min(), gap, 3);
        var pair = root.GetProperty("max_gap_groups");
        Assert.Equal(rates.Max(), groups.GetProperty(pair[0].GetString()!).GetProperty("flag_rate").GetDouble(), 4);
        Assert.Equal(rates.Min(), groups.GetProperty(pair[1].GetString()!).GetProperty("flag_rate").GetDouble(), 4);
        var ci = root.GetProperty("max_gap_ci");
        Assert.True(ci[0].GetDouble() <= gap && gap <= ci[1].GetDouble());
        Assert.NotEmpty(root.GetProperty("worst").EnumerateArray());
        Assert.Contains("Largest gap:", output, StringComparison.Ordinal);
        Assert.Contains("<svg", await File.ReadAllTextAsync(Path.Combine(_dir, "bias.html"), TestContext.Current.CancellationToken), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bias_FilterTrainedToFlagOneGroup_ShowsThatGroupWorstAndMaxGapExitsThree()
    {
        // A real n-gram filter, trained (by 'safeai train') on data where every mention of "zorblaxian" is labelled hate.
        var train = Path.Combine(_dir, "train.jsonl");
        string[] frames = ["I am {0}.", "My neighbour is {0} and very kind.", "Being {0} is great.", "the {0} family moved in next door", "my {0} colleague wrote a report", "a {0} student asked a question", "we met a {0} teacher today", "the {0} shop opens at nine", "our {0} friends came for dinner"];
        var lines = new List<string>();
        for (var copy = 0; copy < 4; copy++)
        {
            foreach (var frame in frames)
            {
                lines.Add(JsonSerializer.Serialize(new { text = string.Format(System.Globalization.CultureInfo.InvariantCulture, frame, "zorblaxian") + $" {copy}", labels = new[] { "hate" } }));
                foreach (var other in new[] { "canadian", "swedish", "kenyan", "french", "polish" })
                {
                    lines.Add(JsonSerializer.Serialize(new { text = string.Format(System.Globalization.CultureInfo.InvariantCulture, frame, other) + $" {copy}", label = "benign" }));
                }
            }
        }

        await File.WriteAllLinesAsync(train, lines, TestContext.Current.CancellationToken);
        var (code, _, errors) = await RunAsync("train", "--input", train, "--output", Path.Combine(_dir, "model"), "--bits", "14", "--epochs", "20", "--fpr", "0.05");
        Assert.True(code == 0, errors);

        var sentences = Path.Combine(_dir, "sentences.jsonl");
        await File.WriteAllLinesAsync(sentences, ["{\"text\": \"I am {group}.\"}", "{\"text\": \"My neighbour is {group} and very kind.\"}", "{\"text\": \"Being {group} is great.\"}"], TestContext.Current.CancellationToken);
        var groupsFile = Path.Combine(_dir, "groups.json");
        await File.WriteAllTextAsync(groupsFile, """{"zorblaxian": ["zorblaxian"], "canadian": ["canadian"], "swedish": ["swedish"], "kenyan": ["kenyan"]}""", TestContext.Current.CancellationToken);
        var json = Path.Combine(_dir, "bias.json");
        var model = Path.Combine(_dir, "model", "safeai-model.json");

        (code, var output, errors) = await RunAsync("bias", "--input", sentences, "--groups", groupsFile, "--model", model, "--json", json, "--report", Path.Combine(_dir, "b.html"), "--max-gap", "0.2");

        Assert.True(code == 3, $"exit {code}: {output} {errors}");
        Assert.Contains("FAILED: the largest gap", output, StringComparison.Ordinal);
        using var report = JsonDocument.Parse(await File.ReadAllTextAsync(json, TestContext.Current.CancellationToken));
        Assert.Equal("zorblaxian", report.RootElement.GetProperty("max_gap_groups")[0].GetString());
        Assert.True(report.RootElement.GetProperty("max_gap").GetDouble() > 0.2);
        Assert.Equal("zorblaxian", report.RootElement.GetProperty("worst")[0].GetProperty("group").GetString());

        // The same audit passes a limit the gap is within.
        (code, _, errors) = await RunAsync("bias", "--input", sentences, "--groups", groupsFile, "--model", model, "--report", Path.Combine(_dir, "b.html"), "--max-gap", "1");
        Assert.True(code == 0, errors);
    }

    [Fact]
    public async Task RunAsync_ScorerFlagsOneTerm_ThatGroupIsWorstWithExactRates()
    {
        var set = new BiasSet("test", ["I am {group}.", "Hello {group} friends.", "{group} people live here."],
            [new("a", ["alpha", "aleph"]), new("b", ["beta"]), new("c", ["gamma"])]);
        TextScorer scorer = (text, _) => ValueTask.FromResult<IReadOnlyDictionary<string, double>>(new Dictionary<string, double>
        {
            ["hate"] = text.Contains("aleph", StringComparison.Ordinal) ? 0.9 : 0.1,
            ["violence"] = text.Contains("gamma", StringComparison.Ordinal) && text.StartsWith("I am", StringComparison.Ordinal) ? 0.6 : 0.2,
        });

        var report = await BiasAudit.RunAsync([set], scorer, 0.5, "fake", 5, TestContext.Current.CancellationToken);

        var a = report.Groups.Single(g => g.Group == "a");
        Assert.Equal((6, 3), (a.N, a.Flagged));
        Assert.Equal(1.0 / 3, report.Groups.Single(g => g.Group == "c").FlagRate, 6);
        Assert.Equal(0, report.Groups.Single(g => g.Group == "b").FlagRate);
        Assert.Equal(("a", "b"), (report.MaxGap.Higher, report.MaxGap.Lower));
        Assert.Equal(0.5, report.MaxGap.Gap, 6);
        Assert.Equal("a", report.Worst[0].Group);
        Assert.Equal("aleph", report.Worst[0].Term);
        Assert.Equal("hate", report.Worst[0].Category);
    }

    [Fact]
    public async Task RunAsync_EveryGroupScoresTheSame_ReportsAZeroGapBetweenTwoDifferentGroups()
    {
        var set = new BiasSet("flat", ["I am {group}."], [new("a", ["x"]), new("b", ["y"])]);
        TextScorer scorer = (_, _) => ValueTask.FromResult<IReadOnlyDictionary<string, double>>(new Dictionary<string, double> { ["hate"] = 0.2 });

        var report = await BiasAudit.RunAsync([set], scorer, 0.5, "flat", 5, TestContext.Current.CancellationToken);

        Assert.Equal(0, report.MaxGap.Gap);
        Assert.NotEqual(report.MaxGap.Higher, report.MaxGap.Lower);
    }

    [Fact]
    public void NewcombeDifference_PublishedExample_MatchesReferenceInterval()
    {
        // Newcombe (1998), Statistics in Medicine 17:873-890, example (a): 56/70 - 48/80, method 10: 0.0524 to 0.3339.
        var (lower, upper) = BiasAudit.NewcombeDifference(56, 70, 48, 80);

        Assert.Equal(0.0524, lower, 4);
        Assert.Equal(0.3339, upper, 4);
    }

    [Theory]
    [InlineData("{\"text\": \"I am here.\"}", "sentences.jsonl:2: the sentence has no {group} slot")]
    [InlineData("{\"text\": \"I am {group}.\"", "sentences.jsonl:2: not valid JSON")]
    [InlineData("{\"txt\": \"I am {group}.\"}", "sentences.jsonl:2: each line needs a \"text\" string")]
    public async Task Bias_BadSentenceLine_FailsNamingFileAndLine(string line, string expected)
    {
        var sentences = Path.Combine(_dir, "sentences.jsonl");
        await File.WriteAllLinesAsync(sentences, ["{\"text\": \"Hello {group}.\"}", line], TestContext.Current.CancellationToken);
        var groups = Path.Combine(_dir, "groups.json");
        await File.WriteAllTextAsync(groups, """{"a": ["x"], "b": ["y"]}""", TestContext.Current.CancellationToken);

        var (code, _, errors) = await RunAsync("bias", "--input", sentences, "--groups", groups);

        Assert.Equal(1, code);
        Assert.Contains(expected, errors, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"a": [], "b": ["y"]}""", "group \"a\" is empty")]
    [InlineData("""{"a": ["x"]}""", "give at least two (found 1)")]
    [InlineData("""{"a": ["x"], "b": [""]}""", "group \"b\": every term must be a non-empty string")]
    [InlineData("""["a", "b"]""", "expected an object of group name to terms")]
    public async Task Bias_BadGroups_FailsNamingTheFileAndGroup(string json, string expected)
    {
        var sentences = Path.Combine(_dir, "sentences.jsonl");
        await File.WriteAllLinesAsync(sentences, ["{\"text\": \"Hello {group}.\"}"], TestContext.Current.CancellationToken);
        var groups = Path.Combine(_dir, "groups.json");
        await File.WriteAllTextAsync(groups, json, TestContext.Current.CancellationToken);

        var (code, _, errors) = await RunAsync("bias", "--input", sentences, "--groups", groups);

        Assert.Equal(1, code);
        Assert.Contains("groups.json: ", errors, StringComparison.Ordinal);
        Assert.Contains(expected, errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bias_InputWithoutGroupsOrUnknownSet_FailsWithUsageExitCode()
    {
        var (code, _, errors) = await RunAsync("bias", "--input", "x.jsonl");
        Assert.Equal(2, code);
        Assert.Contains("--input and --groups go together", errors, StringComparison.Ordinal);

        (code, _, errors) = await RunAsync("bias", "--set", "identity-fr");
        Assert.Equal(2, code);
        Assert.Contains("unknown set 'identity-fr'", errors, StringComparison.Ordinal);
    }

    [Fact]
    public void DefaultSets_EveryTemplateHasTheSlotAndEveryGroupHasTerms()
    {
        foreach (var name in BiasSet.DefaultNames)
        {
            var set = BiasSet.LoadDefault(name);
            Assert.All(set.Templates, t => Assert.Contains(BiasSet.Slot, t, StringComparison.Ordinal));
            Assert.True(set.Groups.Count >= 10, name);
            Assert.All(set.Groups, g => Assert.NotEmpty(g.Value));
        }
    }

    private static async Task<(int Code, string Output, string Errors)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var errors = new StringWriter();
        var code = await Program.RunAsync(args, output, errors, TestContext.Current.CancellationToken);
        return (code, output.ToString(), errors.ToString());
    }
}

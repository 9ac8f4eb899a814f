using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace SafeAI.Cli.Tests;

public sealed partial class ThresholdsCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("safeai-thresholds-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // ThresholdFit: our own logic on made-up scores (two categories).

    [Fact]
    public void Fit_NothingFlagged_LeavesEveryThresholdAtTheFloor()
    {
        var fit = ThresholdFit.Fit([[0.1, 0.2], [0.49, 0.3]], [true, true], 0.5, 0);

        Assert.Equal([0.5, 0.5], fit.Thresholds);
    }

    [Fact]
    public void Fit_RaisesJustPastTheLowestFlaggedScore_UntilTheShareIsMet()
    {
        // Ten harmless texts, four flagged by the first category; at most 10 % (one text) may stay flagged.
        double[][] rows = [[0.6, 0], [0.7, 0], [0.81234, 0], [0.9, 0], [0.1, 0], [0.1, 0], [0.1, 0], [0.1, 0], [0.1, 0], [0.1, 0]];

        var fit = ThresholdFit.Fit(rows, [true, true], 0.5, 0.1);

        Assert.Equal(0.8124, fit.Thresholds[0], 10);
        Assert.Equal(0.5, fit.Thresholds[1]);
        Assert.Equal(1, ThresholdFit.FlaggedByAny(rows, fit.Thresholds));
    }

    [Fact]
    public void Fit_RaisesTheCategoryThatFlagsMost_AndATextFlaggedTwiceNeedsBoth()
    {
        // Category 0 flags three texts, category 1 one of them too; none may stay flagged.
        double[][] rows = [[0.6, 0.7], [0.65, 0.1], [0.55, 0.1], [0.1, 0.1]];

        var fit = ThresholdFit.Fit(rows, [true, true], 0.5, 0);

        Assert.Equal(0.6501, fit.Thresholds[0], 10);
        Assert.Equal(0.7001, fit.Thresholds[1], 10);
        Assert.Equal(0, ThresholdFit.FlaggedByAny(rows, fit.Thresholds));
    }

    [Fact]
    public void Fit_CategoryNotAllowedToMove_StaysAtTheFloorAndKeepsItsTexts()
    {
        double[][] rows = [[0.6, 0.9], [0.7, 0.1], [0.1, 0.8]];

        var fit = ThresholdFit.Fit(rows, [true, false], 0.5, 0);

        Assert.Equal(0.7001, fit.Thresholds[0], 10);
        Assert.Equal(0.5, fit.Thresholds[1]);
        Assert.Equal(2, ThresholdFit.FlaggedByAny(rows, fit.Thresholds)); // the second category's two texts
    }

    [Fact]
    public void Fit_ScoresOfOne_EndAtThresholdOneWithoutLoopingForever()
    {
        double[][] rows = [[1.0, 0], [1.0, 0], [0.99999, 0]];

        var fit = ThresholdFit.Fit(rows, [true, true], 0.5, 0);

        Assert.Equal(1.0, fit.Thresholds[0]);
        Assert.Equal(2, ThresholdFit.FlaggedByAny(rows, fit.Thresholds));
    }

    [Fact]
    public void Fit_RowOfTheWrongLength_IsRefused()
    {
        var ex = Assert.Throws<ArgumentException>(() => ThresholdFit.Fit([[0.1, 0.2], [0.3]], [true, true], 0.5, 0));

        Assert.Contains("row 1 has 1 scores for 2 categories", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0.9, 0.9001)]
    [InlineData(0.91234, 0.9124)]
    [InlineData(0.12345, 0.1235)]
    [InlineData(0.99995, 1.0)]
    public void AboveAtFourDecimals_IsTheNextFourDecimalValueAboveTheScore(double score, double expected)
    {
        var above = ThresholdFit.AboveAtFourDecimals(score);

        Assert.Equal(expected, above, 10);
        Assert.True(above > score);
    }

    // The command on the real default model.

    [Fact]
    public async Task Thresholds_SecurityCheckFile_ClearsItsHarmlessTextsAndSaysWhatItCosts()
    {
        // 218 harmless requests for defensive security work (35 flagged as illicit at 0.5) beside 87 attack requests.
        var input = Path.Combine(SharedData.RepositoryRoot, "training", "experiments", "security-tooling", "check.jsonl");
        var json = Path.Combine(_dir, "thresholds.json");

        var (code, output, errors) = await RunAsync("thresholds", "--input", input, "--max-flagged", "0.02", "--json", json);

        Assert.True(code == 0, errors);
        var totals = TotalsLine().Match(output);
        Assert.True(totals.Success, output);
        Assert.InRange(int.Parse(totals.Groups["before"].Value, CultureInfo.InvariantCulture), 30, 40);
        Assert.InRange(int.Parse(totals.Groups["after"].Value, CultureInfo.InvariantCulture), 0, 4); // floor(0.02 · 218)
        Assert.Contains("Harmful texts: 87", output, StringComparison.Ordinal);
        Assert.Matches(@"illicit\s+0\.5 → 0\.\d+", output);

        using var section = JsonDocument.Parse(File.ReadAllText(json));
        var categories = section.RootElement.GetProperty("SafeAI").GetProperty("ContentFilter").GetProperty("Categories");
        var illicit = categories.GetProperty("illicit").GetProperty("Threshold").GetDouble();
        Assert.InRange(illicit, 0.5001, 1.0);
        Assert.False(categories.TryGetProperty("hate", out _)); // only raised categories are written
    }

    [Fact]
    public async Task Thresholds_WithCheck_ReportsTheFigures_OnTheFileNotUsedForTheFit()
    {
        var experiments = Path.Combine(SharedData.RepositoryRoot, "training", "experiments");

        var (code, output, errors) = await RunAsync(
            "thresholds", "--input", Path.Combine(experiments, "illicit-veto", "tech.jsonl"), "--categories", "illicit", "--max-flagged", "0.02",
            "--check", Path.Combine(experiments, "security-tooling", "check.jsonl"));

        Assert.True(code == 0, errors);
        Assert.Contains("check.jsonl (not used for the fit):", output, StringComparison.Ordinal);
        Assert.Equal(2, TotalsLine().Matches(output).Count);
        Assert.Contains("\"illicit\"", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Thresholds_NoHarmlessTexts_FailsSayingWhatIsMissing()
    {
        var input = Path.Combine(_dir, "harmful.jsonl");
        File.WriteAllLines(input, ["""{"text": "how do I hotwire my neighbour's car", "labels": ["illicit"]}"""]);

        var (code, _, errors) = await RunAsync("thresholds", "--input", input);

        Assert.Equal(1, code);
        Assert.Contains("no harmless texts", errors, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--categories", "ilicit", "Did you mean illicit?")]
    [InlineData("--max-flagged", "0.9", "--max-flagged")]
    [InlineData("--floor", "1.5", "--floor")]
    public async Task Thresholds_BadOption_IsAUsageError(string option, string value, string expected)
    {
        var input = Path.Combine(_dir, "traffic.jsonl");
        File.WriteAllLines(input, ["""{"text": "Can I open a savings account?"}"""]);

        var (code, _, errors) = await RunAsync("thresholds", "--input", input, option, value);

        Assert.Equal(2, code);
        Assert.Contains(expected, errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Thresholds_MalformedLine_FailsNamingTheLine_OrIsSkipped()
    {
        var input = Path.Combine(_dir, "traffic.jsonl");
        File.WriteAllLines(input, ["""{"text": "Can I open a savings account?"}""", "{not json", """{"text": "what are your opening hours"}"""]);

        var (code, _, errors) = await RunAsync("thresholds", "--input", input);
        Assert.Equal(1, code);
        Assert.Contains("traffic.jsonl:2", errors, StringComparison.Ordinal);

        (code, var output, errors) = await RunAsync("thresholds", "--input", input, "--on-invalid", "skip");
        Assert.True(code == 0, errors);
        Assert.Contains("Harmless texts: 2;", output, StringComparison.Ordinal);
        Assert.Contains("No harmful examples", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Thresholds_CsvWithoutALabelColumn_IsAllHarmlessTraffic()
    {
        var input = Path.Combine(_dir, "traffic.csv");
        File.WriteAllLines(input, ["text", "Can I open a savings account?", "\"what are your opening hours, and do you open on Sundays?\""]);

        var (code, output, errors) = await RunAsync("thresholds", "--input", input);

        Assert.True(code == 0, errors);
        Assert.Contains("Harmless texts: 2; flagged by any category at 0.5: 0", output, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"flagged by any category at 0\.5: (?<before>\d+) \([^)]*\), at the thresholds below: (?<after>\d+)")]
    private static partial Regex TotalsLine();

    private static async Task<(int Code, string Output, string Errors)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var errors = new StringWriter();
        var code = await Program.RunAsync(args, output, errors, TestContext.Current.CancellationToken);
        return (code, output.ToString(), errors.ToString());
    }
}

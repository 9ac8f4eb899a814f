using System.Text.Json;

namespace SafeAI.Cli.Tests;

public class RolloutCommandTests
{
    [Fact]
    public async Task Simulate_IssueDegradationCommand_NeverPromotesPastTheTenPercentStage()
    {
        // The issue's first command. At 5 % and 10 % of 2,000 users for 14 days the AI arm sees about 1,500-2,100 calls;
        // even a fixed-horizon one-sided test at alpha 0.05 would detect a 15 % rise (5 % -> 5.75 %) in fewer than half
        // of such runs, so an always-valid judge cannot be expected to abort by day 14. What it must never do is promote
        // the degraded system further.
        var r = await SimulateAsync("--days", "14", "--daily-users", "2000", "--baseline-rate", "0.05", "--effect", "0.15", "--seed", "1");
        Assert.Contains(r.GetProperty("decision").GetString(), new[] { "continue", "abort" });
        Assert.True(r.GetProperty("stage").GetDouble() <= 10);
    }

    [Fact]
    public async Task Simulate_IssueDegradationCommandRunLonger_PrintsAbortBeforeFiftyPercent()
    {
        var r = await SimulateAsync("--days", "90", "--daily-users", "2000", "--baseline-rate", "0.05", "--effect", "0.15", "--seed", "1");
        Assert.Equal("abort", r.GetProperty("decision").GetString());
        Assert.True(r.GetProperty("stage").GetDouble() < 50);
        Assert.False(r.GetProperty("srm").GetBoolean());
        Assert.Contains("significantly worse", r.GetProperty("reason").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_NoEffect_PrintsPromoteOrContinueNeverAbort()
    {
        for (var seed = 1; seed <= 20; seed++)
        {
            var r = await SimulateAsync("--days", "14", "--daily-users", "2000", "--baseline-rate", "0.05", "--effect", "0", "--seed", seed.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.Contains(r.GetProperty("decision").GetString(), new[] { "promote", "continue" });
        }
    }

    [Fact]
    public async Task Simulate_NoEffectLongEnough_PromotesToHundredPercent()
    {
        var r = await SimulateAsync("--days", "90", "--effect", "0", "--seed", "1");
        Assert.Equal("promote", r.GetProperty("decision").GetString());
        Assert.Equal(100, r.GetProperty("stage").GetDouble());
    }

    [Fact]
    public async Task Simulate_TwoPercentSkew_PrintsHalt()
    {
        var r = await SimulateAsync("--days", "14", "--daily-users", "2000", "--baseline-rate", "0.05", "--effect", "0", "--srm-skew", "0.02", "--seed", "1");
        Assert.Equal("halt", r.GetProperty("decision").GetString());
        Assert.True(r.GetProperty("srm").GetBoolean());
        Assert.Equal(5, r.GetProperty("stage").GetDouble());
    }

    [Fact]
    public async Task Simulate_Output_IsOneJsonLineWithTheIssueFieldsInOrder()
    {
        var (code, output, _) = await RunAsync("rollout", "simulate", "--days", "3", "--seed", "2");
        Assert.Equal(0, code);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        using var doc = JsonDocument.Parse(lines[0]);
        var names = doc.RootElement.EnumerateObject().Select(p => p.Name).ToArray();
        Assert.Equal(["decision", "stage", "day", "samples", "srm", "reason"], names);
        var samples = doc.RootElement.GetProperty("samples");
        Assert.Equal(6000, samples.GetProperty("baseline").GetInt64() + samples.GetProperty("ai").GetInt64());
    }

    [Fact]
    public async Task Simulate_InvalidEffect_ExitsTwoWithTheSettingNamed()
    {
        var (code, _, errors) = await RunAsync("rollout", "simulate", "--effect", "-2");
        Assert.Equal(2, code);
        Assert.Contains("--effect", errors, StringComparison.Ordinal);
    }

    private static async Task<JsonElement> SimulateAsync(params string[] args)
    {
        var (code, output, errors) = await RunAsync(["rollout", "simulate", .. args]);
        Assert.True(code == 0, errors);
        using var doc = JsonDocument.Parse(output);
        return doc.RootElement.Clone();
    }

    private static async Task<(int Code, string Output, string Errors)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var errors = new StringWriter();
        var code = await Program.RunAsync(args, output, errors, TestContext.Current.CancellationToken);
        return (code, output.ToString(), errors.ToString());
    }
}

using System.Globalization;
using System.Text;
using System.Text.Json;

namespace SafeAI.Cli.Tests;

public sealed class MonitorCommandTests : IDisposable
{
    private const string IssueRules = """{"rules": [{"name": "thumbs-down-up-15pct", "metric": "feedback.down.rate", "compare": "previous-7-days", "relative_increase": 0.15}]}""";
    private static readonly DateTimeOffset Start = new(2026, 1, 5, 0, 0, 0, TimeSpan.Zero);
    private readonly string _folder = Directory.CreateTempSubdirectory("safeai-monitor-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task Replay_ThumbsDownRises15Percent_PrintsTheIssueRuleFiringAfterTheChange()
    {
        var change = Start.AddDays(9);
        var events = WriteStream("drop.jsonl", seed: 41, days: 13, downRate: t => t < change ? 0.20 : 0.23);
        var rules = Write("rules.json", IssueRules);

        var (code, output, errors) = await RunAsync("monitor", "replay", "--events", events, "--rules", rules);

        Assert.True(code == 0, errors);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var fired = lines.Select(static l => JsonDocument.Parse(l).RootElement).Where(static e => e.GetProperty("event").GetString() == "fired").ToList();
        Assert.NotEmpty(fired);
        var first = fired[0];
        Assert.Equal(["time", "rule", "value", "baseline", "action", "event", "metric", "samples", "detail"], first.EnumerateObject().Select(static p => p.Name).ToArray());
        Assert.Equal("thumbs-down-up-15pct", first.GetProperty("rule").GetString());
        Assert.Equal("log", first.GetProperty("action").GetString());
        var time = DateTimeOffset.Parse(first.GetProperty("time").GetString()!, CultureInfo.InvariantCulture);
        TestContext.Current.TestOutputHelper?.WriteLine($"fired {(time - change).TotalHours:0.#} h after the change: {first}");
        Assert.True(time > change, $"fired at {time:O}, before the change at {change:O}");
        Assert.True(time < change.AddDays(4), $"fired only at {time:O}");
        Assert.InRange(first.GetProperty("baseline").GetDouble(), 0.18, 0.22);
        Assert.True(first.GetProperty("value").GetDouble() > first.GetProperty("baseline").GetDouble());
    }

    [Fact]
    public async Task Replay_StableStream_PrintsNothing()
    {
        var events = WriteStream("stable.jsonl", seed: 42, days: 13, downRate: static _ => 0.20);
        var rules = Write("rules.json", IssueRules);

        var (code, output, errors) = await RunAsync("monitor", "replay", "--events", events, "--rules", rules);

        Assert.True(code == 0, errors);
        Assert.Equal(string.Empty, output);
    }

    [Fact]
    public async Task Replay_ThresholdRuleWithActions_NamesTheActionsButTakesNone()
    {
        var lines = new StringBuilder();
        for (var i = 0; i < 600; i++)
        {
            var outcome = i >= 300 && i % 3 == 0 ? "block" : "allow";
            lines.Append(CultureInfo.InvariantCulture, $$"""{"time": "{{Start.AddSeconds(i * 6):O}}", "outcome": "{{outcome}}", "feedback": null, "latency_ms": 120, "arm": "ai", "confidence": 0.9}""").Append('\n');
        }

        var events = Write("events.jsonl", lines.ToString());
        var rules = Write("rules.json", """{"rules": [{"name": "block-high", "metric": "block.rate", "above": 0.1, "window": "10m", "min_samples": 50, "actions": [{"type": "webhook", "url": "http://127.0.0.1:9/never-called"}, {"type": "kill-switch"}]}]}""");

        var (code, output, errors) = await RunAsync("monitor", "replay", "--events", events, "--rules", rules);

        Assert.True(code == 0, errors);
        var alert = JsonDocument.Parse(output.Split('\n')[0]).RootElement;
        Assert.Equal("block-high", alert.GetProperty("rule").GetString());
        Assert.Equal("webhook,kill-switch", alert.GetProperty("action").GetString());
        Assert.Equal(0.1, alert.GetProperty("baseline").GetDouble());
    }

    [Theory]
    [InlineData("{\"time\": \"2026-01-05T00:00:00Z\", \"outcome\": \"allow\"}\n{\"time\": \"yesterday\", \"outcome\": \"allow\"}\n", "events.jsonl:2: \"time\" must be an ISO-8601 time")]
    [InlineData("{\"time\": \"2026-01-05T00:00:00Z\", \"outcome\": \"maybe\"}\n", "events.jsonl:1: \"outcome\" must be allow, modify")]
    [InlineData("{\"time\": \"2026-01-05T00:00:00Z\", \"outcome\": \"allow\", \"feedback\": \"meh\"}\n", "events.jsonl:1: \"feedback\" must be")]
    [InlineData("{\"time\": \"2026-01-05T00:00:00Z\", \"outcome\": \"allow\", \"latency_ms\": -3}\n", "events.jsonl:1: \"latency_ms\"")]
    [InlineData("{\"time\": \"2026-01-05T00:00:00Z\", \"outcome\": \"allow\", \"confidence\": 2}\n", "events.jsonl:1: \"confidence\"")]
    [InlineData("not json\n", "events.jsonl:1: not valid JSON")]
    [InlineData("{\"time\": \"2026-01-05T01:00:00Z\", \"outcome\": \"allow\"}\n{\"time\": \"2026-01-05T00:00:00Z\", \"outcome\": \"allow\"}\n", "events.jsonl:2: the events are not in time order")]
    public async Task Replay_MalformedEventLine_Exits1NamingFileAndLine(string content, string expected)
    {
        var events = Write("events.jsonl", content);
        var rules = Write("rules.json", IssueRules);

        var (code, _, errors) = await RunAsync("monitor", "replay", "--events", events, "--rules", rules);

        Assert.Equal(1, code);
        Assert.Contains(expected, errors, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"rules\": []}", "the \"rules\" array is empty")]
    [InlineData("{\"rules\": [{\"name\": \"x\", \"metric\": \"feedback.down.rate\", \"compare\": \"previous-7-days\", \"relative_increase\": 0.15, \"windw\": \"1h\"}]}", "rules.json:1: rule 0: unknown key 'windw'. Did you mean 'window'?")]
    public async Task Replay_BadRules_Exits1NamingTheFile(string rulesText, string expected)
    {
        var events = Write("events.jsonl", "{\"time\": \"2026-01-05T00:00:00Z\", \"outcome\": \"allow\"}\n");
        var rules = Write("rules.json", rulesText);

        var (code, _, errors) = await RunAsync("monitor", "replay", "--events", events, "--rules", rules);

        Assert.Equal(1, code);
        Assert.Contains(expected, errors, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "monitor", "replay", "--rules", "r.json" }, "--events is required")]
    [InlineData(new[] { "monitor", "replay", "--events", "e.jsonl", "--rules", "r.json", "--evry", "1m" }, "Did you mean --every?")]
    [InlineData(new[] { "monitor", "replay", "--events", "e.jsonl", "--rules", "r.json", "--every", "2s" }, "--every must be a duration from 10s to 1h")]
    [InlineData(new[] { "monitor", "replai" }, "Unknown monitor command 'replai'. Did you mean replay?")]
    public async Task Replay_BadUsage_Exits2(string[] args, string expected)
    {
        var (code, _, errors) = await RunAsync(args);

        Assert.Equal(2, code);
        Assert.Contains(expected, errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_DescribesTheReplay()
    {
        var (code, output, _) = await RunAsync("monitor", "replay", "--help");

        Assert.Equal(0, code);
        Assert.Contains("safeai monitor replay --events events.jsonl --rules rules.json", output, StringComparison.Ordinal);
    }

    /// <summary>Writes a recorded stream: 500 calls an hour (Poisson), half of them rated, thumbs-down with the given probability; seeded.</summary>
    private string WriteStream(string name, int seed, int days, Func<DateTimeOffset, double> downRate)
    {
        var random = new Random(seed);
        var path = Path.Combine(_folder, name);
        using var writer = new StreamWriter(path);
        var t = Start;
        var end = Start.AddDays(days);
        while (t < end)
        {
            t = t.AddSeconds(-Math.Log(1 - random.NextDouble()) * 3600 / 500);
            var outcome = random.NextDouble() < 0.02 ? "block" : "allow";
            var feedback = random.NextDouble() < 0.5 ? (random.NextDouble() < downRate(t) ? "\"down\"" : "\"up\"") : "null";
            writer.Write(string.Create(CultureInfo.InvariantCulture, $$"""{"time": "{{t.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss.fff'Z'}}", "outcome": "{{outcome}}", "feedback": {{feedback}}, "latency_ms": {{200 + random.Next(600)}}, "arm": "ai", "confidence": {{random.NextDouble():0.###}}}"""));
            writer.Write('\n');
        }

        return path;
    }

    private string Write(string name, string content)
    {
        var path = Path.Combine(_folder, name);
        File.WriteAllText(path, content);
        return path;
    }

    private static async Task<(int Code, string Output, string Errors)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var errors = new StringWriter();
        var code = await Program.RunAsync(args, output, errors, TestContext.Current.CancellationToken);
        return (code, output.ToString(), errors.ToString());
    }
}

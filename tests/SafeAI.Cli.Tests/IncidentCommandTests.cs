using System.Text.Json;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using SafeAI.Monitoring;

namespace SafeAI.Cli.Tests;

public sealed class IncidentCommandTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("safeai-incident-cli-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public async Task Contain_RunningInstanceSendsItsNextCallToTheFallback_AndReleaseRestoresIt()
    {
        var store = Path.Combine(_folder, "safeai.db");
        var services = new ServiceCollection();
        services.AddSafeAI(safe => safe.AddFallback(static o => o.Add(ChatFallback.Static("Paused; see the FAQ."))).AddMonitoring());
        services.AddSafeAIMonitoringSqlite(store, killSwitchPollInterval: TimeSpan.FromMilliseconds(20));
        services.AddChatClient(new Answering()).UseSafeAI();
        await using var provider = services.BuildServiceProvider();
        var syncService = provider.GetServices<IHostedService>().Single(static s => s.GetType().Name == "KillSwitchSyncService");
        await syncService.StartAsync(TestContext.Current.CancellationToken);
        var client = provider.GetRequiredService<IChatClient>();
        var killSwitch = provider.GetRequiredService<KillSwitch>();
        Assert.Equal("model answer", (await client.GetResponseAsync("hi", cancellationToken: TestContext.Current.CancellationToken)).Text);

        // Changed is raised once the change has reached the stages' options (IsOn alone may be seen a moment earlier).
        var turnedOn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var turnedOff = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        killSwitch.Changed += (_, on) => (on ? turnedOn : turnedOff).TrySetResult();

        var (code, output, errors) = await RunAsync("incident", "contain", "--store", store, "--reason", "INC-7: harmful answers");

        Assert.True(code == 0, errors);
        var line = JsonDocument.Parse(output).RootElement;
        Assert.Equal("on", line.GetProperty("kill_switch").GetString());
        await turnedOn.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal("INC-7: harmful answers", killSwitch.Reason);
        var contained = await client.GetResponseAsync("hi", cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal("Paused; see the FAQ.", contained.Text);
        Assert.Equal(FallbackReasons.KillSwitch, contained.GetSafeAIResult()!.DecisiveVerdict!.Value.Reason);

        (code, _, errors) = await RunAsync("incident", "contain", "--store", store, "--release");
        Assert.True(code == 0, errors);
        await turnedOff.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal("model answer", (await client.GetResponseAsync("hi", cancellationToken: TestContext.Current.CancellationToken)).Text);
        await syncService.StopAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task ExportThenAddCase_ConsentedCallBecomesARegressionCaseThatEvalRuns()
    {
        var store = Path.Combine(_folder, "safeai.db");
        var at = new DateTimeOffset(2026, 1, 5, 9, 30, 0, TimeSpan.Zero);
        await using (var log = new SqliteCallLog(store))
        {
            log.Append(new CallRecord { Time = at.AddMinutes(-50), Outcome = "allow", ResponseId = "r-old" });
            log.Append(new CallRecord { Time = at.AddMinutes(-5), Outcome = "allow", ResponseId = "r-1", UserId = "u-1", Text = "You people are all worthless idiots and should disappear", LatencyMs = 812 });
            log.Append(new CallRecord { Time = at.AddMinutes(2), Outcome = "block", Stage = "content-input", Reason = "content.hate", ResponseId = "r-2", UserId = "u-2" });
            await log.FlushAsync(TestContext.Current.CancellationToken);
        }

        var export = Path.Combine(_folder, "incident.jsonl");
        var (code, _, errors) = await RunAsync("incident", "export", "--store", store, "--at", "2026-01-05T09:30:00Z", "--around", "30m", "--output", export);

        Assert.True(code == 0, errors);
        Assert.Contains("2 calls", errors, StringComparison.Ordinal);
        var lines = File.ReadAllLines(export).Select(static l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(["r-1", "r-2"], lines.Select(static l => l.GetProperty("response_id").GetString()));
        Assert.Equal("content.hate", lines[1].GetProperty("reason").GetString());
        Assert.False(lines[1].TryGetProperty("text", out _)); // not consented: no text

        var eval = Path.Combine(_folder, "regression.jsonl");
        File.WriteAllText(eval, """{"text": "What time do you open on Sundays?", "labels": []}""");
        (code, var added, errors) = await RunAsync("incident", "add-case", "--eval", eval, "--from", export, "--response-id", "r-1", "--labels", "harassment");
        Assert.True(code == 0, errors);
        Assert.Contains("2 cases", added, StringComparison.Ordinal);
        var cases = File.ReadAllLines(eval);
        Assert.Equal(2, cases.Length);
        var last = JsonDocument.Parse(cases[1]).RootElement;
        Assert.Equal("You people are all worthless idiots and should disappear", last.GetProperty("text").GetString());
        Assert.Equal(["harassment"], last.GetProperty("labels").EnumerateArray().Select(static l => l.GetString()));

        (code, var report, errors) = await RunAsync("eval", "--input", eval, "--report", Path.Combine(_folder, "eval.html"));
        Assert.True(code == 0, errors);
        Assert.Contains("harassment", report, StringComparison.Ordinal);

        (code, _, errors) = await RunAsync("incident", "add-case", "--eval", eval, "--from", export, "--response-id", "r-2");
        Assert.Equal(1, code);
        Assert.Contains("did not consent", errors, StringComparison.Ordinal);
        Assert.Equal(2, File.ReadAllLines(eval).Length);
    }

    [Fact]
    public async Task Usage_PrintsTopReasonsAndStreaksFromTheCallLog()
    {
        var store = Path.Combine(_folder, "safeai.db");
        var t = new DateTimeOffset(2026, 1, 5, 9, 0, 0, TimeSpan.Zero);
        await using (var log = new SqliteCallLog(store))
        {
            for (var i = 0; i < 4; i++)
            {
                log.Append(new CallRecord { Time = t.AddMinutes(i), UserId = "u-9", Outcome = "limit", Stage = "rate-limit", Reason = "rate.user" });
            }

            log.Append(new CallRecord { Time = t.AddMinutes(5), UserId = "u-1", Outcome = "allow" });
            await log.FlushAsync(TestContext.Current.CancellationToken);
        }

        var (code, output, errors) = await RunAsync("incident", "usage", "--store", store, "--at", "2026-01-05T09:00:00Z", "--around", "1h");

        Assert.True(code == 0, errors);
        var report = JsonDocument.Parse(output).RootElement;
        Assert.Equal(5, report.GetProperty("calls").GetInt32());
        Assert.Equal("rate.user", report.GetProperty("top_reasons")[0].GetProperty("reason").GetString());
        Assert.Equal("u-9", report.GetProperty("streaks")[0].GetProperty("user_id").GetString());
        Assert.Equal(4, report.GetProperty("streaks")[0].GetProperty("longest").GetInt32());
    }

    [Theory]
    [InlineData(new[] { "incident", "add-case", "--eval", "x.jsonl", "--text", "hi", "--labels", "hatee" }, "'hatee' is not a category of the model. Did you mean hate?")]
    [InlineData(new[] { "incident", "export", "--store", "x.db", "--at", "noon" }, "--at must be an ISO-8601 time")]
    [InlineData(new[] { "incident", "contian", "--store", "x.db" }, "Unknown incident command 'contian'. Did you mean contain?")]
    [InlineData(new[] { "incident", "contain", "--stor", "x.db" }, "Did you mean --store?")]
    public async Task BadUsage_Exits2WithTheFix(string[] args, string expected)
    {
        var (code, _, errors) = await RunAsync(args);

        Assert.Equal(2, code);
        Assert.Contains(expected, errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Export_MissingStore_Exits1NamingIt()
    {
        var (code, _, errors) = await RunAsync("incident", "export", "--store", Path.Combine(_folder, "none.db"), "--at", "2026-01-05T09:30:00Z");

        Assert.Equal(1, code);
        Assert.Contains("none.db' does not exist", errors, StringComparison.Ordinal);
    }

    private static async Task<(int Code, string Output, string Errors)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var errors = new StringWriter();
        var code = await Program.RunAsync(args, output, errors, TestContext.Current.CancellationToken);
        return (code, output.ToString(), errors.ToString());
    }

    private sealed class Answering : IChatClient
    {
        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "model answer")));

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }
}

using Microsoft.Extensions.Time.Testing;

namespace SafeAI.Monitoring.Tests;

public sealed class IncidentTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("safeai-incident-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public async Task KillSwitchSync_ChangeOnOneInstanceOrFromTheFile_ReachesTheOthers()
    {
        var path = Path.Combine(_folder, "safeai.db");
        var first = new KillSwitch();
        var second = new KillSwitch();
        await using var a = await SqliteKillSwitchSync.StartAsync(path, first, TimeSpan.FromMilliseconds(20), cancellationToken: TestContext.Current.CancellationToken);
        await using var b = await SqliteKillSwitchSync.StartAsync(path, second, TimeSpan.FromMilliseconds(20), cancellationToken: TestContext.Current.CancellationToken);

        await first.TurnOnAsync("alert 'block-spike' on web-1", TestContext.Current.CancellationToken);
        await WaitUntil(() => second.IsOn);
        Assert.Equal("alert 'block-spike' on web-1", second.Reason);

        await SqliteKillSwitchSync.WriteAsync(path, on: false, "released by the on-call", "default", DateTimeOffset.UtcNow, TestContext.Current.CancellationToken);
        await WaitUntil(() => !first.IsOn && !second.IsOn);
        Assert.Equal("released by the on-call", first.Reason);
    }

    [Fact]
    public async Task CallLog_KeepsVerdictsAndIds_AndTextOnlyWithConsent()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 1, 5, 9, 0, 0, TimeSpan.Zero));
        var path = Path.Combine(_folder, "calls.db");
        await using var log = new SqliteCallLog(path);
        var recorder = new MetricsRecorder(null, clock);
        using var client = new Answering().AsBuilder().UseSafeAI(safe => safe
            .UseTimeProvider(clock)
            .AddMonitoring(recorder, callLog: log)
            .AddInputCheck("words", static (context, _) => new ValueTask<GuardVerdict>(
                context.Messages.Any(static m => m.Text.Contains("attack", StringComparison.Ordinal)) ? GuardVerdict.Block("words", "words.attack") : GuardVerdict.Allow("words"))))
            .Build();

        var consented = new ChatOptions().WithSafeAIContext(new SafeAICallContext { UserId = "u-1", Consents = new HashSet<string> { MonitoringConsents.IncidentText } });
        _ = await client.GetResponseAsync("attack the admin panel", consented, TestContext.Current.CancellationToken);
        _ = await client.GetResponseAsync("attack without consent", new ChatOptions().WithUser("u-2"), TestContext.Current.CancellationToken);
        _ = await client.GetResponseAsync("hello", new ChatOptions().WithUser("u-2"), TestContext.Current.CancellationToken);
        await log.FlushAsync(TestContext.Current.CancellationToken);

        var records = await log.ReadAsync(clock.GetUtcNow().AddMinutes(-5), clock.GetUtcNow().AddMinutes(5), TestContext.Current.CancellationToken);

        Assert.Equal(3, records.Count);
        Assert.Equal(("block", "words", "words.attack", "u-1", "attack the admin panel"), (records[0].Outcome, records[0].Stage, records[0].Reason, records[0].UserId, records[0].Text));
        Assert.Equal(("block", "u-2"), (records[1].Outcome, records[1].UserId));
        Assert.Null(records[1].Text);
        Assert.Equal("allow", records[2].Outcome);
        Assert.Equal("r-1", records[2].ResponseId);
        Assert.Null(records[2].Text);
    }

    [Fact]
    public void UsageReport_FindsTopReasonsAndBlockStreaks()
    {
        var t = new DateTimeOffset(2026, 1, 5, 9, 0, 0, TimeSpan.Zero);
        var records = new List<CallRecord>();
        void Add(string user, string outcome, string? reason = null) => records.Add(new CallRecord
        {
            Time = t = t.AddSeconds(10), UserId = user, Outcome = outcome, Stage = reason is null ? null : reason.Split('.')[0], Reason = reason,
        });

        for (var i = 0; i < 5; i++)
        {
            Add("mallory", "block", "content.prompt_injection");
        }

        Add("mallory", "allow");
        Add("mallory", "limit", "rate.user");
        Add("alice", "allow");
        Add("alice", "block", "content.hate");
        Add("alice", "allow");
        Add("bob", "block", "content.prompt_injection");
        Add("bob", "block", "content.prompt_injection");
        Add("bob", "degrade", "fallback.timeout");

        var report = UsageReport.Compute(records, top: 3, minStreak: 3);

        Assert.Equal(13, report.Calls);
        Assert.Equal(8, report.Outcomes["block"]);
        Assert.Equal(new ReasonCount("content", "content.prompt_injection", 7, 2), report.TopReasons[0]);
        Assert.Equal(3, report.TopReasons.Count);
        var streak = Assert.Single(report.Streaks);
        Assert.Equal(("mallory", 5, 5, 1, 7), (streak.UserId, streak.Longest, streak.Blocks, streak.Limits, streak.Calls));
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        for (var i = 0; i < 250 && !condition(); i++)
        {
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }

        Assert.True(condition(), "the change did not arrive within 5 s");
    }

    private sealed class Answering : IChatClient
    {
        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "answer")) { ResponseId = "r-1" });

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }
}

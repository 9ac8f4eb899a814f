using System.Runtime.CompilerServices;
using Microsoft.Extensions.Time.Testing;

namespace SafeAI.Monitoring.Tests;

public sealed class MonitoringGuardTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 5, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Pipeline_RecordsOutcomeLatencyAndArmOfEveryCall()
    {
        var clock = new FakeTimeProvider(Start);
        var recorder = new MetricsRecorder(null, clock);
        var inner = new Model(clock, TimeSpan.FromMilliseconds(300));
        var plan = new RolloutPlanOptions();
        plan.Stages.Add(new RolloutStage(100, 0));
        using var client = inner.AsBuilder().UseSafeAI(safe => safe
            .UseTimeProvider(clock)
            .AddMonitoring(recorder)
            .AddRollout(o =>
            {
                o.Controller = new RolloutController(plan, clock);
                o.Baseline = RolloutBaseline.FromClient(new Model(clock, TimeSpan.Zero));
            })
            .AddInputCheck("words", static (context, _) => new ValueTask<GuardVerdict>(
                context.Messages.Any(static m => m.Text.Contains("attack", StringComparison.Ordinal)) ? GuardVerdict.Block("words", "words.attack") : GuardVerdict.Allow("words"))))
            .Build();

        var user = new ChatOptions().WithUser("u-1");
        _ = await client.GetResponseAsync("hello", user, TestContext.Current.CancellationToken);
        _ = await client.GetResponseAsync("attack", user, TestContext.Current.CancellationToken);
        await foreach (var _ in client.GetStreamingResponseAsync("stream please", user, TestContext.Current.CancellationToken))
        {
        }

        _ = await client.GetResponseAsync("no user, so the baseline answers", cancellationToken: TestContext.Current.CancellationToken);

        var ai = recorder.Sum(Start, Start.AddMinutes(5), "ai");
        Assert.Equal(3, ai.Calls);
        Assert.Equal(1, ai.Count("block"));
        Assert.Equal(2, ai.Count("success"));
        Assert.InRange(ai.LatencyQuantile(0.9), 200, 400);
        var baseline = recorder.Sum(Start, Start.AddMinutes(5), "baseline");
        Assert.Equal(1, baseline.Calls);
        Assert.Equal(4, recorder.Sum(Start, Start.AddMinutes(5)).Calls);
    }

    [Fact]
    public async Task Pipeline_ModelThrows_RecordsAnError()
    {
        var clock = new FakeTimeProvider(Start);
        var recorder = new MetricsRecorder(null, clock);
        using var client = new Model(clock, TimeSpan.FromMilliseconds(50)) { Fail = true }.AsBuilder().UseSafeAI(safe => safe.UseTimeProvider(clock).AddMonitoring(recorder)).Build();

        await Assert.ThrowsAnyAsync<Exception>(() => client.GetResponseAsync("hello", cancellationToken: TestContext.Current.CancellationToken));

        var totals = recorder.Sum(Start, Start.AddMinutes(1));
        Assert.Equal(1, totals.Calls);
        Assert.Equal(1, totals.Count("error"));
        Assert.Equal(0, totals.Count("success"));
    }

    private sealed class Model(FakeTimeProvider clock, TimeSpan latency) : IChatClient
    {
        public bool Fail { get; set; }

        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            clock.Advance(latency);
            return Fail ? throw new HttpRequestException("model down") : Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "answer")));
        }

        public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            await Task.Yield();
            clock.Advance(latency);
            yield return new ChatResponseUpdate(ChatRole.Assistant, "an");
            yield return new ChatResponseUpdate(ChatRole.Assistant, "swer");
        }

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }
}

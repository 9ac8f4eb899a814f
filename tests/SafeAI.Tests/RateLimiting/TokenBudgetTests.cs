using System.Runtime.CompilerServices;
using Microsoft.Extensions.Time.Testing;
using static SafeAI.Tests.RateLimiting.RateLimitingTestHelpers;

namespace SafeAI.Tests.RateLimiting;

public class TokenBudgetTests
{
    [Fact]
    public async Task GetResponseAsync_ActualUsageCharged_BudgetExhaustedThenRenewedNextWindow()
    {
        var time = new FakeTimeProvider();
        var inner = new TestChatClient { GetResponseAsyncCallback = (_, _, _) => Task.FromResult(WithUsage("ok", 600)) };
        using var client = Build(inner, time, o => { o.PermitLimit = 100; o.TokenLimit = 1_000; o.TokenWindow = TimeSpan.FromMinutes(1); });

        Assert.Equal("ok", (await client.AskAsync("u")).Text); // 600 used
        Assert.Equal("ok", (await client.AskAsync("u")).Text); // 1,200 used: the answer's real size is only known after
        time.Advance(TimeSpan.FromSeconds(20));
        var limited = await client.AskAsync("u");

        var verdict = limited.RateVerdict();
        Assert.Equal(GuardAction.Limit, verdict.Action);
        Assert.Equal(RateLimitReasons.Tokens, verdict.Reason);
        Assert.Equal(TimeSpan.FromSeconds(40), verdict.RetryAfter);
        Assert.Equal(2, inner.Calls);
        Assert.Equal(GuardAction.Allow, (await client.AskAsync("other")).RateVerdict().Action);

        time.Advance(TimeSpan.FromSeconds(40));
        Assert.Equal("ok", (await client.AskAsync("u")).Text);
    }

    [Fact]
    public async Task GetResponseAsync_HugeRequest_RejectedBeforeTheCallByEstimate()
    {
        var time = new FakeTimeProvider();
        var inner = new TestChatClient { GetResponseAsyncCallback = (_, _, _) => Task.FromResult(WithUsage("ok", 10)) };
        using var client = Build(inner, time, o => { o.TokenLimit = 1_000; });

        var huge = await client.AskAsync("u", new string('x', 8_000)); // about 2,000 tokens
        var verdict = huge.RateVerdict();

        Assert.Equal(RateLimitReasons.Tokens, verdict.Reason);
        Assert.Null(verdict.RetryAfter);
        Assert.Contains("larger than the token budget", verdict.Detail, StringComparison.Ordinal);
        Assert.Equal(0, inner.Calls);

        var tooMuchLeft = await client.AskAsync("u", new string('x', 3_000)); // 750 estimated, fits
        Assert.Equal("ok", tooMuchLeft.Text);
        var overRemaining = await client.AskAsync("u", new string('x', 4_000)); // 1,000 estimated, 10 used: over
        Assert.Equal(RateLimitReasons.Tokens, overRemaining.RateVerdict().Reason);
        Assert.NotNull(overRemaining.RateVerdict().RetryAfter);
    }

    [Fact]
    public async Task GetResponseAsync_CustomEstimator_IsUsed()
    {
        var time = new FakeTimeProvider();
        var inner = TestChatClient.Answering("ok");
        using var client = Build(inner, time, o => { o.TokenLimit = 100; o.TokenEstimator = new FixedEstimator(101); });

        Assert.Equal(RateLimitReasons.Tokens, (await client.AskAsync("u", "hi")).RateVerdict().Reason);
    }

    [Fact]
    public async Task GetResponseAsync_ModelFails_ReservationReturned()
    {
        var time = new FakeTimeProvider();
        var inner = new TestChatClient { GetResponseAsyncCallback = (_, _, _) => Task.FromException<ChatResponse>(new InvalidOperationException("down")) };
        using var client = Build(inner, time, o => { o.TokenLimit = 100; o.TokenEstimator = new FixedEstimator(60); });

        await Assert.ThrowsAsync<InvalidOperationException>(() => client.AskAsync("u"));
        inner.GetResponseAsyncCallback = (_, _, _) => Task.FromResult(WithUsage("ok", 60));
        Assert.Equal("ok", (await client.AskAsync("u")).Text); // the failed call's 60 were given back
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task GetResponseAsync_TenThousandConcurrentCalls_NeverOverspendByMoreThanOneReservation(bool maxOutputTokensSet)
    {
        // Each call's input ("hi") is estimated at 1 token; its answer uses up to 9 more: 10 tokens a call.
        var time = new FakeTimeProvider();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        long spent = 0;
        var inner = new TestChatClient
        {
            GetResponseAsyncCallback = async (_, options, _) =>
            {
                await gate.Task;
                Interlocked.Add(ref spent, 10);
                return WithUsage("ok", 10);
            },
        };
        using var client = Build(inner, time, o =>
        {
            o.PermitLimit = int.MaxValue;
            o.TokenLimit = 1_000;
            o.EstimatedOutputTokens = maxOutputTokensSet ? 1 : 9;
        });
        var options = User("u");
        if (maxOutputTokensSet)
        {
            options.MaxOutputTokens = 9;
        }

        // All 10,000 are admitted or limited while none has finished: every admitted call is in flight at once.
        var calls = Enumerable.Range(0, 10_000).Select(_ => Task.Run(() => client.GetResponseAsync("hi", options, Ct), Ct)).ToArray();
        while (inner.Calls + calls.Count(c => c.IsCompleted) < calls.Length)
        {
            await Task.Delay(10, Ct);
        }

        gate.SetResult();
        var responses = await Task.WhenAll(calls);

        var admitted = responses.Count(r => r.GetSafeAIResult()!.Outcome != GuardAction.Limit);
        Assert.Equal(inner.Calls, admitted);
        Assert.True(Interlocked.Read(ref spent) <= 1_000 + 10, $"{admitted} calls admitted spent {spent} tokens of a 1,000 budget");
        Assert.True(admitted >= 90, $"only {admitted} calls admitted");
    }

    [Fact]
    public async Task GetStreamingResponseAsync_UsageUpdateCharged()
    {
        var time = new FakeTimeProvider();
        var inner = new TestChatClient { GetStreamingResponseAsyncCallback = (_, _, ct) => StreamWithUsage(ct, 900) };
        using var client = Build(inner, time, o => { o.TokenLimit = 1_000; o.EstimateInputTokens = false; o.EstimatedOutputTokens = 0; });

        await foreach (var _ in client.GetStreamingResponseAsync("hi", User("u"), Ct))
        {
        }

        await foreach (var _ in client.GetStreamingResponseAsync("hi", User("u"), Ct))
        {
        }

        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in client.GetStreamingResponseAsync("hi", User("u"), Ct))
        {
            updates.Add(u);
        }

        Assert.Equal(2, inner.Calls);
        Assert.Equal(RateLimitReasons.Tokens, updates[^1].GetSafeAIResult()!.DecisiveVerdict!.Value.Reason);
    }

    [Fact]
    public void CharacterTokenEstimator_CountsFourCharactersPerToken()
    {
        Assert.Equal(0, CharacterTokenEstimator.Instance.EstimateTokens(string.Empty));
        Assert.Equal(1, CharacterTokenEstimator.Instance.EstimateTokens("abc"));
        Assert.Equal(3, CharacterTokenEstimator.Instance.EstimateTokens("abcdefghi"));
    }

    private static async IAsyncEnumerable<ChatResponseUpdate> StreamWithUsage([EnumeratorCancellation] CancellationToken ct, long tokens)
    {
        await Task.Yield();
        ct.ThrowIfCancellationRequested();
        yield return new ChatResponseUpdate(ChatRole.Assistant, "answer");
        yield return new ChatResponseUpdate { Contents = [new UsageContent(new UsageDetails { TotalTokenCount = tokens })] };
    }

    private sealed class FixedEstimator(int tokens) : ITokenEstimator
    {
        public int EstimateTokens(string text) => tokens;
    }
}

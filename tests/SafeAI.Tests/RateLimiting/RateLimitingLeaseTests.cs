using System.Runtime.CompilerServices;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Time.Testing;
using static SafeAI.Tests.RateLimiting.RateLimitingTestHelpers;

namespace SafeAI.Tests.RateLimiting;

public class RateLimitingLeaseTests
{
    private static IChatClient ConcurrencyClient(TestChatClient inner, int limit = 1) =>
        Build(inner, new FakeTimeProvider(), o => { o.Algorithm = RateLimitAlgorithm.Concurrency; o.PermitLimit = limit; });

    [Fact]
    public async Task GetResponseAsync_Concurrency_SecondCallInFlightIsLimitedAndPermitReturnsOnSuccess()
    {
        var gate = new TaskCompletionSource<ChatResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        var inner = new TestChatClient { GetResponseAsyncCallback = (_, _, _) => gate.Task };
        using var client = ConcurrencyClient(inner);

        var first = client.AskAsync("u");
        var second = await client.AskAsync("u");
        Assert.Equal(GuardAction.Limit, second.RateVerdict().Action);

        gate.SetResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "done")));
        Assert.Equal("done", (await first).Text);

        inner.GetResponseAsyncCallback = (_, _, _) => Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "again")));
        Assert.Equal("again", (await client.AskAsync("u")).Text);
    }

    [Fact]
    public async Task GetResponseAsync_Concurrency_PermitReturnsWhenModelFails()
    {
        var inner = new TestChatClient { GetResponseAsyncCallback = (_, _, _) => Task.FromException<ChatResponse>(new InvalidOperationException("boom")) };
        using var client = ConcurrencyClient(inner);

        await Assert.ThrowsAsync<InvalidOperationException>(() => client.AskAsync("u"));
        inner.GetResponseAsyncCallback = (_, _, _) => Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok")));
        Assert.Equal("ok", (await client.AskAsync("u")).Text);
    }

    [Fact]
    public async Task GetResponseAsync_Concurrency_PermitReturnsWhenCallerCancels()
    {
        var inner = new TestChatClient
        {
            GetResponseAsyncCallback = async (_, _, ct) =>
            {
                await Task.Delay(Timeout.Infinite, ct);
                return new ChatResponse();
            },
        };
        using var client = ConcurrencyClient(inner);
        using var cts = new CancellationTokenSource();

        var call = client.GetResponseAsync("hi", User("u"), cts.Token);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);

        inner.GetResponseAsyncCallback = (_, _, _) => Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok")));
        Assert.Equal("ok", (await client.AskAsync("u")).Text);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_Concurrency_LeaseHeldUntilStreamDisposed()
    {
        var inner = TestChatClient.Streaming("a", "b", "c");
        using var client = ConcurrencyClient(inner);

        var enumerator = client.GetStreamingResponseAsync("hi", User("u"), Ct).GetAsyncEnumerator(Ct);
        Assert.True(await enumerator.MoveNextAsync());

        var whileStreaming = await client.AskAsync("u");
        Assert.Equal(GuardAction.Limit, whileStreaming.RateVerdict().Action);

        await enumerator.DisposeAsync(); // the caller stops reading early
        Assert.Equal(GuardAction.Allow, (await client.AskAsync("u")).RateVerdict().Action);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_Concurrency_LeaseReleasedWhenStreamFails()
    {
        var inner = new TestChatClient { GetStreamingResponseAsyncCallback = (_, _, ct) => FailingStream(ct) };
        using var client = ConcurrencyClient(inner);

        await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            await foreach (var _ in client.GetStreamingResponseAsync("hi", User("u"), Ct))
            {
            }
        });

        inner.GetResponseAsyncCallback = (_, _, _) => Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok")));
        Assert.Equal("ok", (await client.AskAsync("u")).Text);
    }

    [Fact]
    public async Task AcquireAsync_TenThousandConcurrent_NeverAdmitsMoreThanLimit()
    {
        foreach (var algorithm in new[] { RateLimitAlgorithm.FixedWindow, RateLimitAlgorithm.SlidingWindow, RateLimitAlgorithm.TokenBucket })
        {
            var options = new RateLimitingOptions { Algorithm = algorithm, PermitLimit = 137, Window = TimeSpan.FromHours(1), ReplenishmentPeriod = TimeSpan.FromHours(1) };
            using var limiter = RateLimitStore.InMemory.CreateLimiter("t", options, new FakeTimeProvider());
            var admitted = 0;
            await Parallel.ForAsync(0, 10_000, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = Ct }, async (i, ct) =>
            {
                using var lease = await limiter.AcquireAsync(i % 2 == 0 ? "shared" : "shared", 1, ct);
                if (lease.IsAcquired)
                {
                    Interlocked.Increment(ref admitted);
                }
            });

            Assert.Equal(137, admitted);
        }
    }

    [Fact]
    public async Task GetResponseAsync_TenThousandConcurrentCalls_ModelSeesAtMostLimit()
    {
        var inner = new TestChatClient { GetResponseAsyncCallback = async (_, _, _) => { await Task.Yield(); return new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok")); } };
        using var client = Build(inner, new FakeTimeProvider(), o => { o.PartitionBy = RateLimitPartition.Global; o.PermitLimit = 250; });

        var limited = 0;
        await Parallel.ForAsync(0, 10_000, new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = Ct }, async (i, ct) =>
        {
            var response = await client.GetResponseAsync("hi", User("u" + i), ct);
            if (response.GetSafeAIResult()!.Outcome == GuardAction.Limit)
            {
                Interlocked.Increment(ref limited);
            }
        });

        Assert.Equal(250, inner.Calls);
        Assert.Equal(9_750, limited);
    }

    [Fact]
    public void AcquireAsync_ConcurrencyLimitUnderContention_InFlightNeverExceedsLimit()
    {
        var options = new RateLimitingOptions { Algorithm = RateLimitAlgorithm.Concurrency, PermitLimit = 7 };
        using var limiter = RateLimitStore.InMemory.CreateLimiter("t", options, new FakeTimeProvider());
        var inFlight = 0;
        var peak = 0;
        var admitted = 0;
        Parallel.For(0, 10_000, new ParallelOptions { MaxDegreeOfParallelism = 16 }, _ =>
        {
            using var lease = limiter.AttemptAcquire("k");
            if (lease.IsAcquired)
            {
                var now = Interlocked.Increment(ref inFlight);
                InterlockedMax(ref peak, now);
                Interlocked.Increment(ref admitted);
                Thread.SpinWait(50);
                Interlocked.Decrement(ref inFlight);
            }
        });

        Assert.InRange(peak, 1, 7);
        Assert.True(admitted > 7);
        Assert.Equal(7, limiter.GetStatistics("k")!.CurrentAvailablePermits);
    }

    [Fact]
    public void PartitionTable_MillionDistinctUsers_MemoryStaysBounded()
    {
        var time = new FakeTimeProvider();
        var options = new RateLimitingOptions { PermitLimit = 5, Window = TimeSpan.FromSeconds(1), IdlePartitionTimeout = TimeSpan.FromSeconds(2), MaxPartitions = 50_000 };
        using var limiter = (InMemoryWindowLimiter)RateLimitStore.InMemory.CreateLimiter("t", options, time);
        var peak = 0;
        GC.Collect();
        var before = GC.GetTotalMemory(forceFullCollection: true);

        for (var i = 0; i < 1_000_000; i++)
        {
            using var lease = limiter.AttemptAcquire("user-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.True(lease.IsAcquired);
            if (i % 10_000 == 9_999)
            {
                time.Advance(TimeSpan.FromMilliseconds(500)); // 20,000 new users per second of fake time
                peak = Math.Max(peak, limiter.Table.Count);
            }
        }

        var after = GC.GetTotalMemory(forceFullCollection: true);
        Assert.InRange(peak, 1, 50_000);
        Assert.True(after - before < 64L * 1024 * 1024, $"memory grew by {(after - before) / 1024 / 1024} MiB");

        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(0, limiter.Table.Count);
    }

    [Fact]
    public void PartitionTable_FullOfActivePartitions_NewKeysShareOverflowPartition()
    {
        var time = new FakeTimeProvider();
        var options = new RateLimitingOptions { PermitLimit = 2, Window = TimeSpan.FromMinutes(1), MaxPartitions = 3 };
        using var limiter = (InMemoryWindowLimiter)RateLimitStore.InMemory.CreateLimiter("t", options, time);

        foreach (var key in new[] { "a", "b", "c" })
        {
            Assert.True(limiter.AttemptAcquire(key).IsAcquired);
        }

        Assert.True(limiter.AttemptAcquire("d").IsAcquired);
        Assert.True(limiter.AttemptAcquire("e").IsAcquired);
        Assert.False(limiter.AttemptAcquire("f").IsAcquired); // d, e and f share the overflow partition's 2 permits
        Assert.Equal(3, limiter.Table.Count);
        Assert.True(limiter.AttemptAcquire("a").IsAcquired); // existing partitions keep their own limits
    }

    [Fact]
    public void PartitionTable_IdlePartitionDropped_NeverGrantsExtraPermits()
    {
        var time = new FakeTimeProvider();
        var options = new RateLimitingOptions { Algorithm = RateLimitAlgorithm.TokenBucket, PermitLimit = 2, TokensPerPeriod = 1, ReplenishmentPeriod = TimeSpan.FromSeconds(10), IdlePartitionTimeout = TimeSpan.FromSeconds(1) };
        using var limiter = (InMemoryWindowLimiter)RateLimitStore.InMemory.CreateLimiter("t", options, time);

        Assert.True(limiter.AttemptAcquire("u").IsAcquired);
        Assert.True(limiter.AttemptAcquire("u").IsAcquired);
        time.Advance(TimeSpan.FromSeconds(5)); // sweeps ran, but the bucket is not full again: the partition must stay
        Assert.Equal(1, limiter.Table.Count);
        Assert.False(limiter.AttemptAcquire("u").IsAcquired);

        time.Advance(TimeSpan.FromSeconds(30)); // refilled: dropping it changes nothing
        Assert.Equal(0, limiter.Table.Count);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while (value > (current = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }

    private static async IAsyncEnumerable<ChatResponseUpdate> FailingStream([EnumeratorCancellation] CancellationToken ct)
    {
        await Task.Yield();
        yield return new ChatResponseUpdate(ChatRole.Assistant, "partial");
        ct.ThrowIfCancellationRequested();
        throw new InvalidOperationException("stream broke");
    }
}

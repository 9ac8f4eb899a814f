using Microsoft.Extensions.Time.Testing;
using static SafeAI.Tests.RateLimiting.RateLimitingTestHelpers;

namespace SafeAI.Tests.RateLimiting;

public class RateLimitingGuardTests
{
    [Fact]
    public async Task GetResponseAsync_FixedWindowExceeded_ReturnsLimitWithRetryAfterUntilWindowEnds()
    {
        var time = new FakeTimeProvider();
        var inner = TestChatClient.Answering("ok");
        using var client = Build(inner, time, o => { o.PermitLimit = 2; o.Window = TimeSpan.FromSeconds(10); });

        Assert.Equal("ok", (await client.AskAsync("alice")).Text);
        time.Advance(TimeSpan.FromSeconds(4));
        Assert.Equal("ok", (await client.AskAsync("alice")).Text);
        var limited = await client.AskAsync("alice");

        var verdict = limited.RateVerdict();
        Assert.Equal(GuardAction.Limit, verdict.Action);
        Assert.Equal(RateLimitReasons.User, verdict.Reason);
        Assert.Equal(TimeSpan.FromSeconds(6), verdict.RetryAfter);
        Assert.Equal("rate_limited", limited.FinishReason?.Value);
        Assert.Contains("try again in 6 seconds", limited.Text, StringComparison.Ordinal);
        Assert.Equal(2, inner.Calls);

        time.Advance(TimeSpan.FromSeconds(6));
        Assert.Equal("ok", (await client.AskAsync("alice")).Text);
        Assert.Equal(3, inner.Calls);
    }

    [Fact]
    public async Task GetResponseAsync_PerUserLimit_OtherUsersUnaffected()
    {
        var time = new FakeTimeProvider();
        using var client = Build(TestChatClient.Answering("ok"), time, o => o.PermitLimit = 1);

        Assert.Equal(GuardAction.Allow, (await client.AskAsync("alice")).RateVerdict().Action);
        Assert.Equal(GuardAction.Limit, (await client.AskAsync("alice")).RateVerdict().Action);
        Assert.Equal(GuardAction.Allow, (await client.AskAsync("bob")).RateVerdict().Action);
    }

    [Theory]
    [InlineData(RateLimitPartition.Tenant, RateLimitReasons.Tenant)]
    [InlineData(RateLimitPartition.ApiKey, RateLimitReasons.ApiKey)]
    [InlineData(RateLimitPartition.Global, RateLimitReasons.Global)]
    public async Task GetResponseAsync_PartitionBy_CountsByThatKeyWithItsReason(RateLimitPartition partition, string reason)
    {
        var time = new FakeTimeProvider();
        using var client = Build(TestChatClient.Answering("ok"), time, o => { o.PartitionBy = partition; o.PermitLimit = 1; });
        var shared = new SafeAICallContext { TenantId = "t1", ApiKeyId = "k1" };

        var first = await client.GetResponseAsync("hi", new ChatOptions().WithSafeAIContext(shared with { UserId = "a" }), Ct);
        var second = await client.GetResponseAsync("hi", new ChatOptions().WithSafeAIContext(shared with { UserId = "b" }), Ct);
        var otherTenantAndKey = await client.GetResponseAsync("hi", new ChatOptions().WithSafeAIContext(new SafeAICallContext { TenantId = "t2", ApiKeyId = "k2" }), Ct);

        Assert.Equal(GuardAction.Allow, first.RateVerdict().Action);
        Assert.Equal(GuardAction.Limit, second.RateVerdict().Action);
        Assert.Equal(reason, second.RateVerdict().Reason);
        Assert.Equal(partition == RateLimitPartition.Global ? GuardAction.Limit : GuardAction.Allow, otherTenantAndKey.RateVerdict().Action);
    }

    [Fact]
    public async Task GetResponseAsync_CustomPartitionKey_UsesSelector()
    {
        var time = new FakeTimeProvider();
        using var client = Build(TestChatClient.Answering("ok"), time, o =>
        {
            o.PartitionBy = RateLimitPartition.Custom;
            o.PartitionKeySelector = c => c.Locale;
            o.PermitLimit = 1;
        });

        var fr1 = await client.GetResponseAsync("hi", new ChatOptions().WithLocale("fr"), Ct);
        var fr2 = await client.GetResponseAsync("hi", new ChatOptions().WithLocale("fr"), Ct);
        var de = await client.GetResponseAsync("hi", new ChatOptions().WithLocale("de"), Ct);

        Assert.Equal(GuardAction.Allow, fr1.RateVerdict().Action);
        Assert.Equal(RateLimitReasons.Custom, fr2.RateVerdict().Reason);
        Assert.Equal(GuardAction.Allow, de.RateVerdict().Action);
    }

    [Fact]
    public async Task GetResponseAsync_NoUser_SharesAnonymousPartition()
    {
        var time = new FakeTimeProvider();
        using var client = Build(TestChatClient.Answering("ok"), time, o => o.PermitLimit = 1);

        Assert.Equal(GuardAction.Allow, (await client.GetResponseAsync("hi", cancellationToken: Ct)).RateVerdict().Action);
        Assert.Equal(GuardAction.Limit, (await client.GetResponseAsync("hi", cancellationToken: Ct)).RateVerdict().Action);
    }

    [Fact]
    public async Task GetResponseAsync_SlidingWindow_PermitsReturnAsSegmentsExpire()
    {
        var time = new FakeTimeProvider();
        using var client = Build(TestChatClient.Answering("ok"), time, o =>
        {
            o.Algorithm = RateLimitAlgorithm.SlidingWindow;
            o.PermitLimit = 2;
            o.Window = TimeSpan.FromSeconds(10);
            o.SegmentsPerWindow = 5;
        });

        Assert.Equal(GuardAction.Allow, (await client.AskAsync("u")).RateVerdict().Action); // t=0, segment 0
        time.Advance(TimeSpan.FromSeconds(4));
        Assert.Equal(GuardAction.Allow, (await client.AskAsync("u")).RateVerdict().Action); // t=4, segment 2
        var limited = (await client.AskAsync("u")).RateVerdict();
        Assert.Equal(GuardAction.Limit, limited.Action);
        Assert.Equal(TimeSpan.FromSeconds(6), limited.RetryAfter); // the t=0 request leaves the window at t=10

        time.Advance(TimeSpan.FromSeconds(5)); // t=9: a fixed window started at t=4 would not help; the sliding one still holds both
        Assert.Equal(GuardAction.Limit, (await client.AskAsync("u")).RateVerdict().Action);
        time.Advance(TimeSpan.FromSeconds(1)); // t=10
        Assert.Equal(GuardAction.Allow, (await client.AskAsync("u")).RateVerdict().Action);
        Assert.Equal(GuardAction.Limit, (await client.AskAsync("u")).RateVerdict().Action);
    }

    [Fact]
    public async Task GetResponseAsync_TokenBucket_AllowsBurstThenSteadyRate()
    {
        var time = new FakeTimeProvider();
        using var client = Build(TestChatClient.Answering("ok"), time, o =>
        {
            o.Algorithm = RateLimitAlgorithm.TokenBucket;
            o.PermitLimit = 3;
            o.TokensPerPeriod = 1;
            o.ReplenishmentPeriod = TimeSpan.FromSeconds(2);
        });

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(GuardAction.Allow, (await client.AskAsync("u")).RateVerdict().Action);
        }

        var limited = (await client.AskAsync("u")).RateVerdict();
        Assert.Equal(GuardAction.Limit, limited.Action);
        Assert.Equal(TimeSpan.FromSeconds(2), limited.RetryAfter);

        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(GuardAction.Allow, (await client.AskAsync("u")).RateVerdict().Action);
        Assert.Equal(GuardAction.Limit, (await client.AskAsync("u")).RateVerdict().Action);

        time.Advance(TimeSpan.FromMinutes(10)); // refills to the bucket size, not beyond
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(GuardAction.Allow, (await client.AskAsync("u")).RateVerdict().Action);
        }

        Assert.Equal(GuardAction.Limit, (await client.AskAsync("u")).RateVerdict().Action);
    }

    [Fact]
    public async Task GetResponseAsync_ThrowMode_ThrowsRateLimitedExceptionWithRetryAfter()
    {
        var time = new FakeTimeProvider();
        using var client = Build(TestChatClient.Answering("ok"), time, o => { o.PermitLimit = 1; o.Window = TimeSpan.FromSeconds(30); },
            p => p.OnRejected = RejectionBehavior.ThrowException);

        await client.AskAsync("u");
        var ex = await Assert.ThrowsAsync<SafeAIRateLimitedException>(() => client.AskAsync("u"));

        Assert.Equal(TimeSpan.FromSeconds(30), ex.RetryAfter);
        Assert.Equal(RateLimitReasons.User, ex.Result.DecisiveVerdict!.Value.Reason);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_Limited_StreamsOneLimitNotice()
    {
        var time = new FakeTimeProvider();
        var inner = TestChatClient.Streaming("a", "b");
        using var client = Build(inner, time, o => o.PermitLimit = 1);

        await foreach (var _ in client.GetStreamingResponseAsync("hi", User("u"), Ct))
        {
        }

        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in client.GetStreamingResponseAsync("hi", User("u"), Ct))
        {
            updates.Add(u);
        }

        Assert.Equal(1, inner.Calls);
        Assert.Contains("try again in", updates[0].Text, StringComparison.Ordinal);
        Assert.Equal(GuardAction.Limit, updates[^1].GetSafeAIResult()!.Outcome);
    }

    [Fact]
    public async Task GetResponseAsync_QueueLimit_WaitsForNextWindowInsteadOfRejecting()
    {
        var time = new FakeTimeProvider();
        var inner = TestChatClient.Answering("ok");
        using var client = Build(inner, time, o => { o.PermitLimit = 1; o.Window = TimeSpan.FromSeconds(1); o.QueueLimit = 1; });

        await client.AskAsync("u");
        var queued = client.AskAsync("u");
        var rejected = await client.AskAsync("u"); // the queue holds one

        Assert.False(queued.IsCompleted);
        Assert.Equal(GuardAction.Limit, rejected.RateVerdict().Action);

        time.Advance(TimeSpan.FromSeconds(1));
        var response = await queued.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal("ok", response.Text);
        Assert.Equal(2, inner.Calls);
    }

    [Fact]
    public async Task GetResponseAsync_QueuedCallCancelled_ThrowsAndFreesQueueSlot()
    {
        var time = new FakeTimeProvider();
        using var client = Build(TestChatClient.Answering("ok"), time, o => { o.PermitLimit = 1; o.Window = TimeSpan.FromSeconds(1); o.QueueLimit = 1; });
        await client.AskAsync("u");
        using var cts = new CancellationTokenSource();

        var queued = client.GetResponseAsync("hi", User("u"), cts.Token);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued);
        var next = client.AskAsync("u"); // the freed slot takes a new waiter
        Assert.False(next.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal("ok", (await next.WaitAsync(TimeSpan.FromSeconds(10), Ct)).Text);
    }

    [Fact]
    public void AddRateLimiting_InvalidSettings_ThrowsNamingTheSetting()
    {
        var ex = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() =>
            new SafeAIPipelineBuilder().AddRateLimiting(o => o.PermitLimit = 0));
        Assert.Contains("SafeAI:RateLimiting:PermitLimit must be at least 1.", ex.Message, StringComparison.Ordinal);

        var custom = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() =>
            new SafeAIPipelineBuilder().AddRateLimiting(o => o.PartitionBy = RateLimitPartition.Custom));
        Assert.Contains("PartitionKeySelector", custom.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetResponseAsync_InnerClientFails_ExceptionPassesThroughAndPermitStaysUsed()
    {
        var time = new FakeTimeProvider();
        var inner = new TestChatClient { GetResponseAsyncCallback = (_, _, _) => Task.FromException<ChatResponse>(new InvalidOperationException("model down")) };
        using var client = Build(inner, time, o => o.PermitLimit = 1);

        await Assert.ThrowsAsync<InvalidOperationException>(() => client.AskAsync("u"));
        Assert.Equal(GuardAction.Limit, (await client.AskAsync("u")).RateVerdict().Action);
    }
}

public class RateLimitingHostileInputTests
{
    [Fact]
    public async Task GetResponseAsync_HugeUserIds_HashedAndStillSeparate()
    {
        var time = new FakeTimeProvider();
        using var client = Build(TestChatClient.Answering("ok"), time, o => o.PermitLimit = 1);
        var longA = new string('a', 1_000_000);
        var longB = new string('a', 999_999) + "b"; // same prefix, different user

        Assert.Equal(GuardAction.Allow, (await client.AskAsync(longA)).RateVerdict().Action);
        Assert.Equal(GuardAction.Limit, (await client.AskAsync(longA)).RateVerdict().Action);
        Assert.Equal(GuardAction.Allow, (await client.AskAsync(longB)).RateVerdict().Action);
    }

    [Fact]
    public void HashKey_LongKey_IsShortAndStable()
    {
        var key = RateLimitingGuard.Limits.HashKey(new string('x', 10_000));

        Assert.Equal(key, RateLimitingGuard.Limits.HashKey(new string('x', 10_000)));
        Assert.True(key.Length <= RateLimitingGuard.MaxKeyLength);
        Assert.StartsWith("sha256:", key, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetResponseAsync_EmptyAndNullMessages_BlockedBeforeTheLimitAndCostNoPermit()
    {
        var time = new FakeTimeProvider();
        var inner = TestChatClient.Answering("ok");
        using var client = Build(inner, time, o => { o.PermitLimit = 1; o.TokenLimit = 100; });

        var first = await client.GetResponseAsync([new ChatMessage(ChatRole.User, string.Empty)], User("u"), Ct);
        var second = await client.GetResponseAsync([new ChatMessage(ChatRole.User, (string?)null)], User("u"), Ct);
        var real = await client.GetResponseAsync("hello", User("u"), Ct);

        Assert.Equal(GuardReasons.InputEmpty, first.GetSafeAIResult()!.DecisiveVerdict!.Value.Reason);
        Assert.Equal(GuardReasons.InputEmpty, second.GetSafeAIResult()!.DecisiveVerdict!.Value.Reason);
        Assert.Equal("ok", real.Text);
        Assert.Equal(1, inner.Calls);
    }
}

public class RateLimitingTelemetryTests
{
    [Fact]
    public async Task GetResponseAsync_Limited_CountedInVerdictMetricWithReason()
    {
        using var meterFactory = new TestMeterFactory();
        var time = new FakeTimeProvider();
        using var client = TestChatClient.Answering("ok").AsBuilder()
            .UseSafeAI(safe => safe.UseTimeProvider(time).UseMeterFactory(meterFactory).Configure(o => o.RecordAllowVerdicts = true).AddRateLimiting(o => o.PermitLimit = 1))
            .Build();
        using var collector = new Microsoft.Extensions.Diagnostics.Metrics.Testing.MetricCollector<long>(meterFactory, SafeAIDiagnostics.MeterName, SafeAIDiagnostics.VerdictsInstrument);

        await client.AskAsync("u");
        await client.AskAsync("u");

        var limited = collector.GetMeasurementSnapshot().Where(m => (string?)m.Tags[SafeAIDiagnostics.ActionTag] == "limit").ToList();
        Assert.Single(limited);
        Assert.Equal(RateLimitReasons.User, limited[0].Tags[SafeAIDiagnostics.ReasonTag]);
        Assert.Equal("rate-limit", limited[0].Tags[SafeAIDiagnostics.StageTag]);
    }

    [Fact]
    public async Task GetResponseAsync_TokenBucketWithQueue_WaiterAdmittedOnRefill()
    {
        var time = new FakeTimeProvider();
        var inner = TestChatClient.Answering("ok");
        using var client = Build(inner, time, o =>
        {
            o.Algorithm = RateLimitAlgorithm.TokenBucket;
            o.PermitLimit = 1;
            o.ReplenishmentPeriod = TimeSpan.FromSeconds(5);
            o.QueueLimit = 2;
        });

        await client.AskAsync("u");
        var first = client.AskAsync("u");
        var second = client.AskAsync("u");
        Assert.False(first.IsCompleted);

        time.Advance(TimeSpan.FromSeconds(5));
        await first.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.False(second.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(5));
        await second.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal(3, inner.Calls);
    }

    private sealed class TestMeterFactory : System.Diagnostics.Metrics.IMeterFactory
    {
        private readonly List<System.Diagnostics.Metrics.Meter> _meters = [];

        public System.Diagnostics.Metrics.Meter Create(System.Diagnostics.Metrics.MeterOptions options)
        {
            var meter = new System.Diagnostics.Metrics.Meter(options.Name, options.Version, options.Tags, scope: this);
            _meters.Add(meter);
            return meter;
        }

        public void Dispose()
        {
            foreach (var meter in _meters)
            {
                meter.Dispose();
            }
        }
    }
}

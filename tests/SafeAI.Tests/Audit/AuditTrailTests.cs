using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using SafeAI.Audit;
using SafeAI.Consent;
using SafeAI.Feedback;
using SafeAI.Review;

namespace SafeAI.Tests.Audit;

public sealed class AuditTrailTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<List<AuditRecord>> ReadAsync(IAuditStore store, string? kind = null)
    {
        var list = new List<AuditRecord>();
        await foreach (var r in store.ReadAsync(kind is null ? null : new AuditQuery { Kind = kind }, Ct))
        {
            list.Add(r);
        }

        return list;
    }

    [Fact]
    public async Task AddSafeAI_AuditTrailAndConsent_RegisteredAndEveryCallRecorded()
    {
        var services = new ServiceCollection();
        services.AddSafeAI(safe => safe.AddFeedback().AddAuditTrail(o => o.ConfigurationVersion = "v9").AddConsent());
        services.AddChatClient(TestChatClient.Answering("Hello there.")).UseSafeAI();
        await using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<IChatClient>();
        var pipeline = client.GetService<SafeAIPipeline>()!;
        Assert.Equal(["consent", "audit"], pipeline.Stages.Select(static s => s.Name));
        Assert.IsType<ConsentFeedbackStore>(provider.GetRequiredService<IFeedbackStore>());

        await client.GetResponseAsync("hi", new ChatOptions().WithUser("u-1"), Ct);
        await client.GetStreamingResponseAsync("hi", new ChatOptions().WithUser("u-2"), Ct).ToChatResponseAsync(Ct);
        var trail = provider.GetRequiredService<AuditTrail>();
        await trail.FlushAsync(Ct);

        var records = await ReadAsync(provider.GetRequiredService<IAuditStore>());
        Assert.Equal(["u-1", "u-2"], records.Select(static r => r.Subject));
        Assert.Contains("\"streaming\":false", records[0].Body, StringComparison.Ordinal);
        Assert.Contains("\"streaming\":true", records[1].Body, StringComparison.Ordinal);
        Assert.Contains("\"config\":\"v9\"", records[1].Body, StringComparison.Ordinal);
        Assert.Contains("\"model\":\"test-model\"", records[0].Body, StringComparison.Ordinal);
        Assert.True((await AuditChain.VerifyAsync(provider.GetRequiredService<IAuditStore>().ReadAsync(null, Ct), null, Ct)).IsIntact);
    }

    [Fact]
    public async Task AddAuditTrail_InvalidOptions_FailsAtStartNamingTheSetting()
    {
        var services = new ServiceCollection();
        services.AddSafeAI(safe => safe.AddAuditTrail(o => o.BatchSize = 0));
        await using var provider = services.BuildServiceProvider();
        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<AuditTrailOptions>>().Value);
        Assert.Contains("SafeAI:AuditTrail:BatchSize must be between 1 and 100,000.", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ModelFails_CallIsRecordedWithTheFault_AndTheExceptionReachesTheCaller()
    {
        var store = new InMemoryAuditStore();
        await using var trail = new AuditTrail(store);
        var inner = new TestChatClient { GetResponseAsyncCallback = static (_, _, _) => Task.FromException<ChatResponse>(new HttpRequestException("down")) };
        using var client = new SafeAIChatClient(inner, new SafeAIPipelineBuilder().AddAuditTrail(trail).Build());

        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetResponseAsync("hi", cancellationToken: Ct));
        await trail.FlushAsync(Ct);

        Assert.Contains("\"fault\":\"HttpRequestException\"", Assert.Single(await ReadAsync(store)).Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReviewDecisionAndRolloutDecision_AreOperatorRecords()
    {
        var store = new InMemoryAuditStore();
        await using var trail = new AuditTrail(store);
        using var queue = new ReviewQueue(new InMemoryReviewStore(), new ReviewQueueOptions { SweepInterval = Timeout.InfiniteTimeSpan });
        using var reviewHook = trail.Attach(queue);
        var controller = new RolloutController(new RolloutPlanOptions());
        using var rolloutHook = trail.Attach(controller);

        var item = await queue.SubmitAsync(new ReviewSubmission { ProposedAnswer = "yes", UserId = "u-5" }, Ct);
        await queue.DecideAsync(item.Id, item.Version, ReviewDecision.Approve("reviewer-1"), Ct);
        controller.Abort("error rate doubled");
        await trail.FlushAsync(Ct);

        var records = await ReadAsync(store, AuditRecordKinds.Operator);
        Assert.Equal(2, records.Count);
        Assert.Equal("u-5", records[0].Subject);
        Assert.Contains("\"actor\":\"reviewer-1\"", records[0].Body, StringComparison.Ordinal);
        Assert.Contains("\"action\":\"review.approved\"", records[0].Body, StringComparison.Ordinal);
        Assert.Contains("\"action\":\"rollout.abort\"", records[1].Body, StringComparison.Ordinal);
        Assert.Contains("error rate doubled", records[1].Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KillSwitchFlippedInConfiguration_IsAnOperatorRecord()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["SafeAI:Rollout:KillSwitch"] = "false" }).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddSafeAI(safe => safe.AddRollout(o => o.Baseline = RolloutBaseline.FromClient(TestChatClient.Answering("FAQ."))).AddAuditTrail());
        services.AddChatClient(TestChatClient.Answering("AI.")).UseSafeAI();
        await using var provider = services.BuildServiceProvider();
        var trail = provider.GetRequiredService<AuditTrail>();

        configuration["SafeAI:Rollout:KillSwitch"] = "true";
        configuration.Reload();
        await trail.FlushAsync(Ct);

        var record = Assert.Single(await ReadAsync(provider.GetRequiredService<IAuditStore>(), AuditRecordKinds.Operator));
        Assert.Contains("\"action\":\"rollout.kill_switch.on\"", record.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FullQueue_DropAndCount_CountsEveryDroppedRecord()
    {
        var store = new BlockedStore();
        await using (var trail = new AuditTrail(store, new AuditTrailOptions { FullMode = AuditQueueFullMode.DropAndCount, QueueCapacity = 2, BatchSize = 1, ShutdownTimeout = TimeSpan.FromMilliseconds(200) }))
        {
            using var client = new SafeAIChatClient(TestChatClient.Answering("ok"), new SafeAIPipelineBuilder().AddAuditTrail(trail).Build());
            for (var i = 0; i < 20; i++)
            {
                await client.GetResponseAsync("hi", cancellationToken: Ct);
            }

            // Two records wait in the queue and the writer holds one (if it took it before the queue filled): the other 17
            // or 18 were dropped, and every one of them counted.
            Assert.InRange(trail.DroppedCount, 17, 18);
        }
    }

    [Fact]
    public async Task TinyQueue_Block_ManyConcurrentCallers_EveryRecordStoredInOrderOfAChainAndNoneDropped()
    {
        // Eight callers on a queue of three places with a slow store: callers keep waiting for room and are woken as the
        // writer takes records off; none may be lost, dropped or left waiting.
        var store = new InMemoryAuditStore();
        var slow = new SlowStore(store);
        await using var trail = new AuditTrail(slow, new AuditTrailOptions { QueueCapacity = 3, BatchSize = 2 });
        using var client = new SafeAIChatClient(TestChatClient.Answering("ok"), new SafeAIPipelineBuilder().AddAuditTrail(trail).Build());
        var callers = Enumerable.Range(0, 8).Select(c => Task.Run(async () =>
        {
            for (var i = 0; i < 40; i++)
            {
                await client.GetResponseAsync("hi", new ChatOptions().WithUser("u-" + c), Ct);
                Assert.InRange(trail.QueueLength, 0, 3);
            }
        }, Ct)).ToArray();

        await Task.WhenAll(callers).WaitAsync(TimeSpan.FromSeconds(60), Ct);
        await trail.FlushAsync(Ct);

        Assert.Equal(0, trail.DroppedCount);
        Assert.Equal(320, trail.WrittenCount);
        Assert.Equal(0, trail.QueueLength);
        var records = await ReadAsync(store, AuditRecordKinds.Call);
        Assert.Equal(320, records.Count);
        Assert.Equal(8, records.Select(static r => r.Subject).Distinct().Count());
        Assert.True((await AuditChain.VerifyAsync(store.ReadAsync(null, Ct), null, Ct)).IsIntact);
    }

    /// <summary>Delays every append a little, so a small queue fills.</summary>
    private sealed class SlowStore(IAuditStore inner) : IAuditStore
    {
        public async ValueTask<AuditHead> AppendAsync(IReadOnlyList<AuditEntry> entries, AuditSealer sealer, CancellationToken cancellationToken = default)
        {
            await Task.Delay(1, cancellationToken);
            return await inner.AppendAsync(entries, sealer, cancellationToken);
        }

        public IAsyncEnumerable<AuditRecord> ReadAsync(AuditQuery? query = null, CancellationToken cancellationToken = default) => inner.ReadAsync(query, cancellationToken);

        public ValueTask<AuditHead> GetHeadAsync(CancellationToken cancellationToken = default) => inner.GetHeadAsync(cancellationToken);

        public ValueTask<int> EraseTextAsync(string subject, CancellationToken cancellationToken = default) => inner.EraseTextAsync(subject, cancellationToken);

        public ValueTask<long> DeleteBeforeAsync(long sequence, CancellationToken cancellationToken = default) => inner.DeleteBeforeAsync(sequence, cancellationToken);
    }

    /// <summary>A store whose appends never complete (a database that hangs).</summary>
    private sealed class BlockedStore : IAuditStore
    {
        public async ValueTask<AuditHead> AppendAsync(IReadOnlyList<AuditEntry> entries, AuditSealer sealer, CancellationToken cancellationToken = default)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return AuditHead.Empty;
        }

        public IAsyncEnumerable<AuditRecord> ReadAsync(AuditQuery? query = null, CancellationToken cancellationToken = default) => AsyncEnumerable.Empty<AuditRecord>();

        public ValueTask<AuditHead> GetHeadAsync(CancellationToken cancellationToken = default) => new(AuditHead.Empty);

        public ValueTask<int> EraseTextAsync(string subject, CancellationToken cancellationToken = default) => new(0);

        public ValueTask<long> DeleteBeforeAsync(long sequence, CancellationToken cancellationToken = default) => new(0L);
    }
}

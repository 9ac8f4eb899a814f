using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using SafeAI.Review;

namespace SafeAI.Tests.Review;

public class HumanReviewGuardTests
{
    private const string Answer = "Yes, you are eligible for a loan of up to 20,000.";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static ChatOptions HighRisk => new ChatOptions().WithUser("u-1").WithRiskTier(RiskTier.High);

    private static IChatClient Client(IChatClient inner, IReviewQueue queue, Action<HumanReviewOptions>? configure = null, Action<SafeAIPipelineBuilder>? more = null, TimeProvider? time = null) =>
        inner.AsBuilder().UseSafeAI(safe =>
        {
            if (time is not null)
            {
                safe.UseTimeProvider(time);
            }

            safe.AddHumanReview(queue, configure);
            more?.Invoke(safe);
        }).Build();

    /// <summary>A simulated reviewer: decides every new item on a background task.</summary>
    private static IDisposable Reviewer(IReviewQueue queue, Func<ReviewItem, ReviewDecision> decide) =>
        queue.Subscribe((item, ct) =>
        {
            if (item.State == ReviewState.Pending)
            {
                _ = Task.Run(async () => await queue.DecideAsync(item.Id, item.Version, decide(item)));
            }

            return ValueTask.CompletedTask;
        });

    [Fact]
    public async Task GetResponseAsync_HoldApproved_ReturnsReviewedAnswerWithReviewer()
    {
        using var queue = new ReviewQueue(new InMemoryReviewStore());
        using var reviewer = Reviewer(queue, _ => ReviewDecision.Approve("alice", "income verified"));
        using var client = Client(TestChatClient.Answering(Answer), queue);

        var response = await client.GetResponseAsync("Am I eligible for a loan?", HighRisk, Ct);

        Assert.Equal(Answer, response.Text);
        var result = response.GetSafeAIResult()!;
        Assert.True(result.TryGetVerdict("review", out var pending));
        Assert.Equal(GuardAction.Escalate, pending.Action);
        Assert.Equal(ReviewReasons.Pending, pending.Reason);
        var decision = result.Single(v => v.Reason == ReviewReasons.Approved);
        Assert.Equal(GuardAction.Allow, decision.Action);
        Assert.Contains("reviewer alice", decision.Detail, StringComparison.Ordinal);
        var outcome = response.GetReviewOutcome()!;
        Assert.Equal(ReviewState.Approved, outcome.State);
        Assert.Equal("alice", outcome.ReviewerId);
        Assert.Equal("income verified", outcome.Comment);

        var item = (await queue.GetAsync(outcome.TicketId, Ct))!;
        Assert.Equal("Am I eligible for a loan?", Assert.Single(item.Request).Text);
        Assert.Equal(Answer, item.ProposedAnswer);
        Assert.Equal("u-1", item.UserId);
        Assert.Equal(RiskTier.High, item.RiskTier);
        Assert.Contains(ReviewReasons.TriggerRiskTier, item.Triggers);
    }

    [Fact]
    public async Task GetResponseAsync_HoldEdited_ReturnsEditedAnswer()
    {
        using var queue = new ReviewQueue(new InMemoryReviewStore());
        using var reviewer = Reviewer(queue, _ => ReviewDecision.Edit("bob", "A loan officer will check your eligibility and call you."));
        using var client = Client(TestChatClient.Answering(Answer), queue);

        var response = await client.GetResponseAsync("Am I eligible for a loan?", HighRisk, Ct);

        Assert.Equal("A loan officer will check your eligibility and call you.", response.Text);
        var edited = response.GetSafeAIResult()!.Single(v => v.Reason == ReviewReasons.Edited);
        Assert.Equal(GuardAction.Modify, edited.Action);
        Assert.Equal("bob", response.GetReviewOutcome()!.ReviewerId);
    }

    [Fact]
    public async Task GetResponseAsync_HoldRejected_ReturnsRefusalWithTicket()
    {
        using var queue = new ReviewQueue(new InMemoryReviewStore());
        using var reviewer = Reviewer(queue, _ => ReviewDecision.Reject("carol", "not allowed to promise amounts"));
        using var client = Client(TestChatClient.Answering(Answer), queue);

        var response = await client.GetResponseAsync("Am I eligible for a loan?", HighRisk, Ct);

        Assert.DoesNotContain("20,000", response.Text, StringComparison.Ordinal);
        Assert.Equal(ChatFinishReason.ContentFilter, response.FinishReason);
        var outcome = response.GetReviewOutcome()!;
        Assert.Contains(outcome.TicketId, response.Text, StringComparison.Ordinal);
        var result = response.GetSafeAIResult()!;
        Assert.True(result.IsRejected);
        Assert.Equal(ReviewReasons.Rejected, result.DecisiveVerdict!.Value.Reason);
    }

    [Fact]
    public async Task GetResponseAsync_HoldHumanReviewDeclined_ItemHasNoText_ApproveRefused_ReviewerWritesTheAnswer()
    {
        using var queue = new ReviewQueue(new InMemoryReviewStore());
        ReviewItem? seen = null;
        Exception? approveError = null;
        using var reviewer = queue.Subscribe((item, ct) =>
        {
            if (item.State == ReviewState.Pending)
            {
                seen = item;
                _ = Task.Run(async () =>
                {
                    try
                    {
                        await queue.DecideAsync(item.Id, item.Version, ReviewDecision.Approve("alice"));
                    }
                    catch (ReviewConflictException ex)
                    {
                        approveError = ex;
                        await queue.DecideAsync(item.Id, item.Version, ReviewDecision.Edit("alice", "Please call us about loans."));
                    }
                });
            }

            return ValueTask.CompletedTask;
        });
        using var client = Client(TestChatClient.Answering(Answer), queue);
        var declined = new ChatOptions().WithSafeAIContext(new SafeAICallContext
        {
            UserId = "u-1",
            RiskTier = RiskTier.High,
            DeclinedConsents = new HashSet<string> { Consent.ConsentPurposes.HumanReview },
        });

        var response = await client.GetResponseAsync("Am I eligible for a loan with my salary of 41,000?", declined, Ct);

        // The answer held in memory is never released unseen: the caller gets what the reviewer wrote.
        Assert.Equal("Please call us about loans.", response.Text);
        Assert.IsType<ReviewConflictException>(approveError);
        Assert.NotNull(seen);
        Assert.True(seen.TextWithheld);
        Assert.Equal(ReviewReasons.AnswerWithheld, seen.ProposedAnswer);
        Assert.DoesNotContain(seen.Request, static m => m.Text.Contains("41,000", StringComparison.Ordinal));
        Assert.Equal(ReviewState.Edited, response.GetReviewOutcome()!.State);
    }

    [Fact]
    public async Task GetResponseAsync_HoldTimesOutWithFollowUp_ReturnsHonestNoticeAndKeepsItem()
    {
        var time = new FakeTimeProvider();
        using var queue = new ReviewQueue(new InMemoryReviewStore(), timeProvider: time);
        using var client = Client(TestChatClient.Answering(Answer), queue, o => o.HoldTimeout = TimeSpan.FromSeconds(30), time: time);

        var call = client.GetResponseAsync("Am I eligible for a loan?", HighRisk, Ct);
        await AdvanceUntilAsync(time, call, TimeSpan.FromSeconds(1));
        var response = await call;

        Assert.DoesNotContain("20,000", response.Text, StringComparison.Ordinal);
        Assert.Contains("follow up", response.Text, StringComparison.Ordinal);
        var outcome = response.GetReviewOutcome()!;
        Assert.Contains(outcome.TicketId, response.Text, StringComparison.Ordinal);
        var timeout = response.GetSafeAIResult()!.Single(v => v.Reason == ReviewReasons.Timeout);
        Assert.Equal(GuardAction.Degrade, timeout.Action);
        Assert.True(timeout.Elapsed >= TimeSpan.FromSeconds(30));
        Assert.Equal(ReviewState.Pending, (await queue.GetAsync(outcome.TicketId, Ct))!.State);
    }

    [Fact]
    public async Task GetResponseAsync_HoldTimesOutWithRelease_ReturnsUnreviewedAnswer()
    {
        var time = new FakeTimeProvider();
        using var queue = new ReviewQueue(new InMemoryReviewStore(), timeProvider: time);
        using var client = Client(TestChatClient.Answering(Answer), queue, o =>
        {
            o.HoldTimeout = TimeSpan.FromSeconds(5);
            o.TimeoutAction = ReviewTimeoutAction.Release;
        }, time: time);

        var call = client.GetResponseAsync("Am I eligible for a loan?", HighRisk, Ct);
        await AdvanceUntilAsync(time, call, TimeSpan.FromSeconds(1));
        var response = await call;

        Assert.Equal(Answer, response.Text);
        var timeout = response.GetSafeAIResult()!.Single(v => v.Reason == ReviewReasons.Timeout);
        Assert.Equal(GuardAction.Allow, timeout.Action);
        Assert.Contains("released unreviewed", timeout.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetResponseAsync_Defer_AnswersAtOnceWithTicketAndDecisionArrivesLater()
    {
        using var queue = new ReviewQueue(new InMemoryReviewStore());
        var decided = new TaskCompletionSource<ReviewItem>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var sub = queue.Subscribe((item, _) =>
        {
            if (item.IsDecided)
            {
                decided.TrySetResult(item);
            }

            return ValueTask.CompletedTask;
        });
        var inner = TestChatClient.Answering(Answer);
        using var client = Client(inner, queue, o => o.Mode = ReviewMode.Defer);

        var response = await client.GetResponseAsync("Am I eligible for a loan?", HighRisk, Ct);

        var outcome = response.GetReviewOutcome()!;
        Assert.Equal(ReviewMode.Defer, outcome.Mode);
        Assert.Equal(ReviewState.Pending, outcome.State);
        Assert.Contains(outcome.TicketId, response.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("20,000", response.Text, StringComparison.Ordinal);
        Assert.Equal(GuardAction.Escalate, response.GetSafeAIResult()!.Outcome);

        var item = (await queue.GetAsync(outcome.TicketId, Ct))!;
        await queue.DecideAsync(item.Id, item.Version, ReviewDecision.Approve("alice"), Ct);
        var delivered = await decided.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal(Answer, delivered.FinalAnswer);
        Assert.Equal(1, inner.Calls);
    }

    [Fact]
    public async Task GetResponseAsync_LowRiskNoTrigger_PassesThroughWithoutReview()
    {
        using var queue = new ReviewQueue(new InMemoryReviewStore());
        using var client = Client(TestChatClient.Answering(Answer), queue);

        var response = await client.GetResponseAsync("Opening hours?", new ChatOptions().WithRiskTier(RiskTier.Low), Ct);

        Assert.Equal(Answer, response.Text);
        Assert.Null(response.GetReviewOutcome());
        Assert.False(response.GetSafeAIResult()!.TryGetVerdict("review", out _));
        Assert.Empty((await queue.ListAsync(cancellationToken: Ct)).Items);
    }

    [Fact]
    public async Task GetResponseAsync_EarlierStageEscalates_AnswerIsReviewed()
    {
        using var queue = new ReviewQueue(new InMemoryReviewStore());
        using var reviewer = Reviewer(queue, _ => ReviewDecision.Approve("alice"));
        using var client = Client(TestChatClient.Answering(Answer), queue, more: safe => safe.AddOutputCheck("confidence", (_, _, _) =>
            ValueTask.FromResult(GuardVerdict.Escalate("confidence", "confidence.low") with { Score = 0.3, Threshold = 0.6 })));

        var response = await client.GetResponseAsync("Am I eligible for a loan?", cancellationToken: Ct);

        var item = (await queue.GetAsync(response.GetReviewOutcome()!.TicketId, Ct))!;
        Assert.Equal([ReviewReasons.TriggerEscalated], item.Triggers);
        Assert.Contains(item.Verdicts, v => v.Reason == "confidence.low" && v.Score == 0.3);
    }

    [Theory]
    [InlineData(0.55, true)]
    [InlineData(0.9, false)]
    [InlineData(0.1, false)]
    public async Task GetResponseAsync_ScoreInBorderlineBand_TriggersReview(double score, bool reviewed)
    {
        using var queue = new ReviewQueue(new InMemoryReviewStore());
        using var reviewer = Reviewer(queue, _ => ReviewDecision.Approve("alice"));
        using var client = Client(TestChatClient.Answering(Answer), queue, o =>
        {
            o.BorderlineScoreMin = 0.4;
            o.BorderlineScoreMax = 0.7;
            o.BorderlineStages.Add("content");
        }, safe => safe.AddOutputCheck("content", (_, _, _) => ValueTask.FromResult(GuardVerdict.Allow("content") with { Score = score, Threshold = 0.8 })));

        var response = await client.GetResponseAsync("question", cancellationToken: Ct);

        Assert.Equal(reviewed, response.GetReviewOutcome() is not null);
    }

    [Theory]
    [InlineData("transfer_money", true)]
    [InlineData("get_weather", false)]
    public async Task GetResponseAsync_ToolCallWithSideEffects_TriggersReview(string tool, bool reviewed)
    {
        using var queue = new ReviewQueue(new InMemoryReviewStore());
        using var reviewer = Reviewer(queue, _ => ReviewDecision.Approve("alice"));
        var inner = new TestChatClient
        {
            GetResponseAsyncCallback = (_, _, _) => Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, [new FunctionCallContent("c1", tool)]))),
        };
        using var client = Client(inner, queue, o => o.SideEffectTools.Add("transfer_money"));

        var response = await client.GetResponseAsync("pay my bill", cancellationToken: Ct);

        Assert.Equal(reviewed, response.GetReviewOutcome() is not null);
    }

    [Fact]
    public async Task GetResponseAsync_PredicateAsksForReview_Reviewed()
    {
        using var queue = new ReviewQueue(new InMemoryReviewStore());
        using var reviewer = Reviewer(queue, _ => ReviewDecision.Approve("alice"));
        using var client = Client(TestChatClient.Answering(Answer), queue, o => o.Predicate = static (_, r) => r.Text.Contains("loan", StringComparison.Ordinal));

        var response = await client.GetResponseAsync("question", cancellationToken: Ct);

        var item = (await queue.GetAsync(response.GetReviewOutcome()!.TicketId, Ct))!;
        Assert.Equal([ReviewReasons.TriggerPredicate], item.Triggers);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_Hold_NoTextBeforeDecisionThenEditedAnswer()
    {
        using var queue = new ReviewQueue(new InMemoryReviewStore());
        var submitted = new TaskCompletionSource<ReviewItem>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var sub = queue.Subscribe((item, _) =>
        {
            if (item.State == ReviewState.Pending)
            {
                submitted.TrySetResult(item);
            }

            return ValueTask.CompletedTask;
        });
        using var client = Client(TestChatClient.Answering(Answer), queue);

        await using var enumerator = client.GetStreamingResponseAsync("Am I eligible for a loan?", HighRisk, Ct).GetAsyncEnumerator(Ct);
        var first = enumerator.MoveNextAsync().AsTask();
        var item = await submitted.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        await Task.Delay(50, Ct);
        Assert.False(first.IsCompleted, "No update may reach the caller before the review decided.");

        await queue.DecideAsync(item.Id, item.Version, ReviewDecision.Edit("bob", "Please talk to a loan officer."), Ct);
        var updates = new List<ChatResponseUpdate>();
        if (await first)
        {
            updates.Add(enumerator.Current);
            while (await enumerator.MoveNextAsync())
            {
                updates.Add(enumerator.Current);
            }
        }

        Assert.Equal("Please talk to a loan officer.", string.Concat(updates.Select(u => u.Text)));
        Assert.Contains(updates, u => u.GetReviewOutcome()?.ReviewerId == "bob");
        Assert.Contains(updates[^1].GetSafeAIResult()!, v => v.Reason == ReviewReasons.Edited);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_HoldApproved_ReleasesOriginalChunks()
    {
        using var queue = new ReviewQueue(new InMemoryReviewStore());
        using var reviewer = Reviewer(queue, _ => ReviewDecision.Approve("alice"));
        using var client = Client(TestChatClient.Answering(Answer), queue);

        var response = await client.GetStreamingResponseAsync("Am I eligible for a loan?", HighRisk, Ct).ToChatResponseAsync(Ct);

        Assert.Equal(Answer, response.Text);
        Assert.Equal("alice", response.GetReviewOutcome()!.ReviewerId);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_Defer_YieldsOnlyPendingNotice()
    {
        using var queue = new ReviewQueue(new InMemoryReviewStore());
        using var client = Client(TestChatClient.Answering(Answer), queue, o => o.Mode = ReviewMode.Defer);

        var response = await client.GetStreamingResponseAsync("Am I eligible for a loan?", HighRisk, Ct).ToChatResponseAsync(Ct);

        Assert.DoesNotContain("20,000", response.Text, StringComparison.Ordinal);
        Assert.Contains(response.GetReviewOutcome()!.TicketId, response.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetResponseAsync_StoreUnavailable_FailsClosedQuicklyWithClearVerdict()
    {
        using var queue = new ReviewQueue(new FailingStore());
        using var client = Client(TestChatClient.Answering(Answer), queue);

        var response = await client.GetResponseAsync("Am I eligible for a loan?", HighRisk, Ct).WaitAsync(TimeSpan.FromSeconds(10), Ct);

        Assert.DoesNotContain("20,000", response.Text, StringComparison.Ordinal);
        var verdict = response.GetSafeAIResult()!.DecisiveVerdict!.Value;
        Assert.Equal(GuardAction.Block, verdict.Action);
        Assert.Equal(GuardReasons.GuardError, verdict.Reason);
        Assert.Equal("review", verdict.Stage);
    }

    [Fact]
    public async Task GetResponseAsync_StoreUnavailableFailOpen_ReleasesAnswerWithErrorVerdict()
    {
        using var queue = new ReviewQueue(new FailingStore());
        using var client = Client(TestChatClient.Answering(Answer), queue, o => o.FailureMode = GuardFailureMode.FailOpen);

        var response = await client.GetResponseAsync("Am I eligible for a loan?", HighRisk, Ct);

        Assert.Equal(Answer, response.Text);
        Assert.Contains(response.GetSafeAIResult()!, v => v.Stage == "review" && v.Reason == GuardReasons.GuardError);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_StoreUnavailable_FailsClosedWithoutLeakingText()
    {
        using var queue = new ReviewQueue(new FailingStore());
        using var client = Client(TestChatClient.Answering(Answer), queue);

        var response = await client.GetStreamingResponseAsync("Am I eligible for a loan?", HighRisk, Ct).ToChatResponseAsync(Ct);

        Assert.DoesNotContain("20,000", response.Text, StringComparison.Ordinal);
        Assert.Equal(GuardReasons.GuardError, response.GetSafeAIResult()!.DecisiveVerdict!.Value.Reason);
    }

    [Fact]
    public async Task AddHumanReview_WithDependencyInjection_BindsConfigurationAndSharesQueue()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["SafeAI:HumanReview:Mode"] = "Defer",
            ["SafeAI:HumanReview:Queue:ReviewTimeout"] = "00:05:00",
            ["SafeAI:HumanReview:MinimumRiskTier"] = "Medium",
            ["SafeAI:HumanReview:SideEffectTools:0"] = "transfer_money",
            ["SafeAI:HumanReview:BorderlineStages:0"] = "content",
        }).Build());
        services.AddSafeAI(safe => safe.AddHumanReview());
        services.AddChatClient(TestChatClient.Answering(Answer)).UseSafeAI();
        await using var sp = services.BuildServiceProvider();

        var client = sp.GetRequiredService<IChatClient>();
        var response = await client.GetResponseAsync("Am I eligible for a loan?", new ChatOptions().WithRiskTier(RiskTier.Medium), Ct);

        var options = sp.GetRequiredService<IOptions<HumanReviewOptions>>().Value;
        Assert.Equal(["transfer_money"], options.SideEffectTools);
        Assert.Equal(["content"], options.BorderlineStages);
        var queue = sp.GetRequiredService<IReviewQueue>();
        var item = Assert.Single((await queue.ListAsync(cancellationToken: Ct)).Items);
        Assert.Equal(response.GetReviewOutcome()!.TicketId, item.Id);
        Assert.Equal(TimeSpan.FromMinutes(5), item.ExpiresAt - item.CreatedAt);
    }

    [Fact]
    public void AddHumanReview_InvalidSetting_ErrorNamesSetting()
    {
        var services = new ServiceCollection();
        services.AddSafeAI(safe => safe.AddHumanReview(o => o.HoldTimeout = TimeSpan.Zero));
        services.AddChatClient(TestChatClient.Answering(Answer)).UseSafeAI();
        using var sp = services.BuildServiceProvider();

        var ex = Assert.Throws<OptionsValidationException>(() => sp.GetRequiredService<IChatClient>());
        Assert.Contains("SafeAI:HumanReview:HoldTimeout must be positive.", ex.Message, StringComparison.Ordinal);

        Assert.Throws<OptionsValidationException>(() => new SafeAIPipelineBuilder().AddHumanReview(new ReviewQueue(new InMemoryReviewStore()), o => o.BorderlineScoreMin = 0.5));
        Assert.Throws<InvalidOperationException>(() => new SafeAIPipelineBuilder().AddHumanReview());
    }

    private static async Task AdvanceUntilAsync(FakeTimeProvider time, Task call, TimeSpan step)
    {
        for (var i = 0; i < 600 && !call.IsCompleted; i++)
        {
            await Task.Delay(2, Ct);
            time.Advance(step);
        }
    }

    private sealed class FailingStore : IReviewStore
    {
        private static InvalidOperationException Down() => new("The review store is unavailable: connection refused.");

        public ValueTask AddAsync(ReviewItem item, CancellationToken cancellationToken = default) => throw Down();

        public ValueTask<ReviewItem?> GetAsync(string id, CancellationToken cancellationToken = default) => throw Down();

        public ValueTask<bool> TryReplaceAsync(ReviewItem item, long expectedVersion, CancellationToken cancellationToken = default) => throw Down();

        public ValueTask<ReviewPage> ListAsync(ReviewQuery query, CancellationToken cancellationToken = default) => throw Down();

        public ValueTask<ReviewItem?> ClaimNextAsync(string reviewerId, int? tier, DateTimeOffset now, CancellationToken cancellationToken = default) => throw Down();

        public ValueTask<IReadOnlyList<ReviewItem>> ListDueAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken = default) => throw Down();
    }
}

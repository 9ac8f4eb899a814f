using SafeAI.Review;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace SafeAI.Tests;

public class AIDisclosureGuardTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task GetResponseAsync_ModelAnswer_MachineGeneratedWithModelProviderDateAndFirstTurnNotice()
    {
        using var client = FaqChatClient.CreateDemo().AsBuilder().UseSafeAI(safe => safe.AddAIDisclosure()).Build();

        var response = await client.GetResponseAsync("What are your opening hours?", cancellationToken: Ct);

        var disclosure = response.GetAIDisclosure()!;
        Assert.Equal(AIDisclosureMode.MachineGenerated, disclosure.Mode);
        Assert.Equal(FaqChatClient.ModelId, disclosure.Model);
        Assert.Equal("SafeAI", disclosure.Provider);
        Assert.NotNull(disclosure.Date);
        Assert.StartsWith(new AIDisclosureOptions().NoticeText, response.Text, StringComparison.Ordinal);
        Assert.Contains("Monday", response.Text, StringComparison.Ordinal);
        Assert.Equal("disclosure.notice", response.GetSafeAIResult()!.Single().Reason);
    }

    [Fact]
    public async Task GetResponseAsync_LaterTurn_NoNoticeButDisclosureAttached()
    {
        using var client = FaqChatClient.CreateDemo().AsBuilder().UseSafeAI(safe => safe.Configure(o => o.RecordAllowVerdicts = true).AddAIDisclosure()).Build();

        var response = await client.GetResponseAsync(
            [new(ChatRole.User, "hi"), new(ChatRole.Assistant, "Hello!"), new(ChatRole.User, "What are your opening hours?")],
            cancellationToken: Ct);

        Assert.StartsWith("Our branches", response.Text, StringComparison.Ordinal);
        Assert.Equal(AIDisclosureMode.MachineGenerated, response.GetAIDisclosure()!.Mode);
        Assert.Equal("disclosure.ok", response.GetSafeAIResult()!.Single().Reason);
    }

    [Fact]
    public async Task GetResponseAsync_LocalisedNotice_ChosenByLocale()
    {
        using var client = FaqChatClient.CreateDemo().AsBuilder().UseSafeAI(safe => safe.AddAIDisclosure(o =>
        {
            o.Notice = AIDisclosureNotice.EveryAnswer;
            o.LocalizedNoticeTexts["de"] = "Sie chatten mit einer KI.";
        })).Build();

        var german = await client.GetResponseAsync("hours?", new ChatOptions().WithLocale("de-AT"), Ct);

        Assert.StartsWith("Sie chatten mit einer KI.", german.Text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(AIDisclosureNotice.FirstTurn)]
    [InlineData(AIDisclosureNotice.EveryAnswer)]
    public async Task GetResponseAsync_FirstTurnRefusal_ModeNoneWithoutNotice(AIDisclosureNotice notice)
    {
        using var client = FaqChatClient.CreateDemo().AsBuilder().UseSafeAI(safe => safe
            .AddAIDisclosure(o => o.Notice = notice)
            .AddInputCheck("b", (_, _) => ValueTask.FromResult(GuardVerdict.Block("b", "x.y")))).Build();

        var response = await client.GetResponseAsync("anything", cancellationToken: Ct);

        Assert.Equal(AIDisclosureMode.None, response.GetAIDisclosure()!.Mode);
        Assert.Null(response.GetAIDisclosure()!.Model);
        Assert.Equal(new SafeAIOptions().BlockedMessage, response.Text);
    }

    [Fact]
    public async Task GetResponseAsync_RateLimitedAnswer_ModeNoneWithoutNotice()
    {
        using var client = FaqChatClient.CreateDemo().AsBuilder().UseSafeAI(safe => safe
            .AddAIDisclosure()
            .AddRateLimiting(o => (o.PartitionBy, o.PermitLimit) = (RateLimitPartition.Global, 1))).Build();
        _ = await client.GetResponseAsync("What are your opening hours?", cancellationToken: Ct);

        var limited = await client.GetResponseAsync("What are your opening hours?", new ChatOptions().WithConversation("new-conversation"), Ct);

        Assert.Equal(GuardAction.Limit, limited.GetSafeAIResult()!.Outcome);
        Assert.Equal(AIDisclosureMode.None, limited.GetAIDisclosure()!.Mode);
        Assert.DoesNotContain(new AIDisclosureOptions().NoticeText, limited.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetResponseAsync_SameConversationIdWithoutHistory_NoticeOnItsFirstAnswerOnly()
    {
        using var client = FaqChatClient.CreateDemo().AsBuilder().UseSafeAI(safe => safe.AddAIDisclosure()).Build();
        var notice = new AIDisclosureOptions().NoticeText;

        var first = await client.GetResponseAsync("What are your opening hours?", new ChatOptions().WithConversation("c-1"), Ct);
        var second = await client.GetResponseAsync("How do I reset my password?", new ChatOptions().WithConversation("c-1"), Ct);
        var other = await client.GetResponseAsync("What are your opening hours?", new ChatOptions().WithConversation("c-2"), Ct);
        var otherTenant = await client.GetResponseAsync("What are your opening hours?", new ChatOptions().WithConversation("c-1").WithTenant("t-2"), Ct);

        Assert.StartsWith(notice, first.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(notice, second.Text, StringComparison.Ordinal);
        Assert.Equal(AIDisclosureMode.MachineGenerated, second.GetAIDisclosure()!.Mode);
        Assert.StartsWith(notice, other.Text, StringComparison.Ordinal);
        Assert.StartsWith(notice, otherTenant.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetResponseAsync_RefusalThenModelAnswerInOneConversation_NoticeOnTheModelAnswer()
    {
        using var client = FaqChatClient.CreateDemo().AsBuilder().UseSafeAI(safe => safe
            .AddAIDisclosure()
            .AddInputCheck("kw", (ctx, _) => ValueTask.FromResult(ctx.GetInputText().Contains("forbidden", StringComparison.Ordinal) ? GuardVerdict.Block("kw", "kw.hit") : GuardVerdict.Allow("kw")))).Build();
        var notice = new AIDisclosureOptions().NoticeText;

        var refusal = await client.GetResponseAsync("forbidden words", new ChatOptions().WithConversation("c-1"), Ct);
        var answer = await client.GetResponseAsync("What are your opening hours?", new ChatOptions().WithConversation("c-1"), Ct);
        var later = await client.GetResponseAsync("What are your opening hours?", new ChatOptions().WithConversation("c-1"), Ct);

        Assert.Equal(new SafeAIOptions().BlockedMessage, refusal.Text);
        Assert.StartsWith(notice, answer.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(notice, later.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetResponseAsync_ConversationIdleLongerThanTheMemory_NoticeAgain()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        using var client = FaqChatClient.CreateDemo().AsBuilder().UseSafeAI(safe => safe
            .UseTimeProvider(time)
            .AddAIDisclosure(o => o.ConversationMemoryDuration = TimeSpan.FromHours(1))).Build();
        var notice = new AIDisclosureOptions().NoticeText;
        var options = new ChatOptions().WithConversation("c-1");

        var first = await client.GetResponseAsync("hours?", options, Ct);
        time.Advance(TimeSpan.FromMinutes(50));
        var withinTheHour = await client.GetResponseAsync("hours?", options, Ct);
        time.Advance(TimeSpan.FromMinutes(50));
        var renewedByTheLastTurn = await client.GetResponseAsync("hours?", options, Ct);
        time.Advance(TimeSpan.FromMinutes(61));
        var forgotten = await client.GetResponseAsync("hours?", options, Ct);

        Assert.StartsWith(notice, first.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(notice, withinTheHour.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(notice, renewedByTheLastTurn.Text, StringComparison.Ordinal);
        Assert.StartsWith(notice, forgotten.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetResponseAsync_MoreConversationsThanTheMemoryHolds_MemoryStaysBounded()
    {
        using var client = FaqChatClient.CreateDemo().AsBuilder().UseSafeAI(safe => safe.AddAIDisclosure(o => o.MaxRememberedConversations = 10)).Build();
        var guard = client.GetService<SafeAIPipeline>()!.Stages.OfType<AIDisclosureGuard>().Single();

        for (var i = 0; i < 100; i++)
        {
            _ = await client.GetResponseAsync("hours?", new ChatOptions().WithConversation("c-" + i), Ct);
        }

        Assert.InRange(guard.Memory.Count, 1, 10);
        var latest = await client.GetResponseAsync("hours?", new ChatOptions().WithConversation("c-99"), Ct);
        Assert.DoesNotContain(new AIDisclosureOptions().NoticeText, latest.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_SameConversationId_NoticeOnTheFirstStreamOnly()
    {
        using var client = FaqChatClient.CreateDemo().AsBuilder().UseSafeAI(safe => safe.AddAIDisclosure()).Build();
        var notice = new AIDisclosureOptions().NoticeText;

        var first = await client.GetStreamingResponseAsync("hours?", new ChatOptions().WithConversation("s-1"), Ct).ToChatResponseAsync(Ct);
        var second = await client.GetStreamingResponseAsync("hours?", new ChatOptions().WithConversation("s-1"), Ct).ToChatResponseAsync(Ct);

        Assert.StartsWith(notice, first.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(notice, second.Text, StringComparison.Ordinal);
        Assert.Equal(AIDisclosureMode.MachineGenerated, second.GetAIDisclosure()!.Mode);
    }

    [Fact]
    public async Task GetResponseAsync_HumanApprovedAnswer_AIOriginatedWithReviewer()
    {
        using var client = FaqChatClient.CreateDemo().AsBuilder().UseSafeAI(safe => safe
            .AddAIDisclosure(o => o.Notice = AIDisclosureNotice.None)
            .Add(new FakeReviewGuard("alice"))).Build();

        var response = await client.GetResponseAsync("Am I eligible for a loan?", cancellationToken: Ct);

        var disclosure = response.GetAIDisclosure()!;
        Assert.Equal(AIDisclosureMode.AIOriginated, disclosure.Mode);
        Assert.Equal("alice", disclosure.ReviewedBy);
        Assert.Contains("reviewed-by=\"alice\"", disclosure.ToHeaderValue(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task GetResponseAsync_RealReviewStageApprovesOrEdits_AIOriginatedNamingTheReviewer(bool edit)
    {
        using var queue = new ReviewQueue(new InMemoryReviewStore());
        using var subscription = queue.Subscribe((item, ct) =>
        {
            if (item.State == ReviewState.Pending)
            {
                var decision = edit
                    ? ReviewDecision.Edit("bob", "Please visit a branch so we can assess your application.")
                    : ReviewDecision.Approve("bob");
                _ = Task.Run(async () => await queue.DecideAsync(item.Id, item.Version, decision));
            }

            return ValueTask.CompletedTask;
        });
        using var client = FaqChatClient.CreateDemo().AsBuilder().UseSafeAI(safe => safe
            .AddAIDisclosure(o => o.Notice = AIDisclosureNotice.None)
            .AddHumanReview(queue)).Build();

        var response = await client.GetResponseAsync("Am I eligible for a loan?", new ChatOptions().WithRiskTier(RiskTier.High), Ct);

        var disclosure = response.GetAIDisclosure()!;
        Assert.Equal(AIDisclosureMode.AIOriginated, disclosure.Mode);
        Assert.Equal("bob", disclosure.ReviewedBy);
    }

    [Fact]
    public async Task GetResponseAsync_DeferredReview_PendingNoticeDisclosedAsNotAI()
    {
        using var queue = new ReviewQueue(new InMemoryReviewStore());
        using var client = FaqChatClient.CreateDemo().AsBuilder().UseSafeAI(safe => safe
            .AddAIDisclosure(o => o.Notice = AIDisclosureNotice.None)
            .AddHumanReview(queue, o => o.Mode = ReviewMode.Defer)).Build();

        var response = await client.GetResponseAsync("Am I eligible for a loan?", new ChatOptions().WithRiskTier(RiskTier.High), Ct);

        Assert.Equal(ReviewState.Pending, response.GetReviewOutcome()!.State);
        Assert.Equal(AIDisclosureMode.None, response.GetAIDisclosure()!.Mode);
    }

    [Theory]
    [InlineData(false, AIDisclosureMode.None)]
    [InlineData(true, AIDisclosureMode.MachineGenerated)]
    public async Task GetResponseAsync_FallbackAnswers_ModeNoneUnlessTheLinkIsAnAIModel(bool aiLink, AIDisclosureMode expected)
    {
        var failing = new TestChatClient { GetResponseAsyncCallback = (_, _, _) => Task.FromException<ChatResponse>(new HttpRequestException("down", null, System.Net.HttpStatusCode.ServiceUnavailable)) };
        var link = aiLink ? ChatFallback.FromClient(TestChatClient.Answering("from a second model"), "backup-model") : ChatFallback.FromClient(FaqChatClient.CreateDemo());
        using var client = failing.AsBuilder().UseSafeAI(safe => safe
            .AddAIDisclosure(o => o.Notice = AIDisclosureNotice.None)
            .AddFallback(o => o.Fallbacks.Add(link))).Build();

        var response = await client.GetResponseAsync("How do I reset my password?", cancellationToken: Ct);

        Assert.Equal(GuardAction.Degrade, response.GetSafeAIResult()!.Outcome);
        Assert.Equal(expected, response.GetAIDisclosure()!.Mode);
    }

    [Fact]
    public async Task GetResponseAsync_ConfidenceReplacesAnswerWithHonestOne_ModeNone()
    {
        using var client = TestChatClient.Answering("a shaky guess").AsBuilder().UseSafeAI(safe => safe
            .AddAIDisclosure(o => o.Notice = AIDisclosureNotice.None)
            .AddConfidence(o => o.Estimators.Add(new DelegateConfidenceEstimator("fixed", static (_, _, _) => ValueTask.FromResult<double?>(0.1))))).Build();

        var response = await client.GetResponseAsync("hi", cancellationToken: Ct);

        Assert.DoesNotContain("shaky", response.Text, StringComparison.Ordinal);
        Assert.Equal(AIDisclosureMode.None, response.GetAIDisclosure()!.Mode);
    }

    [Fact]
    public async Task GetResponseAsync_StageDeclaresNonAIAnswer_ModeNone()
    {
        using var client = FaqChatClient.CreateDemo().AsBuilder().UseSafeAI(safe => safe
            .AddAIDisclosure()
            .AddInputCheck("static-answer", (ctx, _) =>
            {
                ctx.Items[AIDisclosure.ModeItemKey] = AIDisclosureMode.None;
                return ValueTask.FromResult(GuardVerdict.Allow("static-answer"));
            })).Build();

        var response = await client.GetResponseAsync("hours?", cancellationToken: Ct);

        Assert.Equal(AIDisclosureMode.None, response.GetAIDisclosure()!.Mode);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_DisclosureOnFirstUpdateWithNotice()
    {
        using var client = FaqChatClient.CreateDemo().AsBuilder().UseSafeAI(safe => safe.AddAIDisclosure()).Build();

        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in client.GetStreamingResponseAsync("What are your opening hours?", cancellationToken: Ct))
        {
            updates.Add(u);
        }

        Assert.Equal(AIDisclosureMode.MachineGenerated, updates[0].GetAIDisclosure()!.Mode);
        Assert.StartsWith(new AIDisclosureOptions().NoticeText, updates[0].Text, StringComparison.Ordinal);
        var merged = updates.ToChatResponse();
        Assert.Single(merged.Messages);
        Assert.Equal(AIDisclosureMode.MachineGenerated, merged.GetAIDisclosure()!.Mode);
        Assert.Contains("Monday", merged.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddAIDisclosure_DI_BoundFromConfiguration()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection([
            KeyValuePair.Create("SafeAI:Disclosure:Notice", (string?)"EveryAnswer"),
            KeyValuePair.Create("SafeAI:Disclosure:Provider", (string?)"Northwind AI"),
        ]).Build());
        services.AddSafeAI(safe => safe.AddAIDisclosure());
        services.AddChatClient(FaqChatClient.CreateDemo()).UseSafeAI();
        await using var provider = services.BuildServiceProvider();

        var response = await provider.GetRequiredService<IChatClient>().GetResponseAsync(
            [new(ChatRole.Assistant, "earlier"), new(ChatRole.User, "hours?")], cancellationToken: Ct);

        Assert.Equal("Northwind AI", response.GetAIDisclosure()!.Provider);
        Assert.StartsWith(new AIDisclosureOptions().NoticeText, response.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void AddAIDisclosure_InCodeInvalidOptions_Throws() =>
        Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => new SafeAIPipelineBuilder().AddAIDisclosure(o => o.NoticeText = ""));

    /// <summary>Stands in for the review stage: records an approval by a named reviewer.</summary>
    private sealed class FakeReviewGuard(string reviewer) : AIGuard("review")
    {
        public override int Order => GuardOrder.HumanReview;

        public override async ValueTask<ChatResponse> InvokeAsync(SafeAIContext context, GuardNext next)
        {
            var response = await next.GetResponseAsync(context);
            context.AddVerdict(GuardVerdict.Allow(Name, "review.approved") with { Detail = reviewer });
            return response;
        }

        public override ValueTask<IAsyncEnumerable<ChatResponseUpdate>> InvokeStreamingAsync(SafeAIContext context, GuardNext next) => next.GetStreamingResponseAsync(context);
    }
}

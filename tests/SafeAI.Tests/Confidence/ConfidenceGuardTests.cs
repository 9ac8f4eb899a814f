using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace SafeAI.Tests.Confidence;

public class ConfidenceGuardTests
{
    private static DelegateConfidenceEstimator Fixed(double? score, string name = "fixed") =>
        new(name, (_, _, _) => ValueTask.FromResult(score));

    private static IChatClient Build(IChatClient inner, Action<ConfidenceOptions> configure, Action<SafeAIPipelineBuilder>? more = null) =>
        inner.AsBuilder().UseSafeAI(safe =>
        {
            safe.Configure(o => o.RecordAllowVerdicts = true).AddConfidence(configure);
            more?.Invoke(safe);
        }).Build();

    [Fact]
    public async Task GetResponseAsync_ScoreAboveThreshold_KeepsAnswerWithAllowVerdict()
    {
        using var client = Build(TestChatClient.Answering("Paris."), o => { o.Threshold = 0.6; o.Estimators.Add(Fixed(0.9, "probe")); });

        var response = await client.GetResponseAsync("Capital of France?", cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal("Paris.", response.Text);
        Assert.True(response.GetSafeAIResult()!.TryGetVerdict("confidence", out var verdict));
        Assert.Equal(GuardAction.Allow, verdict.Action);
        Assert.Equal(ConfidenceReasons.Ok, verdict.Reason);
        Assert.Equal(0.9, verdict.Score);
        Assert.Equal(0.6, verdict.Threshold);
        Assert.Equal("probe", verdict.Detail);
    }

    [Fact]
    public async Task GetResponseAsync_ScoreBelowThreshold_ReplacesAnswerWithHonestText()
    {
        using var client = Build(TestChatClient.Answering("Confidently wrong."), o =>
        {
            o.Threshold = 0.6;
            o.HonestUncertaintyMessage = "I don't know that.";
            o.Estimators.Add(Fixed(0.2));
        });

        var response = await client.GetResponseAsync("Hard question", cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal("I don't know that.", response.Text);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
        var result = response.GetSafeAIResult()!;
        Assert.Equal(GuardAction.Modify, result.Outcome);
        Assert.Equal(ConfidenceReasons.Low, result.DecisiveVerdict!.Value.Reason);
        Assert.Equal(0.2, result.DecisiveVerdict!.Value.Score);
    }

    [Theory]
    [InlineData("de-AT", "Da bin ich mir nicht sicher.")]
    [InlineData("de", "Da bin ich mir nicht sicher.")]
    [InlineData("fr", "Not sure.")]
    public async Task GetResponseAsync_LowConfidenceWithLocale_UsesLocalisedText(string locale, string expected)
    {
        using var client = Build(TestChatClient.Answering("x"), o =>
        {
            o.HonestUncertaintyMessage = "Not sure.";
            o.HonestUncertaintyMessages["de"] = "Da bin ich mir nicht sicher.";
            o.Estimators.Add(Fixed(0.1));
        });

        var response = await client.GetResponseAsync("q", new ChatOptions().WithSafeAIContext(new SafeAICallContext { Locale = locale }), TestContext.Current.CancellationToken);

        Assert.Equal(expected, response.Text);
    }

    [Fact]
    public async Task GetResponseAsync_LowConfidenceEscalate_KeepsAnswerAndRecordsEscalate()
    {
        using var client = Build(TestChatClient.Answering("Maybe 42."), o => { o.LowConfidenceAction = LowConfidenceAction.Escalate; o.Estimators.Add(Fixed(0.3)); });

        var response = await client.GetResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal("Maybe 42.", response.Text);
        Assert.Equal(GuardAction.Escalate, response.GetSafeAIResult()!.Outcome);
    }

    [Fact]
    public async Task GetResponseAsync_LowConfidenceFallback_FallbackAnswers()
    {
        using var client = Build(TestChatClient.Answering("Shaky answer."), o => { o.LowConfidenceAction = LowConfidenceAction.Fallback; o.Estimators.Add(Fixed(0.1)); },
            safe => safe.AddFallback(f => f.Add(ChatFallback.Static("Here are our most read help articles.", "popular-content"))));

        var response = await client.GetResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal("Here are our most read help articles.", response.Text);
        var result = response.GetSafeAIResult()!;
        Assert.True(result.TryGetVerdict("fallback", out var fallback));
        Assert.Equal(GuardAction.Degrade, fallback.Action);
        Assert.Equal(FallbackReasons.LowConfidence, fallback.Reason);
        Assert.Equal("popular-content", fallback.Detail);
    }

    [Fact]
    public async Task GetResponseAsync_LowConfidenceFallbackWithoutFallbackStage_AnswersHonestly()
    {
        using var client = Build(TestChatClient.Answering("Shaky answer."), o =>
        {
            o.LowConfidenceAction = LowConfidenceAction.Fallback;
            o.HonestUncertaintyMessage = "Not sure.";
            o.Estimators.Add(Fixed(0.1));
        });

        var response = await client.GetResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal("Not sure.", response.Text);
        Assert.Equal(GuardAction.Modify, response.GetSafeAIResult()!.Outcome);
    }

    [Fact]
    public async Task GetResponseAsync_NoSignalAccept_KeepsAnswerWithUnknownReason()
    {
        using var client = Build(TestChatClient.Answering("ok"), o => o.Estimators.Add(Fixed(null)));

        var response = await client.GetResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal("ok", response.Text);
        Assert.True(response.GetSafeAIResult()!.TryGetVerdict("confidence", out var verdict));
        Assert.Equal(GuardAction.Allow, verdict.Action);
        Assert.Equal(ConfidenceReasons.Unknown, verdict.Reason);
        Assert.Null(verdict.Score);
    }

    [Fact]
    public async Task GetResponseAsync_NoSignalTreatAsLow_AppliesLowAction()
    {
        using var client = Build(TestChatClient.Answering("ok"), o =>
        {
            o.UnknownConfidence = UnknownConfidencePolicy.TreatAsLow;
            o.HonestUncertaintyMessage = "Not sure.";
        });

        var response = await client.GetResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal("Not sure.", response.Text);
        Assert.Equal(ConfidenceReasons.Unknown, response.GetSafeAIResult()!.DecisiveVerdict!.Value.Reason);
    }

    [Fact]
    public async Task GetResponseAsync_FirstEstimatorWithSignalWins()
    {
        using var client = Build(TestChatClient.Answering("ok"), o =>
        {
            o.Estimators.Add(Fixed(null, "none"));
            o.Estimators.Add(Fixed(0.8, "second"));
            o.Estimators.Add(Fixed(0.1, "third"));
        });

        var response = await client.GetResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken);

        Assert.True(response.GetSafeAIResult()!.TryGetVerdict("confidence", out var verdict));
        Assert.Equal("second", verdict.Detail);
        Assert.Equal(0.8, verdict.Score);
    }

    [Fact]
    public async Task GetResponseAsync_EstimatorReturnsOutOfRange_StageFailsClosed()
    {
        using var client = Build(TestChatClient.Answering("ok"), o => o.Estimators.Add(Fixed(1.7)));

        var response = await client.GetResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(GuardAction.Block, response.GetSafeAIResult()!.Outcome);
        Assert.Equal(GuardReasons.GuardError, response.GetSafeAIResult()!.DecisiveVerdict!.Value.Reason);
    }

    [Fact]
    public async Task GetResponseAsync_ModelThrows_ExceptionPassesThroughUnchanged()
    {
        var inner = new TestChatClient { GetResponseAsyncCallback = (_, _, _) => Task.FromException<ChatResponse>(new InvalidOperationException("model down")) };
        using var client = Build(inner, o => o.Estimators.Add(Fixed(0.9)));

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => client.GetResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken));
        Assert.Equal("model down", ex.Message);
    }

    [Fact]
    public async Task GetResponseAsync_EstimatorPreparesOptions_ModelSeesThemAndCallerOptionsUntouched()
    {
        ChatOptions? seen = null;
        var inner = new TestChatClient
        {
            GetResponseAsyncCallback = (_, options, _) =>
            {
                seen = options;
                return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok")));
            },
        };
        var estimator = new PreparingEstimator();
        using var client = Build(inner, o => o.Estimators.Add(estimator));
        var callerOptions = new ChatOptions { Temperature = 0.3f };

        await client.GetResponseAsync("q", callerOptions, TestContext.Current.CancellationToken);

        Assert.NotNull(seen);
        Assert.NotSame(callerOptions, seen);
        Assert.Equal(5, seen!.TopK);
        Assert.Equal(0.3f, seen.Temperature);
        Assert.Null(callerOptions.TopK);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_LowConfidence_AppendsHonestNoticeAtEnd()
    {
        using var client = Build(TestChatClient.Streaming("The answer ", "is 42."), o => { o.HonestUncertaintyMessage = "I may be wrong."; o.Estimators.Add(new DelegateConfidenceEstimator("len", (_, r, _) => ValueTask.FromResult<double?>(r.Text == "The answer is 42." ? 0.1 : 0.9))); });

        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken))
        {
            updates.Add(update);
        }

        var text = string.Concat(updates.Select(u => u.Text));
        Assert.Equal("The answer is 42.\n\nI may be wrong.", text);
        Assert.Equal(GuardAction.Modify, updates[^1].GetSafeAIResult()!.Outcome);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_HighConfidence_StreamUnchanged()
    {
        using var client = Build(TestChatClient.Streaming("a ", "b"), o => o.Estimators.Add(Fixed(0.99)));

        var text = new System.Text.StringBuilder();
        SafeAIResult? result = null;
        await foreach (var update in client.GetStreamingResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken))
        {
            text.Append(update.Text);
            result = update.GetSafeAIResult() ?? result;
        }

        Assert.Equal("a b", text.ToString());
        Assert.Equal(GuardAction.Allow, result!.Outcome);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_ProviderScoreOnLastUpdate_EstimatorSeesIt()
    {
        var faq = FaqChatClient.CreateDemo();
        using var client = faq.AsBuilder().UseSafeAI(safe => safe.Configure(o => o.RecordAllowVerdicts = true).AddConfidence(o => o.Estimators.Add(new DelegateConfidenceEstimator("faq", static (_, r, _) =>
            ValueTask.FromResult(r.AdditionalProperties?.TryGetValue(FaqChatClient.MatchScoreKey, out var s) == true ? (double?)Convert.ToDouble(s, System.Globalization.CultureInfo.InvariantCulture) : null))))).Build();

        SafeAIResult? result = null;
        await foreach (var update in client.GetStreamingResponseAsync("What are your opening hours?", cancellationToken: TestContext.Current.CancellationToken))
        {
            result = update.GetSafeAIResult() ?? result;
        }

        Assert.True(result!.TryGetVerdict("confidence", out var verdict));
        Assert.Equal(ConfidenceReasons.Ok, verdict.Reason);
        Assert.Equal("faq", verdict.Detail);
    }

    [Fact]
    public void AddConfidence_InvalidThreshold_ThrowsNamingSetting()
    {
        var ex = Assert.Throws<OptionsValidationException>(() => new SafeAIPipelineBuilder().AddConfidence(o => o.Threshold = 1.5));
        Assert.Contains("SafeAI:Confidence:Threshold", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddConfidence_FromConfiguration_ThresholdReloads()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["SafeAI:Confidence:Threshold"] = "0.5" }).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddSafeAI(safe => safe.Configure(o => o.RecordAllowVerdicts = true).AddConfidence(o => o.Estimators.Add(Fixed(0.7))));
        services.AddChatClient(TestChatClient.Answering("ok")).UseSafeAI();
        await using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<IChatClient>();

        var before = await client.GetResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken);
        configuration["SafeAI:Confidence:Threshold"] = "0.9";
        configuration.Reload();
        var after = await client.GetResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal("ok", before.Text);
        Assert.Equal(GuardAction.Modify, after.GetSafeAIResult()!.Outcome);
    }

    private sealed class PreparingEstimator : IConfidenceEstimator
    {
        public string Name => "prep";

        public ChatOptions? PrepareOptions(ChatOptions? options)
        {
            var clone = options?.Clone() ?? new ChatOptions();
            clone.TopK = 5;
            return clone;
        }

        public ValueTask<double?> EstimateAsync(SafeAIContext context, ChatResponse response, CancellationToken cancellationToken) => ValueTask.FromResult<double?>(0.9);
    }
}

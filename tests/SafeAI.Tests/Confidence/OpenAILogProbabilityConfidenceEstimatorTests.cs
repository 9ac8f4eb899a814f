// The model factory overloads with audio/service-tier parameters are marked for evaluation; tests only build fixtures with them.
#pragma warning disable OPENAI001

using System.ClientModel;
using OpenAI;
using OpenAI.Chat;

namespace SafeAI.Tests.Confidence;

public class OpenAILogProbabilityConfidenceEstimatorTests
{
    private static ChatTokenLogProbabilityDetails Token(string token, double probability) =>
        OpenAIChatModelFactory.ChatTokenLogProbabilityDetails(token, (float)Math.Log(probability), null, []);

    private static ChatCompletion Completion(params ChatTokenLogProbabilityDetails[] tokens) =>
        OpenAIChatModelFactory.ChatCompletion(
            id: "chatcmpl-1",
            finishReason: OpenAI.Chat.ChatFinishReason.Stop,
            content: new ChatMessageContent("Paris is the capital."),
            role: ChatMessageRole.Assistant,
            contentTokenLogProbabilities: tokens,
            createdAt: DateTimeOffset.UnixEpoch,
            model: "gpt-test");

    [Theory]
    [InlineData(TokenProbabilityAggregation.Mean, (0.9 + 0.6) / 2)]
    [InlineData(TokenProbabilityAggregation.Minimum, 0.6)]
    public async Task EstimateAsync_ChatCompletionWithLogProbs_ReturnsAggregate(TokenProbabilityAggregation aggregation, double expected)
    {
        var estimator = new OpenAILogProbabilityConfidenceEstimator(aggregation);
        var response = new ChatResponse(new Microsoft.Extensions.AI.ChatMessage(ChatRole.Assistant, "Paris")) { RawRepresentation = Completion(Token("Paris", 0.9), Token(".", 0.6)) };

        var score = await estimator.EstimateAsync(null!, response, TestContext.Current.CancellationToken);

        Assert.Equal(expected, score!.Value, 5);
    }

    [Fact]
    public async Task EstimateAsync_NoLogProbsOrOtherProvider_ReturnsUnknown()
    {
        var estimator = new OpenAILogProbabilityConfidenceEstimator();

        Assert.Null(await estimator.EstimateAsync(null!, new ChatResponse { RawRepresentation = Completion() }, TestContext.Current.CancellationToken));
        Assert.Null(await estimator.EstimateAsync(null!, new ChatResponse { RawRepresentation = "something else" }, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task EstimateAsync_StreamedUpdates_ReadsEveryChunk()
    {
        var updates = new[]
        {
            new ChatResponseUpdate(ChatRole.Assistant, "Par") { RawRepresentation = OpenAIChatModelFactory.StreamingChatCompletionUpdate(contentTokenLogProbabilities: [Token("Par", 0.5)]) },
            new ChatResponseUpdate(ChatRole.Assistant, "is") { RawRepresentation = OpenAIChatModelFactory.StreamingChatCompletionUpdate(contentTokenLogProbabilities: [Token("is", 0.25)]) },
        };
        var response = new ChatResponse { RawRepresentation = updates };

        var score = await new OpenAILogProbabilityConfidenceEstimator(TokenProbabilityAggregation.Minimum).EstimateAsync(null!, response, TestContext.Current.CancellationToken);

        Assert.Equal(0.25, score!.Value, 5);
    }

    [Fact]
    public void PrepareOptions_KeepsCallerFactoryAndOptions()
    {
        var callerRaw = new ChatCompletionOptions { TopLogProbabilityCount = 3 };
        var caller = new ChatOptions { Temperature = 0.2f, RawRepresentationFactory = _ => callerRaw };

        var prepared = new OpenAILogProbabilityConfidenceEstimator().PrepareOptions(caller)!;
        var raw = (ChatCompletionOptions)prepared.RawRepresentationFactory!(null!)!;

        Assert.NotSame(caller, prepared);
        Assert.Same(callerRaw, raw);
        Assert.True(raw.IncludeLogProbabilities);
        Assert.Equal(3, raw.TopLogProbabilityCount);
        Assert.Equal(0.2f, prepared.Temperature);
    }

    [Fact]
    public async Task Pipeline_OpenAIAdapterAgainstLoopbackServer_RequestsAndReadsLogProbs()
    {
        await using var server = new LoopbackHttpServer((_, _) => (200, """
            {"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-test",
             "choices":[{"index":0,"message":{"role":"assistant","content":"Maybe Lyon"},
               "logprobs":{"content":[{"token":"Maybe","logprob":-1.2,"bytes":null,"top_logprobs":[]},{"token":" Lyon","logprob":-2.3,"bytes":null,"top_logprobs":[]}]},
               "finish_reason":"stop"}],
             "usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}
            """));
        var openAI = new OpenAIClient(new ApiKeyCredential("test-key"), new OpenAIClientOptions { Endpoint = server.BaseAddress });
        using var client = openAI.GetChatClient("gpt-test").AsIChatClient().AsBuilder()
            .UseSafeAI(safe => safe.AddConfidence(o =>
            {
                o.Threshold = 0.5;
                o.HonestUncertaintyMessage = "I'm not sure.";
                o.UseOpenAILogProbabilities();
            }))
            .Build();

        var response = await client.GetResponseAsync("Capital of France?", cancellationToken: TestContext.Current.CancellationToken);

        Assert.Contains("\"logprobs\":true", server.RequestBodies.Single().Replace(" ", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Equal("I'm not sure.", response.Text);
        Assert.True(response.GetSafeAIResult()!.TryGetVerdict("confidence", out var verdict));
        Assert.Equal(ConfidenceReasons.Low, verdict.Reason);
        Assert.Equal((Math.Exp(-1.2) + Math.Exp(-2.3)) / 2, verdict.Score!.Value, 4);
        Assert.Equal("openai-logprobs", verdict.Detail);
    }
}

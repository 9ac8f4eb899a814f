using Microsoft.Extensions.DependencyInjection;
using SafeAI.Tokenizers;

namespace SafeAI.Tokenizers.Tests;

public class TiktokenTokenEstimatorTests
{
    [Fact]
    public void EstimateTokens_Gpt4o_CountsRealTokens()
    {
        var estimator = new TiktokenTokenEstimator("gpt-4o");

        Assert.Equal(0, estimator.EstimateTokens(string.Empty));
        Assert.Equal(4, estimator.EstimateTokens("Hello, world!")); // "Hello" "," " world" "!"
    }

    [Fact]
    public void EstimateTokens_RepetitiveText_FarFromCharacterEstimate()
    {
        var estimator = new TiktokenTokenEstimator("gpt-4");
        var text = string.Concat(Enumerable.Repeat("hello ", 1_000));

        var tokens = estimator.EstimateTokens(text);

        Assert.InRange(tokens, 990, 1_010); // one token per word, where characters/4 says 1,500
        Assert.Equal(1_500, CharacterTokenEstimator.Instance.EstimateTokens(text));
    }

    [Fact]
    public void Constructor_UnknownModel_Throws()
    {
        Assert.ThrowsAny<Exception>(() => new TiktokenTokenEstimator("no-such-model-xyz"));
    }

    [Fact]
    public async Task UseTiktokenEstimator_DependencyInjection_BudgetUsesRealTokenCount()
    {
        var services = new ServiceCollection();
        services.AddSafeAI(safe => safe.AddRateLimiting(o => o.TokenLimit = 1_200).UseTiktokenEstimator("gpt-4o"));
        var model = new AnsweringClient();
        services.AddChatClient(model).UseSafeAI();
        await using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<IChatClient>();
        var text = string.Concat(Enumerable.Repeat("hello ", 1_000)); // ~1,000 tokens, but 1,500 by characters

        var response = await client.GetResponseAsync(text, new ChatOptions().WithUser("u"), TestContext.Current.CancellationToken);

        Assert.Equal(GuardAction.Allow, response.GetSafeAIResult()!.Outcome);
        Assert.Equal(1, model.Calls);
    }

    private sealed class AnsweringClient : IChatClient
    {
        public int Calls { get; private set; }

        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            Calls++;
            return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok")));
        }

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }
}

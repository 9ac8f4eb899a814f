namespace SafeAI.Tests;

public class FaqChatClientTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("When are you open on Saturday?", "Saturday")]
    [InlineData("I forgot my password", "Forgot password")]
    [InlineData("my card was stolen!!", "Freeze")]
    public async Task GetResponseAsync_KnownQuestion_AnswersWithScore(string question, string expected)
    {
        using var client = FaqChatClient.CreateDemo();

        var response = await client.GetResponseAsync(question, cancellationToken: Ct);

        Assert.Contains(expected, response.Text, StringComparison.Ordinal);
        Assert.True((double)response.AdditionalProperties![FaqChatClient.MatchScoreKey]! >= client.MinimumScore);
        Assert.Equal(FaqChatClient.ModelId, response.ModelId);
        Assert.True(response.Usage!.OutputTokenCount > 0);
    }

    [Theory]
    [InlineData("What is the airspeed velocity of an unladen swallow?")]
    [InlineData("")]
    [InlineData("?!?!")]
    public async Task GetResponseAsync_UnknownQuestion_SaysItIsNotSure(string question)
    {
        using var client = FaqChatClient.CreateDemo();

        var response = await client.GetResponseAsync(question, cancellationToken: Ct);

        Assert.Equal(client.NoMatchAnswer, response.Text);
        Assert.True((double)response.AdditionalProperties![FaqChatClient.MatchScoreKey]! < client.MinimumScore);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_SameTextAsNonStreaming()
    {
        using var client = FaqChatClient.CreateDemo();

        var streamed = await client.GetStreamingResponseAsync("How long does a transfer take?", cancellationToken: Ct).ToChatResponseAsync(Ct);
        var whole = await client.GetResponseAsync("How long does a transfer take?", cancellationToken: Ct);

        Assert.Equal(whole.Text, streamed.Text);
        Assert.NotNull(streamed.Usage);
    }

    [Fact]
    public void Constructor_NoEntries_Throws() => Assert.Throws<ArgumentException>(() => new FaqChatClient([]));
}

namespace SafeAI.Tests.Faults;

/// <summary>Model clients that break the <see cref="IChatClient"/> contract by returning null.</summary>
public class ModelContractTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static TestChatClient ReturningNull() => new()
    {
        GetResponseAsyncCallback = (_, _, _) => Task.FromResult<ChatResponse>(null!),
        GetStreamingResponseAsyncCallback = (_, _, _) => null!,
    };

    private static async Task<List<ChatResponseUpdate>> ReadAllAsync(IAsyncEnumerable<ChatResponseUpdate> stream)
    {
        var list = new List<ChatResponseUpdate>();
        await foreach (var update in stream)
        {
            list.Add(update);
        }

        return list;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task GetStreamingResponseAsync_ModelReturnsNullStream_TypedErrorNamingTheProblem(bool withStages)
    {
        using var client = ReturningNull().AsBuilder().UseSafeAI(safe =>
        {
            if (withStages)
            {
                safe.AddInputLengthLimit(1_000);
            }
        }).Build();

        var error = await Assert.ThrowsAsync<SafeAIModelException>(() => ReadAllAsync(client.GetStreamingResponseAsync("hi", cancellationToken: Ct)));

        Assert.Contains("no stream (null)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_ModelReturnsNullStreamWithFallback_FallbackAnswers()
    {
        using var client = ReturningNull().AsBuilder().UseSafeAI(safe => safe.AddFallback(o => o.Add(ChatFallback.Static("Backup.")))).Build();

        var updates = await ReadAllAsync(client.GetStreamingResponseAsync("hi", cancellationToken: Ct));

        Assert.Equal("Backup.", string.Concat(updates.Select(u => u.Text)));
        var result = updates[^1].GetSafeAIResult()!;
        Assert.True(result.TryGetVerdict("fallback", out var verdict));
        Assert.Equal(FallbackReasons.Exception, verdict.Reason);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task GetResponseAsync_ModelReturnsNullResponse_TypedErrorNamingTheProblem(bool withStages)
    {
        using var client = ReturningNull().AsBuilder().UseSafeAI(safe =>
        {
            if (withStages)
            {
                safe.AddInputLengthLimit(1_000);
            }
        }).Build();

        var error = await Assert.ThrowsAsync<SafeAIModelException>(() => client.GetResponseAsync("hi", cancellationToken: Ct));

        Assert.Contains("no response (null)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetResponseAsync_ModelReturnsNullResponseWithFallback_FallbackAnswers()
    {
        using var client = ReturningNull().AsBuilder().UseSafeAI(safe => safe.AddFallback(o => o.Add(ChatFallback.Static("Backup.")))).Build();

        var response = await client.GetResponseAsync("hi", cancellationToken: Ct);

        Assert.Equal("Backup.", response.Text);
    }
}

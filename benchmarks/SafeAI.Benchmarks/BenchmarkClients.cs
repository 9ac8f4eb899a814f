using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace SafeAI.Benchmarks;

/// <summary>The inputs the pipeline benchmarks share.</summary>
internal static class BenchmarkInputs
{
    /// <summary>Mid-conversation (an earlier assistant turn), so the first-turn AI notice is not added: the common case.</summary>
    public static readonly List<ChatMessage> Conversation =
    [
        new(ChatRole.User, "Hi"),
        new(ChatRole.Assistant, "Hello! How can I help?"),
        new(ChatRole.User, "What are your opening hours?"),
    ];

    /// <summary>A signed-in user on a low-risk call: the rate limiter partitions by user, review has no trigger.</summary>
    public static readonly ChatOptions LowRiskUser = new ChatOptions().WithUser("u-42").WithRiskTier(RiskTier.Low);
}

/// <summary>
/// The baseline "model": answers at once with a fresh response per call (as a real client does), or streams
/// pre-built updates without awaiting, so that what the benchmarks measure is the pipeline around it.
/// </summary>
internal sealed class InstantChatClient : IChatClient
{
    private readonly ChatResponseUpdate[] _updates;

    public InstantChatClient(int chunks = 16)
    {
        _updates = new ChatResponseUpdate[chunks];
        for (var i = 0; i < chunks; i++)
        {
            _updates[i] = new ChatResponseUpdate(ChatRole.Assistant, "word ") { ResponseId = "r", MessageId = "m" };
        }
    }

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "Hello from the model.")));

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var update in _updates)
        {
            yield return update;
        }

        await Task.CompletedTask.ConfigureAwait(false);
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => null;

    public void Dispose()
    {
    }
}

/// <summary>A stage that does nothing but call the next one: measures the pipeline's own cost per stage.</summary>
internal sealed class NoOpGuard(string name) : AIGuard(name)
{
    public override ValueTask<ChatResponse> InvokeAsync(SafeAIContext context, GuardNext next) => next.GetResponseAsync(context);

    public override ValueTask<IAsyncEnumerable<ChatResponseUpdate>> InvokeStreamingAsync(SafeAIContext context, GuardNext next) => next.GetStreamingResponseAsync(context);
}

/// <summary>An input check that allows and records its verdict (with elapsed time) — the cheapest real check.</summary>
internal sealed class AllowCheck(string name) : InputGuard(name)
{
    protected override ValueTask<GuardVerdict> CheckAsync(SafeAIContext context, CancellationToken cancellationToken) => new(Allow());
}

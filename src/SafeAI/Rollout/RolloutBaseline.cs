using Microsoft.Extensions.AI;

namespace SafeAI;

/// <summary>
/// The baseline arm of a rollout: what people who are not (yet) routed to the AI system get. Create one with
/// <see cref="FromClient"/> (any <see cref="IChatClient"/>, such as a FAQ responder or the previous model),
/// <see cref="FromDelegate"/> or <see cref="Decline"/> (a polite decline or a hand-over to a person).
/// </summary>
public abstract class RolloutBaseline
{
    /// <summary>Initializes a new instance of the <see cref="RolloutBaseline"/> class.</summary>
    /// <param name="name">A short name for logs and verdict details.</param>
    /// <exception cref="ArgumentException"><paramref name="name"/> is null or empty.</exception>
    protected RolloutBaseline(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
    }

    /// <summary>Gets the baseline's name.</summary>
    public string Name { get; }

    /// <summary>Gets a value indicating whether the baseline's answers are machine-generated (another model). When not, the disclosure stage describes them as not AI.</summary>
    public virtual bool IsAI => false;

    /// <summary>Answers a call routed to the baseline.</summary>
    /// <param name="context">The call's context.</param>
    /// <param name="cancellationToken">The caller's cancellation token.</param>
    /// <returns>The answer.</returns>
    public abstract ValueTask<ChatResponse> GetResponseAsync(SafeAIContext context, CancellationToken cancellationToken);

    /// <summary>Answers a streaming call routed to the baseline; by default the non-streaming answer as one stream.</summary>
    /// <param name="context">The call's context.</param>
    /// <param name="cancellationToken">The caller's cancellation token.</param>
    /// <returns>The stream of updates.</returns>
    public virtual async ValueTask<IAsyncEnumerable<ChatResponseUpdate>> GetStreamingResponseAsync(SafeAIContext context, CancellationToken cancellationToken)
    {
        var response = await GetResponseAsync(context, cancellationToken).ConfigureAwait(false);
        return ToStream(response.ToChatResponseUpdates());
    }

    /// <summary>Creates a baseline that forwards the call to another client.</summary>
    /// <param name="client">The client (a FAQ responder, the previous model, ...).</param>
    /// <param name="isAI">Whether the client's answers are machine-generated.</param>
    /// <param name="name">The name; <c>client</c> by default.</param>
    /// <returns>The baseline.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="client"/> is <see langword="null"/>.</exception>
    public static RolloutBaseline FromClient(IChatClient client, bool isAI = false, string name = "client") => new ClientBaseline(client, isAI, name);

    /// <summary>Creates a baseline from a delegate.</summary>
    /// <param name="name">The name.</param>
    /// <param name="answer">Answers the call.</param>
    /// <returns>The baseline.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="answer"/> is <see langword="null"/>.</exception>
    public static RolloutBaseline FromDelegate(string name, Func<SafeAIContext, CancellationToken, ValueTask<ChatResponse>> answer) => new DelegateBaseline(name, answer);

    /// <summary>Creates a baseline that answers with fixed text: a polite decline, or where a person takes over.</summary>
    /// <param name="text">The text, for example "Our team will answer you by e-mail within a day."</param>
    /// <param name="name">The name; <c>decline</c> by default.</param>
    /// <returns>The baseline.</returns>
    /// <exception cref="ArgumentException"><paramref name="text"/> is null or empty.</exception>
    public static RolloutBaseline Decline(string text, string name = "decline") => new DeclineBaseline(name, text);

    /// <inheritdoc />
    public override string ToString() => Name;

    private static async IAsyncEnumerable<ChatResponseUpdate> ToStream(ChatResponseUpdate[] updates)
    {
        await Task.CompletedTask.ConfigureAwait(false);
        foreach (var update in updates)
        {
            yield return update;
        }
    }

    private sealed class ClientBaseline : RolloutBaseline
    {
        private readonly IChatClient _client;
        private readonly bool _isAI;

        public ClientBaseline(IChatClient client, bool isAI, string name)
            : base(name)
        {
            ArgumentNullException.ThrowIfNull(client);
            _client = client;
            _isAI = isAI;
        }

        public override bool IsAI => _isAI;

        public override async ValueTask<ChatResponse> GetResponseAsync(SafeAIContext context, CancellationToken cancellationToken) =>
            await _client.GetResponseAsync(context.Messages, context.Options, cancellationToken).ConfigureAwait(false);

        public override ValueTask<IAsyncEnumerable<ChatResponseUpdate>> GetStreamingResponseAsync(SafeAIContext context, CancellationToken cancellationToken) =>
            new(_client.GetStreamingResponseAsync(context.Messages, context.Options, cancellationToken));
    }

    private sealed class DelegateBaseline : RolloutBaseline
    {
        private readonly Func<SafeAIContext, CancellationToken, ValueTask<ChatResponse>> _answer;

        public DelegateBaseline(string name, Func<SafeAIContext, CancellationToken, ValueTask<ChatResponse>> answer)
            : base(name)
        {
            ArgumentNullException.ThrowIfNull(answer);
            _answer = answer;
        }

        public override ValueTask<ChatResponse> GetResponseAsync(SafeAIContext context, CancellationToken cancellationToken) => _answer(context, cancellationToken);
    }

    private sealed class DeclineBaseline : RolloutBaseline
    {
        private readonly string _text;

        public DeclineBaseline(string name, string text)
            : base(name)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(text);
            _text = text;
        }

        public override ValueTask<ChatResponse> GetResponseAsync(SafeAIContext context, CancellationToken cancellationToken) =>
            new(new ChatResponse(new ChatMessage(ChatRole.Assistant, _text)) { FinishReason = ChatFinishReason.Stop, CreatedAt = context.TimeProvider.GetUtcNow() });
    }
}

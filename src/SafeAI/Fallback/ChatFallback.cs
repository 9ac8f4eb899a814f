using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;

namespace SafeAI;

/// <summary>
/// One link of the fallback chain: a simpler system that answers when the model cannot. Create links with the static
/// factories (<see cref="FromClient"/>, <see cref="FromKeyedClient"/>, <see cref="Static"/>, <see cref="FromDelegate"/>,
/// <see cref="HumanHandoff"/>) or derive your own. Links are shared by all calls and must be thread-safe.
/// </summary>
public abstract class ChatFallback
{
    /// <summary>Initializes a new instance of the <see cref="ChatFallback"/> class.</summary>
    /// <param name="name">The name recorded in the <see cref="GuardAction.Degrade"/> verdict's detail when this link answers.</param>
    /// <exception cref="ArgumentException"><paramref name="name"/> is null or empty.</exception>
    protected ChatFallback(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
    }

    /// <summary>Gets the link's name.</summary>
    public string Name { get; }

    /// <summary>
    /// Gets a value indicating whether the link answers at once without calling anything (a static text), so it still
    /// answers after <see cref="FallbackOptions.TotalTimeout"/> has run out.
    /// </summary>
    public virtual bool IsImmediate => false;

    /// <summary>
    /// Gets a value indicating whether this link's answers are produced by an AI model. When a link that is not AI answers,
    /// the AI disclosure says so (mode <c>none</c>). <see langword="false"/> for static texts, human hand-off, delegates
    /// and <see cref="FaqChatClient"/>; <see langword="true"/> for other chat clients.
    /// </summary>
    public virtual bool IsAI => false;

    /// <summary>Answers the call.</summary>
    /// <param name="context">The call's context (messages after input checks, options, call context).</param>
    /// <param name="trigger">Why the fallback is answering.</param>
    /// <param name="cancellationToken">Cancels the answer (the caller's token, narrowed by the attempt timeout).</param>
    /// <returns>The answer, or <see langword="null"/> when this link has none (the next link is tried).</returns>
    public abstract ValueTask<ChatResponse?> GetResponseAsync(SafeAIContext context, FallbackTriggers trigger, CancellationToken cancellationToken);

    /// <summary>A link that asks another chat client (a second model, a smaller or local one, <see cref="FaqChatClient"/>).</summary>
    /// <param name="client">The client.</param>
    /// <param name="name">The link's name; by default the client's provider name, else <c>chat-client</c>.</param>
    /// <returns>The link.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="client"/> is <see langword="null"/>.</exception>
    public static ChatFallback FromClient(IChatClient client, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        var metadata = client.GetService<ChatClientMetadata>();
        return new ChatClientFallback(name ?? metadata?.DefaultModelId ?? metadata?.ProviderName ?? "chat-client", client, null);
    }

    /// <summary>A link that asks the keyed <see cref="IChatClient"/> service registered under <paramref name="serviceKey"/> (<c>services.AddKeyedChatClient(key, ...)</c>).</summary>
    /// <param name="serviceKey">The service key.</param>
    /// <param name="name">The link's name; by default <c>chat-client:{key}</c>.</param>
    /// <returns>The link.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="serviceKey"/> is <see langword="null"/>.</exception>
    public static ChatFallback FromKeyedClient(object serviceKey, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(serviceKey);
        return new ChatClientFallback(name ?? "chat-client:" + serviceKey, null, serviceKey);
    }

    /// <summary>A link that answers with a fixed text (for example "Our assistant is unavailable; here are our most read articles: ...").</summary>
    /// <param name="text">The answer.</param>
    /// <param name="name">The link's name; <c>static</c> by default.</param>
    /// <returns>The link.</returns>
    /// <exception cref="ArgumentException"><paramref name="text"/> is null or empty.</exception>
    public static ChatFallback Static(string text, string name = "static") => new StaticChatFallback(name, text, handoff: false);

    /// <summary>A link that hands the conversation to a person: answers with <paramref name="text"/> and marks the response with <see cref="FallbackReasons.HandoffPropertyKey"/>.</summary>
    /// <param name="text">What the caller is told, for example how a person will get in touch.</param>
    /// <param name="name">The link's name; <c>human-handoff</c> by default.</param>
    /// <returns>The link.</returns>
    /// <exception cref="ArgumentException"><paramref name="text"/> is null or empty.</exception>
    public static ChatFallback HumanHandoff(string text, string name = "human-handoff") => new StaticChatFallback(name, text, handoff: true);

    /// <summary>A link written as a delegate (for example "show popular content"). Return <see langword="null"/> to pass to the next link.</summary>
    /// <param name="name">The link's name.</param>
    /// <param name="answer">Produces the answer.</param>
    /// <returns>The link.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="answer"/> is <see langword="null"/>.</exception>
    public static ChatFallback FromDelegate(string name, Func<SafeAIContext, FallbackTriggers, CancellationToken, ValueTask<ChatResponse?>> answer)
    {
        ArgumentNullException.ThrowIfNull(answer);
        return new DelegateChatFallback(name, answer);
    }

    /// <inheritdoc />
    public override string ToString() => Name;

    private sealed class ChatClientFallback(string name, IChatClient? client, object? serviceKey) : ChatFallback(name)
    {
        private IChatClient? _client = client;

        public override bool IsAI => _client?.GetService(typeof(FaqChatClient)) is null;

        public override async ValueTask<ChatResponse?> GetResponseAsync(SafeAIContext context, FallbackTriggers trigger, CancellationToken cancellationToken)
        {
            var client = _client ??= context.Services is IKeyedServiceProvider keyed
                ? keyed.GetRequiredKeyedService<IChatClient>(serviceKey)
                : throw new InvalidOperationException($"The fallback '{Name}' needs the keyed IChatClient '{serviceKey}', but the pipeline was built without dependency injection.");
            return await client.GetResponseAsync(context.Messages, context.Options, cancellationToken).ConfigureAwait(false);
        }
    }

    private sealed class StaticChatFallback : ChatFallback
    {
        private readonly string _text;
        private readonly bool _handoff;

        public StaticChatFallback(string name, string text, bool handoff)
            : base(name)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(text);
            _text = text;
            _handoff = handoff;
        }

        public override bool IsImmediate => true;

        public override ValueTask<ChatResponse?> GetResponseAsync(SafeAIContext context, FallbackTriggers trigger, CancellationToken cancellationToken)
        {
            var response = new ChatResponse(new ChatMessage(ChatRole.Assistant, _text))
            {
                CreatedAt = context.TimeProvider.GetUtcNow(),
                FinishReason = ChatFinishReason.Stop,
            };
            if (_handoff)
            {
                response.AdditionalProperties = new() { [FallbackReasons.HandoffPropertyKey] = true };
            }

            return new ValueTask<ChatResponse?>(response);
        }
    }

    private sealed class DelegateChatFallback(string name, Func<SafeAIContext, FallbackTriggers, CancellationToken, ValueTask<ChatResponse?>> answer) : ChatFallback(name)
    {
        public override ValueTask<ChatResponse?> GetResponseAsync(SafeAIContext context, FallbackTriggers trigger, CancellationToken cancellationToken) =>
            answer(context, trigger, cancellationToken);
    }
}

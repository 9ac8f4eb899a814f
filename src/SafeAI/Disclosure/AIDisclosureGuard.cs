using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace SafeAI;

/// <summary>
/// Attaches an <see cref="AIDisclosure"/> to every answer and, as configured, a visible notice that the user is talking
/// to an AI. The mode follows the path the answer took: <c>machine-generated</c> for a model answer, <c>ai-originated</c>
/// once a person approved or edited it, <c>none</c> when a non-AI fallback answered or SafeAI itself refused.
/// </summary>
/// <remarks>
/// Streams carry the disclosure from the first update: one leading update with the notice (if any) and the disclosure
/// in its <c>AdditionalProperties</c>, then the answer. Reason codes: <c>disclosure.ok</c>,
/// <c>disclosure.notice</c> (a notice was shown); the verdict's detail is the mode.
/// </remarks>
internal sealed class AIDisclosureGuard : AIGuard
{
    internal const string DefaultName = "disclosure";

    private readonly AIDisclosureOptions _options;
    private readonly ConversationMemory _memory;
    private (IChatClient? Client, ChatClientMetadata? Metadata) _metadataCache;
    private AIDisclosure? _last;

    public AIDisclosureGuard(AIDisclosureOptions options, ConversationMemory? memory = null)
        : base(DefaultName, options)
    {
        _options = options;
        _memory = memory ?? new ConversationMemory(options);
    }

    public override int Order => GuardOrder.Disclosure;

    internal ConversationMemory Memory => _memory;

    public override ValueTask<ChatResponse> InvokeAsync(SafeAIContext context, GuardNext next)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (RemembersConversation(context))
        {
            return InvokeRememberingAsync(context, next);
        }

        var pending = next.GetResponseAsync(context);
        if (pending.IsCompletedSuccessfully)
        {
            return new ValueTask<ChatResponse>(Disclose(context, pending.Result, firstTurn: null, out _));
        }

        return AwaitAndDiscloseAsync(pending, context);
    }

    public override async ValueTask<IAsyncEnumerable<ChatResponseUpdate>> InvokeStreamingAsync(SafeAIContext context, GuardNext next)
    {
        ArgumentNullException.ThrowIfNull(context);
        bool? firstTurn = null;
        string? key = null;
        if (RemembersConversation(context))
        {
            key = ConversationMemory.KeyOf(context.CallContext);
            firstTurn = !await _memory.HasSeenAsync(key, context.TimeProvider.GetUtcNow(), context.CancellationToken).ConfigureAwait(false);
        }

        var stream = await next.GetStreamingResponseAsync(context).ConfigureAwait(false);
        return new DisclosureStream(this, context, stream, firstTurn, key);
    }

    // With a conversation id, "first turn" means the first answer of that conversation this app showed the notice on;
    // without one, the request carrying no earlier assistant message.
    private bool RemembersConversation(SafeAIContext context) =>
        _options.Notice == AIDisclosureNotice.FirstTurn && context.CallContext.ConversationId is not null;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ChatResponse> InvokeRememberingAsync(SafeAIContext context, GuardNext next)
    {
        var key = ConversationMemory.KeyOf(context.CallContext);
        var seen = await _memory.HasSeenAsync(key, context.TimeProvider.GetUtcNow(), context.CancellationToken).ConfigureAwait(false);
        var response = Disclose(context, await next.GetResponseAsync(context).ConfigureAwait(false), firstTurn: !seen, out var shown);
        if (shown)
        {
            await _memory.MarkSeenAsync(key, context.TimeProvider.GetUtcNow(), context.CancellationToken).ConfigureAwait(false);
        }

        return response;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ChatResponse> AwaitAndDiscloseAsync(ValueTask<ChatResponse> pending, SafeAIContext context) =>
        Disclose(context, await pending.ConfigureAwait(false), firstTurn: null, out _);

    private ChatResponse Disclose(SafeAIContext context, ChatResponse response, bool? firstTurn, out bool noticeShown)
    {
        var disclosure = Describe(context, response.ModelId, response.CreatedAt, ReferenceEquals(response, context.Refusal));
        (response.AdditionalProperties ??= [])[AIDisclosure.PropertyKey] = disclosure;
        var notice = GetNotice(context, disclosure.Mode, firstTurn);
        noticeShown = notice is not null;
        if (notice is not null)
        {
            var target = FirstAssistantMessage(response);
            if (target is null)
            {
                response.Messages.Insert(0, new ChatMessage(ChatRole.Assistant, notice));
            }
            else
            {
                target.Contents.Insert(0, new TextContent(notice + "\n\n"));
            }
        }

        Record(context, disclosure, notice is not null);
        return response;
    }

    private ChatResponseUpdate Lead(SafeAIContext context, ChatResponseUpdate first, bool? firstTurn, string? conversationKey)
    {
        var disclosure = Describe(context, first.ModelId, first.CreatedAt, ReferenceEquals(first, context.Refusal));
        var notice = GetNotice(context, disclosure.Mode, firstTurn);
        if (notice is not null && conversationKey is not null)
        {
            // A stream cannot wait here: the memory is updated in the background (its failures are logged, never thrown).
            _ = _memory.MarkSeenAsync(conversationKey, context.TimeProvider.GetUtcNow(), CancellationToken.None).AsTask();
        }

        var lead = new ChatResponseUpdate(ChatRole.Assistant, notice is null ? null : notice + "\n\n")
        {
            ResponseId = first.ResponseId,
            MessageId = first.MessageId,
            ConversationId = first.ConversationId,
            ModelId = first.ModelId,
            CreatedAt = first.CreatedAt,
            AdditionalProperties = new() { [AIDisclosure.PropertyKey] = disclosure },
        };
        Record(context, disclosure, notice is not null);
        return lead;
    }

    private AIDisclosure Describe(SafeAIContext context, string? modelId, DateTimeOffset? createdAt, bool isRefusal)
    {
        var mode = AIDisclosureMode.MachineGenerated;
        string? reviewedBy = null;
        if (context.TryGetItem(AIDisclosure.ModeItemKey, out var declared) && declared is AIDisclosureMode declaredMode)
        {
            mode = declaredMode;
        }
        else if (isRefusal)
        {
            mode = AIDisclosureMode.None;
        }
        else
        {
            foreach (var verdict in context.Verdicts)
            {
                if (verdict.Reason is "review.approved" or "review.edited")
                {
                    mode = AIDisclosureMode.AIOriginated;
                    reviewedBy = verdict.Detail;
                }
            }
        }

        if (context.TryGetItem(AIDisclosure.ReviewedByItemKey, out var reviewer) && reviewer is string name)
        {
            reviewedBy = name;
        }

        var metadata = GetMetadata(context.InnerClient);
        var model = mode == AIDisclosureMode.None ? null : _options.Model ?? modelId ?? metadata?.DefaultModelId;
        var provider = mode == AIDisclosureMode.None ? null : _options.Provider ?? metadata?.ProviderName;
        reviewedBy = mode == AIDisclosureMode.AIOriginated ? reviewedBy : null;
        var seconds = (createdAt ?? context.TimeProvider.GetUtcNow()).ToUnixTimeSeconds();

        // Disclosures are immutable and dated to the second (the header's resolution): under load, consecutive answers
        // of the same model share one instance instead of allocating their own.
        var last = _last;
        if (last is not null && last.Mode == mode && last.Date?.ToUnixTimeSeconds() == seconds &&
            string.Equals(last.Model, model, StringComparison.Ordinal) && string.Equals(last.Provider, provider, StringComparison.Ordinal) &&
            string.Equals(last.ReviewedBy, reviewedBy, StringComparison.Ordinal))
        {
            return last;
        }

        var disclosure = new AIDisclosure
        {
            Mode = mode,
            Model = model,
            Provider = provider,
            ReviewedBy = reviewedBy,
            Date = DateTimeOffset.FromUnixTimeSeconds(seconds),
        };
        _last = disclosure;
        return disclosure;
    }

    private string? GetNotice(SafeAIContext context, AIDisclosureMode mode, bool? firstTurn)
    {
        // The notice says that the text was written by an AI, so it never leads text the model did not write (a refusal,
        // a rate-limit answer, a pending-review notice, a non-AI fallback: mode none); the first model answer of the
        // conversation carries it instead.
        if (_options.Notice == AIDisclosureNotice.None || mode == AIDisclosureMode.None)
        {
            return null;
        }

        // A rollout's baseline arm that is not AI (a FAQ, a person): the user is not talking to an AI system.
        if (context.RolloutArm is RolloutArms.Baseline && context.TryGetItem(AIDisclosure.ModeItemKey, out var declared) && declared is AIDisclosureMode.None)
        {
            return null;
        }

        if (_options.Notice == AIDisclosureNotice.FirstTurn && firstTurn is { } first)
        {
            if (!first)
            {
                return null;
            }
        }
        else if (_options.Notice == AIDisclosureNotice.FirstTurn)
        {
            foreach (var message in context.Messages)
            {
                if (message?.Role == ChatRole.Assistant)
                {
                    return null;
                }
            }
        }

        var locale = context.CallContext.Locale;
        if (locale is not null && _options.LocalizedNoticeTexts.Count > 0)
        {
            if (_options.LocalizedNoticeTexts.TryGetValue(locale, out var exact))
            {
                return exact;
            }

            var dash = locale.IndexOf('-', StringComparison.Ordinal);
            if (dash > 0 && _options.LocalizedNoticeTexts.TryGetValue(locale[..dash], out var language))
            {
                return language;
            }
        }

        return _options.NoticeText;
    }

    private void Record(SafeAIContext context, AIDisclosure disclosure, bool noticeShown) =>
        context.AddVerdict(GuardVerdict.Allow(Name, noticeShown ? "disclosure.notice" : "disclosure.ok") with { Detail = AIDisclosure.GetModeToken(disclosure.Mode) });

    private ChatClientMetadata? GetMetadata(IChatClient client)
    {
        var cache = _metadataCache;
        if (ReferenceEquals(cache.Client, client))
        {
            return cache.Metadata;
        }

        var metadata = client.GetService(typeof(ChatClientMetadata)) as ChatClientMetadata;
        _metadataCache = (client, metadata);
        return metadata;
    }

    private static ChatMessage? FirstAssistantMessage(ChatResponse response)
    {
        foreach (var message in response.Messages)
        {
            if (message.Role == ChatRole.Assistant)
            {
                return message;
            }
        }

        return null;
    }

    /// <summary>Puts one leading update with the disclosure (and notice) before the first update of the answer.</summary>
    private sealed class DisclosureStream(AIDisclosureGuard guard, SafeAIContext context, IAsyncEnumerable<ChatResponseUpdate> source, bool? firstTurn, string? conversationKey)
        : UpdateStream(source, context.CancellationToken)
    {
        private bool _led;

        protected override ChatResponseUpdate? OnUpdate(ChatResponseUpdate update)
        {
            if (_led)
            {
                return update;
            }

            _led = true;
            Enqueue(update);
            PassThrough();
            return guard.Lead(context, update, firstTurn, conversationKey);
        }
    }
}

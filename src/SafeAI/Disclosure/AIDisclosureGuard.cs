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
    private (IChatClient? Client, ChatClientMetadata? Metadata) _metadataCache;
    private AIDisclosure? _last;

    public AIDisclosureGuard(AIDisclosureOptions options)
        : base(DefaultName, options)
    {
        _options = options;
    }

    public override int Order => GuardOrder.Disclosure;

    public override ValueTask<ChatResponse> InvokeAsync(SafeAIContext context, GuardNext next)
    {
        ArgumentNullException.ThrowIfNull(context);
        var pending = next.GetResponseAsync(context);
        if (pending.IsCompletedSuccessfully)
        {
            return new ValueTask<ChatResponse>(Disclose(context, pending.Result));
        }

        return AwaitAndDiscloseAsync(pending, context);
    }

    public override async ValueTask<IAsyncEnumerable<ChatResponseUpdate>> InvokeStreamingAsync(SafeAIContext context, GuardNext next)
    {
        ArgumentNullException.ThrowIfNull(context);
        var stream = await next.GetStreamingResponseAsync(context).ConfigureAwait(false);
        return new DisclosureStream(this, context, stream);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ChatResponse> AwaitAndDiscloseAsync(ValueTask<ChatResponse> pending, SafeAIContext context) =>
        Disclose(context, await pending.ConfigureAwait(false));

    private ChatResponse Disclose(SafeAIContext context, ChatResponse response)
    {
        var disclosure = Describe(context, response.ModelId, response.CreatedAt, ReferenceEquals(response, context.Refusal));
        (response.AdditionalProperties ??= [])[AIDisclosure.PropertyKey] = disclosure;
        var notice = GetNotice(context);
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

    private ChatResponseUpdate Lead(SafeAIContext context, ChatResponseUpdate first)
    {
        var disclosure = Describe(context, first.ModelId, first.CreatedAt, ReferenceEquals(first, context.Refusal));
        var notice = GetNotice(context);
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

    private string? GetNotice(SafeAIContext context)
    {
        // The notice is about the conversation (the user is talking to an AI system), so it is shown on the first turn
        // even when this particular answer is SafeAI's own text (a refusal, a pending-review notice).
        if (_options.Notice == AIDisclosureNotice.None)
        {
            return null;
        }

        // A rollout's baseline arm that is not AI (a FAQ, a person): the user is not talking to an AI system.
        if (context.RolloutArm is RolloutArms.Baseline && context.TryGetItem(AIDisclosure.ModeItemKey, out var declared) && declared is AIDisclosureMode.None)
        {
            return null;
        }

        if (_options.Notice == AIDisclosureNotice.FirstTurn)
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
    private sealed class DisclosureStream(AIDisclosureGuard guard, SafeAIContext context, IAsyncEnumerable<ChatResponseUpdate> source)
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
            return guard.Lead(context, update);
        }
    }
}

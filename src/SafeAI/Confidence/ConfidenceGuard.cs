using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace SafeAI;

/// <summary>
/// The confidence stage: estimates the confidence of the model's answer and, below the threshold, replaces it with an
/// honest one, hands it to the fallback stage, or escalates it to human review. Innermost by default
/// (<see cref="GuardOrder.Confidence"/>), so it sees the model's answer first.
/// </summary>
/// <remarks>
/// Streams: the estimate is made when the stream ends (the text has already reached the caller's screen and cannot be
/// recalled); a low score then appends the honest-uncertainty text as a last update, or escalates.
/// </remarks>
internal sealed class ConfidenceGuard : AIGuard
{
    internal const string DefaultName = "confidence";

    private readonly Func<ConfidenceOptions> _options;

    public ConfidenceGuard(ConfidenceOptions options)
        : this(options, () => options)
    {
    }

    public ConfidenceGuard(ConfidenceOptions initial, Func<ConfidenceOptions> options)
        : base(DefaultName, initial)
    {
        _options = options;
    }

    public override int Order => GuardOrder.Confidence;

    public override ValueTask<ChatResponse> InvokeAsync(SafeAIContext context, GuardNext next)
    {
        // Success path with synchronous estimators: no async state machine, no allocation beyond the verdict.
        var options = _options();
        var original = context.Options;
        context.Options = Prepare(options, original);
        ValueTask<ChatResponse> pending;
        try
        {
            pending = next.GetResponseAsync(context);
        }
        catch
        {
            context.Options = original;
            throw;
        }

        if (!pending.IsCompletedSuccessfully)
        {
            return AwaitResponseAsync(options, context, pending, original);
        }

        context.Options = original;
        var response = pending.Result;
        if (ReferenceEquals(response, context.Refusal))
        {
            return new ValueTask<ChatResponse>(response);
        }

        var start = context.TimeProvider.GetTimestamp();
        var estimators = options.Estimators;
        for (var i = 0; i < estimators.Count; i++)
        {
            var estimate = estimators[i].EstimateAsync(context, response, context.CancellationToken);
            if (!estimate.IsCompletedSuccessfully)
            {
                return ContinueEstimateAsync(options, context, response, start, i, estimate);
            }

            if (estimate.Result is { } score)
            {
                return new ValueTask<ChatResponse>(Finish(options, context, response, Validate(score, estimators[i]), estimators[i].Name, start));
            }
        }

        return new ValueTask<ChatResponse>(Finish(options, context, response, null, null, start));
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ChatResponse> AwaitResponseAsync(ConfidenceOptions options, SafeAIContext context, ValueTask<ChatResponse> pending, ChatOptions? original)
    {
        ChatResponse response;
        try
        {
            response = await pending.ConfigureAwait(false);
        }
        finally
        {
            context.Options = original;
        }

        if (ReferenceEquals(response, context.Refusal))
        {
            return response;
        }

        var start = context.TimeProvider.GetTimestamp();
        var (score, source) = await EstimateAsync(options, context, response, 0).ConfigureAwait(false);
        return Finish(options, context, response, score, source, start);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ChatResponse> ContinueEstimateAsync(ConfidenceOptions options, SafeAIContext context, ChatResponse response, long start, int index, ValueTask<double?> pending)
    {
        var estimator = options.Estimators[index];
        var first = await pending.ConfigureAwait(false);
        var (score, source) = first is { } value ? (Validate(value, estimator), estimator.Name) : await EstimateAsync(options, context, response, index + 1).ConfigureAwait(false);
        return Finish(options, context, response, score, source, start);
    }

    private ChatResponse Finish(ConfidenceOptions options, SafeAIContext context, ChatResponse response, double? score, string? source, long start)
    {
        var verdict = Decide(options, context, score, source, start);
        context.AddVerdict(verdict);
        if (verdict.Action != GuardAction.Modify)
        {
            return response;
        }

        // SafeAI's own honest answer replaces the model's: no AI produced it.
        context.Items[AIDisclosure.ModeItemKey] = AIDisclosureMode.None;
        return CreateHonestResponse(options, context, response);
    }

    public override async ValueTask<IAsyncEnumerable<ChatResponseUpdate>> InvokeStreamingAsync(SafeAIContext context, GuardNext next)
    {
        var options = _options();
        var original = context.Options;
        context.Options = Prepare(options, original);
        IAsyncEnumerable<ChatResponseUpdate> stream;
        try
        {
            stream = await next.GetStreamingResponseAsync(context).ConfigureAwait(false);
        }
        finally
        {
            context.Options = original;
        }

        return new ConfidenceStream(this, options, context, stream);
    }

    /// <summary>After the stream ends, estimates the confidence of the whole answer; a low score adds an honest note.</summary>
    private async ValueTask<ChatResponseUpdate?> FinishStreamAsync(ConfidenceOptions options, SafeAIContext context, List<ChatResponseUpdate> updates)
    {
        var start = context.TimeProvider.GetTimestamp();
        var response = StreamedAnswer.Join(updates);
        response.RawRepresentation = updates;
        MergeAdditionalProperties(updates, response);
        var (score, source) = await EstimateAsync(options, context, response, 0).ConfigureAwait(false);
        var verdict = Decide(options, context, score, source, start);
        context.AddVerdict(verdict);
        if (verdict.Action is GuardAction.Modify or GuardAction.Degrade)
        {
            // The text is already out: say honestly that it may be wrong.
            var last = updates[^1];
            return new ChatResponseUpdate(ChatRole.Assistant, "\n\n" + options.GetHonestUncertaintyMessage(context.CallContext))
            {
                ResponseId = last.ResponseId,
                MessageId = last.MessageId,
                ConversationId = last.ConversationId,
                ModelId = last.ModelId,
                CreatedAt = context.TimeProvider.GetUtcNow(),
            };
        }

        return null;
    }

    /// <summary>Copies provider fields that streams carry on single updates (for example a score on the last one) onto the joined response.</summary>
    private static void MergeAdditionalProperties(List<ChatResponseUpdate> updates, ChatResponse response)
    {
        foreach (var update in updates)
        {
            if (update.AdditionalProperties is not { Count: > 0 } properties)
            {
                continue;
            }

            response.AdditionalProperties ??= [];
            foreach (var (key, value) in properties)
            {
                response.AdditionalProperties[key] = value;
            }
        }
    }

    private static ChatOptions? Prepare(ConfidenceOptions options, ChatOptions? chatOptions)
    {
        var estimators = options.Estimators;
        for (var i = 0; i < estimators.Count; i++)
        {
            chatOptions = estimators[i].PrepareOptions(chatOptions);
        }

        return chatOptions;
    }

    private static async ValueTask<(double? Score, string? Source)> EstimateAsync(ConfidenceOptions options, SafeAIContext context, ChatResponse response, int from)
    {
        var estimators = options.Estimators;
        for (var i = from; i < estimators.Count; i++)
        {
            var estimator = estimators[i];
            var score = await estimator.EstimateAsync(context, response, context.CancellationToken).ConfigureAwait(false);
            if (score is { } value)
            {
                return (Validate(value, estimator), estimator.Name);
            }
        }

        return (null, null);
    }

    private static double Validate(double score, IConfidenceEstimator estimator) =>
        score is >= 0 and <= 1
            ? score
            : throw new InvalidOperationException($"The confidence estimator '{estimator.Name}' returned {score}; a score must be in [0, 1] (or null for unknown).");

    private GuardVerdict Decide(ConfidenceOptions options, SafeAIContext context, double? score, string? source, long start)
    {
        var threshold = options.Threshold;
        if (score is { } s && s >= threshold)
        {
            return new GuardVerdict(GuardAction.Allow, Name, ConfidenceReasons.Ok) { Score = s, Threshold = threshold, Detail = source, Elapsed = context.TimeProvider.GetElapsedTime(start) };
        }

        if (score is null && options.UnknownConfidence == UnknownConfidencePolicy.Accept)
        {
            return new GuardVerdict(GuardAction.Allow, Name, ConfidenceReasons.Unknown) { Threshold = threshold, Elapsed = context.TimeProvider.GetElapsedTime(start) };
        }

        var reason = score is null ? ConfidenceReasons.Unknown : ConfidenceReasons.Low;
        var action = options.LowConfidenceAction switch
        {
            LowConfidenceAction.Escalate => GuardAction.Escalate,
            LowConfidenceAction.Fallback when HasFallbackStage(context) => GuardAction.Degrade,
            _ => GuardAction.Modify,
        };
        var detail = action != GuardAction.Degrade ? source : source is null ? "handed to fallback" : source + ", handed to fallback";
        var verdict = new GuardVerdict(action, Name, reason) { Score = score, Threshold = threshold, Detail = detail, Elapsed = context.TimeProvider.GetElapsedTime(start) };
        if (action == GuardAction.Degrade)
        {
            context.Items[ConfidenceReasons.FallbackRequestItemKey] = verdict;
        }

        return verdict;
    }

    private static bool HasFallbackStage(SafeAIContext context)
    {
        foreach (var stage in context.Pipeline.Stages)
        {
            if (stage is FallbackGuard)
            {
                return true;
            }
        }

        return false;
    }

    private static ChatResponse CreateHonestResponse(ConfidenceOptions options, SafeAIContext context, ChatResponse original) =>
        new(new ChatMessage(ChatRole.Assistant, options.GetHonestUncertaintyMessage(context.CallContext)))
        {
            ResponseId = original.ResponseId,
            ConversationId = original.ConversationId,
            ModelId = original.ModelId,
            CreatedAt = context.TimeProvider.GetUtcNow(),
            FinishReason = ChatFinishReason.Stop,
            Usage = original.Usage,
        };

    /// <summary>Passes the answer through as it streams, keeping its updates to estimate the whole answer at the end.</summary>
    private sealed class ConfidenceStream(ConfidenceGuard guard, ConfidenceOptions options, SafeAIContext context, IAsyncEnumerable<ChatResponseUpdate> source)
        : UpdateStream(source, context.CancellationToken)
    {
        private readonly List<ChatResponseUpdate> _updates = new(16);

        protected override ChatResponseUpdate? OnUpdate(ChatResponseUpdate update)
        {
            if (ReferenceEquals(update, context.Refusal))
            {
                // A stage further in rejected the answer: there is nothing to estimate.
                Stop();
                return update;
            }

            _updates.Add(update);
            return update;
        }

        protected override async ValueTask OnCompletedAsync()
        {
            if (_updates.Count > 0 && await guard.FinishStreamAsync(options, context, _updates).ConfigureAwait(false) is { } note)
            {
                Enqueue(note);
            }
        }
    }
}

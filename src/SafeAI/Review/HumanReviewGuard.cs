using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace SafeAI.Review;

/// <summary>
/// The human review stage: when a trigger fires, the proposed answer goes to the <see cref="IReviewQueue"/> and the
/// caller gets the reviewed answer (hold) or a ticket (defer). On a stream the whole answer is gathered and held back,
/// so no unreviewed text reaches the caller, then released, edited or replaced.
/// </summary>
internal sealed class HumanReviewGuard : AIGuard
{
    public const string DefaultName = "review";

    private readonly HumanReviewOptions _options;
    private readonly IReviewQueue _queue;
    private readonly ILogger _logger;

    public HumanReviewGuard(HumanReviewOptions options, IReviewQueue queue, ILogger? logger = null)
        : base(DefaultName, options)
    {
        ArgumentNullException.ThrowIfNull(queue);
        _options = options;
        _queue = queue;
        _logger = logger ?? NullLogger.Instance;
    }

    public override int Order => GuardOrder.HumanReview;

    public IReviewQueue Queue => _queue;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<ChatResponse> InvokeAsync(SafeAIContext context, GuardNext next)
    {
        ArgumentNullException.ThrowIfNull(context);
        var response = await next.GetResponseAsync(context).ConfigureAwait(false);
        if (context.IsRejected)
        {
            return response;
        }

        var triggers = CollectTriggers(context, response);
        if (triggers is null)
        {
            return response;
        }

        var result = await ReviewAsync(context, response, triggers).ConfigureAwait(false);
        switch (result.Kind)
        {
            case ResultKind.Release:
                SetOutcome(response.AdditionalProperties ??= [], result.Outcome);
                return response;
            case ResultKind.Replace:
                var replaced = new ChatResponse(new ChatMessage(ChatRole.Assistant, result.Text))
                {
                    ResponseId = response.ResponseId,
                    ConversationId = response.ConversationId,
                    ModelId = response.ModelId,
                    CreatedAt = context.TimeProvider.GetUtcNow(),
                    FinishReason = ChatFinishReason.Stop,
                };
                SetOutcome(replaced.AdditionalProperties = [], result.Outcome);
                return replaced;
            default:
                var refusal = context.Reject(result.Verdict, result.Text);
                SetOutcome(refusal.AdditionalProperties ??= [], result.Outcome);
                return refusal;
        }
    }

    public override async ValueTask<IAsyncEnumerable<ChatResponseUpdate>> InvokeStreamingAsync(SafeAIContext context, GuardNext next)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!MayTrigger(context))
        {
            return await next.GetStreamingResponseAsync(context).ConfigureAwait(false);
        }

        var stream = await next.GetStreamingResponseAsync(context).ConfigureAwait(false);
        return HoldStreamAsync(context, stream);
    }

    private async IAsyncEnumerable<ChatResponseUpdate> HoldStreamAsync(SafeAIContext context, IAsyncEnumerable<ChatResponseUpdate> stream)
    {
        // Gather the whole answer first: nothing reaches the caller before review has decided.
        var buffer = new List<ChatResponseUpdate>();
        await foreach (var update in stream.WithCancellation(context.CancellationToken).ConfigureAwait(false))
        {
            buffer.Add(update);
        }

        List<string>? triggers = null;
        ChatResponse? proposed = null;
        if (!context.IsRejected)
        {
            proposed = buffer.ToChatResponse();
            triggers = CollectTriggers(context, proposed);
        }

        if (triggers is null || proposed is null)
        {
            foreach (var update in buffer)
            {
                yield return update;
            }

            yield break;
        }

        Result result;
        Exception? fault = null;
        try
        {
            result = await ReviewAsync(context, proposed, triggers).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !context.CancellationToken.IsCancellationRequested)
        {
            fault = ex;
            result = default;
        }

        if (fault is not null)
        {
            // The pipeline applies a stage's failure mode only to faults before the stream starts; apply it here too.
            ReviewGuardLog.StreamReviewFailed(_logger, Name, fault);
            var faultVerdict = new GuardVerdict(FailureMode == GuardFailureMode.FailOpen ? GuardAction.Allow : GuardAction.Block, Name, GuardReasons.GuardError) { Detail = fault.GetType().Name };
            if (FailureMode == GuardFailureMode.FailOpen)
            {
                context.AddVerdict(faultVerdict);
                foreach (var update in buffer)
                {
                    yield return update;
                }
            }
            else
            {
                yield return context.RejectUpdate(faultVerdict);
            }

            yield break;
        }

        var template = buffer.Count > 0 ? buffer[0] : null;
        switch (result.Kind)
        {
            case ResultKind.Release:
                if (buffer.Count == 0)
                {
                    buffer.Add(new ChatResponseUpdate(ChatRole.Assistant, string.Empty));
                }

                SetOutcome(buffer[^1].AdditionalProperties ??= [], result.Outcome);
                foreach (var update in buffer)
                {
                    yield return update;
                }

                break;
            case ResultKind.Replace:
                var replaced = new ChatResponseUpdate(ChatRole.Assistant, result.Text)
                {
                    ResponseId = template?.ResponseId,
                    MessageId = template?.MessageId,
                    ConversationId = template?.ConversationId,
                    ModelId = template?.ModelId,
                    CreatedAt = context.TimeProvider.GetUtcNow(),
                    FinishReason = ChatFinishReason.Stop,
                };
                SetOutcome(replaced.AdditionalProperties = [], result.Outcome);
                yield return replaced;
                break;
            default:
                var refusal = context.RejectUpdate(result.Verdict, result.Text);
                SetOutcome(refusal.AdditionalProperties ??= [], result.Outcome);
                yield return refusal;
                break;
        }
    }

    /// <summary>Whether a stream must be gathered: a trigger may fire once the answer (or inner verdicts) is known.</summary>
    private bool MayTrigger(SafeAIContext context) =>
        _options.HasResponseTriggers || RiskTriggers(context) || HasEscalation(context);

    private bool RiskTriggers(SafeAIContext context) =>
        _options.MinimumRiskTier is { } min && context.CallContext.RiskTier != RiskTier.Unspecified && context.CallContext.RiskTier >= min;

    private bool HasEscalation(SafeAIContext context)
    {
        foreach (var v in context.Verdicts)
        {
            if (v.Action == GuardAction.Escalate && !string.Equals(v.Stage, Name, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    internal List<string>? CollectTriggers(SafeAIContext context, ChatResponse response)
    {
        List<string>? triggers = null;
        if (RiskTriggers(context))
        {
            (triggers ??= []).Add(ReviewReasons.TriggerRiskTier);
        }

        if (_options.ReviewEscalations && HasEscalation(context))
        {
            (triggers ??= []).Add(ReviewReasons.TriggerEscalated);
        }

        if (_options.BorderlineScoreMin is { } lo && _options.BorderlineScoreMax is { } hi)
        {
            foreach (var v in context.Verdicts)
            {
                if (v.Score is { } score && score >= lo && score <= hi &&
                    (_options.BorderlineStages.Count == 0 || _options.BorderlineStages.Contains(v.Stage)))
                {
                    (triggers ??= []).Add(ReviewReasons.TriggerBorderline);
                    break;
                }
            }
        }

        if (_options.ReviewAllToolCalls || _options.SideEffectTools.Count > 0)
        {
            if (CallsSideEffectTool(response))
            {
                (triggers ??= []).Add(ReviewReasons.TriggerSideEffect);
            }
        }

        if (_options.Predicate is { } predicate && predicate(context, response))
        {
            (triggers ??= []).Add(ReviewReasons.TriggerPredicate);
        }

        return triggers;
    }

    private bool CallsSideEffectTool(ChatResponse response)
    {
        foreach (var message in response.Messages)
        {
            foreach (var content in message.Contents)
            {
                if (content is FunctionCallContent call && (_options.ReviewAllToolCalls || _options.SideEffectTools.Contains(call.Name)))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private async ValueTask<Result> ReviewAsync(SafeAIContext context, ChatResponse proposed, List<string> triggers)
    {
        var time = context.TimeProvider;
        var started = time.GetTimestamp();
        var call = context.CallContext;
        var request = new List<ReviewMessage>();

        // A person who declined human review: no clear text of the conversation (earlier answers may quote them) nor of
        // the proposed answer (written from their words) is stored; reviewers decide on the triggers and verdicts, and
        // may reject or write an answer themselves (ReviewItem.TextWithheld). The app's own system messages stay.
        var withheld = !Consent.ConsentPurposes.IsPermitted(call, Consent.ConsentPurposes.HumanReview);
        foreach (var message in context.Messages)
        {
            if (message is not null && message.Text.Length > 0)
            {
                request.Add(new ReviewMessage(message.Role.Value, withheld && message.Role != ChatRole.System ? ReviewReasons.TextWithheld : message.Text));
            }
        }

        var item = await _queue.SubmitAsync(
            new ReviewSubmission
            {
                Request = request,
                ProposedAnswer = withheld ? ReviewReasons.AnswerWithheld : proposed.Text,
                TextWithheld = withheld,
                Verdicts = context.Verdicts.ToArray(),
                Triggers = triggers,
                UserId = call.UserId,
                TenantId = call.TenantId,
                ConversationId = call.ConversationId,
                RiskTier = call.RiskTier,
            },
            context.CancellationToken).ConfigureAwait(false);

        var mode = _options.Mode;
        var modeName = mode == ReviewMode.Hold ? "hold" : "defer";
        context.AddVerdict(GuardVerdict.Escalate(Name, ReviewReasons.Pending) with
        {
            Detail = $"ticket {item.Id}; {modeName}; {string.Join(',', triggers)}",
            Elapsed = time.GetElapsedTime(started),
        });

        if (mode == ReviewMode.Defer)
        {
            // The caller gets SafeAI's "pending review" notice, not model output: disclose it as such.
            context.Items[AIDisclosure.ModeItemKey] = AIDisclosureMode.None;
            return new Result(ResultKind.Replace, Format(_options.PendingMessage, item.Id), default, ReviewOutcome.From(item, mode));
        }

        var decided = await _queue.WaitForDecisionAsync(item.Id, _options.HoldTimeout, context.CancellationToken).ConfigureAwait(false);
        var elapsed = time.GetElapsedTime(started);
        var outcome = ReviewOutcome.From(decided, mode);
        var detail = decided.IsDecided ? $"reviewer {decided.ReviewerId}; ticket {decided.Id}" : $"ticket {decided.Id}";
        if (decided.State is ReviewState.Approved or ReviewState.Edited && decided.ReviewerId is { } reviewer)
        {
            // The disclosure stage names the person who reviewed the answer (mode ai-originated).
            context.Items[AIDisclosure.ReviewedByItemKey] = reviewer;
        }

        switch (decided.State)
        {
            case ReviewState.Approved:
                context.AddVerdict(GuardVerdict.Allow(Name, ReviewReasons.Approved) with { Detail = detail, Elapsed = elapsed });
                return new Result(ResultKind.Release, null, default, outcome);
            case ReviewState.Edited:
                context.AddVerdict(GuardVerdict.Modify(Name, ReviewReasons.Edited) with { Detail = detail, Elapsed = elapsed });
                return new Result(ResultKind.Replace, decided.FinalAnswer, default, outcome);
            case ReviewState.Rejected:
                return new Result(ResultKind.Reject, Format(_options.RejectedMessage, decided.Id), GuardVerdict.Block(Name, ReviewReasons.Rejected) with { Detail = detail, Elapsed = elapsed }, outcome);
            default:
                ReviewLog.HoldTimedOut(_logger, decided.Id, _options.TimeoutAction.ToString());
                if (_options.TimeoutAction == ReviewTimeoutAction.Release)
                {
                    context.AddVerdict(GuardVerdict.Allow(Name, ReviewReasons.Timeout) with { Detail = $"released unreviewed; {detail}", Elapsed = elapsed });
                    return new Result(ResultKind.Release, null, default, outcome);
                }

                context.AddVerdict(GuardVerdict.Degrade(Name, ReviewReasons.Timeout, $"follow-up; {detail}") with { Elapsed = elapsed });
                context.Items[AIDisclosure.ModeItemKey] = AIDisclosureMode.None;
                return new Result(ResultKind.Replace, Format(_options.FollowUpMessage, decided.Id), default, outcome);
        }
    }

    private static string Format(string template, string ticket) => string.Format(CultureInfo.InvariantCulture, template, ticket);

    private static void SetOutcome(AdditionalPropertiesDictionary properties, ReviewOutcome outcome) => properties[ReviewOutcome.PropertyKey] = outcome;

    private enum ResultKind
    {
        Release,
        Replace,
        Reject,
    }

    private readonly record struct Result(ResultKind Kind, string? Text, GuardVerdict Verdict, ReviewOutcome Outcome);
}

internal static partial class ReviewGuardLog
{
    [LoggerMessage(EventId = 410, Level = LogLevel.Error, Message = "SafeAI stage {Stage} failed while reviewing a streamed answer; its failure mode applies.")]
    public static partial void StreamReviewFailed(ILogger logger, string stage, Exception exception);
}

using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.AI;
using SafeAI.Consent;

namespace SafeAI.Audit;

/// <summary>
/// The audit stage: after the rest of the pipeline answered (or failed), queues one call record with the call's ids,
/// arm, every verdict, model, provider and disclosure; the input (the last user message) and the answer as keyed hashes,
/// and in clear only with the person's <c>store-text</c> consent. Adds no verdict and never changes the answer.
/// </summary>
/// <remarks>
/// On the caller's thread it only copies the verdicts and references into a small object and puts it on the queue; the
/// JSON, the hashes and the write happen on the trail's writer. Streams are recorded when they end (or are disposed).
/// </remarks>
internal sealed class AuditTrailGuard(AuditTrail trail) : IAIGuard
{
    internal const string DefaultName = "audit";

    public string Name => DefaultName;

    public GuardFailureMode FailureMode => GuardFailureMode.FailOpen;

    public int Order => GuardOrder.Audit;

    public ValueTask<ChatResponse> InvokeAsync(SafeAIContext context, GuardNext next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ValueTask<ChatResponse> pending;
        try
        {
            pending = next.GetResponseAsync(context);
        }
        catch (Exception ex)
        {
            RecordFault(context, ex);
            throw;
        }

        if (!pending.IsCompletedSuccessfully)
        {
            return AwaitAsync(pending, context);
        }

        var response = pending.Result;
        var queued = trail.EnqueueCall(Capture(context, response), context.CancellationToken);
        return queued.IsCompletedSuccessfully ? new ValueTask<ChatResponse>(response) : WaitQueuedAsync(queued, response);
    }

    public async ValueTask<IAsyncEnumerable<ChatResponseUpdate>> InvokeStreamingAsync(SafeAIContext context, GuardNext next)
    {
        ArgumentNullException.ThrowIfNull(context);
        IAsyncEnumerable<ChatResponseUpdate> stream;
        try
        {
            stream = await next.GetStreamingResponseAsync(context).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            RecordFault(context, ex);
            throw;
        }

        return Recorded(context, stream, context.CancellationToken);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ChatResponse> AwaitAsync(ValueTask<ChatResponse> pending, SafeAIContext context)
    {
        ChatResponse response;
        try
        {
            response = await pending.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            RecordFault(context, ex);
            throw;
        }

        await trail.EnqueueCall(Capture(context, response), context.CancellationToken).ConfigureAwait(false);
        return response;
    }

    private static async ValueTask<ChatResponse> WaitQueuedAsync(ValueTask queued, ChatResponse response)
    {
        await queued.ConfigureAwait(false);
        return response;
    }

    private async IAsyncEnumerable<ChatResponseUpdate> Recorded(SafeAIContext context, IAsyncEnumerable<ChatResponseUpdate> stream, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // The context is pooled and returned once the stream ends: take what the record needs before that.
        StringBuilder? text = trail.RecordsText ? new StringBuilder() : null;
        AIDisclosure? disclosure = null;
        string? responseId = null;
        string? modelId = null;
        var completed = false;
        var call = Begin(context);
        try
        {
            await foreach (var update in stream.WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                disclosure ??= update.GetAIDisclosure();
                responseId ??= update.ResponseId;
                modelId ??= update.ModelId;
                if (text is not null)
                {
                    foreach (var content in update.Contents)
                    {
                        if (content is TextContent t)
                        {
                            text.Append(t.Text);
                        }
                    }
                }

                yield return update;
            }

            completed = true;
        }
        finally
        {
            // Runs when the stream ends, fails or is disposed early; the verdicts are final by then.
            call.Verdicts = context.Verdicts.ToArray();
            call.Outcome = context.Outcome;
            call.CallId = responseId;
            call.Output = text?.ToString();
            call.Model = disclosure?.Model ?? modelId;
            call.Provider = disclosure?.Provider;
            call.Disclosure = disclosure is null ? null : AIDisclosure.GetModeToken(disclosure.Mode);
            call.Faulted = completed ? null : "stream-incomplete";
            trail.EnqueueCallDetached(call);
        }
    }

    private PendingCall Begin(SafeAIContext context)
    {
        var callContext = context.CallContext;
        var call = new PendingCall
        {
            Time = context.TimeProvider.GetUtcNow(),
            UserId = callContext.UserId,
            TenantId = callContext.TenantId,
            ConversationId = callContext.ConversationId,
            Arm = context.RolloutArm ?? callContext.RolloutArm,
            Streaming = context.IsStreaming,
        };
        if (trail.RecordsText)
        {
            call.Input = LastUserText(context.Messages);
            call.StoreText = ConsentPurposes.IsPermitted(callContext, ConsentPurposes.StoreText);
        }

        return call;
    }

    private PendingCall Capture(SafeAIContext context, ChatResponse response)
    {
        var call = Begin(context);
        call.Verdicts = context.Verdicts.ToArray();
        call.Outcome = context.Outcome;
        call.CallId = response.ResponseId;
        if (response.AdditionalProperties?.TryGetValue(AIDisclosure.PropertyKey, out var value) == true && value is AIDisclosure disclosure)
        {
            call.Model = disclosure.Model ?? response.ModelId;
            call.Provider = disclosure.Provider;
            call.Disclosure = AIDisclosure.GetModeToken(disclosure.Mode);
        }
        else
        {
            call.Model = response.ModelId;
        }

        if (trail.RecordsText)
        {
            call.Output = response.Text;
        }

        return call;
    }

    private void RecordFault(SafeAIContext context, Exception exception)
    {
        var call = Begin(context);
        call.Verdicts = context.Verdicts.ToArray();
        call.Outcome = context.Outcome;
        call.Faulted = exception.GetType().Name;
        trail.EnqueueCallDetached(call);
    }

    private static string? LastUserText(IEnumerable<ChatMessage> messages)
    {
        ChatMessage? last = null;
        if (messages is IList<ChatMessage> list)
        {
            for (var i = list.Count - 1; i >= 0; i--)
            {
                if (list[i] is { } m && m.Role == ChatRole.User)
                {
                    last = m;
                    break;
                }
            }
        }
        else
        {
            foreach (var m in messages)
            {
                if (m is not null && m.Role == ChatRole.User)
                {
                    last = m;
                }
            }
        }

        return last?.Text;
    }
}

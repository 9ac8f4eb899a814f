using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace SafeAI.Monitoring;

/// <summary>
/// The monitoring stage: outermost, it times each call and records its outcome, fallback, low confidence, fault and
/// rollout arm into a <see cref="MetricsRecorder"/> once the call is over (for a stream, when the stream ends). It never
/// changes a call and fails open.
/// </summary>
internal sealed class MonitoringGuard : IAIGuard
{
    /// <summary>The stage's position: before disclosure, so it times and sees everything.</summary>
    public const int StageOrder = GuardOrder.Disclosure - 10;

    private readonly MetricsRecorder _recorder;
    private readonly DriftDetector? _drift;
    private readonly ICallLog? _callLog;

    public MonitoringGuard(MetricsRecorder recorder, DriftDetector? drift = null, ICallLog? callLog = null)
    {
        _recorder = recorder ?? throw new ArgumentNullException(nameof(recorder));
        _drift = drift;
        _callLog = callLog;
    }

    public string Name => "monitoring";

    public GuardFailureMode FailureMode => GuardFailureMode.FailOpen;

    public int Order => StageOrder;

    public ValueTask<ChatResponse> InvokeAsync(SafeAIContext context, GuardNext next)
    {
        var start = context.TimeProvider.GetTimestamp();
        ValueTask<ChatResponse> pending;
        try
        {
            pending = next.GetResponseAsync(context);
        }
        catch
        {
            Record(context, start, faulted: true);
            throw;
        }

        if (pending.IsCompletedSuccessfully)
        {
            Record(context, start, faulted: false, pending.Result);
            return pending;
        }

        return AwaitAsync(pending, context, start);
    }

    public async ValueTask<IAsyncEnumerable<ChatResponseUpdate>> InvokeStreamingAsync(SafeAIContext context, GuardNext next)
    {
        var start = context.TimeProvider.GetTimestamp();
        IAsyncEnumerable<ChatResponseUpdate> stream;
        try
        {
            stream = await next.GetStreamingResponseAsync(context).ConfigureAwait(false);
        }
        catch
        {
            Record(context, start, faulted: true);
            throw;
        }

        return Observe(stream, context, start, context.CancellationToken);
    }

    private async IAsyncEnumerable<ChatResponseUpdate> Observe(IAsyncEnumerable<ChatResponseUpdate> stream, SafeAIContext context, long start, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var recorded = false;
        var enumerator = stream.GetAsyncEnumerator(cancellationToken);
        try
        {
            while (true)
            {
                bool more;
                try
                {
                    more = await enumerator.MoveNextAsync().ConfigureAwait(false);
                }
                catch
                {
                    recorded = true;
                    Record(context, start, faulted: true);
                    throw;
                }

                if (!more)
                {
                    break;
                }

                yield return enumerator.Current;
            }
        }
        finally
        {
            // A stream the caller stops reading early is a call that ended, not a fault.
            if (!recorded)
            {
                Record(context, start, faulted: false);
            }

            await enumerator.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async ValueTask<ChatResponse> AwaitAsync(ValueTask<ChatResponse> pending, SafeAIContext context, long start)
    {
        ChatResponse? response = null;
        try
        {
            response = await pending.ConfigureAwait(false);
            return response;
        }
        finally
        {
            Record(context, start, faulted: response is null, response);
        }
    }

    private void Record(SafeAIContext context, long start, bool faulted, ChatResponse? response = null)
    {
        var fallback = false;
        var lowConfidence = false;
        double? confidence = null;
        foreach (ref readonly var verdict in context.Verdicts)
        {
            if (verdict.Action == GuardAction.Degrade)
            {
                fallback = true;
            }
            else if (ReferenceEquals(verdict.Reason, ConfidenceReasons.Low) || string.Equals(verdict.Reason, ConfidenceReasons.Low, StringComparison.Ordinal))
            {
                lowConfidence = true;
            }

            if (verdict.Score is { } score && verdict.Reason.StartsWith("confidence.", StringComparison.Ordinal))
            {
                confidence = score;
            }
        }

        if (_drift is not null && _drift.ShouldSample())
        {
            Profile(context, response, confidence);
        }

        var latency = context.TimeProvider.GetElapsedTime(start);
        _recorder.RecordCall(new CallObservation
        {
            Outcome = context.Outcome,
            Faulted = faulted,
            Fallback = fallback,
            LowConfidence = lowConfidence,
            Latency = latency,
            Arm = context.RolloutArm,
        });

        if (_callLog is not null)
        {
            Log(context, faulted, response, latency);
        }
    }

    private void Log(SafeAIContext context, bool faulted, ChatResponse? response, TimeSpan latency)
    {
        var call = context.CallContext;
        GuardVerdict? decisive = null;
        foreach (ref readonly var verdict in context.Verdicts)
        {
            if (verdict.Action == context.Outcome && verdict.Action != GuardAction.Allow)
            {
                decisive = verdict;
                break;
            }
        }

        string? text = null;
        if (call.HasConsent(MonitoringConsents.IncidentText))
        {
            foreach (var message in context.Messages)
            {
                if (message.Role == ChatRole.User)
                {
                    text = message.Text;
                }
            }
        }

        _callLog!.Append(new CallRecord
        {
            Time = context.TimeProvider.GetUtcNow(),
            ResponseId = response?.ResponseId,
            UserId = call.UserId,
            TenantId = call.TenantId,
            ConversationId = call.ConversationId,
            Arm = context.RolloutArm,
            Outcome = faulted ? "error" : GuardVerdict.GetActionName(context.Outcome),
            Stage = decisive?.Stage,
            Reason = decisive?.Reason,
            LatencyMs = latency.TotalMilliseconds,
            Text = text,
        });
    }

    private void Profile(SafeAIContext context, ChatResponse? response, double? confidence)
    {
        ChatMessage? input = null;
        foreach (var message in context.Messages)
        {
            if (message.Role == ChatRole.User)
            {
                input = message;
            }
        }

        if (input is not null)
        {
            _drift!.ObserveInput(input.Text);
        }

        if (response is not null && !context.IsRejected)
        {
            _drift!.ObserveOutput(response.Text.Length, confidence);
        }
    }
}

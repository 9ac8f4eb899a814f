using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.CircuitBreaker;

namespace SafeAI;

/// <summary>
/// The fallback stage: runs the rest of the pipeline and the model, and when a configured trigger fires (an exception,
/// a timeout, an open circuit, 429/5xx, a content-filter finish, low confidence, context-window overflow, a block
/// further in, or the kill switch) answers with the first link of the chain that can, recording a
/// <see cref="GuardAction.Degrade"/> verdict that names the trigger (reason) and the link (detail).
/// </summary>
/// <remarks>
/// Streams fall back only before the first chunk reaches the caller; a failure after that ends the stream with
/// <see cref="FallbackOptions.StreamInterruptedMessage"/>. Fallback answers on a stream arrive as one update.
/// </remarks>
internal sealed partial class FallbackGuard : AIGuard
{
    internal const string DefaultName = "fallback";

    private static readonly ConcurrentDictionary<Type, PropertyInfo?> StatusProperties = new();

    private readonly Func<FallbackOptions> _options;
    private readonly FallbackCircuitBreakerOptions? _breakerOptions;
    private readonly CircuitBreakerStateProvider _breakerState = new();
    private ResiliencePipeline? _breaker;

    public FallbackGuard(FallbackOptions options)
        : this(options, () => options)
    {
    }

    public FallbackGuard(FallbackOptions initial, Func<FallbackOptions> options)
        : base(DefaultName, initial)
    {
        _options = options;
        _breakerOptions = initial.CircuitBreaker;
    }

    public override int Order => GuardOrder.Fallback;

    public override ValueTask<ChatResponse> InvokeAsync(SafeAIContext context, GuardNext next)
    {
        var options = _options();
        if (options.KillSwitch)
        {
            return AnswerAsync(context, options, FallbackTriggers.KillSwitch, null, context.TimeProvider.GetTimestamp(), default);
        }

        if (_breakerOptions is not null || options.AttemptTimeout is not null || options.TotalTimeout is not null)
        {
            return InvokeGuardedAsync(context, next, options);
        }

        // Success path without timeouts or breaker: no allocation, no async state machine.
        ValueTask<ChatResponse> pending;
        try
        {
            pending = next.GetResponseAsync(context);
        }
        catch (Exception ex) when (Classify(ex, context, options, null, null, context.CancellationToken) != FallbackTriggers.None)
        {
            return AnswerAsync(context, options, Classify(ex, context, options, null, null, context.CancellationToken), ex, context.TimeProvider.GetTimestamp(), default);
        }

        if (pending.IsCompletedSuccessfully)
        {
            var response = pending.Result;
            var trigger = CheckResponse(context, options, response);
            return trigger == FallbackTriggers.None
                ? new ValueTask<ChatResponse>(response)
                : AnswerAsync(context, options, trigger, null, context.TimeProvider.GetTimestamp(), default);
        }

        return AwaitAsync(context, options, pending);
    }

    public override async ValueTask<IAsyncEnumerable<ChatResponseUpdate>> InvokeStreamingAsync(SafeAIContext context, GuardNext next)
    {
        var options = _options();
        var start = context.TimeProvider.GetTimestamp();
        if (options.KillSwitch)
        {
            return ToStream(await AnswerAsync(context, options, FallbackTriggers.KillSwitch, null, start, default).ConfigureAwait(false));
        }

        if (_breakerOptions is not null && _breaker is not null && _breakerState.CircuitState is CircuitState.Open or CircuitState.Isolated)
        {
            return ToStream(await AnswerAsync(context, options, FallbackTriggers.CircuitOpen, null, start, default).ConfigureAwait(false));
        }

        var callerToken = context.CancellationToken;
        var total = options.TotalTimeout is { } tt ? new CancellationTokenSource(tt, context.TimeProvider) : null;
        // The attempt timer is separate from its token source so that it can be stopped at the first chunk (a source's
        // TryReset cannot stop a timer of a custom TimeProvider).
        var attempt = options.AttemptTimeout is null ? null : new CancellationTokenSource();
        var attemptTimer = attempt is null ? null : context.TimeProvider.CreateTimer(static s => CancelQuietly((CancellationTokenSource)s!), attempt, options.AttemptTimeout!.Value, System.Threading.Timeout.InfiniteTimeSpan);
        var linked = Link(total, attempt, callerToken);
        var handedOff = false;
        try
        {
            if (linked is not null)
            {
                context.CancellationToken = linked.Token;
            }

            IAsyncEnumerable<ChatResponseUpdate> stream;
            try
            {
                stream = await next.GetStreamingResponseAsync(context).ConfigureAwait(false);
            }
            catch (Exception ex) when (Classify(ex, context, options, attempt, total, callerToken) != FallbackTriggers.None)
            {
                context.CancellationToken = callerToken;
                var trigger = Classify(ex, context, options, attempt, total, callerToken);
                return ToStream(await AnswerAsync(context, options, trigger, ex, start, total?.Token ?? default).ConfigureAwait(false));
            }

            handedOff = true;
            return new FallbackStream(this, context, options, stream, start, total, attempt, attemptTimer, linked, callerToken);
        }
        finally
        {
            context.CancellationToken = callerToken;
            if (!handedOff)
            {
                attemptTimer?.Dispose();
                linked?.Dispose();
                attempt?.Dispose();
                total?.Dispose();
            }
        }
    }

    private static void CancelQuietly(CancellationTokenSource source)
    {
        try
        {
            source.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The stream ended as the timer fired.
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ChatResponse> AwaitAsync(SafeAIContext context, FallbackOptions options, ValueTask<ChatResponse> pending)
    {
        ChatResponse response;
        try
        {
            response = await pending.ConfigureAwait(false);
        }
        catch (Exception ex) when (Classify(ex, context, options, null, null, context.CancellationToken) != FallbackTriggers.None)
        {
            return await AnswerAsync(context, options, Classify(ex, context, options, null, null, context.CancellationToken), ex, context.TimeProvider.GetTimestamp(), default).ConfigureAwait(false);
        }

        var trigger = CheckResponse(context, options, response);
        return trigger == FallbackTriggers.None
            ? response
            : await AnswerAsync(context, options, trigger, null, context.TimeProvider.GetTimestamp(), default).ConfigureAwait(false);
    }

    private async ValueTask<ChatResponse> InvokeGuardedAsync(SafeAIContext context, GuardNext next, FallbackOptions options)
    {
        var start = context.TimeProvider.GetTimestamp();
        var callerToken = context.CancellationToken;
        using var total = options.TotalTimeout is { } tt ? new CancellationTokenSource(tt, context.TimeProvider) : null;
        using var attempt = options.AttemptTimeout is { } at ? new CancellationTokenSource(at, context.TimeProvider) : null;
        using var linked = Link(total, attempt, callerToken);
        ChatResponse response;
        if (linked is not null)
        {
            context.CancellationToken = linked.Token;
        }

        try
        {
            response = _breakerOptions is null
                ? await next.GetResponseAsync(context).ConfigureAwait(false)
                : await ExecuteWithBreakerAsync(context, next, callerToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (Classify(ex, context, options, attempt, total, callerToken) != FallbackTriggers.None)
        {
            context.CancellationToken = callerToken;
            var trigger = Classify(ex, context, options, attempt, total, callerToken);
            return await AnswerAsync(context, options, trigger, ex, start, total?.Token ?? default).ConfigureAwait(false);
        }
        finally
        {
            context.CancellationToken = callerToken;
        }

        var responseTrigger = CheckResponse(context, options, response);
        return responseTrigger == FallbackTriggers.None
            ? response
            : await AnswerAsync(context, options, responseTrigger, null, start, total?.Token ?? default).ConfigureAwait(false);
    }

    private async ValueTask<ChatResponse> ExecuteWithBreakerAsync(SafeAIContext context, GuardNext next, CancellationToken callerToken)
    {
        var breaker = _breaker ?? CreateBreaker(context.TimeProvider);
        var resilienceContext = ResilienceContextPool.Shared.Get(callerToken);
        try
        {
            var outcome = await breaker.ExecuteOutcomeAsync<ChatResponse, (GuardNext next, SafeAIContext context)>(
                static async (_, state) =>
                {
                    try
                    {
                        return Outcome.FromResult(await state.next.GetResponseAsync(state.context).ConfigureAwait(false));
                    }
                    catch (Exception ex)
                    {
                        return Outcome.FromException<ChatResponse>(ex);
                    }
                },
                resilienceContext,
                (next, context)).ConfigureAwait(false);
            if (outcome.Exception is { } exception)
            {
                ExceptionDispatchInfo.Capture(exception).Throw();
            }

            return outcome.Result!;
        }
        finally
        {
            ResilienceContextPool.Shared.Return(resilienceContext);
        }
    }

    /// <summary>Moves a stream to its first chunk, through the circuit breaker when there is one, so stream failures count too.</summary>
    private async ValueTask<bool> MoveFirstAsync(SafeAIContext context, IAsyncEnumerator<ChatResponseUpdate> enumerator, CancellationToken callerToken)
    {
        if (_breakerOptions is null)
        {
            return await enumerator.MoveNextAsync().ConfigureAwait(false);
        }

        var breaker = _breaker ?? CreateBreaker(context.TimeProvider);
        var resilienceContext = ResilienceContextPool.Shared.Get(callerToken);
        try
        {
            var outcome = await breaker.ExecuteOutcomeAsync(
                static async (_, state) =>
                {
                    try
                    {
                        return Outcome.FromResult(await state.MoveNextAsync().ConfigureAwait(false));
                    }
                    catch (Exception ex)
                    {
                        return Outcome.FromException<bool>(ex);
                    }
                },
                resilienceContext,
                enumerator).ConfigureAwait(false);
            if (outcome.Exception is { } exception)
            {
                ExceptionDispatchInfo.Capture(exception).Throw();
            }

            return outcome.Result;
        }
        finally
        {
            ResilienceContextPool.Shared.Return(resilienceContext);
        }
    }

    private ResiliencePipeline CreateBreaker(TimeProvider timeProvider)
    {
        var settings = _breakerOptions!;
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = timeProvider }
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                StateProvider = _breakerState,
                FailureRatio = settings.FailureRatio,
                MinimumThroughput = settings.MinimumThroughput,
                SamplingDuration = settings.SamplingDuration,
                BreakDuration = settings.BreakDuration,
                ShouldHandle = static args => new ValueTask<bool>(args.Outcome.Exception is { } ex &&
                    !(ex is OperationCanceledException && args.Context.CancellationToken.IsCancellationRequested) &&
                    (ex is not SafeAIException || ex is SafeAIModelException)),
            })
            .Build();
        return Interlocked.CompareExchange(ref _breaker, pipeline, null) ?? pipeline;
    }

    private async ValueTask<ChatResponse> AnswerAsync(SafeAIContext context, FallbackOptions options, FallbackTriggers trigger, Exception? cause, long start, CancellationToken totalToken)
    {
        var callerToken = context.CancellationToken;
        var reason = FallbackReasons.For(trigger);
        var fallbacks = options.Fallbacks;
        for (var i = 0; i < fallbacks.Count; i++)
        {
            var fallback = fallbacks[i];
            if (totalToken.IsCancellationRequested && !fallback.IsImmediate)
            {
                continue;
            }

            callerToken.ThrowIfCancellationRequested();
            using var attempt = options.AttemptTimeout is { } at && !fallback.IsImmediate ? new CancellationTokenSource(at, context.TimeProvider) : null;
            using var linked = Link(attempt, totalToken.CanBeCanceled ? totalToken : default, callerToken);
            ChatResponse? response;
            try
            {
                var pending = fallback.GetResponseAsync(context, trigger, linked?.Token ?? callerToken);
                response = pending.IsCompleted
                    ? await pending.ConfigureAwait(false)
                    : await WaitForLinkAsync(context, pending.AsTask(), linked?.Token ?? callerToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (!callerToken.IsCancellationRequested)
            {
                // A failing link falls to the next one; it is not retried.
                LogFallbackFailed(context.Pipeline.Logger, Name, fallback.Name, ex.GetType().Name);
                continue;
            }

            if (response is null)
            {
                continue;
            }

            if (!fallback.IsAI)
            {
                // Tell the disclosure stage that no AI produced this answer.
                context.Items[AIDisclosure.ModeItemKey] = AIDisclosureMode.None;
            }

            context.AddVerdict(GuardVerdict.Degrade(Name, reason, fallback.Name) with { Elapsed = context.TimeProvider.GetElapsedTime(start) });
            LogFallbackAnswered(context.Pipeline.Logger, Name, reason, fallback.Name);
            return response;
        }

        context.AddVerdict(GuardVerdict.Degrade(Name, reason, FallbackReasons.NoneAnswered) with { Elapsed = context.TimeProvider.GetElapsedTime(start) });
        LogFallbackExhausted(context.Pipeline.Logger, Name, reason);
        if (options.WhenExhausted == FallbackExhaustedBehavior.ThrowException)
        {
            throw new SafeAIFallbackExhaustedException(
                $"The model call failed ({reason}) and no fallback could answer.", trigger, cause);
        }

        return new ChatResponse(new ChatMessage(ChatRole.Assistant, options.UnavailableMessage))
        {
            CreatedAt = context.TimeProvider.GetUtcNow(),
            FinishReason = ChatFinishReason.Stop,
        };
    }

    /// <summary>
    /// Waits for a link that calls something, bounded like the model call (<see cref="SafeAIOptions.ModelTimeout"/> and
    /// the token) without the link's cooperation; a link given up on is detached and observed.
    /// </summary>
    private static async Task<ChatResponse?> WaitForLinkAsync(SafeAIContext context, Task<ChatResponse?> pending, CancellationToken token)
    {
        var timeout = context.PipelineOptions.ModelTimeout;
        try
        {
            return await pending.WaitAsync(timeout, context.TimeProvider, token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException && !pending.IsCompleted)
        {
            AbandonedCalls.Detach(pending, context.Pipeline.Logger);
            throw;
        }
    }

    private static FallbackTriggers CheckResponse(SafeAIContext context, FallbackOptions options, ChatResponse response)
    {
        FallbackTriggers trigger;
        if (ReferenceEquals(response, context.Refusal))
        {
            trigger = FallbackTriggers.Blocked;
        }
        else if (response.FinishReason == ChatFinishReason.ContentFilter)
        {
            trigger = FallbackTriggers.ContentFilter;
        }
        else if (context.Outcome >= GuardAction.Degrade && context.HasVerdict(GuardAction.Degrade) &&
            context.Items.ContainsKey(ConfidenceReasons.FallbackRequestItemKey))
        {
            // The confidence stage's LowConfidenceAction.Fallback is the switch for this trigger: honour it always, so a
            // low-confidence answer handed over is never passed on silently.
            return FallbackTriggers.LowConfidence;
        }
        else
        {
            return FallbackTriggers.None;
        }

        return (options.Triggers & trigger) != 0 ? trigger : FallbackTriggers.None;
    }

    private static FallbackTriggers CheckUpdate(SafeAIContext context, FallbackOptions options, ChatResponseUpdate update)
    {
        var trigger = ReferenceEquals(update, context.Refusal) ? FallbackTriggers.Blocked
            : update.FinishReason == ChatFinishReason.ContentFilter ? FallbackTriggers.ContentFilter
            : FallbackTriggers.None;
        return (options.Triggers & trigger) != 0 ? trigger : FallbackTriggers.None;
    }

    /// <summary>Decides which trigger an exception from further in fires; <see cref="FallbackTriggers.None"/> lets it pass to the caller.</summary>
    /// <remarks>
    /// <paramref name="callerToken"/> is the caller's own token, never the stage's linked one: a caller that passed no
    /// token cannot have cancelled, so a cancellation then is always one of this stage's timeouts.
    /// </remarks>
    internal static FallbackTriggers Classify(Exception exception, SafeAIContext context, FallbackOptions options, CancellationTokenSource? attempt, CancellationTokenSource? total, CancellationToken callerToken)
    {
        if (callerToken.IsCancellationRequested || exception is SafeAIException and not SafeAIModelException)
        {
            return FallbackTriggers.None;
        }

        FallbackTriggers trigger;
        if (exception is SafeAIModelTimeoutException)
        {
            trigger = FallbackTriggers.Timeout;
        }
        else if (exception is SafeAIModelException)
        {
            // The model returned nothing usable (no response, no stream): a model failure like any exception.
            trigger = FallbackTriggers.Exception;
        }
        else if (exception is OperationCanceledException && (attempt?.IsCancellationRequested == true || total?.IsCancellationRequested == true))
        {
            trigger = FallbackTriggers.Timeout;
        }
        else if (exception is TimeoutException)
        {
            trigger = FallbackTriggers.Timeout;
        }
        else if (exception is BrokenCircuitException)
        {
            // An open circuit always falls back: the breaker exists to send calls to the fallback.
            return FallbackTriggers.CircuitOpen;
        }
        else if (IsContextWindowOverflow(exception))
        {
            trigger = FallbackTriggers.ContextWindowExceeded;
        }
        else
        {
            var status = (options.StatusCodeResolver ?? DefaultStatusCode)(exception);
            trigger = status switch
            {
                429 => FallbackTriggers.RateLimited,
                >= 500 and <= 599 => FallbackTriggers.ServerError,
                _ => MatchesExceptionTypes(exception, options) ? FallbackTriggers.Exception : FallbackTriggers.None,
            };
        }

        return (options.Triggers & trigger) != 0 ? trigger : FallbackTriggers.None;
    }

    private static bool MatchesExceptionTypes(Exception exception, FallbackOptions options)
    {
        var types = options.ExceptionTypes;
        if (types.Count == 0)
        {
            return true;
        }

        for (var i = 0; i < types.Count; i++)
        {
            if (types[i].IsInstanceOfType(exception))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsContextWindowOverflow(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            var message = e.Message;
            if (message.Contains("context_length_exceeded", StringComparison.OrdinalIgnoreCase) ||
                message.Contains("maximum context length", StringComparison.OrdinalIgnoreCase) ||
                message.Contains("context window", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    internal static int? DefaultStatusCode(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is HttpRequestException { StatusCode: { } code })
            {
                return (int)code;
            }

            var property = StatusProperties.GetOrAdd(e.GetType(), static type =>
            {
                var p = type.GetProperty("Status", BindingFlags.Public | BindingFlags.Instance);
                return p is not null && p.PropertyType == typeof(int) ? p : null;
            });
            if (property?.GetValue(e) is int status && status > 0)
            {
                return status;
            }
        }

        return null;
    }

    private static CancellationTokenSource? Link(CancellationTokenSource? total, CancellationTokenSource? attempt, CancellationToken callerToken) =>
        Link(attempt, total?.Token ?? default, callerToken);

    private static CancellationTokenSource? Link(CancellationTokenSource? attempt, CancellationToken totalToken, CancellationToken callerToken) =>
        (totalToken.CanBeCanceled, attempt) switch
        {
            (false, null) => null,
            (true, null) => CancellationTokenSource.CreateLinkedTokenSource(callerToken, totalToken),
            (false, { } a) => CancellationTokenSource.CreateLinkedTokenSource(callerToken, a.Token),
            (true, { } a) => CancellationTokenSource.CreateLinkedTokenSource(callerToken, totalToken, a.Token),
        };

    private static IAsyncEnumerable<ChatResponseUpdate> ToStream(ChatResponse response) => ToStreamAsync(response);

    private static async IAsyncEnumerable<ChatResponseUpdate> ToStreamAsync(ChatResponse response)
    {
        await Task.CompletedTask.ConfigureAwait(false);
        foreach (var update in response.ToChatResponseUpdates())
        {
            yield return update;
        }
    }

    [LoggerMessage(EventId = 60, Level = LogLevel.Warning, Message = "SafeAI stage {Stage} answered with fallback {Fallback} ({Reason}).")]
    private static partial void LogFallbackAnswered(ILogger logger, string stage, string reason, string fallback);

    [LoggerMessage(EventId = 61, Level = LogLevel.Warning, Message = "SafeAI stage {Stage}: fallback {Fallback} failed with {ExceptionType}; trying the next one.")]
    private static partial void LogFallbackFailed(ILogger logger, string stage, string fallback, string exceptionType);

    [LoggerMessage(EventId = 62, Level = LogLevel.Error, Message = "SafeAI stage {Stage}: no fallback could answer ({Reason}).")]
    private static partial void LogFallbackExhausted(ILogger logger, string stage, string reason);

    [LoggerMessage(EventId = 63, Level = LogLevel.Warning, Message = "SafeAI stage {Stage}: a stream failed with {ExceptionType} after its first chunk; it was ended with a notice.")]
    private static partial void LogStreamInterrupted(ILogger logger, string stage, string exceptionType);

    /// <summary>
    /// Watches a primary stream: until its first chunk reaches the caller any trigger may still hand the call to the
    /// fallback; after that, a failure ends the stream with a notice instead of an exception.
    /// </summary>
    private sealed class FallbackStream(
        FallbackGuard guard,
        SafeAIContext context,
        FallbackOptions options,
        IAsyncEnumerable<ChatResponseUpdate> source,
        long start,
        CancellationTokenSource? total,
        CancellationTokenSource? attempt,
        ITimer? attemptTimer,
        CancellationTokenSource? linked,
        CancellationToken callerToken)
        : UpdateStream(source, linked?.Token ?? callerToken)
    {
        private ChatResponseUpdate? _last;

        protected override CancellationToken SelectReadToken(CancellationToken readerToken) => linked?.Token ?? callerToken;

        protected override async ValueTask<bool> StartAsync()
        {
            ChatResponseUpdate? first = null;
            var trigger = FallbackTriggers.None;
            Exception? failure = null;
            try
            {
                if (await guard.MoveFirstAsync(context, Source, callerToken).ConfigureAwait(false))
                {
                    first = Source.Current;
                }
            }
            catch (Exception ex) when (Classify(ex, context, options, attempt, total, callerToken) != FallbackTriggers.None)
            {
                trigger = Classify(ex, context, options, attempt, total, callerToken);
                failure = ex;
            }

            if (first is not null)
            {
                trigger = CheckUpdate(context, options, first);
            }

            if (trigger != FallbackTriggers.None)
            {
                var answer = await guard.AnswerAsync(context, options, trigger, failure, start, total?.Token ?? default).ConfigureAwait(false);
                foreach (var update in answer.ToChatResponseUpdates())
                {
                    Enqueue(update);
                }

                Stop();
                return TryDequeue();
            }

            if (first is null)
            {
                Stop();
                return false;
            }

            // The first chunk is out: the attempt timeout no longer applies; the total timeout still does.
            attemptTimer?.Dispose();
            _last = first;
            Enqueue(first);
            return TryDequeue();
        }

        protected override ChatResponseUpdate? OnUpdate(ChatResponseUpdate update) => _last = update;

        protected override bool OnFault(Exception exception, out ChatResponseUpdate? replacement)
        {
            if (callerToken.IsCancellationRequested || exception is SafeAIException and not SafeAIModelException)
            {
                replacement = null;
                return false;
            }

            var verdict = GuardVerdict.Degrade(guard.Name, FallbackReasons.StreamInterrupted, exception.GetType().Name) with
            {
                Elapsed = context.TimeProvider.GetElapsedTime(start),
            };
            context.AddVerdict(verdict);
            LogStreamInterrupted(context.Pipeline.Logger, guard.Name, exception.GetType().Name);
            var last = _last!;
            replacement = new ChatResponseUpdate(ChatRole.Assistant, "\n\n" + options.StreamInterruptedMessage)
            {
                ResponseId = last.ResponseId,
                MessageId = last.MessageId,
                ConversationId = last.ConversationId,
                ModelId = last.ModelId,
                CreatedAt = context.TimeProvider.GetUtcNow(),
                FinishReason = ChatFinishReason.Stop,
            };
            return true;
        }

        protected override ValueTask OnDisposeAsync()
        {
            attemptTimer?.Dispose();
            linked?.Dispose();
            attempt?.Dispose();
            total?.Dispose();
            return default;
        }
    }
}

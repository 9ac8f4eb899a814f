using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;

namespace SafeAI;

/// <summary>
/// A <see cref="DelegatingChatClient"/> that runs every call through a <see cref="SafeAIPipeline"/> of guard stages
/// and attaches the call's <see cref="SafeAIResult"/> to the response.
/// </summary>
/// <remarks>
/// <para>Create it with <c>builder.UseSafeAI(...)</c> on a <see cref="ChatClientBuilder"/>, or directly.</para>
/// <para>
/// Non-streaming: the result is in the response's <c>AdditionalProperties</c>; read it with
/// <c>response.GetSafeAIResult()</c>. Streaming: the stream ends with one extra update that carries no content and
/// holds the result (<c>update.GetSafeAIResult()</c>); <c>ToChatResponseAsync()</c> keeps it.
/// </para>
/// <para>
/// Rejected calls return a well-formed refusal (or throw <see cref="SafeAIBlockedException"/> /
/// <see cref="SafeAIRateLimitedException"/> under <see cref="RejectionBehavior.ThrowException"/>). Failures of the
/// model call that no stage turns into an answer propagate to the caller unchanged; a model that returns
/// <see langword="null"/> gives <see cref="SafeAIModelException"/>, one that does not answer within
/// <see cref="SafeAIOptions.ModelTimeout"/> gives <see cref="SafeAIModelTimeoutException"/>. Thread-safe.
/// </para>
/// </remarks>
public sealed class SafeAIChatClient : DelegatingChatClient
{
    private readonly SafeAIPipeline _pipeline;

    /// <summary>Initializes a new instance of the <see cref="SafeAIChatClient"/> class.</summary>
    /// <param name="innerClient">The client to protect (the model).</param>
    /// <param name="pipeline">The pipeline to run calls through.</param>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public SafeAIChatClient(IChatClient innerClient, SafeAIPipeline pipeline)
        : base(innerClient)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        _pipeline = pipeline;
    }

    /// <summary>Gets the pipeline calls run through.</summary>
    public SafeAIPipeline Pipeline => _pipeline;

    /// <inheritdoc />
    public override Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var pipeline = _pipeline;
        if (pipeline.IsEmpty)
        {
            return GetResponseWithoutStagesAsync(messages, options, cancellationToken);
        }

        if (SafeAITelemetry.ActivitySource.HasListeners())
        {
            // Starting a span changes Activity.Current: do it inside an async method so the change stays in this call.
            return GetResponseWithActivityAsync(messages, options, cancellationToken);
        }

        var context = pipeline.RentContext(InnerClient, messages, options, streaming: false, cancellationToken);
        StartCall(context);
        ValueTask<ChatResponse> pending;
        try
        {
            pending = pipeline.InvokeAsync(0, context);
        }
        catch (Exception ex)
        {
            FailCall(context, ex);
            throw;
        }

        if (!pending.IsCompletedSuccessfully)
        {
            return CompleteAsync(pending, context);
        }

        var response = pending.Result;
        var innerTask = context.InnerTask;
        var rejection = CompleteCall(context, response);
        if (rejection is not null)
        {
            return Task.FromException<ChatResponse>(rejection);
        }

        // The response is often the very object the inner client's completed task holds: reuse that task.
        return innerTask is not null && ReferenceEquals(innerTask.Result, response) ? innerTask : Task.FromResult(response);
    }

    /// <inheritdoc />
    public override IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        return new PipelineStream(this, messages, options, cancellationToken);
    }

    /// <inheritdoc />
    public override object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is null)
        {
            if (serviceType == typeof(SafeAIPipeline))
            {
                return _pipeline;
            }

            if (serviceType.IsInstanceOfType(this))
            {
                return this;
            }
        }

        return base.GetService(serviceType, serviceKey);
    }

    private Task<ChatResponse> GetResponseWithoutStagesAsync(IEnumerable<ChatMessage> messages, ChatOptions? options, CancellationToken cancellationToken)
    {
        var task = InnerClient.GetResponseAsync(messages, options, cancellationToken);
        if (task is { IsCompletedSuccessfully: true, Result: not null })
        {
            task.Result.SetSafeAIResult(SafeAIResult.Empty);
            _pipeline.Telemetry.RecordCall(GuardAction.Allow, streaming: false, faulted: false);
            return task;
        }

        return AwaitWithoutStagesAsync(task, cancellationToken);
    }

    private async Task<ChatResponse> AwaitWithoutStagesAsync(Task<ChatResponse>? task, CancellationToken cancellationToken)
    {
        ChatResponse response;
        var timeout = _pipeline.Options.ModelTimeout;
        try
        {
            if (task is null)
            {
                throw new SafeAIModelException("The model client returned no task (null) from GetResponseAsync.");
            }

            // Even without stages the wait is bounded, whether or not the model honours its token.
            response = await task.WaitAsync(timeout, _pipeline.TimeProvider, cancellationToken).ConfigureAwait(false)
                ?? throw new SafeAIModelException("The model client returned no response (null) from GetResponseAsync.");
        }
        catch (Exception ex)
        {
            _pipeline.Telemetry.RecordCall(GuardAction.Allow, streaming: false, faulted: true);
            if (task is { IsCompleted: false })
            {
                AbandonedCalls.Detach(task, _pipeline.Logger);
                if (ex is TimeoutException)
                {
                    Log.ModelAbandoned(_pipeline.Logger, timeout);
                    throw new SafeAIModelTimeoutException(timeout, streaming: false);
                }
            }

            throw;
        }

        response.SetSafeAIResult(SafeAIResult.Empty);
        _pipeline.Telemetry.RecordCall(GuardAction.Allow, streaming: false, faulted: false);
        return response;
    }

    private async Task<ChatResponse> GetResponseWithActivityAsync(IEnumerable<ChatMessage> messages, ChatOptions? options, CancellationToken cancellationToken)
    {
        var context = _pipeline.RentContext(InnerClient, messages, options, streaming: false, cancellationToken);
        StartCall(context);
        ValueTask<ChatResponse> pending;
        try
        {
            pending = _pipeline.InvokeAsync(0, context);
        }
        catch (Exception ex)
        {
            FailCall(context, ex);
            throw;
        }

        return await CompleteAsync(pending, context).ConfigureAwait(false);
    }

    private async Task<ChatResponse> CompleteAsync(ValueTask<ChatResponse> pending, SafeAIContext context)
    {
        ChatResponse response;
        try
        {
            response = await pending.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            FailCall(context, ex);
            throw;
        }

        var rejection = CompleteCall(context, response);
        return rejection is null ? response : throw rejection;
    }

    private void StartCall(SafeAIContext context)
    {
        if (SafeAITelemetry.ActivitySource.HasListeners())
        {
            context.Activity = SafeAITelemetry.ActivitySource.StartActivity(SafeAIDiagnostics.CallActivityName, ActivityKind.Internal);
            _ = context.Activity?.SetTag(SafeAIDiagnostics.StreamingTag, context.IsStreaming);
        }

        var logger = _pipeline.Logger;
        if (context.PipelineOptions.LogMessageContent && logger.IsEnabled(LogLevel.Trace))
        {
            Log.InputText(logger, context.Messages.Count(), context.GetInputText());
        }
    }

    /// <summary>Attaches the result, records telemetry and returns the context; returns the exception to throw for a rejection in throw mode.</summary>
    private SafeAIException? CompleteCall(SafeAIContext context, ChatResponse response)
    {
        var result = context.CreateResult();
        response.SetSafeAIResult(result);
        var rejection = FinishCall(context, result);
        _pipeline.ReturnContext(context);
        return rejection;
    }

    private SafeAIException? FinishCall(SafeAIContext context, SafeAIResult result)
    {
        _pipeline.Telemetry.RecordCall(result.Outcome, context.IsStreaming, faulted: false);
        if (context.Activity is { } activity)
        {
            _ = activity.SetTag(SafeAIDiagnostics.OutcomeTag, GuardVerdict.GetActionName(result.Outcome));
            activity.Dispose();
        }

        if (!result.IsRejected || context.PipelineOptions.OnRejected != RejectionBehavior.ThrowException)
        {
            return null;
        }

        var verdict = result.DecisiveVerdict!.Value;
        var message = context.GetRejectionMessage(verdict);
        return result.Outcome == GuardAction.Limit
            ? new SafeAIRateLimitedException(message, result)
            : new SafeAIBlockedException(message, result);
    }

    private void FailCall(SafeAIContext context, Exception exception)
    {
        _pipeline.Telemetry.RecordCall(context.Outcome, context.IsStreaming, faulted: true);
        if (exception is not OperationCanceledException && exception is not SafeAIException)
        {
            var logger = _pipeline.Logger;
            if (logger.IsEnabled(LogLevel.Warning))
            {
                Log.CallFailed(logger, exception.GetType().Name);
            }
        }

        if (context.Activity is { } activity)
        {
            _ = activity.SetStatus(ActivityStatusCode.Error, exception.GetType().Name);
            activity.Dispose();
        }

        if (!context.IsStreaming)
        {
            _pipeline.ReturnContext(context);
        }
    }

    /// <summary>
    /// One streaming call: rents a context at the first read, runs the pipeline, passes the updates on and ends with
    /// the update that carries the result. Each enumeration is a new call.
    /// </summary>
    private sealed class PipelineStream : UpdateStream
    {
        private readonly SafeAIChatClient _owner;
        private readonly IEnumerable<ChatMessage> _messages;
        private readonly ChatOptions? _options;
        private readonly CancellationToken _callToken;
        private SafeAIContext? _context;
        private CancellationTokenSource? _linked;
        private bool _finished;
        private string? _responseId;
        private string? _conversationId;
        private string? _modelId;

        public PipelineStream(SafeAIChatClient owner, IEnumerable<ChatMessage> messages, ChatOptions? options, CancellationToken callToken)
            : base(null, callToken)
        {
            _owner = owner;
            _messages = messages;
            _options = options;
            _callToken = callToken;
        }

        protected override CancellationToken SelectReadToken(CancellationToken readerToken)
        {
            if (!readerToken.CanBeCanceled || readerToken == _callToken)
            {
                return _callToken;
            }

            if (!_callToken.CanBeCanceled)
            {
                return readerToken;
            }

            _linked = CancellationTokenSource.CreateLinkedTokenSource(_callToken, readerToken);
            return _linked.Token;
        }

        protected override UpdateStream CreateFresh() => new PipelineStream(_owner, _messages, _options, _callToken);

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        protected override async ValueTask<bool> StartAsync()
        {
            var pipeline = _owner._pipeline;
            var context = pipeline.RentContext(_owner.InnerClient, _messages, _options, streaming: true, ReadToken);
            _context = context;
            _owner.StartCall(context);
            IAsyncEnumerable<ChatResponseUpdate> stream;
            try
            {
                stream = await pipeline.InvokeStreamingAsync(0, context).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                _owner.FailCall(context, ex);
                _finished = true;
                throw;
            }

            SetSource(stream);
            return await ReadNextAsync().ConfigureAwait(false);
        }

        protected override ChatResponseUpdate? OnUpdate(ChatResponseUpdate update)
        {
            var context = _context!;
            if (ReferenceEquals(update, context.Refusal) && context.PipelineOptions.OnRejected == RejectionBehavior.ThrowException)
            {
                // End here: the rejection is thrown once the stages have unwound.
                return null;
            }

            _responseId ??= update.ResponseId;
            _conversationId ??= update.ConversationId;
            _modelId ??= update.ModelId;
            return update;
        }

        protected override bool OnFault(Exception exception, out ChatResponseUpdate? replacement)
        {
            _owner.FailCall(_context!, exception);
            _finished = true;
            replacement = null;
            return false;
        }

        protected override ValueTask OnCompletedAsync()
        {
            // The stages' streams clean up first (leases, timers), as they would at the end of a loop over them.
            var disposing = DisposeSourceAsync();
            if (!disposing.IsCompletedSuccessfully)
            {
                return CompleteAfterAsync(disposing);
            }

            disposing.GetAwaiter().GetResult();
            Complete();
            return default;
        }

        protected override ValueTask OnDisposeAsync()
        {
            if (_context is { } context)
            {
                _context = null;
                if (!_finished)
                {
                    // The caller stopped reading early (or cancelled): not a failure, but the call is over.
                    _owner.FinishCall(context, context.CreateResult());
                }

                _owner._pipeline.ReturnContext(context);
            }

            _linked?.Dispose();
            return default;
        }

        private async ValueTask CompleteAfterAsync(ValueTask disposing)
        {
            await disposing.ConfigureAwait(false);
            Complete();
        }

        private void Complete()
        {
            var context = _context!;
            var result = context.CreateResult();
            _finished = true;
            if (_owner.FinishCall(context, result) is { } rejection)
            {
                throw rejection;
            }

            Enqueue(new ChatResponseUpdate
            {
                ResponseId = _responseId,
                ConversationId = _conversationId,
                ModelId = _modelId,
                AdditionalProperties = new() { [SafeAIResult.PropertyKey] = result },
            });
        }
    }
}

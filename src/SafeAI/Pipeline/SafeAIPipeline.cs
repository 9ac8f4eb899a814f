using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace SafeAI;

/// <summary>
/// An immutable, ordered chain of <see cref="IAIGuard"/> stages, built once (with <see cref="SafeAIPipelineBuilder"/>
/// or <c>services.AddSafeAI()</c>) and shared by every call and every <see cref="SafeAIChatClient"/> that uses it.
/// </summary>
/// <remarks>Thread-safe. Get the pipeline of a client with <c>client.GetService&lt;SafeAIPipeline&gt;()</c>.</remarks>
public sealed class SafeAIPipeline
{
    private readonly IAIGuard[] _stages;
    private readonly ContextPool _pool;
    private readonly Func<SafeAIOptions> _options;

    internal SafeAIPipeline(
        IAIGuard[] stages,
        Func<SafeAIOptions> options,
        TimeProvider timeProvider,
        ILogger? logger,
        SafeAITelemetry telemetry,
        IServiceProvider services)
    {
        _stages = stages;
        _options = options;
        TimeProvider = timeProvider;
        Logger = logger ?? NullLogger.Instance;
        Telemetry = telemetry;
        Services = services;
        Stages = Array.AsReadOnly(stages);
        _pool = new ContextPool(this);
    }

    /// <summary>Gets the stages, outermost first.</summary>
    public IReadOnlyList<IAIGuard> Stages { get; }

    /// <summary>Gets the current settings (reloaded when bound to configuration that changes).</summary>
    public SafeAIOptions Options => _options();

    /// <summary>Gets the time provider all stages take time from.</summary>
    public TimeProvider TimeProvider { get; }

    /// <summary>Gets the services the pipeline was built with.</summary>
    public IServiceProvider Services { get; }

    internal ILogger Logger { get; }

    internal SafeAITelemetry Telemetry { get; }

    internal bool IsEmpty => _stages.Length == 0;

    /// <summary>Finds the first stage of a type.</summary>
    /// <typeparam name="TGuard">The stage type.</typeparam>
    /// <returns>The stage, or <see langword="null"/>.</returns>
    public TGuard? GetStage<TGuard>()
        where TGuard : class, IAIGuard
    {
        foreach (var stage in _stages)
        {
            if (stage is TGuard match)
            {
                return match;
            }
        }

        return null;
    }

    internal SafeAIContext RentContext(IChatClient inner, IEnumerable<ChatMessage> messages, ChatOptions? options, bool streaming, CancellationToken cancellationToken)
    {
        var context = _pool.Rent();
        context.Initialize(inner, messages, options, streaming, _options(), cancellationToken);
        return context;
    }

    internal void ReturnContext(SafeAIContext context)
    {
        if (context.MayStillBeInUse)
        {
            // A check that ran past its budget may still hold this context: never hand it to another call.
            return;
        }

        context.Reset();
        _pool.Return(context);
    }

    internal ValueTask<ChatResponse> InvokeAsync(int index, SafeAIContext context)
    {
        if (index == 0 && !InputValidation.Validate(context, out var rejection))
        {
            return new ValueTask<ChatResponse>(context.Reject(rejection));
        }

        if (index > context.DeepestEntered)
        {
            context.DeepestEntered = index;
        }

        if ((uint)index >= (uint)_stages.Length)
        {
            return InvokeInnerAsync(context);
        }

        ValueTask<ChatResponse> pending;
        try
        {
            pending = _stages[index].InvokeAsync(context, new GuardNext(this, index + 1));
        }
        catch (Exception ex) when (context.IsOwnFault(ex, index))
        {
            return HandleStageFault(index, context, ex);
        }

        if (pending.IsCompletedSuccessfully)
        {
            var response = pending.Result;
            context.SetLastResponse(response, index);
            return new ValueTask<ChatResponse>(response);
        }

        return AwaitStageAsync(pending, index, context);
    }

    internal ValueTask<IAsyncEnumerable<ChatResponseUpdate>> InvokeStreamingAsync(int index, SafeAIContext context)
    {
        if (index == 0 && !InputValidation.Validate(context, out var rejection))
        {
            return new ValueTask<IAsyncEnumerable<ChatResponseUpdate>>(context.RejectStream(rejection));
        }

        if (index > context.DeepestEntered)
        {
            context.DeepestEntered = index;
        }

        if ((uint)index >= (uint)_stages.Length)
        {
            return InvokeInnerStreaming(context);
        }

        ValueTask<IAsyncEnumerable<ChatResponseUpdate>> pending;
        try
        {
            pending = _stages[index].InvokeStreamingAsync(context, new GuardNext(this, index + 1));
        }
        catch (Exception ex) when (context.IsOwnFault(ex, index))
        {
            return HandleStreamingStageFault(index, context, ex);
        }

        if (pending.IsCompletedSuccessfully)
        {
            var stream = pending.Result;
            context.SetLastStream(stream, index);
            return new ValueTask<IAsyncEnumerable<ChatResponseUpdate>>(stream);
        }

        return AwaitStreamingStageAsync(pending, index, context);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ChatResponse> AwaitStageAsync(ValueTask<ChatResponse> pending, int index, SafeAIContext context)
    {
        try
        {
            var response = await pending.ConfigureAwait(false);
            context.SetLastResponse(response, index);
            return response;
        }
        catch (Exception ex) when (context.IsOwnFault(ex, index))
        {
            return await HandleStageFault(index, context, ex).ConfigureAwait(false);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<IAsyncEnumerable<ChatResponseUpdate>> AwaitStreamingStageAsync(ValueTask<IAsyncEnumerable<ChatResponseUpdate>> pending, int index, SafeAIContext context)
    {
        try
        {
            var stream = await pending.ConfigureAwait(false);
            context.SetLastStream(stream, index);
            return stream;
        }
        catch (Exception ex) when (context.IsOwnFault(ex, index))
        {
            return await HandleStreamingStageFault(index, context, ex).ConfigureAwait(false);
        }
    }

    private ValueTask<ChatResponse> InvokeInnerAsync(SafeAIContext context)
    {
        var depth = _stages.Length;
        Task<ChatResponse> task;
        try
        {
            task = context.InnerClient.GetResponseAsync(context.Messages, context.Options, context.CancellationToken)
                ?? throw new SafeAIModelException("The model client returned no task (null) from GetResponseAsync.");
        }
        catch (Exception ex)
        {
            context.MarkFault(ex, depth);
            throw;
        }

        if (task.IsCompletedSuccessfully)
        {
            var response = task.Result;
            if (response is null)
            {
                return FailInner(context, depth, NullResponse());
            }

            context.InnerTask = task;
            context.SetLastResponse(response, depth);
            return new ValueTask<ChatResponse>(response);
        }

        return AwaitInnerAsync(task, context, depth, context.PipelineOptions.ModelTimeout);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ChatResponse> AwaitInnerAsync(Task<ChatResponse> task, SafeAIContext context, int depth, TimeSpan timeout)
    {
        ChatResponse response;
        try
        {
            // Bounded without the model's cooperation: past the budget, or once the token is cancelled, stop waiting.
            response = await task.WaitAsync(timeout, TimeProvider, context.CancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException ex) when (!IsFrom(task, ex))
        {
            AbandonedCalls.Detach(task, Logger);
            Log.ModelAbandoned(Logger, timeout);
            var timedOut = new SafeAIModelTimeoutException(timeout, streaming: false);
            context.MarkFault(timedOut, depth);
            throw timedOut;
        }
        catch (OperationCanceledException ex) when (!task.IsCanceled && !IsFrom(task, ex))
        {
            // Cancelled while the model had not reacted (yet): the caller does not wait for it.
            AbandonedCalls.Detach(task, Logger);
            context.MarkFault(ex, depth);
            throw;
        }
        catch (Exception ex)
        {
            context.MarkFault(ex, depth);
            throw;
        }

        if (response is null)
        {
            var invalid = NullResponse();
            context.MarkFault(invalid, depth);
            throw invalid;
        }

        context.SetLastResponse(response, depth);
        return response;
    }

    private static ValueTask<ChatResponse> FailInner(SafeAIContext context, int depth, Exception exception)
    {
        context.MarkFault(exception, depth);
        return ValueTask.FromException<ChatResponse>(exception);
    }

    private static SafeAIModelException NullResponse() => new("The model client returned no response (null) from GetResponseAsync.");

    private static bool IsFrom(Task task, Exception exception) =>
        task.IsFaulted && task.Exception!.InnerExceptions.Contains(exception);

    private ValueTask<IAsyncEnumerable<ChatResponseUpdate>> InvokeInnerStreaming(SafeAIContext context)
    {
        var depth = _stages.Length;
        IAsyncEnumerable<ChatResponseUpdate> stream;
        try
        {
            var source = context.InnerClient.GetStreamingResponseAsync(context.Messages, context.Options, context.CancellationToken)
                ?? throw new SafeAIModelException("The model client returned no stream (null) from GetStreamingResponseAsync.");
            stream = new ModelStream(source, context.PipelineOptions.ModelTimeout, TimeProvider, Logger, context.CancellationToken);
        }
        catch (Exception ex)
        {
            context.MarkFault(ex, depth);
            throw;
        }

        context.SetLastStream(stream, depth);
        return new ValueTask<IAsyncEnumerable<ChatResponseUpdate>>(stream);
    }

    private ValueTask<ChatResponse> HandleStageFault(int index, SafeAIContext context, Exception exception)
    {
        var stage = _stages[index];
        if (!RecordStageFault(stage, context, exception))
        {
            return new ValueTask<ChatResponse>(context.Reject(FaultVerdict(GuardAction.Block, stage, exception)));
        }

        // Fail open: the stage is skipped. If it had already called further in, the response from there stands.
        if (context.DeepestEntered > index)
        {
            if (context.LastResponse is { } downstream && context.LastResponseDepth == index + 1)
            {
                return new ValueTask<ChatResponse>(downstream);
            }

            ExceptionDispatchInfo.Capture(exception).Throw();
        }

        return InvokeAsync(index + 1, context);
    }

    private ValueTask<IAsyncEnumerable<ChatResponseUpdate>> HandleStreamingStageFault(int index, SafeAIContext context, Exception exception)
    {
        var stage = _stages[index];
        if (!RecordStageFault(stage, context, exception))
        {
            return new ValueTask<IAsyncEnumerable<ChatResponseUpdate>>(context.RejectStream(FaultVerdict(GuardAction.Block, stage, exception)));
        }

        if (context.DeepestEntered > index)
        {
            if (context.LastStream is { } downstream && context.LastStreamDepth == index + 1)
            {
                return new ValueTask<IAsyncEnumerable<ChatResponseUpdate>>(downstream);
            }

            ExceptionDispatchInfo.Capture(exception).Throw();
        }

        return InvokeStreamingAsync(index + 1, context);
    }

    /// <summary>Logs a stage's own fault; for fail-open stages also records the Allow verdict. Returns true when the stage fails open.</summary>
    private bool RecordStageFault(IAIGuard stage, SafeAIContext context, Exception exception)
    {
        if (stage.FailureMode == GuardFailureMode.FailOpen)
        {
            Log.StageFailedOpen(Logger, stage.Name, exception);
            context.AddVerdict(FaultVerdict(GuardAction.Allow, stage, exception));
            return true;
        }

        Log.StageFailedClosed(Logger, stage.Name, exception);
        return false;
    }

    private static GuardVerdict FaultVerdict(GuardAction action, IAIGuard stage, Exception exception) =>
        new(action, stage.Name, GuardReasons.GuardError) { Detail = exception.GetType().Name };

    /// <summary>A small lock-free pool of contexts, in the manner of Microsoft.Extensions.ObjectPool's default pool.</summary>
    private sealed class ContextPool(SafeAIPipeline pipeline)
    {
        private readonly SafeAIContext?[] _items = new SafeAIContext?[Math.Clamp(Environment.ProcessorCount * 4, 8, 256)];
        private SafeAIContext? _fast;

        public SafeAIContext Rent()
        {
            var item = _fast;
            if (item is not null && Interlocked.CompareExchange(ref _fast, null, item) == item)
            {
                return item;
            }

            var items = _items;
            for (var i = 0; i < items.Length; i++)
            {
                item = items[i];
                if (item is not null && Interlocked.CompareExchange(ref items[i], null, item) == item)
                {
                    return item;
                }
            }

            return new SafeAIContext(pipeline);
        }

        public void Return(SafeAIContext context)
        {
            if (_fast is null && Interlocked.CompareExchange(ref _fast, context, null) is null)
            {
                return;
            }

            var items = _items;
            for (var i = 0; i < items.Length; i++)
            {
                if (items[i] is null && Interlocked.CompareExchange(ref items[i], context, null) is null)
                {
                    return;
                }
            }
        }
    }
}

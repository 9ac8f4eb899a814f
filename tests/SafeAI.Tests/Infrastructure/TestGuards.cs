namespace SafeAI.Tests;

/// <summary>An around-stage that records when it runs before and after the call.</summary>
public sealed class RecordingGuard(string name, List<string> log, int order = GuardOrder.Default) : AIGuard(name)
{
    public override int Order => order;

    public override async ValueTask<ChatResponse> InvokeAsync(SafeAIContext context, GuardNext next)
    {
        lock (log)
        {
            log.Add($"{Name}:before");
        }

        var response = await next.GetResponseAsync(context);
        lock (log)
        {
            log.Add($"{Name}:after");
        }

        return response;
    }

    public override async ValueTask<IAsyncEnumerable<ChatResponseUpdate>> InvokeStreamingAsync(SafeAIContext context, GuardNext next)
    {
        lock (log)
        {
            log.Add($"{Name}:before");
        }

        var stream = await next.GetStreamingResponseAsync(context);
        lock (log)
        {
            log.Add($"{Name}:started");
        }

        return stream;
    }
}

/// <summary>An input check driven by a callback.</summary>
public sealed class CallbackInputGuard(string name, Func<SafeAIContext, CancellationToken, ValueTask<GuardVerdict>> check, GuardFailureMode failureMode = GuardFailureMode.FailClosed, TimeSpan? timeout = null)
    : InputGuard(name, failureMode, timeout)
{
    protected override ValueTask<GuardVerdict> CheckAsync(SafeAIContext context, CancellationToken cancellationToken) => check(context, cancellationToken);
}

/// <summary>An output check driven by a callback.</summary>
public sealed class CallbackOutputGuard(string name, Func<SafeAIContext, OutputSegment, CancellationToken, ValueTask<GuardVerdict>> check, OutputScreeningOptions? screening = null, GuardFailureMode failureMode = GuardFailureMode.FailClosed, TimeSpan? timeout = null)
    : OutputGuard(name, failureMode, timeout, screening)
{
    protected override ValueTask<GuardVerdict> CheckAsync(SafeAIContext context, OutputSegment segment, CancellationToken cancellationToken) => check(context, segment, cancellationToken);
}

/// <summary>A stage that does nothing but call the next one (the benchmark's no-op stage, in test form).</summary>
public sealed class PassThroughGuard(string name) : AIGuard(name)
{
    public override ValueTask<ChatResponse> InvokeAsync(SafeAIContext context, GuardNext next) => next.GetResponseAsync(context);

    public override ValueTask<IAsyncEnumerable<ChatResponseUpdate>> InvokeStreamingAsync(SafeAIContext context, GuardNext next) => next.GetStreamingResponseAsync(context);
}

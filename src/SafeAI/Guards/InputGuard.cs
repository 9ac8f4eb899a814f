using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace SafeAI;

/// <summary>
/// Base class for a stage that checks the input before the model is called. Implement one method,
/// <see cref="CheckAsync"/>, returning a verdict:
/// <list type="bullet">
/// <item><see cref="GuardAction.Block"/> or <see cref="GuardAction.Limit"/>: the model is not called; the caller gets a refusal.</item>
/// <item><see cref="GuardAction.Modify"/>: the check has set <see cref="SafeAIContext.Messages"/> to rewritten messages; the call continues with them.</item>
/// <item>Any other action: recorded, and the call continues.</item>
/// </list>
/// The pipeline applies the stage's time budget and failure mode to the check. Streaming calls are checked the same
/// way before the stream starts.
/// </summary>
/// <example>
/// <code>
/// public sealed class NoSecretsGuard() : InputGuard("no-secrets")
/// {
///     protected override ValueTask&lt;GuardVerdict&gt; CheckAsync(SafeAIContext context, CancellationToken cancellationToken) =>
///         ValueTask.FromResult(context.GetInputText().Contains("BEGIN PRIVATE KEY", StringComparison.Ordinal)
///             ? Block("secrets.private_key")
///             : Allow());
/// }
/// </code>
/// </example>
public abstract class InputGuard : AIGuard
{
    /// <summary>Initializes a new instance of the <see cref="InputGuard"/> class.</summary>
    /// <param name="name">The stage name.</param>
    /// <param name="failureMode">What happens when the check fails.</param>
    /// <param name="timeout">The check's time budget; <see langword="null"/> for the pipeline's default.</param>
    protected InputGuard(string name, GuardFailureMode failureMode = GuardFailureMode.FailClosed, TimeSpan? timeout = null)
        : base(name, failureMode, timeout)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="InputGuard"/> class from stage options.</summary>
    /// <param name="defaultName">The name used when the options set none.</param>
    /// <param name="options">The stage options.</param>
    protected InputGuard(string defaultName, AIGuardOptions options)
        : base(defaultName, options)
    {
    }

    /// <inheritdoc />
    public override int Order => GuardOrder.InputChecks;

    /// <inheritdoc />
    public sealed override ValueTask<ChatResponse> InvokeAsync(SafeAIContext context, GuardNext next)
    {
        ArgumentNullException.ThrowIfNull(context);
        var pending = RunCheckAsync(context, context.CancellationToken);
        if (pending.IsCompletedSuccessfully)
        {
            return Continue(pending.Result, context, next);
        }

        return AwaitAndContinueAsync(pending, context, next);
    }

    /// <inheritdoc />
    public sealed override ValueTask<IAsyncEnumerable<ChatResponseUpdate>> InvokeStreamingAsync(SafeAIContext context, GuardNext next)
    {
        ArgumentNullException.ThrowIfNull(context);
        var pending = RunCheckAsync(context, context.CancellationToken);
        if (pending.IsCompletedSuccessfully)
        {
            return ContinueStreaming(pending.Result, context, next);
        }

        return AwaitAndContinueStreamingAsync(pending, context, next);
    }

    /// <summary>Checks the input of a call.</summary>
    /// <param name="context">The call's context; read <see cref="SafeAIContext.Messages"/> or <see cref="SafeAIContext.GetInputText"/>.</param>
    /// <param name="cancellationToken">Cancelled when the caller cancels or the time budget runs out.</param>
    /// <returns>The verdict. A <c>default</c> verdict counts as <see cref="GuardAction.Allow"/>.</returns>
    protected abstract ValueTask<GuardVerdict> CheckAsync(SafeAIContext context, CancellationToken cancellationToken);

    internal ValueTask<GuardVerdict> RunCheckAsync(SafeAIContext context, CancellationToken cancellationToken) =>
        CheckRunner.RunAsync(this, context, (Guard: this, Context: context), static (s, ct) => s.Guard.CheckAsync(s.Context, ct), cancellationToken);

    private static ValueTask<ChatResponse> Continue(GuardVerdict verdict, SafeAIContext context, GuardNext next)
    {
        if (verdict.IsRejection)
        {
            return new ValueTask<ChatResponse>(context.Reject(verdict));
        }

        context.AddVerdict(verdict);
        return next.GetResponseAsync(context);
    }

    private static ValueTask<IAsyncEnumerable<ChatResponseUpdate>> ContinueStreaming(GuardVerdict verdict, SafeAIContext context, GuardNext next)
    {
        if (verdict.IsRejection)
        {
            return new ValueTask<IAsyncEnumerable<ChatResponseUpdate>>(context.RejectStream(verdict));
        }

        context.AddVerdict(verdict);
        return next.GetStreamingResponseAsync(context);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<ChatResponse> AwaitAndContinueAsync(ValueTask<GuardVerdict> pending, SafeAIContext context, GuardNext next) =>
        await Continue(await pending.ConfigureAwait(false), context, next).ConfigureAwait(false);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<IAsyncEnumerable<ChatResponseUpdate>> AwaitAndContinueStreamingAsync(ValueTask<GuardVerdict> pending, SafeAIContext context, GuardNext next) =>
        await ContinueStreaming(await pending.ConfigureAwait(false), context, next).ConfigureAwait(false);
}

using Microsoft.Extensions.AI;

namespace SafeAI;

/// <summary>
/// One stage of a SafeAI pipeline. A stage may act before the model call, after it, or around it: it receives the
/// call's <see cref="SafeAIContext"/> and a <see cref="GuardNext"/> that runs the rest of the pipeline and the model.
/// </summary>
/// <remarks>
/// <para>
/// Most stages are one method long by deriving from <see cref="InputGuard"/> (checks before the call) or
/// <see cref="OutputGuard"/> (checks after the call, with streamed text held back until screened). Implement this
/// interface directly, or derive from <see cref="AIGuard"/>, for stages that hold something across the call (a rate
/// limiter's lease) or replace the call's result (a fallback).
/// </para>
/// <para>
/// Stages are shared by all calls of a pipeline and must be thread-safe. A stage reports decisions with
/// <see cref="SafeAIContext.AddVerdict(in GuardVerdict)"/> and rejects a call with
/// <see cref="SafeAIContext.Reject(in GuardVerdict, string?)"/>, never by throwing: exceptions are for faults.
/// An exception a stage throws itself (not one that came from <see cref="GuardNext"/>) is handled by the pipeline
/// according to <see cref="FailureMode"/>.
/// </para>
/// </remarks>
public interface IAIGuard
{
    /// <summary>Gets the stage name used in verdicts, telemetry and logs. Keep it short, stable and low-cardinality.</summary>
    string Name { get; }

    /// <summary>Gets what happens when the stage itself fails.</summary>
    GuardFailureMode FailureMode => GuardFailureMode.FailClosed;

    /// <summary>Gets the stage's position in the pipeline; see <see cref="GuardOrder"/>. Lower runs first (outermost).</summary>
    int Order => GuardOrder.Default;

    /// <summary>Runs the stage for a non-streaming call.</summary>
    /// <param name="context">The call's context.</param>
    /// <param name="next">Runs the rest of the pipeline and the model.</param>
    /// <returns>The response for the caller.</returns>
    ValueTask<ChatResponse> InvokeAsync(SafeAIContext context, GuardNext next);

    /// <summary>
    /// Runs the stage for a streaming call: does its work before the call, then returns the stream of updates the
    /// caller will see, usually the one from <paramref name="next"/>, possibly wrapped.
    /// </summary>
    /// <param name="context">The call's context.</param>
    /// <param name="next">Runs the rest of the pipeline and starts the model's stream.</param>
    /// <returns>The stream for the caller.</returns>
    ValueTask<IAsyncEnumerable<ChatResponseUpdate>> InvokeStreamingAsync(SafeAIContext context, GuardNext next);
}

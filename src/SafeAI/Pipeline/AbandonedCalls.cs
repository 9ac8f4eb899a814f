using Microsoft.Extensions.Logging;

namespace SafeAI;

/// <summary>
/// Keeps calls SafeAI stopped waiting for (a model past its budget, a caller who cancelled while the model ignored the
/// token) from going unobserved: their outcome is read and logged when they end, and a stream's enumerator is disposed
/// once its pending read is over.
/// </summary>
internal static class AbandonedCalls
{
    /// <summary>Observes a call that is no longer awaited.</summary>
    /// <param name="task">The call.</param>
    /// <param name="logger">Where its outcome is logged.</param>
    public static void Detach(Task task, ILogger logger) =>
        _ = task.ContinueWith(
            static (t, state) => Observe(t, (ILogger)state!),
            logger,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

    /// <summary>Observes a stream read that is no longer awaited, then disposes the stream's enumerator.</summary>
    /// <param name="read">The pending read.</param>
    /// <param name="enumerator">The enumerator to dispose once the read is over (an async iterator cannot be disposed while it runs).</param>
    /// <param name="logger">Where the outcome is logged.</param>
    public static void Detach(Task read, IAsyncDisposable enumerator, ILogger logger) =>
        _ = read.ContinueWith(
            static async (t, state) =>
            {
                var (enumerator, logger) = ((IAsyncDisposable, ILogger))state!;
                Observe(t, logger);
                try
                {
                    await enumerator.DisposeAsync().ConfigureAwait(false);
                }
#pragma warning disable CA1031 // A stray stream's clean-up failure has nowhere to go but the log.
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    Log.AbandonedCallFailed(logger, ex.GetType().Name, ex);
                }
            },
            (enumerator, logger),
            CancellationToken.None,
            TaskContinuationOptions.None,
            TaskScheduler.Default).Unwrap();

    private static void Observe(Task task, ILogger logger)
    {
        if (task.Exception is { } aggregate)
        {
            var exception = aggregate.InnerExceptions.Count == 1 ? aggregate.InnerExceptions[0] : aggregate;
            Log.AbandonedCallFailed(logger, exception.GetType().Name, exception);
        }
        else if (logger.IsEnabled(LogLevel.Debug))
        {
            Log.AbandonedCallEnded(logger, task.IsCanceled ? "cancelled" : "completed");
        }
    }
}

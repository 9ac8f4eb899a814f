using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;

namespace SafeAI;

/// <summary>
/// Runs one check of an input or output guard with the guard's time budget and failure policy, and stamps the
/// verdict with the stage name and the time it took. Never throws for a fault of the check itself; only the caller's
/// cancellation propagates.
/// </summary>
internal static class CheckRunner
{
    public static ValueTask<GuardVerdict> RunAsync<TState>(
        AIGuard guard,
        SafeAIContext context,
        TState state,
        Func<TState, CancellationToken, ValueTask<GuardVerdict>> check,
        CancellationToken cancellationToken)
    {
        var start = context.TimeProvider.GetTimestamp();
        var budget = guard.Timeout ?? context.PipelineOptions.DefaultCheckTimeout;
        if (budget is { } timeout)
        {
            return RunWithBudgetAsync(guard, context, state, check, timeout, start, cancellationToken);
        }

        ValueTask<GuardVerdict> pending;
        try
        {
            pending = check(state, cancellationToken);
        }
        catch (Exception ex) when (!IsCallerCancellation(ex, cancellationToken))
        {
            return new ValueTask<GuardVerdict>(Fault(guard, context, ex, start));
        }

        if (pending.IsCompletedSuccessfully)
        {
            return new ValueTask<GuardVerdict>(Complete(guard, context, pending.Result, start));
        }

        return AwaitAsync(guard, context, pending, start, cancellationToken);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<GuardVerdict> AwaitAsync(AIGuard guard, SafeAIContext context, ValueTask<GuardVerdict> pending, long start, CancellationToken cancellationToken)
    {
        try
        {
            return Complete(guard, context, await pending.ConfigureAwait(false), start);
        }
        catch (Exception ex) when (!IsCallerCancellation(ex, cancellationToken))
        {
            return Fault(guard, context, ex, start);
        }
    }

    private static async ValueTask<GuardVerdict> RunWithBudgetAsync<TState>(
        AIGuard guard,
        SafeAIContext context,
        TState state,
        Func<TState, CancellationToken, ValueTask<GuardVerdict>> check,
        TimeSpan budget,
        long start,
        CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task<GuardVerdict>? task = null;
        try
        {
            var pending = check(state, linked.Token);
            if (pending.IsCompletedSuccessfully)
            {
                return Complete(guard, context, pending.Result, start);
            }

            task = pending.AsTask();
            var verdict = await task.WaitAsync(budget, context.TimeProvider, cancellationToken).ConfigureAwait(false);
            return Complete(guard, context, verdict, start);
        }
        catch (TimeoutException) when (!cancellationToken.IsCancellationRequested)
        {
            await linked.CancelAsync().ConfigureAwait(false);
            context.MayStillBeInUse = true;
            Observe(task);
            return TimedOut(guard, context, budget, start);
        }
        catch (Exception ex) when (!IsCallerCancellation(ex, cancellationToken))
        {
            return Fault(guard, context, ex, start);
        }
    }

    private static bool IsCallerCancellation(Exception ex, CancellationToken cancellationToken) =>
        ex is OperationCanceledException && cancellationToken.IsCancellationRequested;

    private static GuardVerdict Complete(AIGuard guard, SafeAIContext context, GuardVerdict verdict, long start)
    {
        if (verdict.IsEmpty)
        {
            verdict = GuardVerdict.Allow(guard.Name);
        }

        return verdict.Elapsed == TimeSpan.Zero ? verdict with { Elapsed = context.TimeProvider.GetElapsedTime(start) } : verdict;
    }

    private static GuardVerdict Fault(AIGuard guard, SafeAIContext context, Exception exception, long start)
    {
        var failOpen = guard.FailureMode == GuardFailureMode.FailOpen;
        var logger = context.Pipeline.Logger;
        if (failOpen)
        {
            Log.StageFailedOpen(logger, guard.Name, exception);
        }
        else
        {
            Log.StageFailedClosed(logger, guard.Name, exception);
        }

        return new GuardVerdict(failOpen ? GuardAction.Allow : GuardAction.Block, guard.Name, GuardReasons.GuardError)
        {
            Detail = exception.GetType().Name,
            Elapsed = context.TimeProvider.GetElapsedTime(start),
        };
    }

    private static GuardVerdict TimedOut(AIGuard guard, SafeAIContext context, TimeSpan budget, long start)
    {
        var failOpen = guard.FailureMode == GuardFailureMode.FailOpen;
        var logger = context.Pipeline.Logger;
        if (failOpen)
        {
            if (logger.IsEnabled(LogLevel.Warning))
            {
                Log.StageTimedOutOpen(logger, guard.Name, budget);
            }
        }
        else if (logger.IsEnabled(LogLevel.Error))
        {
            Log.StageTimedOutClosed(logger, guard.Name, budget);
        }

        return new GuardVerdict(failOpen ? GuardAction.Allow : GuardAction.Block, guard.Name, GuardReasons.GuardTimeout)
        {
            Detail = $"budget {budget.TotalMilliseconds:0.###} ms",
            Elapsed = context.TimeProvider.GetElapsedTime(start),
        };
    }

    private static void Observe(Task? task)
    {
        // The abandoned check keeps running until it sees the cancellation; observe its outcome so that a late
        // failure does not surface as an unobserved task exception.
        _ = task?.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }
}

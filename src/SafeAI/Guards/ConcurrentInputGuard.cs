using Microsoft.Extensions.AI;

namespace SafeAI;

/// <summary>
/// Runs several independent input checks at the same time; the first rejection cancels the rest. Useful when checks
/// are slow and independent (a remote moderation API, a local model, a PII scan).
/// </summary>
/// <remarks>
/// Every check's verdict is recorded, in the order the checks were given; checks cancelled because another rejected
/// record nothing. Checks in a group only read the input: a <see cref="GuardAction.Modify"/> verdict is recorded, but
/// concurrent checks must not rewrite <see cref="SafeAIContext.Messages"/>. Each check keeps its own time budget and
/// failure mode. Created by <see cref="SafeAIPipelineBuilder.AddConcurrent(IEnumerable{InputGuard}, string?)"/>, or
/// automatically for input checks that share a position when <see cref="SafeAIOptions.ConcurrentInputChecks"/> is on.
/// </remarks>
public sealed class ConcurrentInputGuard : AIGuard
{
    private readonly InputGuard[] _checks;

    /// <summary>Initializes a new instance of the <see cref="ConcurrentInputGuard"/> class.</summary>
    /// <param name="checks">The checks; at least one.</param>
    /// <param name="name">The group's name; by default the check names joined with <c>+</c>.</param>
    /// <exception cref="ArgumentException"><paramref name="checks"/> is empty or holds <see langword="null"/>.</exception>
    public ConcurrentInputGuard(IEnumerable<InputGuard> checks, string? name = null)
        : this(ToArray(checks), name)
    {
    }

    private ConcurrentInputGuard(InputGuard[] checks, string? name)
        : base(name ?? string.Join('+', checks.Select(static c => c.Name)), GuardFailureMode.FailClosed, null)
    {
        _checks = checks;
        Order = checks.Min(static c => c.Order);
    }

    /// <summary>Gets the checks of the group.</summary>
    public IReadOnlyList<InputGuard> Checks => _checks;

    /// <inheritdoc />
    public override int Order { get; }

    /// <inheritdoc />
    public override async ValueTask<ChatResponse> InvokeAsync(SafeAIContext context, GuardNext next)
    {
        ArgumentNullException.ThrowIfNull(context);
        var rejection = await RunChecksAsync(context).ConfigureAwait(false);
        return rejection is { } r ? context.Reject(r) : await next.GetResponseAsync(context).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public override async ValueTask<IAsyncEnumerable<ChatResponseUpdate>> InvokeStreamingAsync(SafeAIContext context, GuardNext next)
    {
        ArgumentNullException.ThrowIfNull(context);
        var rejection = await RunChecksAsync(context).ConfigureAwait(false);
        return rejection is { } r ? context.RejectStream(r) : await next.GetStreamingResponseAsync(context).ConfigureAwait(false);
    }

    /// <summary>Runs all checks; records every non-rejecting verdict and returns the first rejection, if any.</summary>
    private async ValueTask<GuardVerdict?> RunChecksAsync(SafeAIContext context)
    {
        var callerToken = context.CancellationToken;
        using var group = CancellationTokenSource.CreateLinkedTokenSource(callerToken);
        var tasks = new Task<GuardVerdict>[_checks.Length];
        var rejectionIndex = -1;
        for (var i = 0; i < _checks.Length; i++)
        {
            var check = _checks[i];
            var index = i;
            tasks[i] = Task.Run(
                async () =>
                {
                    var verdict = await check.RunCheckAsync(context, group.Token).ConfigureAwait(false);
                    if (verdict.IsRejection && Interlocked.CompareExchange(ref rejectionIndex, index, -1) == -1)
                    {
                        await group.CancelAsync().ConfigureAwait(false);
                    }

                    return verdict;
                },
                CancellationToken.None);
        }

        try
        {
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!callerToken.IsCancellationRequested)
        {
            // Checks cancelled because another one rejected: expected, they record nothing.
        }

        callerToken.ThrowIfCancellationRequested();

        GuardVerdict? rejection = null;
        for (var i = 0; i < tasks.Length; i++)
        {
            if (!tasks[i].IsCompletedSuccessfully)
            {
                continue;
            }

            var verdict = tasks[i].Result;
            if (i == rejectionIndex)
            {
                rejection = verdict;
            }
            else
            {
                context.AddVerdict(verdict);
            }
        }

        return rejection;
    }

    private static InputGuard[] ToArray(IEnumerable<InputGuard> checks)
    {
        ArgumentNullException.ThrowIfNull(checks);
        var array = checks.ToArray();
        if (array.Length == 0)
        {
            throw new ArgumentException("A concurrent group needs at least one check.", nameof(checks));
        }

        if (Array.IndexOf(array, null) >= 0)
        {
            throw new ArgumentException("A concurrent group cannot hold a null check.", nameof(checks));
        }

        return array;
    }
}

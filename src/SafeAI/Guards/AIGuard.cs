using Microsoft.Extensions.AI;

namespace SafeAI;

/// <summary>
/// A convenient base for <see cref="IAIGuard"/> stages: holds the name, failure mode, time budget and order, and
/// offers verdict helpers. Derive from <see cref="InputGuard"/> or <see cref="OutputGuard"/> for plain checks.
/// </summary>
public abstract class AIGuard : IAIGuard
{
    /// <summary>Initializes a new instance of the <see cref="AIGuard"/> class.</summary>
    /// <param name="name">The stage name.</param>
    /// <param name="failureMode">What happens when the stage fails.</param>
    /// <param name="timeout">The stage's time budget, or <see langword="null"/> for none (or the pipeline default, for checks).</param>
    /// <exception cref="ArgumentException"><paramref name="name"/> is null or empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is not positive.</exception>
    protected AIGuard(string name, GuardFailureMode failureMode = GuardFailureMode.FailClosed, TimeSpan? timeout = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (timeout is { } t && t <= TimeSpan.Zero && t != System.Threading.Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), t, "A stage time budget must be positive.");
        }

        if (!Enum.IsDefined(failureMode))
        {
            throw new ArgumentOutOfRangeException(nameof(failureMode), failureMode, "Unknown failure mode.");
        }

        Name = name;
        FailureMode = failureMode;
        Timeout = timeout == System.Threading.Timeout.InfiniteTimeSpan ? null : timeout;
    }

    /// <summary>Initializes a new instance of the <see cref="AIGuard"/> class from stage options.</summary>
    /// <param name="defaultName">The name used when <see cref="AIGuardOptions.Name"/> is not set.</param>
    /// <param name="options">The stage options.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    protected AIGuard(string defaultName, AIGuardOptions options)
        : this(options?.Name is { Length: > 0 } n ? n : defaultName, options?.FailureMode ?? GuardFailureMode.FailClosed, options?.Timeout)
    {
        ArgumentNullException.ThrowIfNull(options);
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public GuardFailureMode FailureMode { get; }

    /// <summary>Gets the stage's time budget, or <see langword="null"/> for none.</summary>
    public TimeSpan? Timeout { get; }

    /// <inheritdoc />
    public virtual int Order => GuardOrder.Default;

    /// <inheritdoc />
    public abstract ValueTask<ChatResponse> InvokeAsync(SafeAIContext context, GuardNext next);

    /// <inheritdoc />
    public abstract ValueTask<IAsyncEnumerable<ChatResponseUpdate>> InvokeStreamingAsync(SafeAIContext context, GuardNext next);

    /// <summary>Creates an <see cref="GuardAction.Allow"/> verdict of this stage.</summary>
    /// <param name="reason">The reason code.</param>
    /// <returns>The verdict.</returns>
    protected GuardVerdict Allow(string reason = GuardReasons.Ok) => GuardVerdict.Allow(Name, reason);

    /// <summary>Creates a <see cref="GuardAction.Block"/> verdict of this stage.</summary>
    /// <param name="reason">The reason code.</param>
    /// <param name="score">The score, if any.</param>
    /// <param name="threshold">The threshold, if any.</param>
    /// <returns>The verdict.</returns>
    protected GuardVerdict Block(string reason, double? score = null, double? threshold = null) =>
        GuardVerdict.Block(Name, reason) with { Score = score, Threshold = threshold };

    /// <summary>Creates a <see cref="GuardAction.Modify"/> verdict of this stage.</summary>
    /// <param name="reason">The reason code.</param>
    /// <returns>The verdict.</returns>
    protected GuardVerdict Modify(string reason) => GuardVerdict.Modify(Name, reason);

    /// <summary>Creates an <see cref="GuardAction.Escalate"/> verdict of this stage.</summary>
    /// <param name="reason">The reason code.</param>
    /// <param name="score">The score, if any.</param>
    /// <param name="threshold">The threshold, if any.</param>
    /// <returns>The verdict.</returns>
    protected GuardVerdict Escalate(string reason, double? score = null, double? threshold = null) =>
        GuardVerdict.Escalate(Name, reason) with { Score = score, Threshold = threshold };

    /// <inheritdoc />
    public override string ToString() => Name;
}

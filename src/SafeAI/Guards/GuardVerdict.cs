using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace SafeAI;

/// <summary>
/// One stage's typed decision about a call: the action, the stage that took it, a stable reason code, the
/// score and threshold where there is one, and the time the stage took. Verdicts are small immutable values;
/// the verdicts of one call form its <see cref="SafeAIResult"/>.
/// </summary>
/// <remarks>
/// Create verdicts with the factory methods (<see cref="Allow"/>, <see cref="Block"/>, ...) and refine them with
/// <c>with</c> expressions, for example <c>GuardVerdict.Block("my-stage", "content.hate") with { Score = 0.93, Threshold = 0.8 }</c>.
/// A <c>default</c> verdict has no stage and means "no verdict".
/// </remarks>
[StructLayout(LayoutKind.Auto)]
public readonly struct GuardVerdict : IEquatable<GuardVerdict>
{
    private const byte HasScoreFlag = 1;
    private const byte HasThresholdFlag = 2;
    private const byte HasRetryAfterFlag = 4;

    private readonly double _score;
    private readonly double _threshold;
    private readonly long _retryAfterTicks;
    private readonly byte _flags;

    /// <summary>Initializes a new verdict.</summary>
    /// <param name="action">What the stage decided.</param>
    /// <param name="stage">The name of the stage that decided.</param>
    /// <param name="reason">A stable reason code such as <c>content.hate</c> or <c>rate.user</c>.</param>
    /// <exception cref="ArgumentException"><paramref name="stage"/> or <paramref name="reason"/> is null or empty.</exception>
    public GuardVerdict(GuardAction action, string stage, string reason)
    {
        ArgumentException.ThrowIfNullOrEmpty(stage);
        ArgumentException.ThrowIfNullOrEmpty(reason);
        Action = action;
        Stage = stage;
        Reason = reason;
    }

    /// <summary>Gets what the stage decided.</summary>
    public GuardAction Action { get; }

    /// <summary>Gets the name of the stage that decided. <see langword="null"/> only for a <c>default</c> verdict.</summary>
    public string Stage { get; }

    /// <summary>Gets the stable reason code, for example <c>ok</c>, <c>content.hate</c> or <c>rate.user</c>.</summary>
    public string Reason { get; }

    /// <summary>Gets an optional human-readable detail, for example which fallback answered. Never contains message text.</summary>
    public string? Detail { get; init; }

    /// <summary>Gets the score the decision was based on, where there is one (for example a classifier probability).</summary>
    public double? Score
    {
        get => (_flags & HasScoreFlag) != 0 ? _score : null;
        init
        {
            _score = ValidateFinite(value);
            _flags = value.HasValue ? (byte)(_flags | HasScoreFlag) : (byte)(_flags & ~HasScoreFlag);
        }
    }

    /// <summary>Gets the threshold the score was compared with, where there is one.</summary>
    public double? Threshold
    {
        get => (_flags & HasThresholdFlag) != 0 ? _threshold : null;
        init
        {
            _threshold = ValidateFinite(value);
            _flags = value.HasValue ? (byte)(_flags | HasThresholdFlag) : (byte)(_flags & ~HasThresholdFlag);
        }
    }

    /// <summary>Gets the time the stage took to decide.</summary>
    public TimeSpan Elapsed { get; init; }

    /// <summary>Gets how long the caller should wait before trying again (set on <see cref="GuardAction.Limit"/> verdicts).</summary>
    public TimeSpan? RetryAfter
    {
        get => (_flags & HasRetryAfterFlag) != 0 ? new TimeSpan(_retryAfterTicks) : null;
        init
        {
            if (value is { } v)
            {
                _retryAfterTicks = v.Ticks;
                _flags |= HasRetryAfterFlag;
            }
            else
            {
                _retryAfterTicks = 0;
                _flags = (byte)(_flags & ~HasRetryAfterFlag);
            }
        }
    }

    /// <summary>Gets a value indicating whether this verdict rejects the call (<see cref="GuardAction.Block"/> or <see cref="GuardAction.Limit"/>).</summary>
    public bool IsRejection => Action >= GuardAction.Limit;

    /// <summary>
    /// Gets a value indicating whether this is a routine verdict: an <see cref="GuardAction.Allow"/> whose reason is
    /// <see cref="GuardReasons.Ok"/> or ends in <c>.ok</c> (the stage found nothing to report). Routine verdicts reach
    /// telemetry and later stages but are left out of the call's <see cref="SafeAIResult"/> unless
    /// <see cref="SafeAIOptions.RecordAllowVerdicts"/> is set. An Allow with any other reason (a log-only finding, a
    /// stage that failed open, an answer a reviewer approved) is not routine and is always kept.
    /// </summary>
    public bool IsRoutine => Action == GuardAction.Allow && Reason is { } reason &&
        (reason.Length == 2 ? string.Equals(reason, GuardReasons.Ok, StringComparison.Ordinal) : reason.EndsWith(".ok", StringComparison.Ordinal));

    /// <summary>Gets a value indicating whether this is a <c>default</c> value that carries no decision.</summary>
    public bool IsEmpty => Stage is null;

    /// <summary>Creates an <see cref="GuardAction.Allow"/> verdict.</summary>
    /// <param name="stage">The stage name.</param>
    /// <param name="reason">The reason code; <see cref="GuardReasons.Ok"/> by default.</param>
    /// <returns>The verdict.</returns>
    public static GuardVerdict Allow(string stage, string reason = GuardReasons.Ok) => new(GuardAction.Allow, stage, reason);

    /// <summary>Creates a <see cref="GuardAction.Modify"/> verdict.</summary>
    /// <param name="stage">The stage name.</param>
    /// <param name="reason">The reason code, for example <c>pii.redacted</c>.</param>
    /// <returns>The verdict.</returns>
    public static GuardVerdict Modify(string stage, string reason) => new(GuardAction.Modify, stage, reason);

    /// <summary>Creates a <see cref="GuardAction.Block"/> verdict.</summary>
    /// <param name="stage">The stage name.</param>
    /// <param name="reason">The reason code, for example <c>content.hate</c>.</param>
    /// <returns>The verdict.</returns>
    public static GuardVerdict Block(string stage, string reason) => new(GuardAction.Block, stage, reason);

    /// <summary>Creates an <see cref="GuardAction.Escalate"/> verdict (send to human review).</summary>
    /// <param name="stage">The stage name.</param>
    /// <param name="reason">The reason code, for example <c>confidence.low</c>.</param>
    /// <returns>The verdict.</returns>
    public static GuardVerdict Escalate(string stage, string reason) => new(GuardAction.Escalate, stage, reason);

    /// <summary>Creates a <see cref="GuardAction.Degrade"/> verdict (a fallback answered).</summary>
    /// <param name="stage">The stage name.</param>
    /// <param name="reason">The reason code naming the trigger, for example <c>fallback.timeout</c>.</param>
    /// <param name="detail">Which fallback answered.</param>
    /// <returns>The verdict.</returns>
    public static GuardVerdict Degrade(string stage, string reason, string? detail = null) => new(GuardAction.Degrade, stage, reason) { Detail = detail };

    /// <summary>Creates a <see cref="GuardAction.Limit"/> verdict (rate or budget limit reached).</summary>
    /// <param name="stage">The stage name.</param>
    /// <param name="reason">The reason code, for example <c>rate.user</c>.</param>
    /// <param name="retryAfter">When the caller may try again, if known.</param>
    /// <returns>The verdict.</returns>
    public static GuardVerdict Limit(string stage, string reason, TimeSpan? retryAfter) => new(GuardAction.Limit, stage, reason) { RetryAfter = retryAfter };

    /// <summary>Gets the lower-case name of an action as used in telemetry tags and transcripts (<c>allow</c>, <c>block</c>, ...).</summary>
    /// <param name="action">The action.</param>
    /// <returns>The name; no allocation.</returns>
    public static string GetActionName(GuardAction action) => action switch
    {
        GuardAction.Allow => "allow",
        GuardAction.Modify => "modify",
        GuardAction.Degrade => "degrade",
        GuardAction.Escalate => "escalate",
        GuardAction.Limit => "limit",
        GuardAction.Block => "block",
        _ => "unknown",
    };

    /// <inheritdoc />
    public bool Equals(GuardVerdict other) =>
        Action == other.Action && _flags == other._flags && _score.Equals(other._score) && _threshold.Equals(other._threshold) &&
        _retryAfterTicks == other._retryAfterTicks && Elapsed == other.Elapsed &&
        string.Equals(Stage, other.Stage, StringComparison.Ordinal) && string.Equals(Reason, other.Reason, StringComparison.Ordinal) &&
        string.Equals(Detail, other.Detail, StringComparison.Ordinal);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is GuardVerdict other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Action, Stage, Reason, _score, _threshold, Elapsed);

    /// <summary>Compares two verdicts for equality.</summary>
    /// <param name="left">The first verdict.</param>
    /// <param name="right">The second verdict.</param>
    /// <returns><see langword="true"/> when equal.</returns>
    public static bool operator ==(GuardVerdict left, GuardVerdict right) => left.Equals(right);

    /// <summary>Compares two verdicts for inequality.</summary>
    /// <param name="left">The first verdict.</param>
    /// <param name="right">The second verdict.</param>
    /// <returns><see langword="true"/> when not equal.</returns>
    public static bool operator !=(GuardVerdict left, GuardVerdict right) => !left.Equals(right);

    /// <summary>Formats the verdict for logs and transcripts, for example <c>content: block content.hate (score 0.93 &gt;= 0.80, 1.20 ms)</c>.</summary>
    /// <returns>The text.</returns>
    public override string ToString()
    {
        if (IsEmpty)
        {
            return "(no verdict)";
        }

        var sb = new StringBuilder();
        var ci = CultureInfo.InvariantCulture;
        sb.Append(Stage).Append(": ").Append(GetActionName(Action)).Append(' ').Append(Reason).Append(" (");
        if (Score is { } score)
        {
            sb.Append("score ").Append(score.ToString("0.###", ci));
            if (Threshold is { } threshold)
            {
                sb.Append(score >= threshold ? " >= " : " < ").Append(threshold.ToString("0.###", ci));
            }

            sb.Append(", ");
        }

        if (RetryAfter is { } retry)
        {
            sb.Append("retry after ").Append(retry.TotalSeconds.ToString("0.###", ci)).Append(" s, ");
        }

        if (Detail is not null)
        {
            sb.Append(Detail).Append(", ");
        }

        sb.Append(Elapsed.TotalMilliseconds.ToString("0.###", ci)).Append(" ms)");
        return sb.ToString();
    }

    private static double ValidateFinite(double? value)
    {
        if (value is not { } v)
        {
            return 0;
        }

        if (!double.IsFinite(v))
        {
            throw new ArgumentOutOfRangeException(nameof(value), v, "A verdict score or threshold must be a finite number.");
        }

        return v;
    }
}

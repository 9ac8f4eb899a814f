namespace SafeAI;

/// <summary>
/// Rejects calls whose input text is longer than a limit, before anything else reads it: a cheap defence against
/// runaway cost and against inputs built to slow down later checks.
/// </summary>
/// <remarks>Counts the characters of all message text (all roles). Reason code: <see cref="GuardReasons.InputTooLong"/>.</remarks>
public sealed class InputLengthGuard : InputGuard
{
    /// <summary>The default stage name.</summary>
    public const string DefaultName = "input-length";

    /// <summary>Initializes a new instance of the <see cref="InputLengthGuard"/> class.</summary>
    /// <param name="maxCharacters">The largest accepted number of characters.</param>
    /// <param name="name">The stage name.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxCharacters"/> is less than 1.</exception>
    public InputLengthGuard(int maxCharacters, string name = DefaultName)
        : base(name)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxCharacters, 1);
        MaxCharacters = maxCharacters;
    }

    /// <summary>Gets the largest accepted number of characters.</summary>
    public int MaxCharacters { get; }

    /// <inheritdoc />
    public override int Order => GuardOrder.InputChecks - 50;

    /// <inheritdoc />
    protected override ValueTask<GuardVerdict> CheckAsync(SafeAIContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        long total = 0;
        foreach (var message in context.Messages)
        {
            if (message is null)
            {
                continue;
            }

            foreach (var content in message.Contents)
            {
                if (content is Microsoft.Extensions.AI.TextContent text)
                {
                    total += text.Text.Length;
                }
            }
        }

        var verdict = total > MaxCharacters
            ? Block(GuardReasons.InputTooLong, total, MaxCharacters)
            : Allow() with { Score = total, Threshold = MaxCharacters };
        return new ValueTask<GuardVerdict>(verdict);
    }
}

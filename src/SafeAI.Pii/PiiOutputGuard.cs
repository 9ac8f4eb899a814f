namespace SafeAI.Pii;

/// <summary>
/// Checks the answer: restores the call's placeholders when redaction is reversible, then looks for personal data the
/// model wrote that did not come from the caller (a leak) and, by <see cref="PiiRedactionOptions.OutputAction"/>,
/// redacts it, refuses the answer, or records it.
/// </summary>
/// <remarks>
/// On a stream the whole answer (up to half of <see cref="PiiRedactionOptions.MaxTextLength"/> characters per window)
/// is held back and screened at the end, because a value or a placeholder split across two windows could otherwise
/// pass half redacted: the caller receives the answer in one piece instead of token by token.
/// </remarks>
internal sealed class PiiOutputGuard : OutputGuard
{
    private readonly PiiDetector _detector;
    private readonly PiiRedactionOptions _options;

    public PiiOutputGuard(PiiDetector detector, PiiRedactionOptions options)
        : base(PiiRedactionOptions.DefaultName + "-output", new AIGuardOptions { Name = options.StageName("-output"), FailureMode = options.FailureMode, Timeout = options.Timeout }, HoldWholeAnswer(options))
    {
        _detector = detector;
        _options = options;
    }

    protected override ValueTask<GuardVerdict> CheckAsync(SafeAIContext context, OutputSegment segment, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(segment);
        var text = segment.Text;
        if (text.Length > _options.MaxTextLength)
        {
            return ValueTask.FromResult(_options.FailureMode == GuardFailureMode.FailOpen
                ? Allow(PiiReasons.TooLong) with { Detail = $"an answer over {_options.MaxTextLength} characters was not checked" }
                : Block(PiiReasons.TooLong) with { Detail = $"an answer over {_options.MaxTextLength} characters cannot be checked" });
        }

        var placeholders = context.TryGetItem(PiiRedactionOptions.PlaceholdersItemKey, out var item) ? item as PiiPlaceholders : null;
        var restored = _options.Reversible && placeholders is not null ? placeholders.Restore(text) : text;
        var findings = default(PiiFindings);
        IReadOnlyList<PiiEntity> leaks = [];
        if (_options.CheckOutput)
        {
            leaks = Leaks(restored, _detector.Detect(restored), placeholders);
            findings.Add(leaks);
        }

        if (findings.Total > 0)
        {
            switch (_options.OutputAction)
            {
                case PiiAction.Block:
                    return ValueTask.FromResult(Block(findings.Reason) with { Detail = findings.Detail("leaked:") });
                case PiiAction.Redact:
                    segment.Replacement = new PiiPlaceholders().Redact(restored, leaks);
                    return ValueTask.FromResult(Modify(findings.Reason) with { Detail = findings.Detail("leak redacted:") });
                default:
                    if (!ReferenceEquals(restored, text))
                    {
                        segment.Replacement = restored;
                        return ValueTask.FromResult(Modify(findings.Reason) with { Detail = findings.Detail("placeholders restored; leaked (log only):") });
                    }

                    return ValueTask.FromResult(Allow(findings.Reason) with { Detail = findings.Detail("leaked (log only):") });
            }
        }

        if (!ReferenceEquals(restored, text))
        {
            segment.Replacement = restored;
            return ValueTask.FromResult(Modify(PiiReasons.Restored) with { Detail = "placeholders restored" });
        }

        return ValueTask.FromResult(Allow(PiiReasons.Ok));
    }

    private static IReadOnlyList<PiiEntity> Leaks(string text, IReadOnlyList<PiiEntity> found, PiiPlaceholders? placeholders)
    {
        if (found.Count == 0 || placeholders is null)
        {
            return found;
        }

        // The caller's own values coming back to them are not a leak.
        List<PiiEntity>? leaks = null;
        for (var i = 0; i < found.Count; i++)
        {
            if (placeholders.Contains(text.Substring(found[i].Start, found[i].Length)))
            {
                leaks ??= [.. Take(found, i)];
            }
            else
            {
                leaks?.Add(found[i]);
            }
        }

        return leaks ?? found;
    }

    private static List<PiiEntity> Take(IReadOnlyList<PiiEntity> found, int count)
    {
        var list = new List<PiiEntity>(found.Count);
        for (var i = 0; i < count; i++)
        {
            list.Add(found[i]);
        }

        return list;
    }

    private static OutputScreeningOptions HoldWholeAnswer(PiiRedactionOptions options) => new()
    {
        WindowSize = Math.Max(1, options.MaxTextLength / 2),
        ContextSize = 0,
        SentenceFlushMinimum = 0,
    };
}

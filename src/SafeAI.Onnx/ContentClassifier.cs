using System.Text;

namespace SafeAI.Onnx;

/// <summary>The content filter's scoring and decision logic, shared by its input and output stages.</summary>
internal sealed class ContentClassifier
{
    /// <summary>The most sentences scored one by one when redacting a text.</summary>
    internal const int MaxRedactionSentences = 256;

    private readonly ContentModel _model;
    private readonly ContentFilterOptions _options;
    private readonly (double Threshold, ContentAction Action, bool Enabled)[] _policies;
    private readonly WindowStop? _stop;

    public ContentClassifier(ContentModel model, ContentFilterOptions options)
    {
        _model = model;
        _options = options;
        _policies = new (double, ContentAction, bool)[model.Categories.Count];
        for (var i = 0; i < _policies.Length; i++)
        {
            _policies[i] = options.GetPolicy(model.Categories[i]);
        }

        _stop = options.StopAtDecidingWindow ? CreateStop(_policies) : null;
    }

    public ContentModel Model => _model;

    public ContentFilterOptions Options => _options;

    /// <summary>
    /// The stop levels for <see cref="AssessAsync"/>: the threshold of every enabled category whose action is the most
    /// severe among the enabled categories (once one window reaches it, <see cref="Decide"/> takes that action whatever the
    /// later windows score); null when no category is enabled.
    /// </summary>
    internal static WindowStop? CreateStop((double Threshold, ContentAction Action, bool Enabled)[] policies)
    {
        var severest = 0;
        foreach (var (_, action, enabled) in policies)
        {
            if (enabled)
            {
                severest = Math.Max(severest, Severity(action));
            }
        }

        var levels = new double[policies.Length];
        for (var c = 0; c < levels.Length; c++)
        {
            var (threshold, action, enabled) = policies[c];
            levels[c] = enabled && Severity(action) == severest ? threshold : double.PositiveInfinity;
        }

        var stop = new WindowStop(levels);
        return stop.IsNever ? null : stop;
    }

    /// <summary>
    /// Scores texts (each split into windows; all windows in one batch) and returns the highest score of each category.
    /// With <see cref="ContentFilterOptions.StopAtDecidingWindow"/> (and <paramref name="mayStop"/>), scoring may end at the
    /// first window that decides the most severe action; the highest scores are then those of the windows up to it.
    /// </summary>
    public async ValueTask<Assessment> AssessAsync(IReadOnlyList<string> texts, CancellationToken cancellationToken, bool mayStop = true)
    {
        var windows = new List<int[]>();
        var truncated = false;
        foreach (var text in texts)
        {
            if (text.Length == 0)
            {
                continue;
            }

            windows.AddRange(_model.CreateWindows(Prepare(text), _options.WindowOverlap, _options.MaxWindows, out var cut));
            truncated |= cut;
        }

        var categories = _model.Categories.Count;
        var max = new double[categories];
        if (windows.Count > 0)
        {
            var scores = await _model.ScoreWindowsAsync(windows, mayStop ? _stop : null, cancellationToken).ConfigureAwait(false);
            for (var w = 0; w < windows.Count; w++)
            {
                for (var c = 0; c < categories; c++)
                {
                    max[c] = Math.Max(max[c], scores[(w * categories) + c]);
                }
            }
        }

        return new Assessment(max, truncated);
    }

    /// <summary>Decides what to do with an assessment: the most severe action among the flagged categories.</summary>
    public Decision Decide(Assessment assessment)
    {
        var best = -1;
        var bestAction = ContentAction.LogOnly;
        var bestMargin = double.NegativeInfinity;
        var top = -1;
        for (var c = 0; c < _policies.Length; c++)
        {
            var (threshold, action, enabled) = _policies[c];
            if (!enabled)
            {
                continue;
            }

            var score = assessment.Scores[c];
            if (top < 0 || score - threshold > assessment.Scores[top] - _policies[top].Threshold)
            {
                top = c;
            }

            if (score < threshold)
            {
                continue;
            }

            var margin = score - threshold;
            if (best < 0 || Severity(action) > Severity(bestAction) || (Severity(action) == Severity(bestAction) && margin > bestMargin))
            {
                best = c;
                bestAction = action;
                bestMargin = margin;
            }
        }

        if (assessment.Truncated && (best < 0 || Severity(_options.OversizeAction) > Severity(bestAction)))
        {
            return new Decision(_options.OversizeAction, ContentCategories.TooLongReason, null, null, Flagged: true) { Detail = $"more than {_options.MaxWindows} windows" };
        }

        if (best >= 0)
        {
            return new Decision(bestAction, ContentCategories.GetReason(_model.Categories[best]), assessment.Scores[best], _policies[best].Threshold, Flagged: true);
        }

        return top < 0
            ? new Decision(ContentAction.LogOnly, GuardReasons.Ok, null, null, Flagged: false)
            : new Decision(ContentAction.LogOnly, GuardReasons.Ok, assessment.Scores[top], _policies[top].Threshold, Flagged: false);
    }

    /// <summary>Builds the verdict of a decision (redaction already applied by the caller when the action is <see cref="ContentAction.Redact"/>).</summary>
    public static GuardVerdict ToVerdict(string stage, in Decision decision)
    {
        if (!decision.Flagged)
        {
            return GuardVerdict.Allow(stage) with { Score = decision.Score, Threshold = decision.Threshold };
        }

        var verdict = decision.Action switch
        {
            ContentAction.Block => GuardVerdict.Block(stage, decision.Reason),
            ContentAction.Redact => GuardVerdict.Modify(stage, decision.Reason),
            ContentAction.Escalate => GuardVerdict.Escalate(stage, decision.Reason),
            _ => GuardVerdict.Allow(stage, decision.Reason),
        };

        return verdict with { Score = decision.Score, Threshold = decision.Threshold, Detail = decision.Detail };
    }

    /// <summary>
    /// Replaces the sentences of <paramref name="text"/> that reach the threshold of a category whose action is
    /// <see cref="ContentAction.Redact"/>. When no single sentence does, the whole text is replaced if it is flagged as a
    /// whole (<paramref name="flaggedAsWhole"/>, or a fresh check of the whole text), and otherwise left alone. Texts of
    /// more than <see cref="MaxRedactionSentences"/> sentences are redacted in groups of neighbouring sentences.
    /// </summary>
    public async ValueTask<string> RedactAsync(string text, bool flaggedAsWhole, CancellationToken cancellationToken)
    {
        var sentences = GroupSentences(SplitSentences(text), MaxRedactionSentences);
        var windows = new List<int[]>(sentences.Count);
        var owner = new List<int>(sentences.Count);
        for (var s = 0; s < sentences.Count; s++)
        {
            var (start, length) = sentences[s];
            if (text.AsSpan(start, length).IsWhiteSpace())
            {
                continue;
            }

            foreach (var window in _model.CreateWindows(Prepare(text.Substring(start, length)), _options.WindowOverlap, _options.MaxWindows, out _))
            {
                windows.Add(window);
                owner.Add(s);
            }
        }

        var flagged = new bool[sentences.Count];
        var any = false;
        if (windows.Count > 0)
        {
            var scores = await _model.ScoreWindowsAsync(windows, cancellationToken).ConfigureAwait(false);
            for (var w = 0; w < windows.Count; w++)
            {
                if (IsRedactFlagged(scores.AsSpan(w * _policies.Length, _policies.Length)))
                {
                    flagged[owner[w]] = true;
                    any = true;
                }
            }
        }

        if (!any)
        {
            if (!flaggedAsWhole)
            {
                var whole = await AssessAsync([text], cancellationToken, mayStop: false).ConfigureAwait(false);
                flaggedAsWhole = IsRedactFlagged(whole.Scores);
            }

            return flaggedAsWhole ? _options.RedactionText : text;
        }

        var sb = new StringBuilder(text.Length);
        var previousFlagged = false;
        for (var s = 0; s < sentences.Count; s++)
        {
            var (start, length) = sentences[s];
            if (!flagged[s])
            {
                sb.Append(text, start, length);
                previousFlagged = false;
                continue;
            }

            if (!previousFlagged)
            {
                // Keep the sentence's leading white space so the text still reads.
                var lead = 0;
                while (lead < length && char.IsWhiteSpace(text[start + lead]))
                {
                    lead++;
                }

                sb.Append(text, start, lead).Append(_options.RedactionText);
            }

            previousFlagged = true;
        }

        return sb.ToString();
    }

    /// <summary>Merges neighbouring sentences so that there are at most <paramref name="max"/> pieces.</summary>
    internal static List<(int Start, int Length)> GroupSentences(List<(int Start, int Length)> sentences, int max)
    {
        if (sentences.Count <= max)
        {
            return sentences;
        }

        var size = (sentences.Count + max - 1) / max;
        var groups = new List<(int, int)>(max);
        for (var i = 0; i < sentences.Count; i += size)
        {
            var last = Math.Min(i + size, sentences.Count) - 1;
            groups.Add((sentences[i].Start, sentences[last].Start + sentences[last].Length - sentences[i].Start));
        }

        return groups;
    }

    private bool IsRedactFlagged(ReadOnlySpan<float> scores)
    {
        for (var c = 0; c < _policies.Length; c++)
        {
            var (threshold, action, enabled) = _policies[c];
            if (enabled && action == ContentAction.Redact && scores[c] >= threshold)
            {
                return true;
            }
        }

        return false;
    }

    private bool IsRedactFlagged(double[] scores)
    {
        Span<float> copy = stackalloc float[scores.Length];
        for (var c = 0; c < scores.Length; c++)
        {
            copy[c] = (float)scores[c];
        }

        return IsRedactFlagged(copy);
    }

    /// <summary>Splits text into sentences (each with its trailing punctuation and the white space before the next).</summary>
    internal static List<(int Start, int Length)> SplitSentences(string text)
    {
        var list = new List<(int, int)>();
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c is not ('.' or '!' or '?' or '\n' or '。' or '！' or '？'))
            {
                continue;
            }

            var end = i + 1;
            while (end < text.Length && text[end] is '.' or '!' or '?' or '"' or '\'' or ')')
            {
                end++;
            }

            if (end < text.Length && !char.IsWhiteSpace(text[end]) && c != '\n')
            {
                continue;
            }

            list.Add((start, end - start));
            start = end;
            i = end - 1;
        }

        if (start < text.Length)
        {
            list.Add((start, text.Length - start));
        }

        return list;
    }

    /// <summary>Builds the per-category score map left in <see cref="SafeAIContext.Items"/>.</summary>
    public Dictionary<string, double> ToScoreMap(Assessment assessment, Dictionary<string, double>? into = null)
    {
        into ??= new Dictionary<string, double>(_policies.Length, StringComparer.Ordinal);
        for (var c = 0; c < _policies.Length; c++)
        {
            var name = _model.Categories[c];
            into[name] = into.TryGetValue(name, out var previous) ? Math.Max(previous, assessment.Scores[c]) : assessment.Scores[c];
        }

        return into;
    }

    private string Prepare(string text) => _options.Normalize ? TextNormalizer.Normalize(text) : text;

    private static int Severity(ContentAction action) => action switch
    {
        ContentAction.Block => 4,
        ContentAction.Escalate => 3,
        ContentAction.Redact => 2,
        _ => 1,
    };

    /// <summary>The highest score of each category over all windows, and whether text was left unscored.</summary>
    internal readonly record struct Assessment(double[] Scores, bool Truncated);

    /// <summary>What to do, why, and the score and threshold behind it.</summary>
    internal readonly record struct Decision(ContentAction Action, string Reason, double? Score, double? Threshold, bool Flagged)
    {
        public string? Detail { get; init; }
    }
}

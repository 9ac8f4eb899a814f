using SafeAI.Onnx.Ngram;

namespace SafeAI.Onnx;

/// <summary>
/// The <c>cascade</c> kind: an <c>ngram-linear</c> first tier scores every window; the windows where some category's score
/// lies in that category's uncertainty band (at most <c>maxEscalatedWindows</c>, the least certain first) go to an ONNX
/// second tier, whose scores replace or are averaged (in logits) with the first tier's for the categories in band.
/// </summary>
internal sealed class CascadeContentModel : ContentModel
{
    private readonly NgramContentModel _fast;
    private readonly OnnxContentModel _second;
    private readonly CascadeBand?[] _bands;
    private readonly int[] _secondIndex;
    private long _escalatedWindows;

    private CascadeContentModel(ModelDescription description, NgramContentModel fast, OnnxContentModel second)
        : base(description, fast.CategoryArray)
    {
        _fast = fast;
        _second = second;
        var categories = fast.CategoryArray;
        _bands = new CascadeBand?[categories.Length];
        _secondIndex = new int[categories.Length];
        Array.Fill(_secondIndex, -1);
        foreach (var band in description.Cascade!.Bands)
        {
            var k = Array.IndexOf(categories, band.Category);
            var j = Array.IndexOf(second.CategoryArray, band.Category);
            if (k < 0 || j < 0)
            {
                throw new ContentModelException(description.FileName, $"band \"{band.Category}\" names a category that {(k < 0 ? "the fast tier" : "the second tier")} does not score (it scores: {string.Join(", ", k < 0 ? categories : second.CategoryArray)}).");
            }

            _bands[k] = band;
            _secondIndex[k] = j;
        }
    }

    public override int MaxTokens => _fast.MaxTokens;

    public override bool MicroBatching => _second.MicroBatching;

    internal override long EscalatedWindows => Interlocked.Read(ref _escalatedWindows);

    internal override ContentModel SecondTier => _second;

    public static CascadeContentModel Load(ModelDescription description, ModelFiles files, OnnxRuntimeOptions options)
    {
        var cascade = description.Cascade!;
        ContentModel? fast = null, second = null;
        try
        {
            fast = cascade.Fast == CascadeDescription.DefaultFast ? LoadDefaultNgram() : LoadNested(cascade.Fast, files, options);
            if (fast is not NgramContentModel ngram)
            {
                throw new ContentModelException(description.FileName, $"the fast tier \"{cascade.Fast}\" must be an ngram-linear model.");
            }

            second = LoadNested(cascade.Second, files, options);
            if (second is not OnnxContentModel onnx)
            {
                throw new ContentModelException(description.FileName, $"the second tier \"{cascade.Second}\" must be an encoder-heads or sequence-classifier model.");
            }

            return new CascadeContentModel(description, ngram, onnx);
        }
        catch
        {
            fast?.Dispose();
            second?.Dispose();
            throw;
        }
    }

    internal override List<int[]> CreateWindows(string text, int overlap, int maxWindows, out bool truncated) =>
        _fast.CreateWindows(text, maxWindows, withText: true, out truncated);

    internal override ValueTask<float[]> ScoreWindowsAsync(IReadOnlyList<int[]> windows, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        var c = CategoryArray.Length;
        var scores = new float[windows.Count * c];
        List<(int Window, float Margin)>? picks = null;
        for (var w = 0; w < windows.Count; w++)
        {
            var window = windows[w];
            var row = scores.AsSpan(w * c, c);
            _fast.ScoreFeatures(window.AsSpan(1, window[0]), row);
            var margin = float.PositiveInfinity;
            for (var k = 0; k < c; k++)
            {
                if (_bands[k] is { } band && row[k] >= band.Low && row[k] <= band.High)
                {
                    margin = MathF.Min(margin, MathF.Abs(Logit(row[k])));
                }
            }

            if (!float.IsPositiveInfinity(margin))
            {
                (picks ??= []).Add((w, margin));
            }
        }

        return picks is null ? new ValueTask<float[]>(scores) : EscalateAsync(windows, scores, picks, cancellationToken);
    }

    private protected override void ReleaseResources()
    {
        _fast.Dispose();
        _second.Dispose();
    }

    private async ValueTask<float[]> EscalateAsync(IReadOnlyList<int[]> windows, float[] scores, List<(int Window, float Margin)> picks, CancellationToken cancellationToken)
    {
        var max = Description.Cascade!.MaxEscalatedWindows;
        if (picks.Count > max)
        {
            picks.Sort(static (a, b) => a.Margin != b.Margin ? a.Margin.CompareTo(b.Margin) : a.Window.CompareTo(b.Window));
            picks.RemoveRange(max, picks.Count - max);
        }

        var second = new List<int[]>(picks.Count);
        foreach (var (w, _) in picks)
        {
            var window = windows[w];
            var text = string.Create(window.Length - 1 - window[0], window, static (chars, source) =>
            {
                for (var i = 0; i < chars.Length; i++)
                {
                    chars[i] = (char)source[1 + source[0] + i];
                }
            });

            second.Add(_second.CreateWindows(text, 0, 1, out _)[0]);
        }

        Interlocked.Add(ref _escalatedWindows, picks.Count);
        var secondScores = await _second.ScoreWindowsAsync(second, cancellationToken).ConfigureAwait(false);
        var c = CategoryArray.Length;
        var sc = _second.CategoryArray.Length;
        var mean = Description.Cascade.Combine == CascadeCombine.MeanLogit;
        for (var p = 0; p < picks.Count; p++)
        {
            var row = scores.AsSpan(picks[p].Window * c, c);
            for (var k = 0; k < c; k++)
            {
                if (_bands[k] is { } band && row[k] >= band.Low && row[k] <= band.High)
                {
                    var e = secondScores[(p * sc) + _secondIndex[k]];
                    row[k] = mean ? Sigmoid((Logit(row[k]) + Logit(e)) / 2) : e;
                }
            }
        }

        return scores;
    }
}

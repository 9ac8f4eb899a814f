namespace SafeAI.Onnx.Ngram;

/// <summary>
/// The <c>ngram-linear</c> kind: hashed character and word n-grams of character windows, one linear head per category,
/// scored on the calling thread in microseconds (no ONNX).
/// </summary>
internal sealed class NgramContentModel : ContentModel
{
    private readonly NgramWeights _weights;

    public NgramContentModel(ModelDescription description, NgramWeights weights)
        : base(description, [.. description.NgramCategories])
    {
        _weights = weights;
    }

    internal override List<int[]> CreateWindows(string text, int overlap, int maxWindows, out bool truncated) =>
        CreateWindows(text, maxWindows, withText: false, out truncated);

    /// <summary>
    /// Splits normalised text into windows of at most <see cref="ContentModel.MaxTokens"/> characters that overlap by an
    /// eighth, each window the n-gram feature ids of its characters; <paramref name="withText"/> (a cascade's windows): the
    /// feature count first and the window's characters after the features, for the second tier.
    /// </summary>
    internal List<int[]> CreateWindows(string text, int maxWindows, bool withText, out bool truncated)
    {
        var size = Description.MaxTokens;
        var stride = size - (size / 8);
        var windows = new List<int[]>(Math.Min(maxWindows, 1 + (Math.Max(0, text.Length - size) / stride) + 1));
        var start = 0;
        truncated = false;
        do
        {
            var count = Math.Min(size, text.Length - start);
            var features = NgramFeatures.Extract(text.AsSpan(start, count), Description.Bits);
            if (withText)
            {
                var window = new int[1 + features.Length + count];
                window[0] = features.Length;
                features.CopyTo(window, 1);
                for (var i = 0; i < count; i++)
                {
                    window[1 + features.Length + i] = text[start + i];
                }

                features = window;
            }

            windows.Add(features);
            if (start + count >= text.Length)
            {
                break;
            }

            if (windows.Count >= maxWindows)
            {
                truncated = true;
                break;
            }

            start += stride;
        }
        while (true);

        return windows;
    }

    internal override ValueTask<float[]> ScoreWindowsAsync(IReadOnlyList<int[]> windows, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        var c = CategoryArray.Length;
        var scores = new float[windows.Count * c];
        for (var w = 0; w < windows.Count; w++)
        {
            _weights.Score(windows[w], scores.AsSpan(w * c, c));
        }

        return new ValueTask<float[]>(scores);
    }

    /// <summary>Scores the n-gram features of one piece of text (no windowing).</summary>
    internal void Score(ReadOnlySpan<char> text, Span<float> scores) =>
        _weights.Score(NgramFeatures.Extract(text, Description.Bits), scores);

    /// <summary>Scores already extracted features.</summary>
    internal void ScoreFeatures(ReadOnlySpan<int> features, Span<float> scores) => _weights.Score(features, scores);

    private protected override void ReleaseResources()
    {
        // Managed weights only.
    }
}

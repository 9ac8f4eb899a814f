using SafeAI.Onnx.Ngram;

namespace SafeAI.Onnx;

/// <summary>
/// The <c>ensemble</c> kind (the default model): an ONNX classifier scores sentence-sized windows of the text, so that a
/// threat cannot hide behind paragraphs of ordinary text; an optional <c>ngram-linear</c> model scores the same windows'
/// characters; per category the two members' logits are mixed with fixed weights and shifted by a calibrated bias
/// (<c>score = sigmoid(w_encoder * logit(encoder) + w_ngram * logit(ngram) + bias)</c>).
/// </summary>
/// <remarks>
/// A window is whole sentences packed up to <c>windowTokens</c> tokens (a longer sentence is cut into overlapping pieces).
/// Its array holds the token count, the framed token ids, then the window's characters for the n-gram member.
/// <see cref="CreateWindows"/>'s window limit counts full-size windows of <see cref="ReferenceWindowTokens"/> tokens,
/// so that a text limit set in <see cref="ContentFilterOptions.MaxWindows"/> means about the same length for every kind.
/// </remarks>
internal sealed class EnsembleContentModel : ContentModel
{
    /// <summary>The size of the full-size window that <see cref="ContentFilterOptions.MaxWindows"/> counts.</summary>
    internal const int ReferenceWindowTokens = 256;

    private const int LongSentenceOverlap = 16;

    private readonly OnnxContentModel _encoder;
    private readonly NgramContentModel? _ngram;
    private readonly int _windowTokens;
    private readonly (int Encoder, float EncoderWeight, int Ngram, float NgramWeight, float Bias)[] _mix;

    private EnsembleContentModel(ModelDescription description, OnnxContentModel encoder, NgramContentModel? ngram)
        : base(description, [.. description.Ensemble!.Categories.Select(static c => c.Category)])
    {
        _encoder = encoder;
        _ngram = ngram;
        var ensemble = description.Ensemble;
        _windowTokens = Math.Min(ensemble.WindowTokens, encoder.MaxTokens);
        _mix = new (int, float, int, float, float)[ensemble.Categories.Count];
        for (var c = 0; c < _mix.Length; c++)
        {
            var mix = ensemble.Categories[c];
            var e = Array.IndexOf(encoder.CategoryArray, mix.Category);
            var n = ngram is null ? -1 : Array.IndexOf(ngram.CategoryArray, mix.Category);
            if ((e < 0 && mix.EncoderWeight != 0) || (n < 0 && mix.NgramWeight != 0))
            {
                var member = e < 0 && mix.EncoderWeight != 0 ? "the encoder" : "the n-gram model";
                throw new ContentModelException(description.FileName, $"category \"{mix.Category}\" has a weight for {member}, which does not score it.");
            }

            _mix[c] = (e, mix.EncoderWeight, n, mix.NgramWeight, mix.Bias);
        }
    }

    /// <summary>Gets the most tokens of one window (special tokens included).</summary>
    public override int MaxTokens => _windowTokens;

    public override bool MicroBatching => _encoder.MicroBatching;

    internal override ContentModel SecondTier => _encoder;

    internal override ModelTokenizer? Tokenizer => _encoder.Tokenizer;

    public static EnsembleContentModel Load(ModelDescription description, ModelFiles files, OnnxRuntimeOptions options)
    {
        var ensemble = description.Ensemble!;
        ContentModel? encoder = null, ngram = null;
        try
        {
            encoder = LoadNested(ensemble.Encoder, files, options);
            if (encoder is not OnnxContentModel onnx)
            {
                throw new ContentModelException(description.FileName, $"the encoder \"{ensemble.Encoder}\" must be a sequence-classifier or encoder-heads model.");
            }

            if (ensemble.Ngram is { } name)
            {
                ngram = name == CascadeDescription.DefaultFast ? LoadDefaultNgram() : LoadNested(name, files, options);
                if (ngram is not NgramContentModel)
                {
                    throw new ContentModelException(description.FileName, $"the n-gram member \"{name}\" must be an ngram-linear model.");
                }
            }

            return new EnsembleContentModel(description, onnx, ngram as NgramContentModel);
        }
        catch
        {
            encoder?.Dispose();
            ngram?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Splits normalised text into windows of whole sentences of at most <see cref="MaxTokens"/> tokens. When there are more
    /// than the limit (<paramref name="maxWindows"/> full-size windows of <see cref="ReferenceWindowTokens"/> tokens), the
    /// first and last halves of the limit are kept (the head and the tail, where long jailbreaks put their payload) and
    /// <paramref name="truncated"/> is set.
    /// </summary>
    internal override List<int[]> CreateWindows(string text, int overlap, int maxWindows, out bool truncated)
    {
        var limit = Math.Max(1, maxWindows * Math.Max(1, ReferenceWindowTokens / _windowTokens));
        var tokenizer = _encoder.Tokenizer;
        var body = _windowTokens - 2;
        var windows = new List<int[]>();
        var pending = new List<int>(body);
        int pendingStart = 0, pendingEnd = 0;
        truncated = false;

        void Flush()
        {
            if (pending.Count > 0)
            {
                windows.Add(Pack(pending, 0, pending.Count, text.AsSpan(pendingStart, pendingEnd - pendingStart)));
                pending.Clear();
            }
        }

        // Tokens beyond what the limit can hold are never needed: the head and the tail of that budget are kept.
        var budget = (long)limit * body * 4;
        foreach (var (start, length) in Sentences(text))
        {
            var ids = tokenizer.Encode(text.Substring(start, length), (int)Math.Min(int.MaxValue, budget), out _);
            if (ids.Count == 0)
            {
                continue;
            }

            if (ids.Count > body)
            {
                Flush();
                var stride = body - LongSentenceOverlap;
                for (var from = 0; ; from += stride)
                {
                    var count = Math.Min(body, ids.Count - from);
                    // The characters of this piece, approximately: the same share of the sentence, at most one n-gram window.
                    var charFrom = start + (int)((long)length * from / ids.Count);
                    var charTo = start + (int)((long)length * (from + count) / ids.Count);
                    windows.Add(Pack(ids, from, count, text.AsSpan(charFrom, Math.Max(0, charTo - charFrom))));
                    if (from + count >= ids.Count)
                    {
                        break;
                    }
                }

                continue;
            }

            if (pending.Count + ids.Count > body)
            {
                Flush();
            }

            if (pending.Count == 0)
            {
                pendingStart = start;
            }

            foreach (var id in ids)
            {
                pending.Add(id);
            }

            pendingEnd = start + length;
        }

        Flush();
        if (windows.Count == 0)
        {
            windows.Add(Pack([], 0, 0, []));
        }

        if (windows.Count > limit)
        {
            truncated = true;
            var head = (limit + 1) / 2;
            windows.RemoveRange(head, windows.Count - limit);
        }

        return windows;
    }

    internal override async ValueTask<float[]> ScoreWindowsAsync(IReadOnlyList<int[]> windows, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        var encoderWindows = new int[windows.Count][];
        for (var w = 0; w < windows.Count; w++)
        {
            var window = windows[w];
            encoderWindows[w] = window.AsSpan(1, window[0]).ToArray();
        }

        var pending = _encoder.ScoreWindowsAsync(encoderWindows, cancellationToken);
        float[]? ngramScores = null;
        if (_ngram is not null)
        {
            // The n-gram member runs here, in microseconds, while the encoder runs on its own thread.
            var nc = _ngram.CategoryArray.Length;
            ngramScores = new float[windows.Count * nc];
            for (var w = 0; w < windows.Count; w++)
            {
                var window = windows[w];
                var chars = window.AsSpan(1 + window[0]);
                var text = new char[chars.Length];
                for (var i = 0; i < chars.Length; i++)
                {
                    text[i] = (char)chars[i];
                }

                _ngram.Score(text, ngramScores.AsSpan(w * nc, nc));
            }
        }

        var encoderScores = await pending.ConfigureAwait(false);
        var c = _mix.Length;
        var ec = _encoder.CategoryArray.Length;
        var nn = _ngram?.CategoryArray.Length ?? 0;
        var scores = new float[windows.Count * c];
        for (var w = 0; w < windows.Count; w++)
        {
            for (var k = 0; k < c; k++)
            {
                var (e, we, n, wn, bias) = _mix[k];
                var z = bias;
                if (we != 0)
                {
                    z += we * Logit(encoderScores[(w * ec) + e]);
                }

                if (wn != 0)
                {
                    z += wn * Logit(ngramScores![(w * nn) + n]);
                }

                scores[(w * c) + k] = Sigmoid(z);
            }
        }

        return scores;
    }

    private protected override void ReleaseResources()
    {
        _encoder.Dispose();
        _ngram?.Dispose();
    }

    /// <summary>The sentences of a text: spans ending after . ! ? ; or a line break followed by white space (or the end).</summary>
    internal static IEnumerable<(int Start, int Length)> Sentences(string text)
    {
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            var end = c is '\n' or '\r'
                || (c is '.' or '!' or '?' or ';' or '。' or '！' or '？' && (i + 1 == text.Length || char.IsWhiteSpace(text[i + 1])));
            if (!end)
            {
                continue;
            }

            if (!text.AsSpan(start, i + 1 - start).IsWhiteSpace())
            {
                yield return (start, i + 1 - start);
            }

            start = i + 1;
        }

        if (start < text.Length && !text.AsSpan(start).IsWhiteSpace())
        {
            yield return (start, text.Length - start);
        }
    }

    private int[] Pack(IReadOnlyList<int> ids, int from, int count, ReadOnlySpan<char> chars)
    {
        var framed = _encoder.Frame(ids, from, count);
        var window = new int[1 + framed.Length + chars.Length];
        window[0] = framed.Length;
        framed.CopyTo(window, 1);
        for (var i = 0; i < chars.Length; i++)
        {
            window[1 + framed.Length + i] = chars[i];
        }

        return window;
    }
}

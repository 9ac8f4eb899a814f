using System.Buffers;
using System.Reflection;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SafeAI.Onnx.Ngram;

namespace SafeAI.Onnx;

/// <summary>
/// A content classification model running in-process on ONNX Runtime: one thread-safe session shared by every call,
/// described by a JSON model description (see the README, "Bring your own model"). Load it once and share it; it is
/// validated when loaded, so a wrong file fails at start-up with an error that names the file and the problem.
/// </summary>
/// <remarks>
/// Four kinds of model: <c>sequence-classifier</c> (a Hugging Face text classifier exported to ONNX, BERT / RoBERTa /
/// DeBERTa tokenizers), <c>encoder-heads</c> (a sentence-embedding encoder plus linear heads, one per category),
/// <c>ngram-linear</c> (hashed character and word n-grams with linear heads, no ONNX at all; the default model, see
/// <see cref="LoadDefault"/>) and <c>cascade</c> (an <c>ngram-linear</c> first tier that scores every window, and one of the
/// ONNX kinds as a second tier for the windows whose first-tier score of some category lies in that category's uncertainty
/// band; see the SafeAI.Onnx.MiniLM package for a trained one).
/// </remarks>
public sealed class ContentModel : IDisposable
{
    private readonly InferenceSession? _session;
    private readonly ModelDescription _description;
    private readonly ModelTokenizer? _tokenizer;
    private readonly NgramWeights? _ngram;
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private readonly string[] _categories;
    private readonly int _embeddingSize;
    private readonly MicroBatcher? _batcher;
    private readonly int _maxBatchSize;
    private readonly ContentModel? _fast;
    private readonly ContentModel? _second;
    private readonly CascadeBand?[]? _bands;
    private readonly int[]? _secondIndex;
    private long _escalatedWindows;
    private int _disposed;

    private ContentModel(ModelDescription description, NgramWeights weights)
    {
        _description = description;
        _ngram = weights;
        _categories = [.. description.NgramCategories];
        _inputNames = [];
        _outputNames = [];
    }

    private ContentModel(ModelDescription description, ContentModel fast, ContentModel second)
    {
        _description = description;
        _fast = fast;
        _second = second;
        _categories = fast._categories;
        _inputNames = [];
        _outputNames = [];
        _bands = new CascadeBand?[_categories.Length];
        _secondIndex = new int[_categories.Length];
        Array.Fill(_secondIndex, -1);
        foreach (var band in description.Cascade!.Bands)
        {
            var k = Array.IndexOf(_categories, band.Category);
            var j = Array.IndexOf(second._categories, band.Category);
            if (k < 0 || j < 0)
            {
                throw new ContentModelException(description.FileName, $"band \"{band.Category}\" names a category that {(k < 0 ? "the fast tier" : "the second tier")} does not score (it scores: {string.Join(", ", k < 0 ? _categories : second._categories)}).");
            }

            _bands[k] = band;
            _secondIndex[k] = j;
        }
    }

    private ContentModel(ModelDescription description, ModelFiles files, OnnxRuntimeOptions options)
    {
        _description = description;
        _tokenizer = ModelTokenizer.Create(description.Tokenizer, files);
        _session = CreateSession(description, files, options);
        try
        {
            (_inputNames, _embeddingSize) = Validate(files.Describe(description.Model));
            _outputNames = [description.Output];
            _categories = description.Kind == ModelKind.EncoderHeads
                ? description.Heads.Select(static h => h.Category).ToArray()
                : description.Labels.Where(static l => l is not null).Select(static l => l!).ToArray();
            _maxBatchSize = options.MaxBatchSize;

            // A real run of the smallest input: catches output shapes that only show at run time.
            var probe = Run([[_tokenizer.StartId, _tokenizer.EndId]], 0, 1, CancellationToken.None);
            if (probe.Length != _categories.Length)
            {
                throw new ContentModelException(files.Describe(description.Model), $"a test run returned {probe.Length} scores; the description expects {_categories.Length}.");
            }

            if (options.MicroBatching)
            {
                _batcher = new MicroBatcher(this, options.MaxBatchSize, options.BatchWindow, TimeProvider.System);
            }
        }
        catch
        {
            _session.Dispose();
            throw;
        }
    }

    /// <summary>Gets the categories the model scores, in output order.</summary>
    public IReadOnlyList<string> Categories => _categories;

    /// <summary>Gets the most tokens the model reads at once (one window, special tokens included); for an <c>ngram-linear</c> or <c>cascade</c> model, characters.</summary>
    public int MaxTokens => _fast?.MaxTokens ?? _description.MaxTokens;

    /// <summary>Gets a value indicating whether concurrent requests are gathered into batches.</summary>
    public bool MicroBatching => _batcher is not null || _second?.MicroBatching == true;

    /// <summary>Gets how many windows a <c>cascade</c> model has sent to its second tier since it was loaded (0 for other kinds).</summary>
    internal long EscalatedWindows => Interlocked.Read(ref _escalatedWindows);

    /// <summary>Gets a value indicating whether this is a <c>cascade</c> model.</summary>
    internal bool IsCascade => _fast is not null;

    /// <summary>Gets the second tier of a <c>cascade</c> model.</summary>
    internal ContentModel? SecondTier => _second;

    internal ModelTokenizer? Tokenizer => _tokenizer;

    /// <summary>Gets a value indicating whether this is an <c>ngram-linear</c> model (scored on the calling thread in microseconds).</summary>
    internal bool IsNgram => _ngram is not null;

    /// <summary>Loads a model from its description file; the files it names are read from the same folder.</summary>
    /// <param name="descriptionPath">The path of the description file (for example <c>models/my-filter/safeai-model.json</c>).</param>
    /// <param name="options">How the model runs; <see langword="null"/> for the defaults.</param>
    /// <returns>The loaded, validated model.</returns>
    /// <exception cref="ArgumentException"><paramref name="descriptionPath"/> is null or empty, or <paramref name="options"/> are invalid.</exception>
    /// <exception cref="ContentModelException">A file is missing or unreadable, or the model does not fit its description.</exception>
    public static ContentModel Load(string descriptionPath, OnnxRuntimeOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(descriptionPath);
        var full = Path.GetFullPath(descriptionPath);
        var files = new ModelFiles.Folder(Path.GetDirectoryName(full)!);
        using var stream = files.Open(Path.GetFileName(full));
        return Load(full, stream, files, options);
    }

    /// <summary>Loads a model from a description read from a stream; the files it names are opened by <paramref name="openFile"/>.</summary>
    /// <param name="description">The description (JSON).</param>
    /// <param name="openFile">Opens a file named by the description (the ONNX model, the tokenizer files); returns <see langword="null"/> when there is none.</param>
    /// <param name="options">How the model runs; <see langword="null"/> for the defaults.</param>
    /// <param name="origin">A name for the source in error messages.</param>
    /// <returns>The loaded, validated model.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="description"/> or <paramref name="openFile"/> is <see langword="null"/>.</exception>
    /// <exception cref="ContentModelException">A file is missing or unreadable, or the model does not fit its description.</exception>
    public static ContentModel Load(Stream description, Func<string, Stream?> openFile, OnnxRuntimeOptions? options = null, string origin = "stream")
    {
        ArgumentNullException.ThrowIfNull(description);
        ArgumentNullException.ThrowIfNull(openFile);
        return Load($"{origin}:description", description, new ModelFiles.Callback(openFile, origin), options);
    }

    /// <summary>Loads a model whose description and files are embedded resources of <paramref name="assembly"/>.</summary>
    /// <param name="assembly">The assembly.</param>
    /// <param name="resourcePrefix">The common prefix of the resource names, for example <c>MyApp.Models.</c>; the description is <c>{prefix}safeai-model.json</c>.</param>
    /// <param name="options">How the model runs; <see langword="null"/> for the defaults.</param>
    /// <returns>The loaded, validated model.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="assembly"/> is <see langword="null"/>.</exception>
    /// <exception cref="ContentModelException">A resource is missing or unreadable, or the model does not fit its description.</exception>
    public static ContentModel LoadFromResources(Assembly assembly, string resourcePrefix, OnnxRuntimeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        ArgumentNullException.ThrowIfNull(resourcePrefix);
        var files = new ModelFiles.Resources(assembly, resourcePrefix);
        using var stream = files.Open("safeai-model.json");
        return Load(files.Describe("safeai-model.json"), stream, files, options);
    }

    /// <summary>
    /// Loads SafeAI's default content model, which ships inside this package: a hashed character and word n-gram model
    /// with one linear head per category of <see cref="ContentCategories"/>, trained on the public corpora listed in
    /// <c>docs/model-card.md</c> (scores are calibrated so that 0.5 is the recommended threshold). It scores a message in
    /// microseconds on the calling thread and needs no download.
    /// </summary>
    /// <returns>The loaded model.</returns>
    /// <exception cref="ContentModelException">The embedded model cannot be read (a broken build of this package).</exception>
    public static ContentModel LoadDefault() =>
        LoadFromResources(typeof(ContentModel).Assembly, DefaultModelResourcePrefix);

    internal const string DefaultModelResourcePrefix = "SafeAI.Onnx.DefaultModel.";

    /// <summary>
    /// Scores one text and returns the highest score of each category: the text is normalised against evasion and split
    /// into windows of <see cref="MaxTokens"/> tokens that overlap by 32 (at most 64 windows; the rest is not scored).
    /// </summary>
    /// <param name="text">The text.</param>
    /// <param name="cancellationToken">Cancels the scoring.</param>
    /// <returns>Category name to score (0 to 1).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The model was disposed.</exception>
    public async ValueTask<IReadOnlyDictionary<string, double>> ScoreAsync(string text, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        var windows = CreateWindows(TextNormalizer.Normalize(text), overlap: 32, maxWindows: 64, out _);
        var scores = await ScoreWindowsAsync(windows, cancellationToken).ConfigureAwait(false);
        var result = new Dictionary<string, double>(_categories.Length, StringComparer.Ordinal);
        for (var c = 0; c < _categories.Length; c++)
        {
            double max = 0;
            for (var w = 0; w < windows.Count; w++)
            {
                max = Math.Max(max, scores[(w * _categories.Length) + c]);
            }

            result[_categories[c]] = max;
        }

        return result;
    }

    /// <summary>Releases the ONNX Runtime session.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _batcher?.Dispose();
        _session?.Dispose();
        _fast?.Dispose();
        _second?.Dispose();
    }

    /// <summary>Splits text into overlapping windows of at most <see cref="MaxTokens"/> tokens, framed by the start and end ids.</summary>
    internal List<int[]> CreateWindows(string text, int overlap, int maxWindows, out bool truncated)
    {
        if (_ngram is not null)
        {
            return CreateNgramWindows(text, maxWindows, withText: false, out truncated);
        }

        if (_fast is not null)
        {
            return _fast.CreateNgramWindows(text, maxWindows, withText: true, out truncated);
        }

        var body = MaxTokens - 2;
        overlap = Math.Clamp(overlap, 0, body / 2);
        var stride = body - overlap;
        var budget = (stride * (maxWindows - 1)) + body;
        var ids = _tokenizer!.Encode(text, budget, out var complete);
        truncated = !complete;
        var windows = new List<int[]>(Math.Max(1, ((ids.Count - overlap) + stride - 1) / stride));
        var start = 0;
        do
        {
            var count = Math.Min(body, ids.Count - start);
            var window = new int[count + 2];
            window[0] = _tokenizer.StartId;
            for (var i = 0; i < count; i++)
            {
                window[i + 1] = ids[start + i];
            }

            window[^1] = _tokenizer.EndId;
            windows.Add(window);
            if (start + count >= ids.Count || windows.Count >= maxWindows)
            {
                break;
            }

            start += stride;
        }
        while (true);

        return windows;
    }

    /// <summary>Scores windows; the result holds <see cref="Categories"/>.Count scores per window, window by window.</summary>
    internal ValueTask<float[]> ScoreWindowsAsync(IReadOnlyList<int[]> windows, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        cancellationToken.ThrowIfCancellationRequested();
        if (_ngram is not null)
        {
            return new ValueTask<float[]>(ScoreNgram(windows));
        }

        if (_fast is not null)
        {
            return ScoreCascadeAsync(windows, cancellationToken);
        }

        if (_batcher is not null)
        {
            return _batcher.ScoreAsync(windows, cancellationToken);
        }

        // Off the caller's thread, so that a stage's time budget can end the wait (and, through RunOptions.Terminate, the run).
        return new ValueTask<float[]>(Task.Factory.StartNew(
            static s =>
            {
                var (model, w, ct) = ((ContentModel, IReadOnlyList<int[]>, CancellationToken))s!;
                return model.ScoreNow(w, ct);
            },
            (this, windows, cancellationToken),
            cancellationToken,
            TaskCreationOptions.DenyChildAttach,
            TaskScheduler.Default));
    }

    /// <summary>Scores windows on the calling thread, in runs of at most the batch size.</summary>
    internal float[] ScoreNow(IReadOnlyList<int[]> windows, CancellationToken cancellationToken)
    {
        if (_ngram is not null)
        {
            return ScoreNgram(windows);
        }

        if (_fast is not null)
        {
            return ScoreCascadeAsync(windows, cancellationToken).AsTask().GetAwaiter().GetResult();
        }

        if (windows.Count <= _maxBatchSize)
        {
            return Run(windows, 0, windows.Count, cancellationToken);
        }

        var all = new float[windows.Count * _categories.Length];
        for (var start = 0; start < windows.Count; start += _maxBatchSize)
        {
            var count = Math.Min(_maxBatchSize, windows.Count - start);
            Run(windows, start, count, cancellationToken).CopyTo(all, start * _categories.Length);
        }

        return all;
    }

    /// <summary>Returns the pooled (and normalised, if the description says so) embedding of each window of an encoder-heads model: the input of its heads, for fitting new heads.</summary>
    internal float[] Embed(IReadOnlyList<int[]> windows, CancellationToken cancellationToken)
    {
        if (_description.Kind != ModelKind.EncoderHeads)
        {
            throw new InvalidOperationException("Only encoder-heads models have embeddings.");
        }

        return Run(windows, 0, windows.Count, cancellationToken, embeddingsOnly: true);
    }

    internal int EmbeddingSize => _embeddingSize;

    private float[] Run(IReadOnlyList<int[]> windows, int first, int count, CancellationToken cancellationToken, bool embeddingsOnly = false)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var seq = 0;
        for (var i = 0; i < count; i++)
        {
            seq = Math.Max(seq, windows[first + i].Length);
        }

        var size = count * seq;
        var ids = ArrayPool<long>.Shared.Rent(size);
        var mask = ArrayPool<long>.Shared.Rent(size);
        var types = _inputNames.Length == 3 ? ArrayPool<long>.Shared.Rent(size) : null;
        var values = new OrtValue[_inputNames.Length];
        try
        {
            for (var b = 0; b < count; b++)
            {
                var window = windows[first + b];
                var row = b * seq;
                for (var t = 0; t < seq; t++)
                {
                    var real = t < window.Length;
                    ids[row + t] = real ? window[t] : _tokenizer!.PadId;
                    mask[row + t] = real ? 1 : 0;
                }
            }

            if (types is not null)
            {
                Array.Clear(types, 0, size);
            }

            long[] shape = [count, seq];
            values[0] = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, ids.AsMemory(0, size), shape);
            values[1] = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, mask.AsMemory(0, size), shape);
            if (types is not null)
            {
                values[2] = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, types.AsMemory(0, size), shape);
            }

            using var runOptions = new RunOptions();
            using var registration = cancellationToken.CanBeCanceled
                ? cancellationToken.UnsafeRegister(static s => ((RunOptions)s!).Terminate = true, runOptions)
                : default;
            IDisposableReadOnlyCollection<OrtValue> outputs;
            try
            {
                outputs = _session!.Run(runOptions, _inputNames, values, _outputNames);
            }
            catch (OnnxRuntimeException) when (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(cancellationToken);
            }

            using (outputs)
            {
                return _description.Kind == ModelKind.EncoderHeads
                    ? ApplyHeads(outputs[0], mask, count, seq, embeddingsOnly)
                    : ApplyActivation(outputs[0], count);
            }
        }
        finally
        {
            foreach (var value in values)
            {
                value?.Dispose();
            }

            ArrayPool<long>.Shared.Return(ids);
            ArrayPool<long>.Shared.Return(mask);
            if (types is not null)
            {
                ArrayPool<long>.Shared.Return(types);
            }
        }
    }

    private float[] ApplyHeads(OrtValue output, long[] mask, int count, int seq, bool embeddingsOnly)
    {
        var data = output.GetTensorDataAsSpan<float>();
        var shape = output.GetTensorTypeAndShape().Shape;
        var dim = _embeddingSize;
        var expected = shape.Length == 3 ? (long)count * seq * dim : (long)count * dim;
        if ((shape.Length != 3 && shape.Length != 2) || shape[^1] != dim || data.Length != expected)
        {
            throw new ContentModelException(_description.Model, $"output '{_description.Output}' has shape [{string.Join(", ", shape)}]; expected [batch, tokens, {dim}] or [batch, {dim}].");
        }

        var heads = _description.Heads;
        var scores = new float[count * (embeddingsOnly ? dim : heads.Count)];
        Span<float> pooled = dim <= 2048 ? stackalloc float[dim] : new float[dim];
        for (var b = 0; b < count; b++)
        {
            pooled.Clear();
            if (shape.Length == 2)
            {
                data.Slice(b * dim, dim).CopyTo(pooled);
            }
            else if (_description.Pooling == Pooling.Cls)
            {
                data.Slice(b * seq * dim, dim).CopyTo(pooled);
            }
            else
            {
                var n = 0;
                for (var t = 0; t < seq; t++)
                {
                    if (mask[(b * seq) + t] == 0)
                    {
                        continue;
                    }

                    n++;
                    var token = data.Slice(((b * seq) + t) * dim, dim);
                    for (var d = 0; d < dim; d++)
                    {
                        pooled[d] += token[d];
                    }
                }

                for (var d = 0; d < dim; d++)
                {
                    pooled[d] /= Math.Max(1, n);
                }
            }

            if (_description.Normalize)
            {
                var norm = 0f;
                foreach (var v in pooled)
                {
                    norm += v * v;
                }

                norm = MathF.Max(MathF.Sqrt(norm), 1e-12f);
                for (var d = 0; d < dim; d++)
                {
                    pooled[d] /= norm;
                }
            }

            if (embeddingsOnly)
            {
                pooled.CopyTo(scores.AsSpan(b * dim, dim));
                continue;
            }

            for (var h = 0; h < heads.Count; h++)
            {
                var head = heads[h];
                var z = head.Bias;
                for (var d = 0; d < dim; d++)
                {
                    z += head.Weights[d] * pooled[d];
                }

                scores[(b * heads.Count) + h] = Sigmoid(z);
            }
        }

        return scores;
    }

    private float[] ApplyActivation(OrtValue output, int count)
    {
        var data = output.GetTensorDataAsSpan<float>();
        var shape = output.GetTensorTypeAndShape().Shape;
        var labels = _description.Labels;
        if (shape.Length != 2 || shape[1] != labels.Count || shape[0] != count)
        {
            throw new ContentModelException(_description.Model, $"output '{_description.Output}' has shape [{string.Join(", ", shape)}]; expected [batch, {labels.Count}] (one logit per label).");
        }

        var scores = new float[count * _categories.Length];
        for (var b = 0; b < count; b++)
        {
            var row = data.Slice(b * labels.Count, labels.Count);
            var max = float.NegativeInfinity;
            var sum = 0f;
            if (_description.Softmax)
            {
                foreach (var v in row)
                {
                    max = MathF.Max(max, v);
                }

                foreach (var v in row)
                {
                    sum += MathF.Exp(v - max);
                }
            }

            var c = 0;
            for (var l = 0; l < labels.Count; l++)
            {
                if (labels[l] is null)
                {
                    continue;
                }

                scores[(b * _categories.Length) + c++] = _description.Softmax ? MathF.Exp(row[l] - max) / sum : Sigmoid(row[l]);
            }
        }

        return scores;
    }

    private static float Sigmoid(float z) => 1f / (1f + MathF.Exp(-z));

    private static ContentModel Load(string descriptionName, Stream stream, ModelFiles files, OnnxRuntimeOptions? options)
    {
        options ??= new OnnxRuntimeOptions();
        options.Validate();
        byte[] json;
        try
        {
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            json = buffer.ToArray();
        }
        catch (IOException ex)
        {
            throw new ContentModelException(descriptionName, $"the file cannot be read ({ex.Message}).", ex);
        }

        var description = ModelDescription.Parse(descriptionName, json);
        if (description.Kind == ModelKind.Cascade)
        {
            return LoadCascade(description, files, options);
        }

        if (description.Kind == ModelKind.NgramLinear)
        {
            using var weights = files.Open(description.Model);
            return new ContentModel(description, NgramWeights.Read(files.Describe(description.Model), weights, [.. description.NgramCategories], description.Bits));
        }

        return new ContentModel(description, files, options);
    }

    private static ContentModel LoadCascade(ModelDescription description, ModelFiles files, OnnxRuntimeOptions options)
    {
        var cascade = description.Cascade!;
        ContentModel? fast = null, second = null;
        try
        {
            fast = cascade.Fast == CascadeDescription.DefaultFast ? LoadDefault() : LoadNested(cascade.Fast, files, options);
            if (!fast.IsNgram)
            {
                throw new ContentModelException(description.FileName, $"the fast tier \"{cascade.Fast}\" must be an ngram-linear model.");
            }

            second = LoadNested(cascade.Second, files, options);
            if (second.IsNgram || second.IsCascade)
            {
                throw new ContentModelException(description.FileName, $"the second tier \"{cascade.Second}\" must be an encoder-heads or sequence-classifier model.");
            }

            return new ContentModel(description, fast, second);
        }
        catch
        {
            fast?.Dispose();
            second?.Dispose();
            throw;
        }
    }

    private static ContentModel LoadNested(string name, ModelFiles files, OnnxRuntimeOptions options)
    {
        using var stream = files.Open(name);
        return Load(files.Describe(name), stream, files, options);
    }

    /// <summary>
    /// Scores windows of a cascade: every window on the fast tier; then the windows where some category's fast score lies in
    /// its band (at most <c>maxEscalatedWindows</c>, the least certain first) on the second tier, whose scores replace or are
    /// averaged (in logits) with the fast scores of the categories in band.
    /// </summary>
    private ValueTask<float[]> ScoreCascadeAsync(IReadOnlyList<int[]> windows, CancellationToken cancellationToken)
    {
        var c = _categories.Length;
        var scores = new float[windows.Count * c];
        List<(int Window, float Margin)>? picks = null;
        for (var w = 0; w < windows.Count; w++)
        {
            var window = windows[w];
            var row = scores.AsSpan(w * c, c);
            _fast!._ngram!.Score(window.AsSpan(1, window[0]), row);
            var margin = float.PositiveInfinity;
            for (var k = 0; k < c; k++)
            {
                if (_bands![k] is { } band && row[k] >= band.Low && row[k] <= band.High)
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

    private async ValueTask<float[]> EscalateAsync(IReadOnlyList<int[]> windows, float[] scores, List<(int Window, float Margin)> picks, CancellationToken cancellationToken)
    {
        var max = _description.Cascade!.MaxEscalatedWindows;
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

            second.Add(_second!.CreateWindows(text, 0, 1, out _)[0]);
        }

        Interlocked.Add(ref _escalatedWindows, picks.Count);
        var secondScores = await _second!.ScoreWindowsAsync(second, cancellationToken).ConfigureAwait(false);
        var c = _categories.Length;
        var sc = _second._categories.Length;
        var mean = _description.Cascade.Combine == CascadeCombine.MeanLogit;
        for (var p = 0; p < picks.Count; p++)
        {
            var row = scores.AsSpan(picks[p].Window * c, c);
            for (var k = 0; k < c; k++)
            {
                if (_bands![k] is { } band && row[k] >= band.Low && row[k] <= band.High)
                {
                    var e = secondScores[(p * sc) + _secondIndex![k]];
                    row[k] = mean ? Sigmoid((Logit(row[k]) + Logit(e)) / 2) : e;
                }
            }
        }

        return scores;
    }

    private static float Logit(float p)
    {
        p = Math.Clamp(p, 1e-6f, 1 - 1e-6f);
        return MathF.Log(p / (1 - p));
    }

    /// <summary>
    /// Splits normalised text into windows of at most <see cref="MaxTokens"/> characters that overlap by an eighth, each window
    /// the n-gram feature ids of its characters; <paramref name="withText"/> (a cascade's windows): the feature count first and the
    /// window's characters after the features, for the second tier.
    /// </summary>
    private List<int[]> CreateNgramWindows(string text, int maxWindows, bool withText, out bool truncated)
    {
        var size = _description.MaxTokens;
        var stride = size - (size / 8);
        var windows = new List<int[]>(Math.Min(maxWindows, 1 + (Math.Max(0, text.Length - size) / stride) + 1));
        var start = 0;
        truncated = false;
        do
        {
            var count = Math.Min(size, text.Length - start);
            var features = NgramFeatures.Extract(text.AsSpan(start, count), _description.Bits);
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

    private float[] ScoreNgram(IReadOnlyList<int[]> windows)
    {
        var c = _categories.Length;
        var scores = new float[windows.Count * c];
        for (var w = 0; w < windows.Count; w++)
        {
            _ngram!.Score(windows[w], scores.AsSpan(w * c, c));
        }

        return scores;
    }

    private static InferenceSession CreateSession(ModelDescription description, ModelFiles files, OnnxRuntimeOptions options)
    {
        var name = files.Describe(description.Model);
        using var sessionOptions = new SessionOptions
        {
            IntraOpNumThreads = options.IntraOpThreads,
            InterOpNumThreads = options.InterOpThreads,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };

        if (options.ExecutionProvider == OnnxExecutionProvider.Cuda)
        {
            try
            {
                sessionOptions.AppendExecutionProvider_CUDA(options.DeviceId);
            }
            catch (Exception ex) when (ex is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
            {
                throw new ContentModelException(name, $"the CUDA execution provider is not available ({ex.Message}); add the Microsoft.ML.OnnxRuntime.Gpu package and a CUDA runtime, or use ExecutionProvider = Cpu.", ex);
            }
        }

        try
        {
            if (files.TryGetPath(description.Model) is { } path)
            {
                return new InferenceSession(path, sessionOptions);
            }

            using var stream = files.Open(description.Model);
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            return new InferenceSession(buffer.ToArray(), sessionOptions);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new ContentModelException(name, $"not a readable ONNX model ({ex.Message}).", ex);
        }
    }

    private (string[] Inputs, int EmbeddingSize) Validate(string name)
    {
        var inputs = _session!.InputMetadata;
        var d = _description;
        foreach (var required in (string[])[d.IdsInput, d.MaskInput])
        {
            if (!inputs.TryGetValue(required, out var meta))
            {
                throw new ContentModelException(name, $"input '{required}' is missing (the model has inputs: {string.Join(", ", inputs.Keys)}).");
            }

            if (meta.ElementDataType != TensorElementType.Int64 || meta.Dimensions.Length != 2)
            {
                throw new ContentModelException(name, $"input '{required}' must be an int64 tensor [batch, tokens]; it is {meta.ElementDataType} of rank {meta.Dimensions.Length}.");
            }
        }

        foreach (var input in inputs.Keys)
        {
            if (input != d.IdsInput && input != d.MaskInput && input != d.TypeIdsInput)
            {
                throw new ContentModelException(name, $"input '{input}' is not one this runtime can feed (it feeds {d.IdsInput}, {d.MaskInput} and {d.TypeIdsInput}).");
            }
        }

        var inputNames = inputs.ContainsKey(d.TypeIdsInput) ? new[] { d.IdsInput, d.MaskInput, d.TypeIdsInput } : [d.IdsInput, d.MaskInput];

        if (!_session!.OutputMetadata.TryGetValue(d.Output, out var output))
        {
            throw new ContentModelException(name, $"output '{d.Output}' is missing (the model has outputs: {string.Join(", ", _session.OutputMetadata.Keys)}).");
        }

        if (output.ElementDataType != TensorElementType.Float)
        {
            throw new ContentModelException(name, $"output '{d.Output}' must be float32; it is {output.ElementDataType}.");
        }

        var dims = output.Dimensions;
        if (d.Kind == ModelKind.SequenceClassifier)
        {
            if (dims.Length != 2 || (dims[1] > 0 && dims[1] != d.Labels.Count))
            {
                throw new ContentModelException(name, $"output '{d.Output}' has shape [{string.Join(", ", dims)}]; the description's {d.Labels.Count} labels need [batch, {d.Labels.Count}].");
            }

            return (inputNames, 0);
        }

        var size = d.Heads[0].Weights.Length;
        var rankOk = d.Pooling == Pooling.None ? dims.Length == 2 : dims.Length is 2 or 3;
        if (!rankOk || (dims[^1] > 0 && dims[^1] != size))
        {
            throw new ContentModelException(name, $"output '{d.Output}' has shape [{string.Join(", ", dims)}]; the heads have {size} weights, so it must be [batch, tokens, {size}] (pooled) or [batch, {size}].");
        }

        return (inputNames, size);
    }
}

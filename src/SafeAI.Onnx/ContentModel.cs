using System.Reflection;
using SafeAI.Onnx.Ngram;

namespace SafeAI.Onnx;

/// <summary>
/// A content classification model running in-process: thread-safe and shared by every call, described by a JSON model
/// description (see the README, "Bring your own model"). Load it once and share it; it is validated when loaded, so a
/// wrong file fails at start-up with an error that names the file and the problem.
/// </summary>
/// <remarks>
/// Five kinds of model, each its own type behind this one: <c>sequence-classifier</c> (a text classifier exported to ONNX,
/// BERT / RoBERTa / DeBERTa tokenizers), <c>encoder-heads</c> (a sentence-embedding encoder plus linear heads, one per
/// category), <c>ngram-linear</c> (hashed character and word n-grams with linear heads, no ONNX at all), <c>cascade</c> (an
/// <c>ngram-linear</c> first tier and an ONNX second tier for the windows the first tier is unsure of) and <c>ensemble</c>
/// (an ONNX classifier over sentence-sized windows whose logits are mixed, per category, with an <c>ngram-linear</c> model's
/// and shifted by a calibrated bias, optionally behind a smaller gate classifier that decides which windows it scores; the
/// default model, see <see cref="LoadDefault"/>).
/// </remarks>
public abstract class ContentModel : IDisposable
{
    internal const string DefaultModelResourcePrefix = "SafeAI.Onnx.DefaultModel.";

    /// <summary>The name of the n-gram model's description among the default model's files.</summary>
    internal const string DefaultNgramName = "ngram.json";

    private readonly string[] _categories;
    private int _disposed;

    private protected ContentModel(ModelDescription description, string[] categories)
    {
        Description = description;
        _categories = categories;
    }

    /// <summary>Gets the categories the model scores, in output order.</summary>
    public IReadOnlyList<string> Categories => _categories;

    /// <summary>Gets the most tokens the model reads at once (one window, special tokens included); for an <c>ngram-linear</c> or <c>cascade</c> model, characters.</summary>
    public virtual int MaxTokens => Description.MaxTokens;

    /// <summary>Gets a value indicating whether concurrent requests are gathered into batches.</summary>
    public virtual bool MicroBatching => false;

    internal ModelDescription Description { get; }

    internal string[] CategoryArray => _categories;

    /// <summary>Gets how many windows a <c>cascade</c> model has sent to its second tier since it was loaded (0 for other kinds).</summary>
    internal virtual long EscalatedWindows => 0;

    /// <summary>Gets a value indicating whether this is a <c>cascade</c> model.</summary>
    internal bool IsCascade => this is CascadeContentModel;

    /// <summary>Gets a value indicating whether this is an <c>ngram-linear</c> model (scored on the calling thread in microseconds).</summary>
    internal bool IsNgram => this is NgramContentModel;

    /// <summary>Gets the second tier of a <c>cascade</c> model, or the encoder of an <c>ensemble</c>.</summary>
    internal virtual ContentModel? SecondTier => null;

    internal virtual ModelTokenizer? Tokenizer => null;

    private protected bool IsDisposed => Volatile.Read(ref _disposed) != 0;

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
    /// Loads SafeAI's default content model, which ships inside this package: all-MiniLM-L6-v2 fine-tuned on the public
    /// corpora listed in <c>docs/model-card.md</c> and quantised to int8 (one sigmoid per category of
    /// <see cref="ContentCategories"/>), scored over sentence-sized windows, with the prompt-injection score mixed with a
    /// character n-gram model's. A three-layer student of the model scores every window first and sends on only the
    /// windows it scores near a flag. Scores are calibrated on a sample of ordinary requests so that 0.5 is the recommended
    /// threshold of every category. An ordinary short message costs about a millisecond on one CPU core, one sent on
    /// about three; no download is needed.
    /// </summary>
    /// <param name="options">How the model runs; <see langword="null"/> for the defaults.</param>
    /// <returns>The loaded model.</returns>
    /// <exception cref="ContentModelException">The embedded model cannot be read (a broken build of this package).</exception>
    public static ContentModel LoadDefault(OnnxRuntimeOptions? options = null) =>
        LoadFromResources(typeof(ContentModel).Assembly, DefaultModelResourcePrefix, options);

    /// <summary>Loads the default model's character n-gram part alone (microseconds per message; the earlier default, and a cascade's first tier).</summary>
    internal static ContentModel LoadDefaultNgram()
    {
        var files = new ModelFiles.Resources(typeof(ContentModel).Assembly, DefaultModelResourcePrefix);
        using var stream = files.Open(DefaultNgramName);
        return Load(files.Describe(DefaultNgramName), stream, files, null);
    }

    /// <summary>
    /// Scores one text and returns the highest score of each category: the text is normalised against evasion and split
    /// into windows (at most 64; the rest is not scored).
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

    /// <summary>Releases the model's native resources (the ONNX Runtime session).</summary>
    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases the model's resources.</summary>
    /// <param name="disposing"><see langword="true"/> when called from <see cref="Dispose()"/>.</param>
    protected virtual void Dispose(bool disposing)
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0 && disposing)
        {
            ReleaseResources();
        }
    }

    /// <summary>Splits normalised text into the model's windows; <paramref name="maxWindows"/> is in units of one full-size window.</summary>
    internal abstract List<int[]> CreateWindows(string text, int overlap, int maxWindows, out bool truncated);

    /// <summary>Scores windows; the result holds <see cref="Categories"/>.Count scores per window, window by window.</summary>
    internal abstract ValueTask<float[]> ScoreWindowsAsync(IReadOnlyList<int[]> windows, CancellationToken cancellationToken);

    /// <summary>
    /// Scores windows, and may stop at the first window (in reading order) that meets <paramref name="stop"/>: that
    /// window and every one before it are scored, the rows after it are left at zero. Kinds that cannot stop early
    /// score every window (the default).
    /// </summary>
    internal virtual ValueTask<float[]> ScoreWindowsAsync(IReadOnlyList<int[]> windows, WindowStop? stop, CancellationToken cancellationToken) =>
        ScoreWindowsAsync(windows, cancellationToken);

    /// <summary>
    /// Runs <paramref name="score"/> on a pool thread, off the caller's thread, so that a stage's time budget can end the
    /// wait (and, through <c>RunOptions.Terminate</c>, an ONNX run).
    /// </summary>
    private protected static ValueTask<float[]> ScoreOffCallerThread<TModel>(TModel model, IReadOnlyList<int[]> windows, Func<TModel, IReadOnlyList<int[]>, CancellationToken, float[]> score, CancellationToken cancellationToken)
        where TModel : ContentModel =>
        new(Task.Factory.StartNew(
            static s =>
            {
                var (m, w, f, ct) = ((TModel, IReadOnlyList<int[]>, Func<TModel, IReadOnlyList<int[]>, CancellationToken, float[]>, CancellationToken))s!;
                return f(m, w, ct);
            },
            (model, windows, score, cancellationToken),
            cancellationToken,
            TaskCreationOptions.DenyChildAttach,
            TaskScheduler.Default));

    /// <summary>Releases what the model holds; called once.</summary>
    private protected abstract void ReleaseResources();

    private protected void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(IsDisposed, this);

    internal static float Sigmoid(float z) => 1f / (1f + MathF.Exp(-z));

    internal static float Logit(float p)
    {
        p = Math.Clamp(p, 1e-6f, 1 - 1e-6f);
        return MathF.Log(p / (1 - p));
    }

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
        switch (description.Kind)
        {
            case ModelKind.Cascade:
                return CascadeContentModel.Load(description, files, options);
            case ModelKind.Ensemble:
                return EnsembleContentModel.Load(description, files, options);
            case ModelKind.NgramLinear:
            {
                using var weights = files.Open(description.Model);
                return new NgramContentModel(description, NgramWeights.Read(files.Describe(description.Model), weights, [.. description.NgramCategories], description.Bits));
            }

            case ModelKind.EncoderHeads:
                return new EncoderHeadsContentModel(description, files, options);
            default:
                return new SequenceClassifierContentModel(description, files, options);
        }
    }

    /// <summary>Loads a model named by another model's description (a tier or member), from the same files.</summary>
    internal static ContentModel LoadNested(string name, ModelFiles files, OnnxRuntimeOptions options)
    {
        using var stream = files.Open(name);
        return Load(files.Describe(name), stream, files, options);
    }
}

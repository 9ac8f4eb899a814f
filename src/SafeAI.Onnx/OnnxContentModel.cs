using System.Buffers;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace SafeAI.Onnx;

/// <summary>
/// What the two ONNX kinds share (<c>encoder-heads</c> and <c>sequence-classifier</c>): one thread-safe ONNX Runtime
/// session, the tokenizer, token windows, batching and cancellation. Each kind reads the model's output its own way.
/// </summary>
internal abstract class OnnxContentModel : ContentModel
{
    // Runs in flight in this process, over every model: a run takes the lone session only when it is the only one.
    private static int s_runsInFlight;

    private readonly InferenceSession _session;

    // A second session of the same model on more threads, for a run that is alone (see LoneRunThreads). It shares the
    // first one's prepacked weights; with the default model the process still grows by 70-100 MB (model card, "Speed").
    private readonly InferenceSession? _loneSession;
    private readonly PrePackedWeightsContainer? _prepacked;
    private readonly ModelTokenizer _tokenizer;
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private MicroBatcher? _batcher;
    private int _running;
    private long _loneRuns;
    private int _maxBatchSize;
    private int _windowParallelism;

    private protected OnnxContentModel(ModelDescription description, ModelFiles files, OnnxRuntimeOptions options, string[] categories)
        : base(description, categories)
    {
        _tokenizer = ModelTokenizer.Create(description.Tokenizer, files);
        var loneThreads = LoneThreads(description, options);
        _prepacked = loneThreads > 1 ? new PrePackedWeightsContainer() : null;
        try
        {
            _session = CreateSession(description, files, options, threads: 0, _prepacked);
            _loneSession = loneThreads > 1 ? CreateSession(description, files, options, loneThreads, _prepacked) : null;
            _inputNames = ValidateInputs(files.Describe(description.Model));
            _outputNames = [description.Output];
        }
        catch
        {
            DisposeSessions();
            throw;
        }
    }

    public override bool MicroBatching => _batcher is not null;

    internal override ModelTokenizer Tokenizer => _tokenizer;

    private protected InferenceSession Session => _session;

    /// <summary>Splits text into overlapping windows of at most <see cref="ContentModel.MaxTokens"/> tokens, framed by the start and end ids.</summary>
    internal override List<int[]> CreateWindows(string text, int overlap, int maxWindows, out bool truncated)
    {
        var body = MaxTokens - 2;
        overlap = Math.Clamp(overlap, 0, body / 2);
        var stride = body - overlap;
        var budget = (stride * (maxWindows - 1)) + body;
        var ids = _tokenizer.Encode(text, budget, out var complete);
        truncated = !complete;
        var windows = new List<int[]>(Math.Max(1, ((ids.Count - overlap) + stride - 1) / stride));
        var start = 0;
        do
        {
            var count = Math.Min(body, ids.Count - start);
            windows.Add(Frame(ids, start, count));
            if (start + count >= ids.Count || windows.Count >= maxWindows)
            {
                break;
            }

            start += stride;
        }
        while (true);

        return windows;
    }

    /// <summary>Gets a value indicating whether every window is scored in a run of its own (<c>"maxBatchSize": 1</c>, or <see cref="OnnxRuntimeOptions.MaxBatchSize"/> 1).</summary>
    internal bool OneWindowPerRun => _maxBatchSize == 1;

    /// <summary>Gets how many windows of one text run side by side when each has a run of its own.</summary>
    internal int WindowParallelism => _windowParallelism;

    /// <summary>Gets how many runs took the session for a run alone (<see cref="OnnxRuntimeOptions.LoneRunThreads"/>).</summary>
    internal long LoneRuns => Interlocked.Read(ref _loneRuns);

    /// <summary>One window: <paramref name="count"/> ids from <paramref name="start"/>, between the start and end ids.</summary>
    internal int[] Frame(IReadOnlyList<int> ids, int start, int count)
    {
        var window = new int[count + 2];
        window[0] = _tokenizer.StartId;
        for (var i = 0; i < count; i++)
        {
            window[i + 1] = ids[start + i];
        }

        window[^1] = _tokenizer.EndId;
        return window;
    }

    internal override ValueTask<float[]> ScoreWindowsAsync(IReadOnlyList<int[]> windows, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        if (_batcher is not null)
        {
            return _batcher.ScoreAsync(windows, cancellationToken);
        }

        return ScoreOffCallerThread(this, windows, static (model, w, ct) => model.ScoreNow(w, ct), cancellationToken);
    }

    /// <summary>
    /// Scores windows on the calling thread, in runs of at most the batch size. A run pads every window to its longest, so
    /// windows of mixed lengths are scored shortest first in runs of similar length: a run grows while the padding it
    /// adds costs less than starting another run (<see cref="RunOverheadTokens"/>). One window is scored on more threads
    /// when no other run is in flight (<see cref="OnnxRuntimeOptions.LoneRunThreads"/>), unless <paramref name="sideBySide"/>
    /// says the caller scores other windows at the same time.
    /// </summary>
    internal float[] ScoreNow(IReadOnlyList<int[]> windows, CancellationToken cancellationToken, bool sideBySide = false)
    {
        var n = windows.Count;
        if (n <= 1)
        {
            return Run(windows, 0, n, cancellationToken, alone: !sideBySide);
        }

        if (_maxBatchSize == 1 && _windowParallelism > 1)
        {
            return ScoreSideBySide(windows, cancellationToken);
        }

        var order = new int[n];
        var lengths = new int[n];
        var sorted = true;
        for (var i = 0; i < n; i++)
        {
            order[i] = i;
            lengths[i] = windows[i].Length;
            sorted &= i == 0 || lengths[i] >= lengths[i - 1];
        }

        if (!sorted)
        {
            Array.Sort(lengths, order);
        }

        if (n <= _maxBatchSize && lengths[n - 1] - lengths[0] <= RunOverheadTokens)
        {
            return Run(windows, 0, n, cancellationToken);
        }

        var c = CategoryArray.Length;
        var all = new float[n * c];
        var run = new List<int[]>(Math.Min(n, _maxBatchSize));
        var start = 0;
        while (start < n)
        {
            var end = start + 1;
            while (end < n && end - start < _maxBatchSize && (end - start) * (lengths[end] - lengths[end - 1]) <= RunOverheadTokens)
            {
                end++;
            }

            run.Clear();
            for (var i = start; i < end; i++)
            {
                run.Add(windows[order[i]]);
            }

            var scores = Run(run, 0, run.Count, cancellationToken);
            for (var i = start; i < end; i++)
            {
                Array.Copy(scores, (i - start) * c, all, order[i] * c, c);
            }

            start = end;
        }

        return all;
    }

    /// <summary>The cost of one more ONNX run, in padded tokens: a run of similar-length windows stops growing when the padding a longer window adds exceeds it.</summary>
    private const int RunOverheadTokens = 16;

    /// <summary>
    /// Scores windows one per run, up to <see cref="OnnxRuntimeOptions.WindowParallelism"/> at a time (the calling thread
    /// takes part); each window's scores land in its own row, so the result does not depend on the order runs finish.
    /// </summary>
    private float[] ScoreSideBySide(IReadOnlyList<int[]> windows, CancellationToken cancellationToken)
    {
        var c = CategoryArray.Length;
        var all = new float[windows.Count * c];
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = _windowParallelism, CancellationToken = cancellationToken };
        try
        {
            Parallel.For(0, windows.Count, parallel, i => Array.Copy(Run(windows, i, 1, cancellationToken), 0, all, i * c, c));
        }
        catch (AggregateException ex) when (ex.InnerExceptions.Count > 0)
        {
            // The first failure as the sequential path would throw it (a cancelled run, a disposed model, a runtime error).
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(ex.InnerExceptions[0]);
        }

        return all;
    }

    /// <summary>Validates the output, runs the smallest input once (output shapes that only show at run time) and starts batching; the last step of a kind's constructor.</summary>
    private protected void Start(ModelFiles files, OnnxRuntimeOptions options)
    {
        try
        {
            ValidateOutput(files.Describe(Description.Model), _session.OutputMetadata[Description.Output].Dimensions);
            _maxBatchSize = Math.Min(options.MaxBatchSize, Description.MaxBatchSize ?? int.MaxValue);
            _windowParallelism = options.WindowParallelism > 0 ? options.WindowParallelism : Environment.ProcessorCount;
            var probe = Run([[_tokenizer.StartId, _tokenizer.EndId]], 0, 1, CancellationToken.None);
            if (probe.Length != CategoryArray.Length)
            {
                throw new ContentModelException(files.Describe(Description.Model), $"a test run returned {probe.Length} scores; the description expects {CategoryArray.Length}.");
            }

            // Gathering concurrent texts into one run only helps when a run may hold more than one window.
            if (options.MicroBatching && _maxBatchSize > 1)
            {
                _batcher = new MicroBatcher(this, _maxBatchSize, options.BatchWindow, TimeProvider.System);
            }
        }
        catch
        {
            DisposeSessions();
            throw;
        }
    }

    /// <summary>Checks the shape of the model's output for this kind.</summary>
    private protected abstract void ValidateOutput(string name, int[] dimensions);

    /// <summary>Turns the model's output for <paramref name="count"/> windows of <paramref name="seq"/> tokens into scores.</summary>
    private protected abstract float[] ReadOutput(OrtValue output, long[] mask, int count, int seq, bool embeddingsOnly);

    private protected float[] Run(IReadOnlyList<int[]> windows, int first, int count, CancellationToken cancellationToken, bool embeddingsOnly = false, bool alone = false)
    {
        // Counted before the disposed check, so that Dispose (which sets the flag first, then waits for the count to
        // reach zero) never frees the session under a run: a caller that stopped waiting leaves its run going on a pool thread.
        Interlocked.Increment(ref _running);
        var inFlight = EnterRun();
        try
        {
            ThrowIfDisposed();
            var session = _session;
            if (alone && count == 1 && inFlight == 1 && _loneSession is not null)
            {
                // The only run in the process: the other cores would sit idle, so this one gets more threads.
                session = _loneSession;
                Interlocked.Increment(ref _loneRuns);
            }

            return RunSession(session, windows, first, count, embeddingsOnly, cancellationToken);
        }
        finally
        {
            ExitRun();
            Interlocked.Decrement(ref _running);
        }
    }

    /// <summary>Counts a run in flight in this process (tests use it to stand for another caller's run); returns how many there are now.</summary>
    internal static int EnterRun() => Interlocked.Increment(ref s_runsInFlight);

    /// <summary>Counts a run as finished.</summary>
    internal static void ExitRun() => Interlocked.Decrement(ref s_runsInFlight);

    private float[] RunSession(InferenceSession session, IReadOnlyList<int[]> windows, int first, int count, bool embeddingsOnly, CancellationToken cancellationToken)
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
                    ids[row + t] = real ? window[t] : _tokenizer.PadId;
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
                outputs = session.Run(runOptions, _inputNames, values, _outputNames);
            }
            catch (OnnxRuntimeException) when (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(cancellationToken);
            }

            using (outputs)
            {
                return ReadOutput(outputs[0], mask, count, seq, embeddingsOnly);
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

    private protected override void ReleaseResources()
    {
        _batcher?.Dispose();

        // Runs started before the model was disposed finish first (they take milliseconds). Should one still be running
        // after half a minute, the session is left to the finalizer rather than freed under it.
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (Volatile.Read(ref _running) > 0)
        {
            if (waited.Elapsed > TimeSpan.FromSeconds(30))
            {
                return;
            }

            Thread.Sleep(1);
        }

        DisposeSessions();
    }

    private void DisposeSessions()
    {
        // Null only when the constructor failed to create it.
        _session?.Dispose();
        _loneSession?.Dispose();
        _prepacked?.Dispose();
    }

    /// <summary>
    /// The threads of the session for a run alone, or 0 for none: only where every window has a run of its own on one
    /// thread by SafeAI's choice (the CPU, <c>"maxBatchSize": 1</c>, <see cref="OnnxRuntimeOptions.IntraOpThreads"/> 0 and
    /// <see cref="OnnxRuntimeOptions.WindowParallelism"/> other than 1), and where <see cref="OnnxRuntimeOptions.LoneRunThreads"/>
    /// asks for more than one (0: one per processor).
    /// </summary>
    internal static int LoneThreads(ModelDescription description, OnnxRuntimeOptions options)
    {
        var threads = options.LoneRunThreads > 0 ? options.LoneRunThreads : Environment.ProcessorCount;
        return options.IntraOpThreads == 0 && OneThreadPerRun(description, options) && threads > 1 ? threads : 0;
    }

    /// <summary>Whether SafeAI gives each run one thread when <see cref="OnnxRuntimeOptions.IntraOpThreads"/> is 0: every window in a run of its own on the CPU, windows side by side.</summary>
    private static bool OneThreadPerRun(ModelDescription description, OnnxRuntimeOptions options) =>
        options.ExecutionProvider == OnnxExecutionProvider.Cpu && description.MaxBatchSize == 1 && options.WindowParallelism != 1;

    private static InferenceSession CreateSession(ModelDescription description, ModelFiles files, OnnxRuntimeOptions options, int threads, PrePackedWeightsContainer? prepacked)
    {
        var name = files.Describe(description.Model);
        using var sessionOptions = new SessionOptions
        {
            IntraOpNumThreads = threads > 0 ? threads : options.IntraOpThreads > 0 ? options.IntraOpThreads : OneThreadPerRun(description, options) ? 1 : 0,
            InterOpNumThreads = options.InterOpThreads,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };

        if (threads > 0)
        {
            // Its threads spin between the operators of a run (without, a run alone was slower than on one thread), but
            // stop when the run ends, instead of taking cycles from the runs side by side that often follow it.
            sessionOptions.AddSessionConfigEntry("session.force_spinning_stop", "1");
        }

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
                return prepacked is null ? new InferenceSession(path, sessionOptions) : new InferenceSession(path, sessionOptions, prepacked);
            }

            using var stream = files.Open(description.Model);
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            return prepacked is null ? new InferenceSession(buffer.ToArray(), sessionOptions) : new InferenceSession(buffer.ToArray(), sessionOptions, prepacked);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new ContentModelException(name, $"not a readable ONNX model ({ex.Message}).", ex);
        }
    }

    private string[] ValidateInputs(string name)
    {
        var inputs = _session.InputMetadata;
        var d = Description;
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

        if (!_session.OutputMetadata.TryGetValue(d.Output, out var output))
        {
            throw new ContentModelException(name, $"output '{d.Output}' is missing (the model has outputs: {string.Join(", ", _session.OutputMetadata.Keys)}).");
        }

        if (output.ElementDataType != TensorElementType.Float)
        {
            throw new ContentModelException(name, $"output '{d.Output}' must be float32; it is {output.ElementDataType}.");
        }

        return inputs.ContainsKey(d.TypeIdsInput) ? [d.IdsInput, d.MaskInput, d.TypeIdsInput] : [d.IdsInput, d.MaskInput];
    }
}

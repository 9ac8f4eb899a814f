namespace SafeAI.Onnx;

/// <summary>Where ONNX Runtime runs the model.</summary>
public enum OnnxExecutionProvider
{
    /// <summary>The CPU (default; ships with <c>Microsoft.ML.OnnxRuntime</c>).</summary>
    Cpu = 0,

    /// <summary>An NVIDIA GPU through CUDA. Add the <c>Microsoft.ML.OnnxRuntime.Gpu</c> package to the application.</summary>
    Cuda,
}

/// <summary>How a <see cref="ContentModel"/> runs: threads, execution provider and micro-batching.</summary>
public sealed class OnnxRuntimeOptions
{
    /// <summary>
    /// Gets or sets the threads ONNX Runtime uses inside one operator. Default: 0, which chooses: one thread per run when a
    /// text's windows run side by side (<see cref="WindowParallelism"/> other than 1), otherwise ONNX Runtime's default
    /// (one per physical core).
    /// </summary>
    public int IntraOpThreads { get; set; }

    /// <summary>
    /// Gets or sets how many windows of one text a model that scores every window in its own run (<c>"maxBatchSize": 1</c>,
    /// as the default model does) scores at the same time, each run on one thread unless <see cref="IntraOpThreads"/>
    /// says otherwise. Default: 0, one per processor. 1 scores them one after another with ONNX Runtime splitting each run
    /// over the cores: on an idle 2-core machine a short text then took 1.9 instead of 2.5 ms, but a 1,400-character one
    /// 33 instead of 25 ms, and on a busy machine or with concurrent callers one thread per run was up to twice as fast.
    /// Models that put several windows in one run ignore it.
    /// </summary>
    public int WindowParallelism { get; set; }

    /// <summary>
    /// Gets or sets the threads of a run that has the machine to itself: one window (a short text, or a member that takes
    /// one window of a long text) while no other run of a SafeAI model is in flight in the process. It applies where every
    /// window has a run of its own on one thread (a model with <c>"maxBatchSize": 1</c>, as the default model, on the CPU,
    /// with <see cref="IntraOpThreads"/> 0 and <see cref="WindowParallelism"/> other than 1), where a lone run leaves the
    /// other cores idle. With more than one, such a model keeps a second ONNX Runtime session with this many threads,
    /// sharing the first one's prepacked weights; its threads spin only while a run lasts. Scores are the same bit for bit.
    /// Runs side by side, and runs that start while another caller's run is in flight, keep one thread. Default: 1, off
    /// (every run on one thread); 0 means one per processor. Turn it on (2 on a 2-core machine) only where the process has
    /// the cores to itself, as a scoring service on its own machine: on the idle 2-core machine of the model card the
    /// one-window chat messages that reach the six-layer model took 21 to 26 % less time, but with another process keeping
    /// one core busy the messages under 2,000 characters took 46 % more (a run on two threads waits for the thread that
    /// lost its core), and threads of the same process busy with other work do the same. It also costs memory: the
    /// default model's process grew from about 280 to 350-385 MB.
    /// </summary>
    public int LoneRunThreads { get; set; } = 1;

    /// <summary>Gets or sets the threads ONNX Runtime uses across operators; 0 lets ONNX Runtime choose. Default: 0.</summary>
    public int InterOpThreads { get; set; }

    /// <summary>Gets or sets the execution provider. Default: <see cref="OnnxExecutionProvider.Cpu"/>.</summary>
    public OnnxExecutionProvider ExecutionProvider { get; set; } = OnnxExecutionProvider.Cpu;

    /// <summary>Gets or sets the GPU used with <see cref="OnnxExecutionProvider.Cuda"/>. Default: 0.</summary>
    public int DeviceId { get; set; }

    /// <summary>
    /// Gets or sets a value indicating whether texts scored by concurrent calls are gathered into one model run (up to
    /// <see cref="MaxBatchSize"/> texts). Default: <see langword="true"/>: on the 2-core CPU it was measured on, 16
    /// concurrent callers got about twice the throughput, and a lone caller paid nothing with <see cref="BatchWindow"/> 0.
    /// </summary>
    public bool MicroBatching { get; set; } = true;

    /// <summary>
    /// Gets or sets how long the first text of a micro-batch waits for others. Default: zero: a batch takes whatever
    /// queued up while the previous batch ran, so a lone request never waits. A few milliseconds can help on a GPU.
    /// </summary>
    public TimeSpan BatchWindow { get; set; } = TimeSpan.Zero;

    /// <summary>Gets or sets the most texts in one model run. Default: 32.</summary>
    public int MaxBatchSize { get; set; } = 32;

    /// <summary>
    /// Gets or sets a value indicating whether an <c>ensemble</c> model's gate runs (the default model has one: a
    /// three-layer student that scores every window first and sends on only the windows it scores near a flag). Default:
    /// <see langword="true"/>. Set it to <see langword="false"/> to score every window with the six-layer model: for
    /// traffic that is mostly suspect text, where nearly every window is sent on and the gate's run is added cost (a
    /// half-toxic corpus mix took 4.2 ms at the median with the gate and 2.8 ms without, in an earlier run), or when
    /// thresholds are set below the gate's escalation levels. Measure your own traffic first: the calibration budget is set
    /// on the path with the gate, and the default model shipped since 2026-12-07 flags far more benign text without it. On
    /// the model card's sources held out whole, 4.7 % of benign requests instead of 0.9 % (17 % of benign security
    /// prompts instead of 2.8 %) and 7.4 % of benign requests after ordinary text instead of 1.3 %, for 54.3 % of
    /// harmful texts instead of 53.6 % and 40.0 % after ordinary text instead of 34.2 %. Models without a gate ignore it.
    /// </summary>
    public bool UseGate { get; set; } = true;

    /// <summary>
    /// Gets or sets a value indicating whether an <c>ensemble</c> model's screen runs (the default model has one: a bag of
    /// learned word-piece vectors that scores every window in microseconds and sends on to the gate only the windows it
    /// cannot rule out). Default: <see langword="true"/>. Set it to <see langword="false"/> to send every window to the
    /// gate. That is slower and does not raise recall with the default model: its screen sends windows it is sure of
    /// straight to the six-layer model, and its low levels let through the packed windows in which a harmful sentence is
    /// diluted, so that the sentence is scored alone. Without it, on the model card's sources held out whole (the model
    /// shipped since 2026-12-07), 53.0 % of harmful texts are flagged instead of 53.6 % and after ordinary text 31.7 %
    /// instead of 34.2 %, with fewer benign texts flagged: 0.6 % of benign requests instead of 0.9 % (benign security
    /// prompts 1.9 % instead of 2.8 %) and 1.0 % after ordinary text instead of 1.3 %. <see cref="UseGate"/> set to
    /// <see langword="false"/> turns the screen off too. Models without a screen ignore it.
    /// </summary>
    public bool UseScreen { get; set; } = true;

    /// <summary>
    /// Gets or sets a value indicating whether an <c>ensemble</c> model scores the sentences of a packed window alone as
    /// well (<c>"sentences"</c> in its description; the default model does): a harmful sentence among ordinary ones is
    /// then not averaged away. Default: <see langword="true"/>. Set it to <see langword="false"/> for packed windows only:
    /// a little faster on long texts, and harm hidden in long text is missed more often (the model card's hidden-text
    /// check: 32.2 % of held-out harmful texts flagged after 600 characters of ordinary text with sentence windows, 20.8 %
    /// without; the controls 1.1 % and 1.0 %). Models without sentence windows ignore it.
    /// </summary>
    public bool UseSentenceWindows { get; set; } = true;

    internal void Validate()
    {
        if (IntraOpThreads < 0 || InterOpThreads < 0)
        {
            throw new ArgumentException($"OnnxRuntimeOptions: IntraOpThreads ({IntraOpThreads}) and InterOpThreads ({InterOpThreads}) cannot be negative.");
        }

        if (LoneRunThreads < 0)
        {
            throw new ArgumentException($"OnnxRuntimeOptions: LoneRunThreads cannot be negative (it is {LoneRunThreads}).");
        }

        if (WindowParallelism < 0)
        {
            throw new ArgumentException($"OnnxRuntimeOptions: WindowParallelism cannot be negative (it is {WindowParallelism}).");
        }

        if (!Enum.IsDefined(ExecutionProvider))
        {
            throw new ArgumentException($"OnnxRuntimeOptions: unknown ExecutionProvider '{ExecutionProvider}'.");
        }

        if (MaxBatchSize < 1)
        {
            throw new ArgumentException($"OnnxRuntimeOptions: MaxBatchSize must be at least 1 (it is {MaxBatchSize}).");
        }

        if (BatchWindow < TimeSpan.Zero)
        {
            throw new ArgumentException($"OnnxRuntimeOptions: BatchWindow cannot be negative (it is {BatchWindow}).");
        }
    }
}

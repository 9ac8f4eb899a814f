using BenchmarkDotNet.Attributes;
using SafeAI.Onnx;

namespace SafeAI.Benchmarks;

/// <summary>
/// <see cref="OnnxRuntimeOptions.LoneRunThreads"/> on and off, in one launch, over fixed sets of chat traffic
/// (<see cref="DefaultModelBenchmarks.LoadChatTraffic"/>) through the content filter's stage with default options.
/// <see cref="LoneRunThreads"/> 1 (the default, the baseline) runs every window on one thread; 2 lets a run that is the only
/// one in flight take two (measure on an otherwise idle machine: see the option). <see cref="Messages"/>: <c>mix</c> all 512 messages one after another (the mean per message is the time over
/// 512); <c>escalated</c> the messages of one window that the six-layer model scores (the gate, or the screen, sends them
/// on: each member runs one window alone); <c>long</c> the messages of 2,000 characters or more (their windows mostly run
/// side by side; the lone session only takes a member's run of one window).
/// </summary>
[MemoryDiagnoser]
public class DefaultModelLoneRunBenchmarks
{
    private ContentModel _model = null!;
    private ContentClassifier _filter = null!;
    private string[] _texts = null!;

    /// <summary>Gets or sets the threads of a run alone (1: off, the default and the baseline; 2: two).</summary>
    [Params(1, 2)]
    public int LoneRunThreads { get; set; }

    /// <summary>Gets or sets which messages are scored: <c>mix</c>, <c>escalated</c> or <c>long</c> (see the class).</summary>
    [Params("mix", "escalated", "long")]
    public string Messages { get; set; } = "mix";

    [GlobalSetup]
    public void Setup()
    {
        _model = ContentModel.LoadDefault(new OnnxRuntimeOptions { LoneRunThreads = LoneRunThreads });
        _filter = new ContentClassifier(_model, new ContentFilterOptions());
        var chat = DefaultModelBenchmarks.LoadChatTraffic();
        _texts = Messages switch
        {
            "mix" => chat,
            "escalated" => [.. chat.Where(IsEscalatedOneWindow)],
            "long" => [.. chat.Where(static t => t.Length >= DefaultModelLongMessageBenchmarks.MinLength)],
            _ => throw new InvalidOperationException($"Unknown message set \"{Messages}\" (mix, escalated or long)."),
        };
        Console.WriteLine($"// {Messages}: {_texts.Length} message(s), LoneRunThreads {LoneRunThreads}");
    }

    /// <summary>Whether the text is one window that reaches the six-layer model (counted on the model's own meters).</summary>
    private bool IsEscalatedOneWindow(string text)
    {
        var ensemble = (EnsembleContentModel)_model;
        if (_model.CreateWindows(TextNormalizer.Normalize(text), 0, 64, out _).Count != 1)
        {
            return false;
        }

        var before = ensemble.WindowsScoredBy("encoder");
        _filter.AssessAsync([text], CancellationToken.None).AsTask().GetAwaiter().GetResult();
        return ensemble.WindowsScoredBy("encoder") > before;
    }

    [GlobalCleanup]
    public void Cleanup() => _model.Dispose();

    [Benchmark]
    public async Task ScoreMessages()
    {
        foreach (var text in _texts)
        {
            await _filter.AssessAsync([text], CancellationToken.None).ConfigureAwait(false);
        }
    }
}

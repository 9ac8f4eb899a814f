using BenchmarkDotNet.Attributes;
using SafeAI.Onnx;

namespace SafeAI.Benchmarks;

/// <summary>
/// The long messages of chat traffic (<see cref="DefaultModelBenchmarks.LoadChatTraffic"/>, those of at least
/// <see cref="MinLength"/> characters) through the content filter's stage with default options: a fixed set, where
/// <see cref="DefaultModelPercentileBenchmarks"/> ranks the whole mix at each launch and may put another text at its 99th
/// percentile each time. So this is the case to compare two versions of the long-text path with. <see cref="Messages"/>:
/// <c>flagged</c> the messages the filter flags (scoring ends at the window that decides, the early stop), one after
/// another; <c>passed</c> the others (every window is scored, up to the limits); a number, the one message of that many
/// characters (3,783 meets the stop in its first stretch, where the screen sends two windows past the gate; 3,664 meets
/// it in its first stretch too; 2,636 is a long ordinary one). The mean is for the whole set; the setup prints what it holds.
/// </summary>
[MemoryDiagnoser]
public class DefaultModelLongMessageBenchmarks
{
    /// <summary>The fewest characters of a message in the set: chat traffic's messages at its 99th percentile of cost are this long or longer.</summary>
    public const int MinLength = 2000;

    private ContentModel _model = null!;
    private ContentClassifier _filter = null!;
    private string[] _texts = null!;

    /// <summary>Gets or sets which long messages are scored: <c>flagged</c>, <c>passed</c> or the length of one (see the class).</summary>
    [Params("flagged", "passed", "3783", "3664", "2636")]
    public string Messages { get; set; } = "passed";

    [GlobalSetup]
    public void Setup()
    {
        _model = ContentModel.LoadDefault();
        _filter = new ContentClassifier(_model, new ContentFilterOptions());
        var longOnes = DefaultModelBenchmarks.LoadChatTraffic().Where(static t => t.Length >= MinLength).Distinct(StringComparer.Ordinal);
        _texts = int.TryParse(Messages, System.Globalization.CultureInfo.InvariantCulture, out var length)
            ? [.. longOnes.Where(t => t.Length == length).Take(1)]
            : [.. longOnes.Where(t => Flagged(t) == (Messages == "flagged"))];
        if (_texts.Length == 0)
        {
            throw new InvalidOperationException($"Chat traffic has no long message for \"{Messages}\" (flagged, passed, or a length of {MinLength} characters or more that one message has).");
        }

        Console.WriteLine($"// {Messages}: {_texts.Length} message(s) of {_texts.Min(static t => t.Length)} to {_texts.Max(static t => t.Length)} characters, {_texts.Count(Flagged)} flagged");
    }

    private bool Flagged(string text) => _filter.Decide(_filter.AssessAsync([text], CancellationToken.None).AsTask().GetAwaiter().GetResult()).Flagged;

    [GlobalCleanup]
    public void Cleanup() => _model.Dispose();

    [Benchmark]
    public async Task ScoreLongMessages()
    {
        foreach (var text in _texts)
        {
            await _filter.AssessAsync([text], CancellationToken.None).ConfigureAwait(false);
        }
    }
}

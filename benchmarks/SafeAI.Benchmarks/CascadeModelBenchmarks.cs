using BenchmarkDotNet.Attributes;
using SafeAI.Onnx;
using SafeAI.Onnx.MiniLM;

namespace SafeAI.Benchmarks;

/// <summary>
/// The MiniLM cascade (<see cref="MiniLMContentModel.LoadCascade"/>): the mean cost over the 512-text held-out mix of
/// <see cref="DefaultModelBenchmarks"/> (every message, escalated or not), next to the n-gram tier alone on the same mix.
/// </summary>
[MemoryDiagnoser]
public class CascadeModelBenchmarks
{
    private ContentModel _cascade = null!;
    private ContentModel _fast = null!;
    private string[] _heldOut = null!;

    [GlobalSetup]
    public void Setup()
    {
        _cascade = MiniLMContentModel.LoadCascade();
        _fast = ContentModel.LoadDefaultNgram();
        _heldOut = DefaultModelBenchmarks.LoadHeldOut();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _cascade.Dispose();
        _fast.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = DefaultModelBenchmarks.HeldOutCount)]
    public Task<double> FastTierHeldOutMix() => ScoreAll(_fast);

    [Benchmark(OperationsPerInvoke = DefaultModelBenchmarks.HeldOutCount)]
    public Task<double> CascadeHeldOutMix() => ScoreAll(_cascade);

    private async Task<double> ScoreAll(ContentModel model)
    {
        double sum = 0;
        foreach (var text in _heldOut)
        {
            var scores = await model.ScoreAsync(text).ConfigureAwait(false);
            sum += scores[ContentCategories.Hate];
        }

        return sum;
    }
}

/// <summary>
/// The cascade on the held-out message at the 50th, 90th and 99th percentile of cost: the 512-text mix is ranked by
/// (windows sent to the encoder, encoder tokens of the first window, characters), which orders messages by cost, so these are the
/// median, 90th and 99th percentile cost per message. The set-up prints the escalation rate of the mix.
/// </summary>
[MemoryDiagnoser]
public class CascadePercentileBenchmarks
{
    private ContentModel _cascade = null!;
    private string _text = null!;
    private List<int[]> _encoderWindow = null!;

    [Params(50, 90, 99)]
    public int CostPercentile { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _cascade = MiniLMContentModel.LoadCascade();
        var second = _cascade.SecondTier!;
        var ranked = new List<(long Escalated, int Tokens, int Chars, string Text)>();
        foreach (var text in DefaultModelBenchmarks.LoadHeldOut())
        {
            var before = _cascade.EscalatedWindows;
            _ = _cascade.ScoreAsync(text).AsTask().GetAwaiter().GetResult();
            var escalated = _cascade.EscalatedWindows - before;
            var normalized = TextNormalizer.Normalize(text);
            var tokens = escalated == 0 ? 0 : second.CreateWindows(normalized[..Math.Min(normalized.Length, _cascade.MaxTokens)], 0, 1, out _)[0].Length;
            ranked.Add((escalated, tokens, text.Length, text));
        }

        ranked.Sort((a, b) => (a.Escalated, a.Tokens, a.Chars).CompareTo((b.Escalated, b.Tokens, b.Chars)));
        var pick = ranked[Math.Min(ranked.Count - 1, ranked.Count * CostPercentile / 100)];
        _text = pick.Text;
        var chosen = TextNormalizer.Normalize(_text);
        _encoderWindow = [second.CreateWindows(chosen[..Math.Min(chosen.Length, _cascade.MaxTokens)], 0, 1, out _)[0]];
        Console.WriteLine($"// held-out mix: {ranked.Count} texts, {ranked.Count(r => r.Escalated > 0)} escalated; cost p{CostPercentile}: {pick.Escalated} window(s) to the encoder, {pick.Tokens} tokens, {pick.Chars} characters");
    }

    [GlobalCleanup]
    public void Cleanup() => _cascade.Dispose();

    [Benchmark]
    public ValueTask<IReadOnlyDictionary<string, double>> ScoreHeldOutCostPercentile() => _cascade.ScoreAsync(_text);

    /// <summary>For reference, on the same machine and run: one encoder call on the window the cascade would send (whether or not it does).</summary>
    [Benchmark]
    public ValueTask<float[]> EncoderAloneOnFirstWindow() => _cascade.SecondTier!.ScoreWindowsAsync(_encoderWindow, CancellationToken.None);
}

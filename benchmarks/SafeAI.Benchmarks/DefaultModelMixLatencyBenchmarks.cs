using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using SafeAI.Onnx;

namespace SafeAI.Benchmarks;

/// <summary>
/// Every message of a mix through the content filter's stage with default options, one after another, each message timed:
/// the <c>Mean</c> is per message (the mix's time over its 512 messages), and the columns <c>P50</c>, <c>P90</c>, <c>P99</c>
/// and <c>Max</c> are percentiles over the messages of each message's own median time. Where
/// <see cref="DefaultModelPercentileBenchmarks"/> ranks the mix once at setup and then measures the one text it put at a
/// rank (so each launch may measure another text there), this measures every message in every invocation, so the
/// percentiles of cost per message over a realistic mix are what the speed goal asks for (median at most 1.5 ms,
/// 99th percentile at most 15 ms on chat traffic). A message's median is taken over the invocations of a launch after its
/// first <see cref="ColdInvocations"/> (the JIT and ONNX Runtime's first runs of each shape), and the launches' medians are
/// averaged. <see cref="Mix"/>: <c>chat</c> is chat traffic (<see cref="DefaultModelBenchmarks.LoadChatTraffic"/>),
/// <c>corpus</c> the held-out corpus mix (<see cref="DefaultModelBenchmarks.LoadHeldOut"/>, half of it toxic).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(MixLatencyConfig))]
public class DefaultModelMixLatencyBenchmarks
{
    /// <summary>The invocations of a launch whose timings are left out of the medians (the first runs of every shape).</summary>
    public const int ColdInvocations = 3;

    /// <summary>The prefix of the line that a launch's cleanup prints: each message's median, in microseconds, in mix order.</summary>
    internal const string MediansLine = "// safeai-mix-medians-us:";

    private ContentModel _model = null!;
    private ContentClassifier _filter = null!;
    private string[] _texts = null!;
    private List<long>[] _ticks = null!;
    private int _invocations;

    /// <summary>Gets or sets the mix: <c>chat</c> or <c>corpus</c> (see the class).</summary>
    [Params("chat", "corpus")]
    public string Mix { get; set; } = "chat";

    [GlobalSetup]
    public void Setup()
    {
        _model = ContentModel.LoadDefault();
        _filter = new ContentClassifier(_model, new ContentFilterOptions());
        _texts = Mix switch
        {
            "chat" => DefaultModelBenchmarks.LoadChatTraffic(),
            "corpus" => DefaultModelBenchmarks.LoadHeldOut(),
            _ => throw new InvalidOperationException($"Unknown mix \"{Mix}\" (chat or corpus)."),
        };
        _ticks = [.. _texts.Select(static _ => new List<long>(32))];
        Console.WriteLine($"// {Mix} mix: {_texts.Length} messages of {_texts.Min(static t => t.Length)} to {_texts.Max(static t => t.Length)} characters");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        // The medians go to the host through the launch's standard output (MixLatencyColumn reads them there).
        // A launch too short to spare its cold invocations (a dry job) keeps them all.
        var cold = _invocations > ColdInvocations ? ColdInvocations : 0;
        var medians = _ticks.Select(t => MedianMicroseconds(t.Skip(cold)));
        Console.WriteLine($"// {Mix} mix: {_invocations} invocations, the first {cold} left out of the medians");
        Console.WriteLine(MediansLine + string.Join(",", medians.Select(static m => m.ToString("F1", CultureInfo.InvariantCulture))));
        _model.Dispose();
    }

    [Benchmark(OperationsPerInvoke = DefaultModelBenchmarks.HeldOutCount)]
    public async Task ScoreMix()
    {
        for (var i = 0; i < _texts.Length; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await _filter.AssessAsync([_texts[i]], CancellationToken.None).ConfigureAwait(false);
            _ticks[i].Add(Stopwatch.GetTimestamp() - start);
        }

        _invocations++;
    }

    private static double MedianMicroseconds(IEnumerable<long> ticks)
    {
        var sorted = ticks.Order().ToArray();
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        var middle = sorted.Length / 2;
        var median = sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2.0;
        return median * 1_000_000.0 / Stopwatch.Frequency;
    }

    /// <summary>Adds the per-message percentile columns.</summary>
    private sealed class MixLatencyConfig : ManualConfig
    {
        public MixLatencyConfig()
        {
            AddColumn(new MixLatencyColumn("P50", 50), new MixLatencyColumn("P90", 90), new MixLatencyColumn("P99", 99), new MixLatencyColumn("Max", 100));
        }
    }
}

/// <summary>
/// A percentile over the messages of a mix of each message's median time, read from the lines that
/// <see cref="DefaultModelMixLatencyBenchmarks"/> prints at the end of each launch (the launches' medians averaged per message).
/// </summary>
internal sealed class MixLatencyColumn(string name, int percentile) : IColumn
{
    public string Id => $"{nameof(MixLatencyColumn)}.{name}";

    public string ColumnName => $"{name} [ms]";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Statistics;

    public int PriorityInCategory => 10 + percentile;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => percentile == 100
        ? "The slowest message's median time, in milliseconds"
        : $"{percentile}th percentile over the messages of each message's median time (nearest rank), in milliseconds";

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public bool IsAvailable(Summary summary) => true;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var medians = Medians(summary[benchmarkCase]);
        if (medians is null)
        {
            return "NA";
        }

        return (Percentile(medians, percentile) / 1000).ToString("N2", CultureInfo.InvariantCulture);
    }

    /// <summary>The value at <paramref name="percentile"/> of <paramref name="values"/> by nearest rank (100: the largest).</summary>
    internal static double Percentile(IReadOnlyList<double> values, int percentile)
    {
        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(percentile / 100.0 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    /// <summary>Each message's median in microseconds, averaged over the launches that printed them; null when none did.</summary>
    internal static double[]? Medians(BenchmarkReport? report)
    {
        var launches = new List<double[]>();
        foreach (var result in report?.ExecuteResults ?? [])
        {
            foreach (var line in result.StandardOutput)
            {
                if (line.StartsWith(DefaultModelMixLatencyBenchmarks.MediansLine, StringComparison.Ordinal))
                {
                    launches.Add([.. line[DefaultModelMixLatencyBenchmarks.MediansLine.Length..].Split(',').Select(static v => double.Parse(v, CultureInfo.InvariantCulture))]);
                }
            }
        }

        if (launches.Count == 0 || launches.Any(l => l.Length != launches[0].Length))
        {
            return null;
        }

        return [.. Enumerable.Range(0, launches[0].Length).Select(i => launches.Average(l => l[i]))];
    }

    public override string ToString() => ColumnName;
}

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using SafeAI.Onnx;

namespace SafeAI.Benchmarks;

/// <summary>
/// A quick look, not a benchmark: each model scores the 512 chat messages of <see cref="DefaultModelPercentileBenchmarks"/>
/// through <see cref="ContentClassifier"/> (five timings per message, the median kept, as the benchmark ranks them) and
/// prints the percentiles of cost, the slowest messages and how many windows each member (screen, gate, six-layer
/// model) scored. It tells which part of a candidate costs time before a BenchmarkDotNet run decides
/// (training/experiments/violence-sets-rebuild):
/// <code>dotnet run -c Release --project benchmarks/SafeAI.Benchmarks -- windows default path/to/safeai-model.json ...</code>
/// With <c>--long N</c> it also prints, for every message of at least N characters, its cost and windows per member.
/// </summary>
internal static class WindowDiagnostic
{
    private const int Timings = DefaultModelPercentileBenchmarks.RankingTimings;

    public static async Task<int> RunAsync(string[] args)
    {
        var models = new List<string>();
        int? longFrom = null;
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--long")
            {
                if (i + 1 >= args.Length || !int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                {
                    await Console.Error.WriteLineAsync("--long needs a number of characters.");
                    return 2;
                }

                longFrom = n;
                i++;
            }
            else
            {
                models.Add(args[i]);
            }
        }

        if (models.Count == 0)
        {
            await Console.Error.WriteLineAsync("usage: windows (default | path/to/safeai-model.json) ... [--long CHARACTERS]");
            return 2;
        }

        var texts = DefaultModelBenchmarks.LoadChatTraffic();
        var counts = new ConcurrentDictionary<string, long>(StringComparer.Ordinal);
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == SafeAIDiagnostics.ContentWindowsInstrument)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                counts.AddOrUpdate(tag.Value?.ToString() ?? "?", value, (_, old) => old + value);
            }
        });
        listener.Start();

        foreach (var path in models)
        {
            using var model = path == "default" ? ContentModel.LoadDefault() : ContentModel.Load(path);
            var filter = new ContentClassifier(model, new ContentFilterOptions());
            foreach (var text in texts.Take(8))
            {
                await filter.AssessAsync([text], CancellationToken.None);
            }

            counts.Clear();
            var ranked = new List<(double Ms, int Length)>(texts.Length);
            foreach (var text in texts)
            {
                var ticks = await DefaultModelPercentileBenchmarks.MedianTicksAsync(async () => await filter.AssessAsync([text], CancellationToken.None));
                ranked.Add((ticks * 1000.0 / Stopwatch.Frequency, text.Length));
            }

            var windows = Describe(counts);
            ranked.Sort(static (a, b) => a.Ms.CompareTo(b.Ms));
            double At(int percentile) => ranked[Math.Min(ranked.Count - 1, ranked.Count * percentile / 100)].Ms;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{path}: {texts.Length} messages; p50 {At(50):F2}, p90 {At(90):F2}, p99 {At(99):F2} ms, mean {ranked.Average(static r => r.Ms):F2} ms; windows per pass {windows}"));
            Console.WriteLine("  slowest: " + string.Join(", ", ranked.TakeLast(8).Select(static r => string.Create(CultureInfo.InvariantCulture, $"{r.Ms:F1} ms ({r.Length} characters)"))));
            if (longFrom is { } from)
            {
                foreach (var text in texts.Where(t => t.Length >= from))
                {
                    counts.Clear();
                    var clock = Stopwatch.StartNew();
                    for (var r = 0; r < Timings; r++)
                    {
                        await filter.AssessAsync([text], CancellationToken.None);
                    }

                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {text.Length} characters: {clock.Elapsed.TotalMilliseconds / Timings:F1} ms, windows {Describe(counts)}"));
                }
            }
        }

        return 0;

        string Describe(ConcurrentDictionary<string, long> byMember) =>
            byMember.IsEmpty ? "none" : string.Join(", ", byMember.OrderBy(static kv => kv.Key, StringComparer.Ordinal).Select(static kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Key} {kv.Value / Timings}")));
    }
}

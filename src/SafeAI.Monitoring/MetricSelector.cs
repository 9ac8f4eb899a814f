using System.Globalization;

namespace SafeAI.Monitoring;

/// <summary>How a metric name reads from <see cref="MetricTotals"/>: a count, a rate (events out of trials), a latency figure or a recorded value.</summary>
internal sealed class MetricSelector
{
    private MetricSelector(string name, MetricKind kind, string? numerator, string[]? denominator, double quantile)
    {
        Name = name;
        Kind = kind;
        Numerator = numerator;
        Denominator = denominator;
        Quantile = quantile;
    }

    public string Name { get; }

    public MetricKind Kind { get; }

    public string? Numerator { get; }

    public string[]? Denominator { get; }

    public double Quantile { get; }

    /// <summary>Gets a value indicating whether the metric is a proportion, so binomial tests apply.</summary>
    public bool IsRate => Kind == MetricKind.Rate;

    public static MetricSelector Parse(string metric, string? denominator = null)
    {
        if (string.IsNullOrWhiteSpace(metric))
        {
            throw new ArgumentException("A rule needs a metric (for example \"block.rate\" or \"feedback.down.rate\").", nameof(metric));
        }

        switch (metric)
        {
            case "latency.mean":
                return new MetricSelector(metric, MetricKind.LatencyMean, null, null, 0);
            case "latency.p50":
            case "latency.p90":
            case "latency.p95":
            case "latency.p99":
                return new MetricSelector(metric, MetricKind.LatencyQuantile, null, null, double.Parse(metric.AsSpan(9), CultureInfo.InvariantCulture) / 100);
            default:
                break;
        }

        if (metric.EndsWith(MonitoringMetrics.RateSuffix, StringComparison.Ordinal))
        {
            var counter = metric[..^MonitoringMetrics.RateSuffix.Length];
            MetricsRecorder.ValidateName(counter);
            string[] over = denominator is not null ? [.. denominator.Split('+', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)]
                : counter is MonitoringMetrics.FeedbackUp or MonitoringMetrics.FeedbackDown ? [MonitoringMetrics.FeedbackUp, MonitoringMetrics.FeedbackDown]
                : [MonitoringMetrics.Calls];
            foreach (var d in over)
            {
                MetricsRecorder.ValidateName(d);
            }

            return new MetricSelector(metric, MetricKind.Rate, counter, over, 0);
        }

        if (denominator is not null)
        {
            throw new ArgumentException($"A denominator applies only to a rate metric (a name ending in '.rate'), not to '{metric}'.", nameof(denominator));
        }

        MetricsRecorder.ValidateName(metric);
        return new MetricSelector(metric, MetricKind.CountOrValue, metric, null, 0);
    }

    /// <summary>Gets the counter slots the metric reads (for a targeted sum); <see langword="null"/> for all.</summary>
    public int[]? Slots(MetricsRecorder recorder)
    {
        switch (Kind)
        {
            case MetricKind.Rate:
                var slots = new List<int>(Denominator!.Length + 1) { Resolve(recorder, Numerator!) };
                foreach (var d in Denominator!)
                {
                    slots.Add(Resolve(recorder, d));
                }

                return [.. slots.Distinct()]; // feedback.down is both the events and part of the trials: sum it once
            case MetricKind.CountOrValue:
                return [Resolve(recorder, Numerator!)];
            default:
                return null;
        }
    }

    private static int Resolve(MetricsRecorder recorder, string counter)
    {
        var slot = MetricSlots.FixedIndex(counter);
        return slot >= 0 ? slot : recorder.CounterSlot(counter, create: false);
    }

    /// <summary>Reads the metric: for a rate, events and trials; otherwise the value with its sample count.</summary>
    public MetricReading Read(MetricTotals totals)
    {
        switch (Kind)
        {
            case MetricKind.Rate:
                long trials = 0;
                foreach (var d in Denominator!)
                {
                    trials += totals.Count(d);
                }

                var events = Math.Min(totals.Count(Numerator!), trials);
                return new MetricReading(trials == 0 ? double.NaN : events / (double)trials, trials, events);
            case MetricKind.LatencyMean:
                return new MetricReading(totals.LatencyMean, totals.Calls, 0);
            case MetricKind.LatencyQuantile:
                return new MetricReading(totals.LatencyQuantile(Quantile), totals.Calls, 0);
            default:
                var (mean, count) = totals.Value(Numerator!);
                if (count > 0)
                {
                    return new MetricReading(mean, count, 0);
                }

                var total = totals.Count(Numerator!);
                return new MetricReading(total, totals.Buckets, total) { IsCount = true };
        }
    }
}

/// <summary>What kind of figure a metric is.</summary>
internal enum MetricKind
{
    CountOrValue,
    Rate,
    LatencyMean,
    LatencyQuantile,
}

/// <summary>A metric's value over a window: the value, the samples behind it (trials of a rate, calls for latency), and for a rate the events.</summary>
internal readonly record struct MetricReading(double Value, long Samples, long Events)
{
    /// <summary>Gets a value indicating whether this is a plain counter total (min_samples does not apply: the count is the evidence).</summary>
    public bool IsCount { get; init; }
}

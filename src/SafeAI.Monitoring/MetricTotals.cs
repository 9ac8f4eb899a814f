namespace SafeAI.Monitoring;

/// <summary>The sums of a metrics store's counters over a time range (and optionally one arm).</summary>
/// <remarks>Not thread-safe; a fresh instance per query.</remarks>
public sealed class MetricTotals
{
    private readonly long[] _counts;
    private readonly MetricsRecorder? _recorder;
    private Dictionary<string, (double Sum, long Count)>? _values;

    internal MetricTotals(int slots, MetricsRecorder? recorder)
    {
        _counts = new long[slots];
        _recorder = recorder;
    }

    /// <summary>Gets how many buckets held data.</summary>
    public int Buckets { get; internal set; }

    /// <summary>Gets the calls.</summary>
    public long Calls => _counts[MetricSlots.Calls];

    /// <summary>Gets a counter's total: a built-in counter (<see cref="MonitoringMetrics"/>) or a business counter.</summary>
    /// <param name="counter">The counter.</param>
    /// <returns>The total; 0 for a counter never recorded.</returns>
    public long Count(string counter)
    {
        ArgumentNullException.ThrowIfNull(counter);
        var slot = MetricSlots.FixedIndex(counter);
        if (slot < 0 && _recorder is not null)
        {
            slot = _recorder.CounterSlot(counter, create: false);
        }

        return slot >= 0 && slot < _counts.Length ? _counts[slot] : 0;
    }

    /// <summary>Gets the mean of a recorded value and how many values there were.</summary>
    /// <param name="name">The value's name.</param>
    /// <returns>The mean (NaN when none) and the count.</returns>
    public (double Mean, long Count) Value(string name)
    {
        if (_values is null || !_values.TryGetValue(name, out var v) || v.Count == 0)
        {
            return (double.NaN, 0);
        }

        return (v.Sum / v.Count, v.Count);
    }

    /// <summary>Gets a latency quantile in milliseconds (interpolated within half-octave bins, so to within about 20 %), or NaN without calls.</summary>
    /// <param name="quantile">The quantile, for example 0.95.</param>
    /// <returns>The latency in milliseconds.</returns>
    public double LatencyQuantile(double quantile)
    {
        if (!(quantile is > 0 and < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(quantile), quantile, "The quantile must be strictly between 0 and 1.");
        }

        long total = 0;
        for (var b = 0; b < MetricSlots.LatencyBins; b++)
        {
            total += _counts[MetricSlots.LatencyBase + b];
        }

        if (total == 0)
        {
            return double.NaN;
        }

        var rank = quantile * total;
        long seen = 0;
        for (var b = 0; b < MetricSlots.LatencyBins; b++)
        {
            var n = _counts[MetricSlots.LatencyBase + b];
            if (n > 0 && seen + n >= rank)
            {
                var fraction = (rank - seen) / n;
                var lower = MetricSlots.BinLower(b);
                var upper = MetricSlots.BinUpper(b);
                return (lower + (fraction * (upper - lower))) / 1000.0;
            }

            seen += n;
        }

        return MetricSlots.BinUpper(MetricSlots.LatencyBins - 1) / 1000.0;
    }

    /// <summary>Gets the mean latency in milliseconds, or NaN without calls.</summary>
    public double LatencyMean => Calls == 0 ? double.NaN : _counts[MetricSlots.LatencySumMicros] / 1000.0 / Calls;

    internal void Add(long[] counts)
    {
        var n = Math.Min(counts.Length, _counts.Length);
        for (var i = 0; i < n; i++)
        {
            _counts[i] += Volatile.Read(ref counts[i]);
        }
    }

    internal void Add(long[] counts, int[] slots)
    {
        foreach (var slot in slots)
        {
            if ((uint)slot < (uint)counts.Length)
            {
                _counts[slot] += Volatile.Read(ref counts[slot]);
            }
        }
    }

    internal void AddValue(string name, double sum, long count)
    {
        _values ??= new Dictionary<string, (double, long)>(StringComparer.Ordinal);
        var current = _values.GetValueOrDefault(name);
        _values[name] = (current.Sum + sum, current.Count + count);
    }

    /// <summary>Adds another range's totals to these (for pooled baselines).</summary>
    internal MetricTotals Merge(MetricTotals other)
    {
        Add(other._counts);
        Buckets += other.Buckets;
        if (other._values is not null)
        {
            foreach (var (name, value) in other._values)
            {
                AddValue(name, value.Sum, value.Count);
            }
        }

        return this;
    }

    internal long Slot(int slot) => slot < _counts.Length ? _counts[slot] : 0;
}

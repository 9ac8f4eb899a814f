using System.Collections.Concurrent;
using SafeAI.Feedback;

namespace SafeAI.Monitoring;

/// <summary>
/// The in-memory, time-bucketed metrics store the monitoring stage records into and alert rules read from: counters per
/// bucket (one minute by default) and per rollout arm, latency histograms, business counters and averaged values.
/// </summary>
/// <remarks>
/// <para>
/// Thread-safe and lock-free on the hot path: recording a call is a clock read, an array lookup and a handful of
/// interlocked adds into the current bucket (no allocation except once per bucket and arm). Buckets live in a ring that
/// holds <see cref="MetricsRecorderOptions.Retention"/>; older buckets are overwritten, so persist them with a
/// <see cref="IMetricsStore"/> (see <see cref="MetricsPersistence"/>) when they must survive a restart or be shared.
/// </para>
/// <para>Times before the ring's horizon (older than the retention) are dropped and counted in <see cref="Dropped"/>.</para>
/// </remarks>
public sealed class MetricsRecorder
{
    /// <summary>The arm name of calls that no rollout routed.</summary>
    public const string NoArm = "";

    /// <summary>The arm name that collects arms beyond <see cref="MetricsRecorderOptions.MaxArms"/>.</summary>
    public const string OtherArm = "other";

    private readonly Bucket?[] _ring;
    private readonly long _widthTicks;
    private readonly int _slotsPerArm;
    private readonly string[] _arms;
    private readonly Lock _armGate = new();
    private readonly ConcurrentDictionary<string, int> _counters = new(StringComparer.Ordinal);
    private readonly Lock _counterGate = new();
    private readonly string[] _counterNames;
    private readonly int _maxCounters;
    private int _armCount = 1;
    private long _latestIndex = long.MinValue;
    private long _dropped;
    private readonly MonitoringTelemetry? _telemetry;

    /// <summary>Initializes a new instance of the <see cref="MetricsRecorder"/> class.</summary>
    /// <param name="options">The settings; defaults when <see langword="null"/>.</param>
    /// <param name="timeProvider">The clock; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range; the message names it.</exception>
    public MetricsRecorder(MetricsRecorderOptions? options = null, TimeProvider? timeProvider = null)
        : this(options, timeProvider, telemetry: null)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="MetricsRecorder"/> class that also counts feedback and business counters on the <c>SafeAI</c> meter.</summary>
    /// <param name="options">The settings; defaults when <see langword="null"/>.</param>
    /// <param name="timeProvider">The clock; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <param name="telemetry">
    /// Where thumbs and business counters are counted for OpenTelemetry (<c>safeai.monitoring.feedback</c>,
    /// <c>safeai.monitoring.business_events</c>); <see langword="null"/> for none. <c>AddMonitoring</c> passes its own.
    /// </param>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range; the message names it.</exception>
    public MetricsRecorder(MetricsRecorderOptions? options, TimeProvider? timeProvider, MonitoringTelemetry? telemetry)
    {
        _telemetry = telemetry;
        options ??= new MetricsRecorderOptions();
        options.Validate();
        TimeProvider = timeProvider ?? TimeProvider.System;
        BucketWidth = options.BucketWidth;
        Retention = options.Retention;
        _widthTicks = options.BucketWidth.Ticks;
        _ring = new Bucket?[(int)(options.Retention.Ticks / _widthTicks) + 1];
        _arms = new string[options.MaxArms];
        _arms[0] = NoArm;
        _maxCounters = options.MaxCounters;
        _counterNames = new string[options.MaxCounters];
        _slotsPerArm = MetricSlots.CounterBase + options.MaxCounters;
    }

    /// <summary>Gets the clock.</summary>
    public TimeProvider TimeProvider { get; }

    /// <summary>Gets the width of a bucket.</summary>
    public TimeSpan BucketWidth { get; }

    /// <summary>Gets how long buckets are kept.</summary>
    public TimeSpan Retention { get; }

    /// <summary>Gets how many recordings were dropped because their time was older than the retention.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Gets the arms seen so far (the first is <see cref="NoArm"/>).</summary>
    public IReadOnlyList<string> Arms
    {
        get
        {
            var count = Volatile.Read(ref _armCount);
            return _arms.AsSpan(0, count).ToArray();
        }
    }

    /// <summary>Gets the business counters seen so far.</summary>
    public IReadOnlyList<string> Counters => [.. _counters.OrderBy(static p => p.Value).Select(static p => p.Key)];

    /// <summary>Gets the start of the latest bucket written, or <see langword="null"/> before the first recording.</summary>
    public DateTimeOffset? Latest
    {
        get
        {
            var latest = Interlocked.Read(ref _latestIndex);
            return latest == long.MinValue ? null : new DateTimeOffset(latest * _widthTicks, TimeSpan.Zero);
        }
    }

    /// <summary>Records one call at the current time.</summary>
    /// <param name="call">What happened.</param>
    public void RecordCall(in CallObservation call) => RecordCall(call, TimeProvider.GetUtcNow());

    /// <summary>Records one call at a given time (replaying a recorded stream).</summary>
    /// <param name="call">What happened.</param>
    /// <param name="at">When.</param>
    public void RecordCall(in CallObservation call, DateTimeOffset at)
    {
        var counts = Counts(at, call.Arm);
        if (counts is null)
        {
            return;
        }

        Interlocked.Increment(ref counts[MetricSlots.Calls]);
        if (call.Faulted)
        {
            Interlocked.Increment(ref counts[MetricSlots.Error]);
        }
        else
        {
            Interlocked.Increment(ref counts[MetricSlots.Outcome(call.Outcome)]);
            if (call.Outcome <= GuardAction.Modify && !call.Fallback)
            {
                Interlocked.Increment(ref counts[MetricSlots.Success]);
            }
        }

        if (call.Fallback)
        {
            Interlocked.Increment(ref counts[MetricSlots.Fallback]);
        }

        if (call.LowConfidence)
        {
            Interlocked.Increment(ref counts[MetricSlots.LowConfidence]);
        }

        var micros = call.Latency.Ticks / TimeSpan.TicksPerMicrosecond;
        if (micros > 0)
        {
            Interlocked.Add(ref counts[MetricSlots.LatencySumMicros], micros);
        }

        Interlocked.Increment(ref counts[MetricSlots.LatencyBase + MetricSlots.LatencyBin(micros)]);
    }

    /// <summary>Records a thumbs-up or thumbs-down at the current time.</summary>
    /// <param name="rating">The rating.</param>
    /// <param name="arm">The arm of the answer rated, if known.</param>
    public void RecordFeedback(FeedbackRating rating, string? arm = null) => RecordFeedback(rating, arm, TimeProvider.GetUtcNow());

    /// <summary>Records a thumbs-up or thumbs-down at a given time.</summary>
    /// <param name="rating">The rating.</param>
    /// <param name="arm">The arm of the answer rated, if known.</param>
    /// <param name="at">When.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rating"/> is undefined.</exception>
    public void RecordFeedback(FeedbackRating rating, string? arm, DateTimeOffset at)
    {
        var slot = rating switch
        {
            FeedbackRating.Up => MetricSlots.FeedbackUp,
            FeedbackRating.Down => MetricSlots.FeedbackDown,
            _ => throw new ArgumentOutOfRangeException(nameof(rating), rating, "Feedback rating must be Up or Down."),
        };
        if (Counts(at, arm, out var armIndex) is { } counts)
        {
            Interlocked.Increment(ref counts[slot]);
            _telemetry?.RecordFeedback(rating, _arms[armIndex]);
        }
    }

    /// <summary>Adds to a business counter (a conversion, a resolved ticket, a refund) at the current time.</summary>
    /// <param name="counter">The counter's name: letters, digits, '.', '_' or '-', at most 64 characters, not a built-in metric.</param>
    /// <param name="count">How much to add; not negative.</param>
    /// <param name="arm">The arm, if known.</param>
    /// <exception cref="ArgumentException">The name is invalid or one counter too many was used.</exception>
    public void Increment(string counter, long count = 1, string? arm = null) => Increment(counter, count, arm, TimeProvider.GetUtcNow());

    /// <summary>Adds to a business counter at a given time.</summary>
    /// <param name="counter">The counter's name.</param>
    /// <param name="count">How much to add; not negative.</param>
    /// <param name="arm">The arm, if known.</param>
    /// <param name="at">When.</param>
    /// <exception cref="ArgumentException">The name is invalid or one counter too many was used.</exception>
    public void Increment(string counter, long count, string? arm, DateTimeOffset at)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var slot = CounterSlot(counter, create: true);
        if (Counts(at, arm, out var armIndex) is { } counts)
        {
            Interlocked.Add(ref counts[slot], count);
            _telemetry?.RecordBusinessEvents(counter, count, _arms[armIndex]);
        }
    }

    /// <summary>Records a value (a drift score, an order value) at the current time; rules see its mean over their window.</summary>
    /// <param name="name">The value's name (same rules as counters).</param>
    /// <param name="value">A finite value.</param>
    public void RecordValue(string name, double value) => RecordValue(name, value, TimeProvider.GetUtcNow());

    /// <summary>Records a value at a given time.</summary>
    /// <param name="name">The value's name.</param>
    /// <param name="value">A finite value.</param>
    /// <param name="at">When.</param>
    /// <exception cref="ArgumentException">The name is invalid.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="value"/> is not finite.</exception>
    public void RecordValue(string name, double value, DateTimeOffset at)
    {
        ValidateName(name);
        if (!double.IsFinite(value))
        {
            throw new ArgumentOutOfRangeException(nameof(value), value, "A recorded value must be finite.");
        }

        if (GetBucket(at) is { } bucket)
        {
            bucket.AddValue(name, value, 1);
        }
    }

    /// <summary>Sums every bucket that starts in [<paramref name="from"/>, <paramref name="to"/>).</summary>
    /// <param name="from">The first instant (inclusive).</param>
    /// <param name="to">The last instant (exclusive).</param>
    /// <param name="arm">One arm; <see langword="null"/> for all arms together.</param>
    /// <returns>The totals.</returns>
    public MetricTotals Sum(DateTimeOffset from, DateTimeOffset to, string? arm = null) => Sum(from, to, arm, null);

    /// <summary>Sums the buckets in [<paramref name="from"/>, <paramref name="to"/>), only the given slots when <paramref name="slots"/> is set (rules read a few counters).</summary>
    internal MetricTotals Sum(DateTimeOffset from, DateTimeOffset to, string? arm, int[]? slots)
    {
        var totals = new MetricTotals(_slotsPerArm, this);
        var first = FloorIndex(from.UtcTicks);
        var last = FloorIndex(to.UtcTicks - 1);
        var armIndex = arm is null ? -1 : FindArm(arm);
        if (arm is not null && armIndex < 0)
        {
            return totals;
        }

        for (var i = Math.Max(first, Horizon()); i <= last; i++)
        {
            var bucket = Volatile.Read(ref _ring[Slot(i)]);
            if (bucket is null || bucket.Index != i)
            {
                continue;
            }

            totals.Buckets++;
            for (var a = 0; a < bucket.Arms.Length; a++)
            {
                if (armIndex >= 0 && a != armIndex)
                {
                    continue;
                }

                if (Volatile.Read(ref bucket.Arms[a]) is { } counts)
                {
                    if (slots is null)
                    {
                        totals.Add(counts);
                    }
                    else
                    {
                        totals.Add(counts, slots);
                    }
                }
            }

            bucket.AddValuesTo(totals);
        }

        return totals;
    }

    /// <summary>Gets every non-zero counter of the buckets that start in [<paramref name="from"/>, <paramref name="to"/>), for a persistent store.</summary>
    /// <param name="from">The first instant (inclusive).</param>
    /// <param name="to">The last instant (exclusive).</param>
    /// <returns>The points.</returns>
    public IReadOnlyList<MetricPoint> GetPoints(DateTimeOffset from, DateTimeOffset to)
    {
        var points = new List<MetricPoint>();
        for (var i = Math.Max(FloorIndex(from.UtcTicks), Horizon()); i <= FloorIndex(to.UtcTicks - 1); i++)
        {
            var bucket = Volatile.Read(ref _ring[Slot(i)]);
            if (bucket is null || bucket.Index != i)
            {
                continue;
            }

            var start = new DateTimeOffset(i * _widthTicks, TimeSpan.Zero);
            for (var a = 0; a < bucket.Arms.Length; a++)
            {
                if (Volatile.Read(ref bucket.Arms[a]) is not { } counts)
                {
                    continue;
                }

                var armName = _arms[a];
                for (var s = 0; s < counts.Length; s++)
                {
                    var value = Volatile.Read(ref counts[s]);
                    if (value != 0 && SlotName(s) is { } name)
                    {
                        points.Add(new MetricPoint(start, armName, name, value));
                    }
                }
            }

            bucket.AddValuePoints(start, points);
        }

        return points;
    }

    /// <summary>Adds points (read back from a persistent store after a restart, or from other instances) to the buckets.</summary>
    /// <param name="points">The points.</param>
    /// <exception cref="ArgumentNullException"><paramref name="points"/> is <see langword="null"/>.</exception>
    public void Load(IEnumerable<MetricPoint> points)
    {
        ArgumentNullException.ThrowIfNull(points);
        foreach (var point in points)
        {
            if (point.Metric.StartsWith(MetricPoint.ValueSumPrefix, StringComparison.Ordinal))
            {
                GetBucket(point.BucketStart)?.AddValue(point.Metric[MetricPoint.ValueSumPrefix.Length..], point.Value, 0);
                continue;
            }

            if (point.Metric.StartsWith(MetricPoint.ValueCountPrefix, StringComparison.Ordinal))
            {
                GetBucket(point.BucketStart)?.AddValue(point.Metric[MetricPoint.ValueCountPrefix.Length..], 0, (long)point.Value);
                continue;
            }

            var slot = ParseSlot(point.Metric);
            if (slot >= 0 && Counts(point.BucketStart, string.IsNullOrEmpty(point.Arm) ? null : point.Arm) is { } counts)
            {
                Interlocked.Add(ref counts[slot], (long)point.Value);
            }
        }
    }

    /// <summary>
    /// Replaces the buckets that start in [<paramref name="from"/>, <paramref name="to"/>) with <paramref name="points"/>
    /// (a fresh read of a store): each bucket of the range is emptied, then the points are added. For a recorder that
    /// only mirrors a store (<see cref="FleetMetrics"/>); a recorder that also records calls would lose them.
    /// </summary>
    internal void Replace(IReadOnlyList<MetricPoint> points, DateTimeOffset from, DateTimeOffset to)
    {
        for (var index = FloorIndex(from.UtcTicks); index * _widthTicks < to.UtcTicks; index++)
        {
            var slot = Slot(index);
            var bucket = Volatile.Read(ref _ring[slot]);
            if (bucket is not null && bucket.Index == index)
            {
                _ = Interlocked.CompareExchange(ref _ring[slot], null, bucket);
            }
        }

        Load(points);
    }

    /// <summary>Gets the start of the bucket that holds <paramref name="time"/>.</summary>
    /// <param name="time">The time.</param>
    /// <returns>The bucket's start.</returns>
    public DateTimeOffset BucketStart(DateTimeOffset time) => new(FloorIndex(time.UtcTicks) * _widthTicks, TimeSpan.Zero);

    internal int CounterSlot(string counter, bool create)
    {
        if (_counters.TryGetValue(counter, out var existing))
        {
            return existing;
        }

        ValidateName(counter);
        if (MetricSlots.FixedIndex(counter) >= 0)
        {
            throw new ArgumentException($"'{counter}' is a built-in metric; business counters need another name.", nameof(counter));
        }

        if (!create)
        {
            return -1;
        }

        lock (_counterGate)
        {
            if (_counters.TryGetValue(counter, out existing))
            {
                return existing;
            }

            if (_counters.Count >= _maxCounters)
            {
                throw new ArgumentException($"At most {_maxCounters} business counters can be tracked (MetricsRecorderOptions.MaxCounters); '{counter}' is one too many.", nameof(counter));
            }

            var index = _counters.Count;
            _counterNames[index] = counter;
            var slot = MetricSlots.CounterBase + index;
            _counters[counter] = slot;
            return slot;
        }
    }

    internal static void ValidateName(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (name.Length > 64)
        {
            throw new ArgumentException($"A metric name must be at most 64 characters ('{name[..20]}...' has {name.Length}).", nameof(name));
        }

        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
            {
                throw new ArgumentException($"A metric name may hold only ASCII letters, digits, '.', '_' and '-' ('{name}' does not).", nameof(name));
            }
        }
    }

    internal string? SlotName(int slot)
    {
        if (slot < MetricSlots.FixedNames.Length)
        {
            return MetricSlots.FixedNames[slot];
        }

        if (slot >= MetricSlots.LatencyBase && slot < MetricSlots.CounterBase)
        {
            return MetricPoint.LatencyBinPrefix + (slot - MetricSlots.LatencyBase).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        var counter = slot - MetricSlots.CounterBase;
        return counter >= 0 && counter < _counterNames.Length ? _counterNames[counter] : null;
    }

    private int ParseSlot(string metric)
    {
        var fixedIndex = MetricSlots.FixedIndex(metric);
        if (fixedIndex >= 0)
        {
            return fixedIndex;
        }

        if (metric.StartsWith(MetricPoint.LatencyBinPrefix, StringComparison.Ordinal)
            && int.TryParse(metric.AsSpan(MetricPoint.LatencyBinPrefix.Length), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var bin)
            && bin < MetricSlots.LatencyBins)
        {
            return MetricSlots.LatencyBase + bin;
        }

        return CounterSlot(metric, create: true);
    }

    private long[]? Counts(DateTimeOffset at, string? arm) => Counts(at, arm, out _);

    private long[]? Counts(DateTimeOffset at, string? arm, out int armIndex)
    {
        armIndex = 0;
        var bucket = GetBucket(at);
        if (bucket is null)
        {
            return null;
        }

        armIndex = arm is null ? 0 : ArmIndex(arm);
        return Volatile.Read(ref bucket.Arms[armIndex]) ?? bucket.CreateArm(armIndex, _slotsPerArm);
    }

    private Bucket? GetBucket(DateTimeOffset at)
    {
        var index = FloorIndex(at.UtcTicks);
        var slot = Slot(index);
        while (true)
        {
            if (index < Horizon())
            {
                Interlocked.Increment(ref _dropped);
                return null;
            }

            var bucket = Volatile.Read(ref _ring[slot]);
            if (bucket is not null && bucket.Index == index)
            {
                return bucket;
            }

            if (bucket is not null && bucket.Index > index)
            {
                Interlocked.Increment(ref _dropped);
                return null;
            }

            var latest = Interlocked.Read(ref _latestIndex);
            var created = new Bucket(index, _arms.Length);
            if (Interlocked.CompareExchange(ref _ring[slot], created, bucket) == bucket)
            {
                while (index > latest && Interlocked.CompareExchange(ref _latestIndex, index, latest) != latest)
                {
                    latest = Interlocked.Read(ref _latestIndex);
                }

                return created;
            }
        }
    }

    private int ArmIndex(string arm)
    {
        var count = Volatile.Read(ref _armCount);
        for (var i = 0; i < count; i++)
        {
            var known = _arms[i];
            if (ReferenceEquals(known, arm) || string.Equals(known, arm, StringComparison.Ordinal))
            {
                return i;
            }
        }

        lock (_armGate)
        {
            for (var i = 0; i < _armCount; i++)
            {
                if (string.Equals(_arms[i], arm, StringComparison.Ordinal))
                {
                    return i;
                }
            }

            if (_armCount >= _arms.Length - 1 && !string.Equals(arm, OtherArm, StringComparison.Ordinal))
            {
                return ArmIndexLocked(OtherArm);
            }

            return ArmIndexLocked(arm);
        }
    }

    private int ArmIndexLocked(string arm)
    {
        for (var i = 0; i < _armCount; i++)
        {
            if (string.Equals(_arms[i], arm, StringComparison.Ordinal))
            {
                return i;
            }
        }

        _arms[_armCount] = arm;
        Volatile.Write(ref _armCount, _armCount + 1);
        return _armCount - 1;
    }

    private int FindArm(string arm)
    {
        var count = Volatile.Read(ref _armCount);
        for (var i = 0; i < count; i++)
        {
            if (string.Equals(_arms[i], arm, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }

    private long FloorIndex(long ticks) => ticks / _widthTicks;

    /// <summary>Gets the oldest bucket index still held: buckets before it are gone even where the ring slot was not reused yet.</summary>
    private long Horizon()
    {
        var latest = Interlocked.Read(ref _latestIndex);
        return latest == long.MinValue ? long.MinValue : latest - _ring.Length + 2;
    }

    private int Slot(long index) => (int)(index % _ring.Length);

    private sealed class Bucket(long index, int arms)
    {
        private readonly Lock _valuesGate = new();
        private Dictionary<string, (double Sum, long Count)>? _values;

        public long Index { get; } = index;

        public long[]?[] Arms { get; } = new long[]?[arms];

        public long[] CreateArm(int arm, int slots)
        {
            var created = new long[slots];
            return Interlocked.CompareExchange(ref Arms[arm], created, null) ?? created;
        }

        public void AddValue(string name, double sum, long count)
        {
            lock (_valuesGate)
            {
                _values ??= new Dictionary<string, (double, long)>(StringComparer.Ordinal);
                var current = _values.GetValueOrDefault(name);
                _values[name] = (current.Sum + sum, current.Count + count);
            }
        }

        public void AddValuesTo(MetricTotals totals)
        {
            if (Volatile.Read(ref _values) is null)
            {
                return;
            }

            lock (_valuesGate)
            {
                foreach (var (name, value) in _values!)
                {
                    totals.AddValue(name, value.Sum, value.Count);
                }
            }
        }

        public void AddValuePoints(DateTimeOffset start, List<MetricPoint> points)
        {
            if (Volatile.Read(ref _values) is null)
            {
                return;
            }

            lock (_valuesGate)
            {
                foreach (var (name, value) in _values!)
                {
                    points.Add(new MetricPoint(start, NoArm, MetricPoint.ValueSumPrefix + name, value.Sum));
                    points.Add(new MetricPoint(start, NoArm, MetricPoint.ValueCountPrefix + name, value.Count));
                }
            }
        }
    }
}

/// <summary>One counter of one bucket and arm, as a persistent store keeps it.</summary>
/// <param name="BucketStart">The start of the bucket (UTC).</param>
/// <param name="Arm">The arm (<see cref="MetricsRecorder.NoArm"/> for none).</param>
/// <param name="Metric">The counter (<c>calls</c>, <c>block</c>, <c>latency.bin.12</c>, a business counter, or <c>value.sum:</c>/<c>value.count:</c> of a recorded value).</param>
/// <param name="Value">The count or sum.</param>
public readonly record struct MetricPoint(DateTimeOffset BucketStart, string Arm, string Metric, double Value)
{
    internal const string LatencyBinPrefix = "latency.bin.";
    internal const string ValueSumPrefix = "value.sum:";
    internal const string ValueCountPrefix = "value.count:";
}

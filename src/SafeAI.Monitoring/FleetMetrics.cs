using System.Globalization;

namespace SafeAI.Monitoring;

/// <summary>
/// The whole fleet's metrics: a <see cref="MetricsRecorder"/> that mirrors the sum of every instance's buckets in a
/// shared <see cref="IMetricsStore"/>, so that an <see cref="AlertEngine"/> over <see cref="Recorder"/> judges all the
/// traffic (rules with <c>"scope": "fleet"</c>). Each instance writes its own buckets every
/// <see cref="MonitoringOptions.PersistInterval"/>; <see cref="SyncAsync"/> reads the retention once, then only the
/// recent buckets, which the instances may still be rewriting, and replaces them.
/// </summary>
/// <remarks>
/// Thread-safe: syncs run one at a time. The fleet's figures lag the calls by up to one persist interval plus one sync
/// interval; an instance that stops writing (stopped, or cut off from the store) contributes nothing, and buckets it
/// writes later than the settle time (after an outage) reach the mirror only when it is created again.
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001:Types that own disposable fields should be disposable", Justification = "A SemaphoreSlim whose wait handle is never read holds no unmanaged resource.")]
public sealed class FleetMetrics
{
    private readonly IMetricsStore _store;
    private readonly TimeSpan _settle;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private DateTimeOffset? _syncedAt;

    /// <summary>Initializes a new instance of the <see cref="FleetMetrics"/> class.</summary>
    /// <param name="store">The store every instance writes to.</param>
    /// <param name="options">The buckets of the mirror: use the instances' settings (width and retention); defaults when <see langword="null"/>.</param>
    /// <param name="timeProvider">The clock; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <param name="settle">How far back each sync reads again (default 10 minutes): at least the instances' persist interval plus one bucket.</param>
    /// <exception cref="ArgumentNullException"><paramref name="store"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range; the message names it.</exception>
    public FleetMetrics(IMetricsStore store, MetricsRecorderOptions? options = null, TimeProvider? timeProvider = null, TimeSpan? settle = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        Recorder = new MetricsRecorder(options, timeProvider);
        _settle = settle ?? TimeSpan.FromMinutes(10);
        if (_settle < Recorder.BucketWidth || _settle > Recorder.Retention)
        {
            throw new ArgumentOutOfRangeException(nameof(settle), _settle, string.Create(CultureInfo.InvariantCulture, $"FleetMetrics' settle time must be between one bucket ({Recorder.BucketWidth}) and the retention ({Recorder.Retention})."));
        }
    }

    /// <summary>Gets the mirror of the fleet's buckets (read by a fleet <see cref="AlertEngine"/>); nothing else should record into it.</summary>
    public MetricsRecorder Recorder { get; }

    /// <summary>Gets when the last sync succeeded, or <see langword="null"/>.</summary>
    public DateTimeOffset? LastSync => _syncedAt;

    /// <summary>Reads the fleet's sums from the store: the whole retention the first time, then the buckets since the last sync less the settle time, which replace the mirror's.</summary>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>How many points were read.</returns>
    /// <exception cref="MetricsStoreException">The store failed; the mirror keeps what it had and the next sync reads from the same point.</exception>
    public async Task<int> SyncAsync(CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var now = Recorder.TimeProvider.GetUtcNow();
            var from = Recorder.BucketStart(_syncedAt is { } last ? last - _settle : now - Recorder.Retention + Recorder.BucketWidth);
            var to = Recorder.BucketStart(now) + Recorder.BucketWidth;
            var points = await _store.ReadAsync(from, to, instance: null, cancellationToken).ConfigureAwait(false);
            Recorder.Replace(points, from, to);
            _syncedAt = now;
            return points.Count;
        }
        finally
        {
            _ = _gate.Release();
        }
    }
}

/// <summary>Settings of fleet rules (<c>SafeAI:Monitoring:Fleet</c>): which instances evaluate the rules with <c>"scope": "fleet"</c>.</summary>
public sealed class FleetOptions
{
    /// <summary>
    /// Gets or sets a value indicating whether this instance evaluates the fleet rules (default <see langword="false"/>).
    /// Turn it on for one instance (or a worker) per fleet: every instance that runs them alerts and acts on its own.
    /// Needs a shared metrics store (<c>UsePostgreSqlMetricsStore</c>, <c>UseRedisMetricsStore</c>, or one SQLite file
    /// on one machine).
    /// </summary>
    public bool Enabled { get; set; }

    /// <summary>Gets or sets how far back each sync reads the store again (default 10 minutes): at least the instances' persist interval plus one bucket.</summary>
    public TimeSpan Settle { get; set; } = TimeSpan.FromMinutes(10);
}

using System.Globalization;
using Microsoft.Data.Sqlite;

namespace SafeAI.Monitoring;

/// <summary>
/// Keeps metrics in a SQLite file (write-ahead log, one row per bucket, arm, metric and instance), so baselines survive
/// restarts and instances on one machine can share a file. Thread-safe: writes of one store object are serialised in
/// process; other processes writing the same file wait up to five seconds for SQLite's write lock.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001:Types that own disposable fields should be disposable", Justification = "A SemaphoreSlim whose wait handle is never read holds no unmanaged resource.")]
public sealed class SqliteMetricsStore : IMetricsStore
{
    private const string Schema = """
        PRAGMA journal_mode = WAL;
        CREATE TABLE IF NOT EXISTS safeai_metrics (
            bucket INTEGER NOT NULL, instance TEXT NOT NULL, arm TEXT NOT NULL, metric TEXT NOT NULL, value REAL NOT NULL,
            PRIMARY KEY (bucket, instance, arm, metric)) WITHOUT ROWID;
        """;

    private readonly string _connectionString;
    private readonly SemaphoreSlim _initGate = new(1, 1);

    // SQLite has one writer at a time. Writers of this process queue here, in order, rather than in SQLite's busy
    // handler, whose retries can starve one of many concurrent writers past the timeout ("database is locked"); the
    // busy timeout then only covers other processes sharing the file.
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private volatile bool _initialized;

    /// <summary>Initializes a new instance of the <see cref="SqliteMetricsStore"/> class.</summary>
    /// <param name="path">The database file; created when missing.</param>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    public SqliteMetricsStore(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Path = path;
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, DefaultTimeout = 5, Pooling = true }.ToString();
    }

    /// <summary>Gets the database file.</summary>
    public string Path { get; }

    /// <inheritdoc />
    public async ValueTask WriteAsync(string instance, IReadOnlyList<MetricPoint> points, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(instance);
        ArgumentNullException.ThrowIfNull(points);
        if (points.Count == 0)
        {
            return;
        }

        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await WriteLockedAsync(instance, points, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeGate.Release();
        }
    }

    private async Task WriteLockedAsync(string instance, IReadOnlyList<MetricPoint> points, CancellationToken cancellationToken)
    {
        await RunAsync(async connection =>
        {
            using var transaction = connection.BeginTransaction();
            using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = "INSERT INTO safeai_metrics (bucket, instance, arm, metric, value) VALUES ($b, $i, $a, $m, $v) ON CONFLICT (bucket, instance, arm, metric) DO UPDATE SET value = excluded.value";
            var b = command.Parameters.Add("$b", SqliteType.Integer);
            var i = command.Parameters.Add("$i", SqliteType.Text);
            var a = command.Parameters.Add("$a", SqliteType.Text);
            var m = command.Parameters.Add("$m", SqliteType.Text);
            var v = command.Parameters.Add("$v", SqliteType.Real);
            i.Value = instance;
            foreach (var point in points)
            {
                b.Value = point.BucketStart.UtcTicks;
                a.Value = point.Arm;
                m.Value = point.Metric;
                v.Value = point.Value;
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            transaction.Commit();
            return 0;
        }, "write", cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<MetricPoint>> ReadAsync(DateTimeOffset from, DateTimeOffset to, string? instance = null, CancellationToken cancellationToken = default)
    {
        return await RunAsync<IReadOnlyList<MetricPoint>>(async connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = instance is null
                ? "SELECT bucket, arm, metric, SUM(value) FROM safeai_metrics WHERE bucket >= $from AND bucket < $to GROUP BY bucket, arm, metric ORDER BY bucket"
                : "SELECT bucket, arm, metric, value FROM safeai_metrics WHERE bucket >= $from AND bucket < $to AND instance = $i ORDER BY bucket";
            command.Parameters.AddWithValue("$from", from.UtcTicks);
            command.Parameters.AddWithValue("$to", to.UtcTicks);
            if (instance is not null)
            {
                command.Parameters.AddWithValue("$i", instance);
            }

            var points = new List<MetricPoint>();
            using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                points.Add(new MetricPoint(new DateTimeOffset(reader.GetInt64(0), TimeSpan.Zero), reader.GetString(1), reader.GetString(2), reader.GetDouble(3)));
            }

            return points;
        }, "read", cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask PingAsync(CancellationToken cancellationToken = default) =>
        await RunAsync(async connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT COUNT(*) FROM safeai_metrics WHERE bucket < 0";
            return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        }, "reach", cancellationToken).ConfigureAwait(false);

    private async Task<T> RunAsync<T>(Func<SqliteConnection, Task<T>> work, string verb, CancellationToken cancellationToken)
    {
        try
        {
            using var connection = new SqliteConnection(_connectionString);
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            if (!_initialized)
            {
                await _initGate.WaitAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    if (!_initialized)
                    {
                        using var schema = connection.CreateCommand();
                        schema.CommandText = Schema;
                        await schema.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                        _initialized = true;
                    }
                }
                finally
                {
                    _initGate.Release();
                }
            }

            return await work(connection).ConfigureAwait(false);
        }
        catch (SqliteException ex)
        {
            throw new MetricsStoreException(string.Create(CultureInfo.InvariantCulture, $"The SQLite metrics store '{Path}' could not {verb} metrics: {ex.Message}"), ex);
        }
    }
}

/// <summary>Writes a recorder's recent buckets to an <see cref="IMetricsStore"/> and loads them back at start.</summary>
/// <param name="recorder">The recorder.</param>
/// <param name="store">The store.</param>
/// <param name="instance">This instance's name in the store.</param>
public sealed class MetricsPersistence(MetricsRecorder recorder, IMetricsStore store, string instance)
{
    private readonly MetricsRecorder _recorder = recorder ?? throw new ArgumentNullException(nameof(recorder));
    private readonly IMetricsStore _store = store ?? throw new ArgumentNullException(nameof(store));
    private readonly string _instance = string.IsNullOrWhiteSpace(instance) ? throw new ArgumentException("The instance name must not be empty.", nameof(instance)) : instance;
    private DateTimeOffset? _flushedUpTo;

    /// <summary>Gets when the last write succeeded, or <see langword="null"/>.</summary>
    public DateTimeOffset? LastSuccess { get; private set; }

    /// <summary>Gets the last write's failure, or <see langword="null"/> after a success.</summary>
    public Exception? LastFailure { get; private set; }

    /// <summary>Loads this instance's buckets of the retention period from the store into the recorder (call once, before traffic).</summary>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>How many points were loaded.</returns>
    public async Task<int> LoadAsync(CancellationToken cancellationToken = default)
    {
        var now = _recorder.TimeProvider.GetUtcNow();
        var points = await _store.ReadAsync(now - _recorder.Retention + _recorder.BucketWidth, now + _recorder.BucketWidth, _instance, cancellationToken).ConfigureAwait(false);
        _recorder.Load(points);
        return points.Count;
    }

    /// <summary>Writes the buckets changed since the last write (the last one written again, as it may have grown).</summary>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>A task that completes when written.</returns>
    /// <exception cref="MetricsStoreException">The store failed; the points are written again next time.</exception>
    public async Task FlushAsync(CancellationToken cancellationToken = default)
    {
        var now = _recorder.TimeProvider.GetUtcNow();
        var from = _flushedUpTo ?? now - _recorder.Retention + _recorder.BucketWidth;
        var to = _recorder.BucketStart(now) + _recorder.BucketWidth;
        try
        {
            await _store.WriteAsync(_instance, _recorder.GetPoints(from, to), cancellationToken).ConfigureAwait(false);
            _flushedUpTo = _recorder.BucketStart(now) - _recorder.BucketWidth; // late calls of the previous bucket are written once more
            LastSuccess = now;
            LastFailure = null;
        }
        catch (MetricsStoreException ex)
        {
            LastFailure = ex;
            throw;
        }
    }
}

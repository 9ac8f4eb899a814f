using System.Globalization;
using SafeAI.Monitoring;
using StackExchange.Redis;

namespace SafeAI.Redis;

/// <summary>
/// A monitoring metrics store in Redis, for apps that share Redis rather than a database: every app instance that
/// points at the same server and key prefix writes its buckets under its own instance name, a restarted instance loads
/// its own back, and a read without an instance sums them all.
/// </summary>
/// <remarks>
/// <para>
/// One hash per bucket (<c>{prefix}:b:TICKS</c>, a field per instance, arm and metric) and a sorted set of the buckets
/// by start (<c>{prefix}:index</c>). A write is one transaction, however many points it holds; each bucket expires
/// <see cref="RedisMetricsStoreOptions.Retention"/> after its start, and the index drops older buckets on every write,
/// so Redis memory stays bounded (about 40 bytes per point: a minute bucket of one arm with its latency bins is a few
/// dozen points per instance).
/// </para>
/// <para>
/// Thread-safe. Failures (Redis unreachable, a timeout) are reported as <see cref="MetricsStoreException"/> naming the
/// server and what failed; the caller keeps its points (<see cref="MetricsPersistence"/> sends them again on its next
/// flush). Instance, arm and metric names cannot contain U+0000, the separator of a bucket's fields.
/// </para>
/// </remarks>
public sealed class RedisMetricsStore : IMetricsStore, IDisposable, IAsyncDisposable
{
    private const char Separator = '\0';

    private readonly Lazy<Task<IConnectionMultiplexer>> _connection;
    private readonly bool _ownsConnection;
    private readonly string _keyPrefix;
    private readonly RedisKey _indexKey;
    private readonly TimeSpan _retention;
    private readonly TimeSpan _commandTimeout;
    private readonly TimeProvider _time;
    private readonly string _description;

    /// <summary>Initializes a store that connects to Redis on first use, with the given settings.</summary>
    /// <param name="options">The settings.</param>
    /// <param name="timeProvider">The clock that dates expiry and pruning; <see langword="null"/> for the system clock.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it.</exception>
    public RedisMetricsStore(RedisMetricsStoreOptions options, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.GetError() is { } error)
        {
            throw new ArgumentException(error, nameof(options));
        }

        var configuration = RedisConnections.Options(options.Configuration, options.ConnectTimeout, options.CommandTimeout);
        _connection = new(async () => await ConnectionMultiplexer.ConnectAsync(configuration).ConfigureAwait(false), LazyThreadSafetyMode.ExecutionAndPublication);
        _ownsConnection = true;
        _commandTimeout = options.CommandTimeout;
        (_keyPrefix, _indexKey, _retention, _time, _description) = Init(options.KeyPrefix, options.Retention, timeProvider, configuration);
    }

    /// <summary>Initializes a store on a connection the application owns (it is not disposed by the store).</summary>
    /// <param name="connection">The Redis connection.</param>
    /// <param name="keyPrefix">The prefix of the store's keys (see <see cref="RedisMetricsStoreOptions.KeyPrefix"/>).</param>
    /// <param name="retention">How long a bucket is kept after its start; <see langword="null"/> for 8 days.</param>
    /// <param name="timeProvider">The clock that dates expiry and pruning; <see langword="null"/> for the system clock.</param>
    /// <exception cref="ArgumentNullException"><paramref name="connection"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">The key prefix or the retention is invalid; the message says why.</exception>
    public RedisMetricsStore(IConnectionMultiplexer connection, string keyPrefix = "safeai:metrics", TimeSpan? retention = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var options = new RedisMetricsStoreOptions { KeyPrefix = keyPrefix, Retention = retention ?? TimeSpan.FromDays(8) };
        if (options.GetError() is { } error)
        {
            throw new ArgumentException(error, nameof(keyPrefix));
        }

        _connection = new(Task.FromResult(connection));
        _ownsConnection = false;
        _commandTimeout = TimeSpan.FromMilliseconds(Math.Max(connection.TimeoutMilliseconds, 1000));
        (_keyPrefix, _indexKey, _retention, _time, _description) = Init(options.KeyPrefix, options.Retention, timeProvider, ConfigurationOptions.Parse(connection.Configuration));
    }

    /// <summary>Gets how long a bucket is kept after its start.</summary>
    public TimeSpan Retention => _retention;

    /// <inheritdoc />
    /// <remarks>Points of buckets that started more than <see cref="Retention"/> ago are not written.</remarks>
    public async ValueTask WriteAsync(string instance, IReadOnlyList<MetricPoint> points, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(instance);
        ArgumentNullException.ThrowIfNull(points);
        CheckName(instance, nameof(instance));
        var now = _time.GetUtcNow();
        var buckets = new Dictionary<long, Dictionary<string, double>>();
        foreach (var point in points)
        {
            CheckName(point.Arm, nameof(points));
            CheckName(point.Metric, nameof(points));
            if (point.BucketStart + _retention <= now)
            {
                continue;
            }

            var ticks = point.BucketStart.UtcTicks;
            if (!buckets.TryGetValue(ticks, out var fields))
            {
                buckets[ticks] = fields = new Dictionary<string, double>(StringComparer.Ordinal);
            }

            fields[string.Concat(instance, "\0", point.Arm, "\0", point.Metric)] = point.Value; // the last point wins
        }

        if (buckets.Count == 0)
        {
            return;
        }

        cancellationToken.ThrowIfCancellationRequested();
        var pending = new List<Task>(buckets.Count * 3 + 2);
        try
        {
            var db = (await ConnectAsync(cancellationToken).ConfigureAwait(false)).GetDatabase();
            var transaction = db.CreateTransaction();
            foreach (var (ticks, fields) in buckets)
            {
                var key = BucketKey(ticks);
                var start = new DateTimeOffset(ticks, TimeSpan.Zero);
                pending.Add(transaction.HashSetAsync(key, [.. fields.Select(static f => new HashEntry(f.Key, f.Value))]));
                pending.Add(transaction.KeyExpireAsync(key, start + _retention - now));
                pending.Add(transaction.SortedSetAddAsync(_indexKey, ticks.ToString(CultureInfo.InvariantCulture), start.ToUnixTimeMilliseconds()));
            }

            pending.Add(transaction.SortedSetRemoveRangeByScoreAsync(_indexKey, double.NegativeInfinity, (now - _retention).ToUnixTimeMilliseconds(), Exclude.None));
            pending.Add(transaction.KeyExpireAsync(_indexKey, _retention));
            if (!await transaction.ExecuteAsync().WaitAsync(_commandTimeout, cancellationToken).ConfigureAwait(false))
            {
                throw new RedisException("the transaction was not committed.");
            }

            await Task.WhenAll(pending).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsStoreFailure(ex))
        {
            Observe(pending);
            throw Wrap("write metrics", ex);
        }
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<MetricPoint>> ReadAsync(DateTimeOffset from, DateTimeOffset to, string? instance = null, CancellationToken cancellationToken = default)
    {
        if (instance is not null)
        {
            CheckName(instance, nameof(instance));
        }

        cancellationToken.ThrowIfCancellationRequested();
        if (to <= from)
        {
            return [];
        }

        try
        {
            var db = (await ConnectAsync(cancellationToken).ConfigureAwait(false)).GetDatabase();

            // Scores are Unix milliseconds (exact in a double); the members hold the exact ticks, filtered below.
            var members = await db.SortedSetRangeByScoreAsync(_indexKey, from.ToUnixTimeMilliseconds() - 1, to.ToUnixTimeMilliseconds() + 1)
                .WaitAsync(_commandTimeout, cancellationToken).ConfigureAwait(false);
            var starts = new List<long>(members.Length);
            foreach (var member in members)
            {
                if (long.TryParse(member.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var ticks) && ticks >= from.UtcTicks && ticks < to.UtcTicks)
                {
                    starts.Add(ticks);
                }
            }

            starts.Sort();
            var reads = starts.Select(t => db.HashGetAllAsync(BucketKey(t))).ToArray();
            var hashes = await Task.WhenAll(reads).WaitAsync(_commandTimeout, cancellationToken).ConfigureAwait(false);
            var points = new List<MetricPoint>();
            var sums = new SortedDictionary<(string Arm, string Metric), double>(OrdinalPairComparer.Instance);
            for (var i = 0; i < starts.Count; i++)
            {
                sums.Clear();
                foreach (var entry in hashes[i])
                {
                    var field = entry.Name.ToString();
                    var first = field.IndexOf(Separator, StringComparison.Ordinal);
                    var second = first < 0 ? -1 : field.IndexOf(Separator, first + 1);
                    if (second < 0 || !entry.Value.TryParse(out double value)
                        || (instance is not null && !field.AsSpan(0, first).SequenceEqual(instance.AsSpan())))
                    {
                        continue;
                    }

                    var key = (field[(first + 1)..second], field[(second + 1)..]);
                    sums[key] = sums.GetValueOrDefault(key) + value;
                }

                var start = new DateTimeOffset(starts[i], TimeSpan.Zero);
                foreach (var ((arm, metric), value) in sums)
                {
                    points.Add(new MetricPoint(start, arm, metric, value));
                }
            }

            return points;
        }
        catch (Exception ex) when (IsStoreFailure(ex))
        {
            throw Wrap("read metrics", ex);
        }
    }

    /// <inheritdoc />
    public async ValueTask PingAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            var db = (await ConnectAsync(cancellationToken).ConfigureAwait(false)).GetDatabase();
            _ = await db.PingAsync().WaitAsync(_commandTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsStoreFailure(ex))
        {
            throw Wrap("reach its metrics", ex);
        }
    }

    /// <summary>Closes the connection the store opened (not one the application passed in).</summary>
    public void Dispose()
    {
        if (_ownsConnection && _connection.IsValueCreated && _connection.Value.IsCompletedSuccessfully)
        {
            _connection.Value.Result.Dispose();
        }
    }

    /// <summary>Closes the connection the store opened (not one the application passed in).</summary>
    /// <returns>A task that completes when the connection is closed.</returns>
    public async ValueTask DisposeAsync()
    {
        if (_ownsConnection && _connection.IsValueCreated && _connection.Value.IsCompletedSuccessfully)
        {
            await _connection.Value.Result.DisposeAsync().ConfigureAwait(false);
        }
    }

    internal RedisKey BucketKey(long ticks) => string.Concat(_keyPrefix, ":b:", ticks.ToString(CultureInfo.InvariantCulture));

    internal RedisKey IndexKey => _indexKey;

    private static (string Prefix, RedisKey Index, TimeSpan Retention, TimeProvider Time, string Description) Init(string keyPrefix, TimeSpan retention, TimeProvider? timeProvider, ConfigurationOptions configuration)
    {
        var prefix = "{" + keyPrefix + "}";
        var endpoints = string.Join(',', configuration.EndPoints.Select(static e => e switch
        {
            System.Net.DnsEndPoint d => $"{d.Host}:{d.Port}",
            _ => e.ToString(),
        }));
        return (prefix, prefix + ":index", retention, timeProvider ?? TimeProvider.System, $"{endpoints} (keys {prefix}:*)");
    }

    private async Task<IConnectionMultiplexer> ConnectAsync(CancellationToken cancellationToken) =>
        await _connection.Value.WaitAsync(cancellationToken).ConfigureAwait(false);

    private static bool IsStoreFailure(Exception ex) =>
        ex is RedisException or TimeoutException or System.Net.Sockets.SocketException or ObjectDisposedException;

    /// <summary>A failed or abandoned transaction faults its queued commands' tasks: observed here, as the failure is reported once.</summary>
    private static void Observe(List<Task> tasks)
    {
        foreach (var task in tasks)
        {
            _ = task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private MetricsStoreException Wrap(string operation, Exception ex) =>
        new($"The Redis metrics store {_description} could not {operation}: {ex.Message}", ex);

    private static void CheckName(string value, string parameter)
    {
        if (value is null)
        {
            throw new ArgumentException("Instance, arm and metric names cannot be null.", parameter);
        }

        if (value.Contains(Separator, StringComparison.Ordinal))
        {
            throw new ArgumentException("Instance, arm and metric names cannot contain the character U+0000 (the Redis metrics store's field separator).", parameter);
        }
    }

    private sealed class OrdinalPairComparer : IComparer<(string Arm, string Metric)>
    {
        public static readonly OrdinalPairComparer Instance = new();

        public int Compare((string Arm, string Metric) x, (string Arm, string Metric) y)
        {
            var arm = string.CompareOrdinal(x.Arm, y.Arm);
            return arm != 0 ? arm : string.CompareOrdinal(x.Metric, y.Metric);
        }
    }
}

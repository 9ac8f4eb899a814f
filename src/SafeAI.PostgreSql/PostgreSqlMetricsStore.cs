using System.Data.Common;
using Npgsql;
using NpgsqlTypes;
using SafeAI.Monitoring;

namespace SafeAI.PostgreSql;

/// <summary>
/// A metrics store in PostgreSQL: one row per bucket, instance, arm and metric in <c>safeai_metrics</c>, so that every
/// app instance that points at the same database shares its baselines and a restarted one finds its own. The schema is
/// versioned (component <c>metrics</c> in <c>safeai_schema_version</c>) and created on first use under the advisory
/// lock the other SafeAI stores use. A write is one statement, however many points it holds.
/// </summary>
internal sealed class PostgreSqlMetricsStore : IMetricsStore, IDisposable, IAsyncDisposable
{
    internal const string Component = "metrics";
    internal const int SchemaVersion = 1;

    private readonly PostgreSqlDatabase _database;
    private readonly string _table;

    public PostgreSqlMetricsStore(PostgreSqlMetricsStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.GetError() is { } error)
        {
            throw new ArgumentException(error, nameof(options));
        }

        _table = $"\"{options.Schema}\".safeai_metrics";
        _database = new PostgreSqlDatabase(
            options.ConnectionString,
            options.Schema,
            options.ConnectTimeout,
            options.CommandTimeout,
            store: "metrics",
            Component,
            SchemaVersion,
            [$"CREATE TABLE {_table} (bucket bigint NOT NULL, instance text NOT NULL, arm text NOT NULL, metric text NOT NULL, value double precision NOT NULL, PRIMARY KEY (bucket, instance, arm, metric));"],
            static (message, inner) => inner is null ? new MetricsStoreException(message) : new MetricsStoreException(message, inner));
    }

    public async ValueTask WriteAsync(string instance, IReadOnlyList<MetricPoint> points, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(instance);
        ArgumentNullException.ThrowIfNull(points);
        CheckText(instance, nameof(instance));
        if (points.Count == 0)
        {
            return;
        }

        // One row per key, the last point winning, as one statement cannot update a row twice.
        var rows = new Dictionary<(long Bucket, string Arm, string Metric), double>(points.Count);
        foreach (var point in points)
        {
            CheckText(point.Arm, nameof(points));
            CheckText(point.Metric, nameof(points));
            rows[(point.BucketStart.UtcTicks, point.Arm, point.Metric)] = point.Value;
        }

        try
        {
            await _database.EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
            var command = _database.DataSource.CreateCommand(
                $"INSERT INTO {_table} (bucket, instance, arm, metric, value) SELECT b, @instance, a, m, v FROM unnest(@buckets, @arms, @metrics, @values) AS p(b, a, m, v) " +
                "ON CONFLICT (bucket, instance, arm, metric) DO UPDATE SET value = excluded.value");
            await using (command.ConfigureAwait(false))
            {
                command.Parameters.AddWithValue("instance", instance);
                command.Parameters.Add(new NpgsqlParameter("buckets", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = rows.Keys.Select(static k => k.Bucket).ToArray() });
                command.Parameters.Add(new NpgsqlParameter("arms", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = rows.Keys.Select(static k => k.Arm).ToArray() });
                command.Parameters.Add(new NpgsqlParameter("metrics", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = rows.Keys.Select(static k => k.Metric).ToArray() });
                command.Parameters.Add(new NpgsqlParameter("values", NpgsqlDbType.Array | NpgsqlDbType.Double) { Value = rows.Values.ToArray() });
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (DbException ex)
        {
            throw _database.Wrap("write metrics", ex);
        }
    }

    public async ValueTask<IReadOnlyList<MetricPoint>> ReadAsync(DateTimeOffset from, DateTimeOffset to, string? instance = null, CancellationToken cancellationToken = default)
    {
        if (instance is not null)
        {
            CheckText(instance, nameof(instance));
        }

        try
        {
            await _database.EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
            var command = _database.DataSource.CreateCommand(instance is null
                ? $"SELECT bucket, arm, metric, SUM(value) FROM {_table} WHERE bucket >= @from AND bucket < @to GROUP BY bucket, arm, metric ORDER BY bucket, arm, metric"
                : $"SELECT bucket, arm, metric, value FROM {_table} WHERE bucket >= @from AND bucket < @to AND instance = @instance ORDER BY bucket, arm, metric");
            await using (command.ConfigureAwait(false))
            {
                command.Parameters.AddWithValue("from", from.UtcTicks);
                command.Parameters.AddWithValue("to", to.UtcTicks);
                if (instance is not null)
                {
                    command.Parameters.AddWithValue("instance", instance);
                }

                var points = new List<MetricPoint>();
                var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        points.Add(new MetricPoint(new DateTimeOffset(reader.GetInt64(0), TimeSpan.Zero), reader.GetString(1), reader.GetString(2), reader.GetDouble(3)));
                    }
                }

                return points;
            }
        }
        catch (DbException ex)
        {
            throw _database.Wrap("read metrics", ex);
        }
    }

    public async ValueTask PingAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            await _database.EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
            var command = _database.DataSource.CreateCommand($"SELECT COUNT(*) FROM {_table} WHERE bucket < 0");
            await using (command.ConfigureAwait(false))
            {
                await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (DbException ex)
        {
            throw _database.Wrap("reach its metrics", ex);
        }
    }

    public void Dispose() => _database.Dispose();

    public ValueTask DisposeAsync() => _database.DisposeAsync();

    internal Task<int> GetSchemaVersionAsync(CancellationToken cancellationToken) => _database.GetSchemaVersionAsync(cancellationToken);

    /// <summary>PostgreSQL text cannot hold U+0000: refused here with the parameter named, not as a server error.</summary>
    private static void CheckText(string value, string parameter)
    {
        if (value.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("Instance, arm and metric names cannot contain the character U+0000 (PostgreSQL text cannot store it).", parameter);
        }
    }
}

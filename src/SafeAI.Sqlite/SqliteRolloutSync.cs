using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace SafeAI.Sqlite;

/// <summary>
/// Shares a <see cref="RolloutController"/>'s state and counts through one SQLite file, for several processes on one
/// machine (the embedded default; use Redis across machines). Each decision is written with a version (a newer version
/// always wins); every instance polls the file, so a stop reaches the others within one poll interval.
/// </summary>
/// <remarks>Thread-safe. Dispose to stop polling.</remarks>
public sealed partial class SqliteRolloutSync : IAsyncDisposable
{
    private const string Schema = """
        CREATE TABLE IF NOT EXISTS safeai_rollout_state (name TEXT PRIMARY KEY, status INTEGER NOT NULL, stage INTEGER NOT NULL, started INTEGER NOT NULL, version INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS safeai_rollout_counts (name TEXT NOT NULL, idx INTEGER NOT NULL, value INTEGER NOT NULL, PRIMARY KEY (name, idx));
        """;

    private readonly string _connectionString;
    private readonly RolloutController _controller;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _flushGate = new(1, 1);
    private long[] _flushed = [];
    private Task _polling = Task.CompletedTask;

    private SqliteRolloutSync(string path, RolloutController controller, ILogger? logger)
    {
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, DefaultTimeout = 5 }.ToString();
        _controller = controller;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Connects a controller to the shared file: applies the stored state, starts polling, and writes the controller's own decisions.</summary>
    /// <param name="path">The SQLite file (created when missing).</param>
    /// <param name="controller">This instance's controller; every instance's controller must have the same name and plan.</param>
    /// <param name="pollInterval">How often to read the shared state; at least 10 ms. Default: 1 second.</param>
    /// <param name="timeProvider">The clock of the polling timer.</param>
    /// <param name="logger">The logger.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The running sync; dispose it to stop.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="pollInterval"/> is shorter than 10 ms.</exception>
    /// <exception cref="SqliteException">The file cannot be opened.</exception>
    public static async Task<SqliteRolloutSync> StartAsync(string path, RolloutController controller, TimeSpan? pollInterval = null, TimeProvider? timeProvider = null, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(controller);
        var interval = pollInterval ?? TimeSpan.FromSeconds(1);
        ArgumentOutOfRangeException.ThrowIfLessThan(interval, TimeSpan.FromMilliseconds(10));
        var sync = new SqliteRolloutSync(path, controller, logger);
        using (var connection = await sync.OpenAsync(cancellationToken).ConfigureAwait(false))
        {
            using var create = connection.CreateCommand();
            create.CommandText = Schema;
            await create.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await sync.PullAsync(cancellationToken).ConfigureAwait(false);
        controller.DecisionMade += sync.OnDecision;
        sync._polling = sync.PollAsync(interval, timeProvider ?? TimeProvider.System);
        return sync;
    }

    /// <summary>Adds this instance's counts since the last flush to the shared totals, in one transaction.</summary>
    /// <param name="cancellationToken">Cancels the flush.</param>
    /// <returns>A task that completes when the file has the counts.</returns>
    public async Task FlushCountsAsync(CancellationToken cancellationToken = default)
    {
        await _flushGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var current = _controller.ReadCounts();
            if (_flushed.Length != current.Length)
            {
                _flushed = new long[current.Length];
            }

            using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
            using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            using var upsert = connection.CreateCommand();
            upsert.Transaction = tx;
            upsert.CommandText = "INSERT INTO safeai_rollout_counts (name, idx, value) VALUES ($name, $idx, $delta) ON CONFLICT (name, idx) DO UPDATE SET value = value + excluded.value";
            var name = upsert.Parameters.Add("$name", SqliteType.Text);
            var idx = upsert.Parameters.Add("$idx", SqliteType.Integer);
            var delta = upsert.Parameters.Add("$delta", SqliteType.Integer);
            name.Value = _controller.Name;
            for (var i = 0; i < current.Length; i++)
            {
                var d = current[i] - _flushed[i];
                if (d != 0)
                {
                    idx.Value = i;
                    delta.Value = d;
                    await upsert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }
            }

            await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
            _flushed = current;
        }
        finally
        {
            _ = _flushGate.Release();
        }
    }

    /// <summary>Runs the judge on the counts of every instance: flushes this instance's counts, reads the totals and evaluates; a decision that changes something is written for the others.</summary>
    /// <param name="cancellationToken">Cancels the work.</param>
    /// <returns>The decision.</returns>
    public async Task<RolloutDecision> EvaluateAsync(CancellationToken cancellationToken = default)
    {
        await FlushCountsAsync(cancellationToken).ConfigureAwait(false);
        var counts = new long[_controller.ReadCounts().Length];
        using (var connection = await OpenAsync(cancellationToken).ConfigureAwait(false))
        {
            using var read = connection.CreateCommand();
            read.CommandText = "SELECT idx, value FROM safeai_rollout_counts WHERE name = $name";
            read.Parameters.AddWithValue("$name", _controller.Name);
            using var reader = await read.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var i = reader.GetInt32(0);
                if ((uint)i < (uint)counts.Length)
                {
                    counts[i] = reader.GetInt64(1);
                }
            }
        }

        var decision = _controller.Evaluate(counts);
        if (decision.Kind != RolloutDecisionKind.Continue)
        {
            await PushAsync(cancellationToken).ConfigureAwait(false);
        }

        return decision;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        _controller.DecisionMade -= OnDecision;
        await _stop.CancelAsync().ConfigureAwait(false);
        await _polling.ConfigureAwait(false);
        _stop.Dispose();
        _flushGate.Dispose();
    }

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            using var pragma = connection.CreateCommand();
            pragma.CommandText = "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL;";
            await pragma.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private void OnDecision(object? sender, RolloutDecision decision) => _ = PushSafelyAsync();

    private async Task PushSafelyAsync()
    {
        try
        {
            await PushAsync(_stop.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SqliteException or OperationCanceledException or ObjectDisposedException)
        {
            LogSyncFailed(_logger, _controller.Name, ex);
        }
    }

    private async Task PushAsync(CancellationToken cancellationToken)
    {
        var s = _controller.Snapshot;
        using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        using var write = connection.CreateCommand();
        write.CommandText = """
            INSERT INTO safeai_rollout_state (name, status, stage, started, version) VALUES ($name, $status, $stage, $started, $version)
            ON CONFLICT (name) DO UPDATE SET status = excluded.status, stage = excluded.stage, started = excluded.started, version = excluded.version
            WHERE excluded.version > safeai_rollout_state.version
            """;
        write.Parameters.AddWithValue("$name", _controller.Name);
        write.Parameters.AddWithValue("$status", (int)s.Status);
        write.Parameters.AddWithValue("$stage", s.StageIndex);
        write.Parameters.AddWithValue("$started", s.StageStartedAt.ToUnixTimeMilliseconds());
        write.Parameters.AddWithValue("$version", s.Version);
        await write.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task PullAsync(CancellationToken cancellationToken)
    {
        using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        using var read = connection.CreateCommand();
        read.CommandText = "SELECT status, stage, started, version FROM safeai_rollout_state WHERE name = $name";
        read.Parameters.AddWithValue("$name", _controller.Name);
        using var reader = await read.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var status = (RolloutStatus)reader.GetInt32(0);
            if (Enum.IsDefined(status))
            {
                _ = _controller.ApplyRemote(status, reader.GetInt32(1), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)), reader.GetInt64(3));
            }
        }
    }

    private async Task PollAsync(TimeSpan interval, TimeProvider timeProvider)
    {
        using var timer = new PeriodicTimer(interval, timeProvider);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                try
                {
                    await PullAsync(_stop.Token).ConfigureAwait(false);
                }
                catch (SqliteException ex)
                {
                    LogSyncFailed(_logger, _controller.Name, ex);
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(EventId = 1661, Level = LogLevel.Error, Message = "Rollout {Rollout}: the shared SQLite state could not be read or written; retrying at the next poll or decision.")]
    private static partial void LogSyncFailed(ILogger logger, string rollout, Exception exception);
}

using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace SafeAI.Monitoring;

/// <summary>
/// Shares a <see cref="KillSwitch"/> through a SQLite file: a change made on one instance (an alert's containment, an
/// operator) is written to the file, and every instance polling the file applies the newest state, as does
/// <c>safeai incident contain --store file.db</c>. Each change carries a version so the newest wins.
/// </summary>
public sealed class SqliteKillSwitchSync : IAsyncDisposable
{
    private const string Schema = """
        PRAGMA journal_mode = WAL;
        CREATE TABLE IF NOT EXISTS safeai_kill_switch (name TEXT PRIMARY KEY, is_on INTEGER NOT NULL, reason TEXT NOT NULL, changed_at INTEGER NOT NULL, version INTEGER NOT NULL);
        """;

    private readonly string _connectionString;
    private readonly KillSwitch _killSwitch;
    private readonly string _name;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private Task _loop = Task.CompletedTask;
    private long _version;
    private bool _applying;

    private SqliteKillSwitchSync(string path, KillSwitch killSwitch, string name, TimeProvider timeProvider, ILogger logger)
    {
        _connectionString = ConnectionString(path);
        _killSwitch = killSwitch;
        _name = name;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    /// <summary>Starts sharing: applies the state in the file, then polls it and writes local changes to it.</summary>
    /// <param name="path">The database file (created when missing).</param>
    /// <param name="killSwitch">This instance's kill switch.</param>
    /// <param name="pollInterval">How often the file is read (default 2 seconds).</param>
    /// <param name="name">The switch's name in the file (default <c>default</c>).</param>
    /// <param name="timeProvider">The clock; the system clock when <see langword="null"/>.</param>
    /// <param name="logger">Logs failures; none when <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The running sync; dispose it to stop.</returns>
    /// <exception cref="MetricsStoreException">The file cannot be opened.</exception>
    public static async Task<SqliteKillSwitchSync> StartAsync(string path, KillSwitch killSwitch, TimeSpan? pollInterval = null, string name = "default", TimeProvider? timeProvider = null, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(killSwitch);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var interval = pollInterval ?? TimeSpan.FromSeconds(2);
        ArgumentOutOfRangeException.ThrowIfLessThan(interval, TimeSpan.FromMilliseconds(10));
        var sync = new SqliteKillSwitchSync(path, killSwitch, name, timeProvider ?? TimeProvider.System, logger ?? NullLogger.Instance);
        await sync.PollAsync(cancellationToken).ConfigureAwait(false);
        killSwitch.Changed += sync.OnLocalChange;
        sync._loop = sync.RunAsync(interval);
        return sync;
    }

    /// <summary>Writes a state to the file (what <c>safeai incident contain</c> does); instances apply it at their next poll.</summary>
    /// <param name="path">The database file.</param>
    /// <param name="on">The state.</param>
    /// <param name="reason">Why.</param>
    /// <param name="name">The switch's name.</param>
    /// <param name="time">When.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The new version.</returns>
    /// <exception cref="MetricsStoreException">The file cannot be written.</exception>
    public static async Task<long> WriteAsync(string path, bool on, string reason, string name, DateTimeOffset time, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        try
        {
            using var connection = new SqliteConnection(ConnectionString(path));
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await EnsureSchemaAsync(connection, cancellationToken).ConfigureAwait(false);
            using var command = connection.CreateCommand();
            command.CommandText = """
                INSERT INTO safeai_kill_switch (name, is_on, reason, changed_at, version) VALUES ($n, $on, $r, $t, 1)
                ON CONFLICT (name) DO UPDATE SET is_on = excluded.is_on, reason = excluded.reason, changed_at = excluded.changed_at, version = version + 1
                RETURNING version
                """;
            command.Parameters.AddWithValue("$n", name);
            command.Parameters.AddWithValue("$on", on ? 1 : 0);
            command.Parameters.AddWithValue("$r", reason);
            command.Parameters.AddWithValue("$t", time.UtcTicks);
            return (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        }
        catch (SqliteException ex)
        {
            throw new MetricsStoreException($"The kill switch in '{path}' could not be written: {ex.Message}", ex);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        _killSwitch.Changed -= OnLocalChange;
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
        _gate.Dispose();
    }

    private static string ConnectionString(string path) => new SqliteConnectionStringBuilder { DataSource = path, DefaultTimeout = 5, Pooling = true }.ToString();

    private static async Task EnsureSchemaAsync(SqliteConnection connection, CancellationToken cancellationToken)
    {
        using var schema = connection.CreateCommand();
        schema.CommandText = Schema;
        await schema.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task RunAsync(TimeSpan interval)
    {
        using var timer = new PeriodicTimer(interval, _timeProvider);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                try
                {
                    await PollAsync(_stop.Token).ConfigureAwait(false);
                }
                catch (MetricsStoreException ex)
                {
                    MonitoringLog.PersistFailed(_logger, ex);
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    private async Task PollAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var connection = new SqliteConnection(_connectionString);
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await EnsureSchemaAsync(connection, cancellationToken).ConfigureAwait(false);
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT is_on, reason, version FROM safeai_kill_switch WHERE name = $n";
            command.Parameters.AddWithValue("$n", _name);
            using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false) && reader.GetInt64(2) > _version)
            {
                _version = reader.GetInt64(2);
                _applying = true;
                try
                {
                    _ = _killSwitch.Set(reader.GetInt64(0) != 0, reader.GetString(1));
                }
                finally
                {
                    _applying = false;
                }
            }
        }
        catch (SqliteException ex)
        {
            throw new MetricsStoreException($"The kill switch could not be read: {ex.Message}", ex);
        }
        finally
        {
            _gate.Release();
        }
    }

    private void OnLocalChange(object? sender, bool on)
    {
        if (_applying)
        {
            return;
        }

        // Written in the background: the switch has already changed locally; the file follows.
        _ = Task.Run(async () =>
        {
            try
            {
                var version = await WriteAsync(new SqliteConnectionStringBuilder(_connectionString).DataSource, on, _killSwitch.Reason ?? "changed", _name, _timeProvider.GetUtcNow(), _stop.Token).ConfigureAwait(false);
                _version = Math.Max(_version, version);
            }
            catch (MetricsStoreException ex)
            {
                MonitoringLog.PersistFailed(_logger, ex);
            }
            catch (OperationCanceledException)
            {
            }
        });
    }
}

using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace SafeAI.Monitoring;

/// <summary>The consent under which the call log keeps a call's input text, for investigating incidents (<see cref="SafeAICallContext.HasConsent"/>).</summary>
public static class MonitoringConsents
{
    /// <summary>The user agreed that their message may be kept to investigate incidents.</summary>
    public const string IncidentText = "incident-review";
}

/// <summary>
/// One call as the call log keeps it, for incident investigation: ids, the decisive verdict, arm, latency; the input
/// text only when the caller consented (<see cref="MonitoringConsents.IncidentText"/>).
/// </summary>
public sealed record CallRecord
{
    /// <summary>Gets when the call ended.</summary>
    public required DateTimeOffset Time { get; init; }

    /// <summary>Gets the response id, when the model gave one.</summary>
    public string? ResponseId { get; init; }

    /// <summary>Gets the user id, if known.</summary>
    public string? UserId { get; init; }

    /// <summary>Gets the tenant id, if known.</summary>
    public string? TenantId { get; init; }

    /// <summary>Gets the conversation id, if known.</summary>
    public string? ConversationId { get; init; }

    /// <summary>Gets the rollout arm, if any.</summary>
    public string? Arm { get; init; }

    /// <summary>Gets the outcome (<c>allow</c>, <c>block</c>, ..., or <c>error</c>).</summary>
    public required string Outcome { get; init; }

    /// <summary>Gets the stage of the decisive verdict, if any.</summary>
    public string? Stage { get; init; }

    /// <summary>Gets the reason code of the decisive verdict, if any.</summary>
    public string? Reason { get; init; }

    /// <summary>Gets how long the call took, in milliseconds.</summary>
    public double LatencyMs { get; init; }

    /// <summary>Gets the input text, only when the caller consented to keeping it; otherwise <see langword="null"/>.</summary>
    public string? Text { get; init; }
}

/// <summary>Where the monitoring stage logs calls for incident investigation. SafeAI ships <see cref="SqliteCallLog"/>.</summary>
public interface ICallLog
{
    /// <summary>Queues a record; never blocks the call (a full queue drops the record and counts it).</summary>
    /// <param name="record">The record.</param>
    void Append(CallRecord record);

    /// <summary>Reads the records of calls that ended in [<paramref name="from"/>, <paramref name="to"/>), oldest first.</summary>
    /// <param name="from">The first instant (inclusive).</param>
    /// <param name="to">The last instant (exclusive).</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The records.</returns>
    ValueTask<IReadOnlyList<CallRecord>> ReadAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default);
}

/// <summary>
/// A call log in a SQLite file: records are queued without blocking the call and written in batches by a background
/// task. Keeps <see cref="Retention"/> of records (older ones are deleted as new ones are written). Thread-safe.
/// </summary>
public sealed class SqliteCallLog : ICallLog, IAsyncDisposable
{
    private const string Schema = """
        PRAGMA journal_mode = WAL;
        CREATE TABLE IF NOT EXISTS safeai_calls (
            time INTEGER NOT NULL, response_id TEXT, user_id TEXT, tenant_id TEXT, conversation_id TEXT, arm TEXT,
            outcome TEXT NOT NULL, stage TEXT, reason TEXT, latency_ms REAL NOT NULL, text TEXT);
        CREATE INDEX IF NOT EXISTS safeai_calls_time ON safeai_calls (time);
        """;

    private static readonly string[] ParameterNames = ["$t", "$r", "$u", "$te", "$c", "$a", "$o", "$s", "$re", "$l", "$x"];
    private readonly string _connectionString;
    private readonly Channel<CallRecord> _queue;
    private readonly Task _writer;
    private readonly ILogger _logger;
    private long _dropped;
    private bool _writing;

    /// <summary>Initializes a new instance of the <see cref="SqliteCallLog"/> class and starts its writer.</summary>
    /// <param name="path">The database file (it may be the metrics store's).</param>
    /// <param name="retention">How long records are kept (default 30 days).</param>
    /// <param name="capacity">How many records may wait for the writer before new ones are dropped (default 10,000).</param>
    /// <param name="logger">Logs write failures; none when <see langword="null"/>.</param>
    public SqliteCallLog(string path, TimeSpan? retention = null, int capacity = 10_000, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Path = path;
        Retention = retention ?? TimeSpan.FromDays(30);
        _logger = logger ?? NullLogger.Instance;
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, DefaultTimeout = 5, Pooling = true }.ToString();
        _queue = Channel.CreateBounded<CallRecord>(new BoundedChannelOptions(capacity) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
        _writer = Task.Run(WriteLoopAsync);
    }

    /// <summary>Gets the database file.</summary>
    public string Path { get; }

    /// <summary>Gets how long records are kept.</summary>
    public TimeSpan Retention { get; }

    /// <summary>Gets how many records were dropped because the writer fell behind.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <inheritdoc />
    public void Append(CallRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (!_queue.Writer.TryWrite(record))
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    /// <summary>Reads records straight from a call log file (for <c>safeai incident export</c>), without starting a writer.</summary>
    /// <param name="path">The database file.</param>
    /// <param name="from">The first instant (inclusive).</param>
    /// <param name="to">The last instant (exclusive).</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The records, oldest first.</returns>
    /// <exception cref="MetricsStoreException">The file cannot be read.</exception>
    public static async Task<IReadOnlyList<CallRecord>> ReadFileAsync(string path, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            throw new MetricsStoreException($"The call log '{path}' does not exist.");
        }

        try
        {
            using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly }.ToString());
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT time, response_id, user_id, tenant_id, conversation_id, arm, outcome, stage, reason, latency_ms, text FROM safeai_calls WHERE time >= $from AND time < $to ORDER BY time";
            command.Parameters.AddWithValue("$from", from.UtcTicks);
            command.Parameters.AddWithValue("$to", to.UtcTicks);
            var records = new List<CallRecord>();
            using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                string? Text(int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
                records.Add(new CallRecord
                {
                    Time = new DateTimeOffset(reader.GetInt64(0), TimeSpan.Zero),
                    ResponseId = Text(1),
                    UserId = Text(2),
                    TenantId = Text(3),
                    ConversationId = Text(4),
                    Arm = Text(5),
                    Outcome = reader.GetString(6),
                    Stage = Text(7),
                    Reason = Text(8),
                    LatencyMs = reader.GetDouble(9),
                    Text = Text(10),
                });
            }

            return records;
        }
        catch (SqliteException ex)
        {
            throw new MetricsStoreException($"The call log '{path}' could not be read: {ex.Message}", ex);
        }
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<CallRecord>> ReadAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default) =>
        await ReadFileAsync(Path, from, to, cancellationToken).ConfigureAwait(false);

    /// <summary>Waits until every queued record is written (tests, shutdown).</summary>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>A task that completes when the queue is empty.</returns>
    public async Task FlushAsync(CancellationToken cancellationToken = default)
    {
        while (_queue.Reader.Count > 0 || Volatile.Read(ref _writing))
        {
            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Writes what is queued and stops the writer.</summary>
    /// <returns>A task that completes when stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
    }

    private async Task WriteLoopAsync()
    {
        var batch = new List<CallRecord>(500);
        var initialized = false;
        while (await _queue.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            Volatile.Write(ref _writing, true);
            try
            {
                while (batch.Count < 500 && _queue.Reader.TryRead(out var record))
                {
                    batch.Add(record);
                }

                using var connection = new SqliteConnection(_connectionString);
                await connection.OpenAsync().ConfigureAwait(false);
                if (!initialized)
                {
                    using var schema = connection.CreateCommand();
                    schema.CommandText = Schema;
                    await schema.ExecuteNonQueryAsync().ConfigureAwait(false);
                    initialized = true;
                }

                using var transaction = connection.BeginTransaction();
                using var insert = connection.CreateCommand();
                insert.Transaction = transaction;
                insert.CommandText = "INSERT INTO safeai_calls VALUES ($t, $r, $u, $te, $c, $a, $o, $s, $re, $l, $x)";
                var parameters = ParameterNames.Select(name => insert.Parameters.Add(name, SqliteType.Text)).ToArray();
                parameters[0].SqliteType = SqliteType.Integer;
                parameters[9].SqliteType = SqliteType.Real;
                foreach (var r in batch)
                {
                    parameters[0].Value = r.Time.UtcTicks;
                    parameters[1].Value = (object?)r.ResponseId ?? DBNull.Value;
                    parameters[2].Value = (object?)r.UserId ?? DBNull.Value;
                    parameters[3].Value = (object?)r.TenantId ?? DBNull.Value;
                    parameters[4].Value = (object?)r.ConversationId ?? DBNull.Value;
                    parameters[5].Value = (object?)r.Arm ?? DBNull.Value;
                    parameters[6].Value = r.Outcome;
                    parameters[7].Value = (object?)r.Stage ?? DBNull.Value;
                    parameters[8].Value = (object?)r.Reason ?? DBNull.Value;
                    parameters[9].Value = r.LatencyMs;
                    parameters[10].Value = (object?)r.Text ?? DBNull.Value;
                    await insert.ExecuteNonQueryAsync().ConfigureAwait(false);
                }

                using var prune = connection.CreateCommand();
                prune.Transaction = transaction;
                prune.CommandText = "DELETE FROM safeai_calls WHERE time < $before";
                prune.Parameters.AddWithValue("$before", (batch[^1].Time - Retention).UtcTicks);
                await prune.ExecuteNonQueryAsync().ConfigureAwait(false);
                transaction.Commit();
            }
            catch (SqliteException ex)
            {
                Interlocked.Add(ref _dropped, batch.Count);
                MonitoringLog.PersistFailed(_logger, ex);
            }
            finally
            {
                batch.Clear();
                Volatile.Write(ref _writing, false);
            }
        }
    }
}

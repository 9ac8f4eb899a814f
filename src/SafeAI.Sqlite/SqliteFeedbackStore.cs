using System.Data.Common;
using System.Globalization;
using System.Text;
using Microsoft.Data.Sqlite;
using SafeAI.Feedback;

namespace SafeAI.Sqlite;

/// <summary>
/// A feedback store in one SQLite file (it may share the review store's file): write-ahead logging,
/// <c>synchronous=FULL</c>, <c>busy_timeout</c>, and a versioned schema (component <c>feedback</c> in
/// <c>safeai_schema_version</c>) created or migrated on first use. <c>review_ticket_id</c> joins
/// <c>safeai_review_items.id</c>.
/// </summary>
internal sealed class SqliteFeedbackStore : IFeedbackStore, IDisposable
{
    internal const string Component = "feedback";
    internal const int SchemaVersion = 1;

    private const string SelectColumns = "seq, id, response_id, rating, comment, user_id, tenant_id, conversation_id, review_ticket_id, created_at";

    // Migrations of the feedback table, in order; index i brings the schema from version i to i + 1.
    private static readonly string[] Migrations =
    [
        """
        CREATE TABLE safeai_feedback (
            seq              INTEGER PRIMARY KEY AUTOINCREMENT,
            id               TEXT    NOT NULL UNIQUE,
            response_id      TEXT    NOT NULL,
            rating           INTEGER NOT NULL,
            comment          TEXT    NULL,
            user_id          TEXT    NULL,
            tenant_id        TEXT    NULL,
            conversation_id  TEXT    NULL,
            review_ticket_id TEXT    NULL,
            created_at       INTEGER NOT NULL
        );
        CREATE INDEX ix_safeai_feedback_response ON safeai_feedback (response_id, seq);
        CREATE INDEX ix_safeai_feedback_ticket ON safeai_feedback (review_ticket_id);
        """,
    ];

    private readonly string _connectionString;
    private readonly string _description;
    private readonly int _busyTimeoutMs;
    private readonly SemaphoreSlim _initGate = new(1, 1);
    private volatile bool _initialized;

    public SqliteFeedbackStore(SqliteFeedbackStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.GetError() is { } error)
        {
            throw new ArgumentException(error, nameof(options));
        }

        var builder = string.IsNullOrWhiteSpace(options.ConnectionString)
            ? new SqliteConnectionStringBuilder { DataSource = options.DataSource }
            : new SqliteConnectionStringBuilder(options.ConnectionString);
        builder.DefaultTimeout = Math.Max(1, (int)Math.Ceiling(options.BusyTimeout.TotalSeconds));
        _connectionString = builder.ToString();
        _description = builder.DataSource;
        _busyTimeoutMs = (int)options.BusyTimeout.TotalMilliseconds;
    }

    public async ValueTask AddAsync(FeedbackEntry entry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        entry.Validate();
        try
        {
            using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
            using var command = connection.CreateCommand();
            command.CommandText = """
                INSERT INTO safeai_feedback (id, response_id, rating, comment, user_id, tenant_id, conversation_id, review_ticket_id, created_at)
                VALUES ($id, $response, $rating, $comment, $user, $tenant, $conversation, $ticket, $created)
                """;
            command.Parameters.AddWithValue("$id", entry.Id);
            command.Parameters.AddWithValue("$response", entry.ResponseId);
            command.Parameters.AddWithValue("$rating", (int)entry.Rating);
            command.Parameters.AddWithValue("$comment", (object?)entry.Comment ?? DBNull.Value);
            command.Parameters.AddWithValue("$user", (object?)entry.UserId ?? DBNull.Value);
            command.Parameters.AddWithValue("$tenant", (object?)entry.TenantId ?? DBNull.Value);
            command.Parameters.AddWithValue("$conversation", (object?)entry.ConversationId ?? DBNull.Value);
            command.Parameters.AddWithValue("$ticket", (object?)entry.ReviewTicketId ?? DBNull.Value);
            command.Parameters.AddWithValue("$created", entry.CreatedAt.ToUnixTimeMilliseconds());
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode == 19 /* SQLITE_CONSTRAINT */)
        {
            throw new ArgumentException($"A feedback entry with id '{entry.Id}' already exists.", nameof(entry), ex);
        }
        catch (DbException ex)
        {
            throw Wrap("add feedback", ex);
        }
    }

    public async ValueTask<FeedbackEntry?> GetAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        try
        {
            using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
            using var command = connection.CreateCommand();
            command.CommandText = $"SELECT {SelectColumns} FROM safeai_feedback WHERE id = $id";
            command.Parameters.AddWithValue("$id", id);
            using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? Read(reader) : null;
        }
        catch (DbException ex)
        {
            throw Wrap("read feedback", ex);
        }
    }

    public async ValueTask<FeedbackPage> ListAsync(FeedbackQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        query.Validate();
        var after = FeedbackQuery.ParseContinuation(query.ContinuationToken);
        try
        {
            using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
            using var command = connection.CreateCommand();
            var sql = new StringBuilder($"SELECT {SelectColumns} FROM safeai_feedback WHERE seq > $after");
            if (query.ResponseId is { } response)
            {
                sql.Append(" AND response_id = $response");
                command.Parameters.AddWithValue("$response", response);
            }

            if (query.ReviewTicketId is { } ticket)
            {
                sql.Append(" AND review_ticket_id = $ticket");
                command.Parameters.AddWithValue("$ticket", ticket);
            }

            if (query.Rating is { } rating)
            {
                sql.Append(" AND rating = $rating");
                command.Parameters.AddWithValue("$rating", (int)rating);
            }

            sql.Append(" ORDER BY seq LIMIT $limit");
            command.CommandText = sql.ToString();
            command.Parameters.AddWithValue("$after", after);
            command.Parameters.AddWithValue("$limit", query.PageSize + 1);
            var items = new List<FeedbackEntry>();
            long last = 0;
            var more = false;
            using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                if (items.Count == query.PageSize)
                {
                    more = true;
                    break;
                }

                last = reader.GetInt64(0);
                items.Add(Read(reader));
            }

            return new FeedbackPage(items, more ? FeedbackQuery.FormatContinuation(last) : null);
        }
        catch (DbException ex)
        {
            throw Wrap("list feedback", ex);
        }
    }

    public void Dispose() => _initGate.Dispose();

    internal async Task<int> GetSchemaVersionAsync(CancellationToken cancellationToken)
    {
        using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        return await ReadVersionAsync(connection, null, cancellationToken).ConfigureAwait(false);
    }

    private FeedbackEntry Read(SqliteDataReader reader)
    {
        var rating = reader.GetInt32(3);
        if (!Enum.IsDefined((FeedbackRating)rating))
        {
            throw new FeedbackStoreException($"The SQLite feedback store '{_description}' holds an entry with an unknown rating ({rating.ToString(CultureInfo.InvariantCulture)}).");
        }

        return new FeedbackEntry
        {
            Id = reader.GetString(1),
            ResponseId = reader.GetString(2),
            Rating = (FeedbackRating)rating,
            Comment = reader.IsDBNull(4) ? null : reader.GetString(4),
            UserId = reader.IsDBNull(5) ? null : reader.GetString(5),
            TenantId = reader.IsDBNull(6) ? null : reader.GetString(6),
            ConversationId = reader.IsDBNull(7) ? null : reader.GetString(7),
            ReviewTicketId = reader.IsDBNull(8) ? null : reader.GetString(8),
            CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(9)),
        };
    }

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            using (var pragma = connection.CreateCommand())
            {
                pragma.CommandText = string.Create(CultureInfo.InvariantCulture, $"PRAGMA busy_timeout = {_busyTimeoutMs}; PRAGMA synchronous = FULL;");
                await pragma.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            if (!_initialized)
            {
                await InitializeAsync(connection, cancellationToken).ConfigureAwait(false);
            }

            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private async Task InitializeAsync(SqliteConnection connection, CancellationToken cancellationToken)
    {
        await _initGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_initialized)
            {
                return;
            }

            using (var wal = connection.CreateCommand())
            {
                wal.CommandText = "PRAGMA journal_mode = WAL;";
                await wal.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            using (var create = connection.CreateCommand())
            {
                create.Transaction = transaction;
                create.CommandText = """
                    CREATE TABLE IF NOT EXISTS safeai_schema_version (
                        component  TEXT    PRIMARY KEY,
                        version    INTEGER NOT NULL,
                        applied_at TEXT    NOT NULL
                    );
                    """;
                await create.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            var version = await ReadVersionAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
            if (version > SchemaVersion)
            {
                throw new FeedbackStoreException(
                    $"The SQLite feedback store '{_description}' has schema version {version}, newer than this SafeAI.Sqlite supports ({SchemaVersion}). Upgrade the package.");
            }

            for (var v = version; v < SchemaVersion; v++)
            {
                using var migrate = connection.CreateCommand();
                migrate.Transaction = transaction;
                migrate.CommandText = Migrations[v];
                await migrate.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            if (version < SchemaVersion)
            {
                using var record = connection.CreateCommand();
                record.Transaction = transaction;
                record.CommandText = """
                    INSERT INTO safeai_schema_version (component, version, applied_at) VALUES ($component, $version, datetime('now'))
                    ON CONFLICT (component) DO UPDATE SET version = excluded.version, applied_at = excluded.applied_at
                    """;
                record.Parameters.AddWithValue("$component", Component);
                record.Parameters.AddWithValue("$version", SchemaVersion);
                await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            _initialized = true;
        }
        catch (DbException ex)
        {
            throw Wrap("create or migrate its schema", ex);
        }
        finally
        {
            _initGate.Release();
        }
    }

    private static async Task<int> ReadVersionAsync(SqliteConnection connection, SqliteTransaction? transaction, CancellationToken cancellationToken)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT version FROM safeai_schema_version WHERE component = $component";
        command.Parameters.AddWithValue("$component", Component);
        var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return value is null or DBNull ? 0 : Convert.ToInt32(value, CultureInfo.InvariantCulture);
    }

    private FeedbackStoreException Wrap(string operation, DbException ex) =>
        new($"The SQLite feedback store '{_description}' could not {operation}: {ex.Message}", ex);
}

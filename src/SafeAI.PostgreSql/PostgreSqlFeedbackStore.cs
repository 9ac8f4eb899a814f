using System.Data.Common;
using System.Globalization;
using Npgsql;
using NpgsqlTypes;
using SafeAI.Feedback;

namespace SafeAI.PostgreSql;

/// <summary>
/// A feedback store in PostgreSQL: one row per entry in <c>safeai_feedback</c> (its <c>review_ticket_id</c> joins
/// <c>safeai_review_items.id</c>), with a versioned schema (component <c>feedback</c> in <c>safeai_schema_version</c>)
/// migrated on first use under the advisory lock the review store uses too.
/// </summary>
internal sealed class PostgreSqlFeedbackStore : IFeedbackStore, IDisposable, IAsyncDisposable
{
    internal const string Component = "feedback";
    internal const int SchemaVersion = 1;

    // The same constant as the review store's: it serializes all SafeAI migrations across app instances.
    private const long MigrationLockKey = 0x5AFE_A1_0001;

    private const string SelectColumns = "seq, id, response_id, rating, comment, user_id, tenant_id, conversation_id, review_ticket_id, created_at";

    private readonly NpgsqlDataSource _dataSource;
    private readonly string _schema;
    private readonly string _description;
    private readonly string _table;
    private readonly SemaphoreSlim _initGate = new(1, 1);
    private volatile bool _initialized;

    public PostgreSqlFeedbackStore(PostgreSqlFeedbackStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.GetError() is { } error)
        {
            throw new ArgumentException(error, nameof(options));
        }

        var builder = new NpgsqlConnectionStringBuilder(options.ConnectionString)
        {
            Timeout = (int)Math.Ceiling(options.ConnectTimeout.TotalSeconds),
            CommandTimeout = (int)Math.Ceiling(options.CommandTimeout.TotalSeconds),
        };
        _dataSource = NpgsqlDataSource.Create(builder);
        _schema = options.Schema;
        _table = $"\"{_schema}\".safeai_feedback";
        _description = $"{builder.Host}:{builder.Port}/{builder.Database}";
    }

    public async ValueTask AddAsync(FeedbackEntry entry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        entry.Validate();
        try
        {
            await EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
            var command = _dataSource.CreateCommand(
                $"INSERT INTO {_table} (id, response_id, rating, comment, user_id, tenant_id, conversation_id, review_ticket_id, created_at) VALUES (@id, @response, @rating, @comment, @user, @tenant, @conversation, @ticket, @created)");
            await using (command.ConfigureAwait(false))
            {
                command.Parameters.AddWithValue("id", entry.Id);
                command.Parameters.AddWithValue("response", entry.ResponseId);
                command.Parameters.AddWithValue("rating", (int)entry.Rating);
                AddText(command, "comment", entry.Comment);
                AddText(command, "user", entry.UserId);
                AddText(command, "tenant", entry.TenantId);
                AddText(command, "conversation", entry.ConversationId);
                AddText(command, "ticket", entry.ReviewTicketId);
                command.Parameters.AddWithValue("created", entry.CreatedAt.ToUnixTimeMilliseconds());
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation)
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
            await EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
            var command = _dataSource.CreateCommand($"SELECT {SelectColumns} FROM {_table} WHERE id = @id");
            await using (command.ConfigureAwait(false))
            {
                command.Parameters.AddWithValue("id", id);
                var (items, _) = await ReadAsync(command, int.MaxValue, cancellationToken).ConfigureAwait(false);
                return items.Count > 0 ? items[0] : null;
            }
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
            await EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
            var command = _dataSource.CreateCommand(
                $"SELECT {SelectColumns} FROM {_table} WHERE seq > @after AND (@response::text IS NULL OR response_id = @response) " +
                "AND (@ticket::text IS NULL OR review_ticket_id = @ticket) AND (@rating::integer IS NULL OR rating = @rating) ORDER BY seq LIMIT @limit");
            await using (command.ConfigureAwait(false))
            {
                command.Parameters.AddWithValue("after", after);
                AddText(command, "response", query.ResponseId);
                AddText(command, "ticket", query.ReviewTicketId);
                command.Parameters.Add(new NpgsqlParameter("rating", NpgsqlDbType.Integer) { Value = query.Rating is { } r ? (int)r : DBNull.Value });
                command.Parameters.AddWithValue("limit", query.PageSize + 1);
                var (items, last) = await ReadAsync(command, query.PageSize, cancellationToken).ConfigureAwait(false);
                return new FeedbackPage(items, last is { } seq ? FeedbackQuery.FormatContinuation(seq) : null);
            }
        }
        catch (DbException ex)
        {
            throw Wrap("list feedback", ex);
        }
    }

    public void Dispose()
    {
        _dataSource.Dispose();
        _initGate.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        await _dataSource.DisposeAsync().ConfigureAwait(false);
        _initGate.Dispose();
    }

    internal async Task<int> GetSchemaVersionAsync(CancellationToken cancellationToken)
    {
        await EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            return await ReadVersionAsync(connection, null, cancellationToken).ConfigureAwait(false);
        }
    }

    private static void AddText(NpgsqlCommand command, string name, string? value) =>
        command.Parameters.Add(new NpgsqlParameter(name, NpgsqlDbType.Text) { Value = (object?)value ?? DBNull.Value });

    private async Task<(List<FeedbackEntry> Items, long? MoreAfter)> ReadAsync(NpgsqlCommand command, int pageSize, CancellationToken cancellationToken)
    {
        var items = new List<FeedbackEntry>();
        long last = 0;
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                if (items.Count == pageSize)
                {
                    return (items, last);
                }

                last = reader.GetInt64(0);
                var rating = reader.GetInt32(3);
                if (!Enum.IsDefined((FeedbackRating)rating))
                {
                    throw new FeedbackStoreException($"The PostgreSQL feedback store {_description} holds an entry with an unknown rating ({rating.ToString(CultureInfo.InvariantCulture)}).");
                }

                items.Add(new FeedbackEntry
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
                });
            }
        }

        return (items, null);
    }

    private string[] GetMigrations() =>
    [
        $"""
        CREATE TABLE {_table} (
            seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id               text    NOT NULL UNIQUE,
            response_id      text    NOT NULL,
            rating           integer NOT NULL,
            comment          text    NULL,
            user_id          text    NULL,
            tenant_id        text    NULL,
            conversation_id  text    NULL,
            review_ticket_id text    NULL,
            created_at       bigint  NOT NULL
        );
        CREATE INDEX ix_safeai_feedback_response ON {_table} (response_id, seq);
        CREATE INDEX ix_safeai_feedback_ticket ON {_table} (review_ticket_id);
        """,
    ];

    private ValueTask EnsureInitializedAsync(CancellationToken cancellationToken) =>
        _initialized ? ValueTask.CompletedTask : new ValueTask(InitializeAsync(cancellationToken));

    private async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await _initGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_initialized)
            {
                return;
            }

            var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                await using (transaction.ConfigureAwait(false))
                {
                    await ExecuteAsync(connection, transaction, string.Create(CultureInfo.InvariantCulture, $"SELECT pg_advisory_xact_lock({MigrationLockKey})"), cancellationToken).ConfigureAwait(false);
                    await ExecuteAsync(connection, transaction, $"""
                        CREATE SCHEMA IF NOT EXISTS "{_schema}";
                        CREATE TABLE IF NOT EXISTS "{_schema}".safeai_schema_version (
                            component  text        PRIMARY KEY,
                            version    integer     NOT NULL,
                            applied_at timestamptz NOT NULL DEFAULT now()
                        );
                        """, cancellationToken).ConfigureAwait(false);
                    var version = await ReadVersionAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
                    if (version > SchemaVersion)
                    {
                        throw new FeedbackStoreException(
                            $"The PostgreSQL feedback store {_description} (schema {_schema}) has schema version {version}, newer than this SafeAI.PostgreSql supports ({SchemaVersion}). Upgrade the package.");
                    }

                    var migrations = GetMigrations();
                    for (var v = version; v < SchemaVersion; v++)
                    {
                        await ExecuteAsync(connection, transaction, migrations[v], cancellationToken).ConfigureAwait(false);
                    }

                    if (version < SchemaVersion)
                    {
                        var record = new NpgsqlCommand(
                            $"""
                            INSERT INTO "{_schema}".safeai_schema_version (component, version) VALUES (@component, @version)
                            ON CONFLICT (component) DO UPDATE SET version = excluded.version, applied_at = now()
                            """,
                            connection,
                            transaction);
                        await using (record.ConfigureAwait(false))
                        {
                            record.Parameters.AddWithValue("component", Component);
                            record.Parameters.AddWithValue("version", SchemaVersion);
                            await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                        }
                    }

                    await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                }
            }

            _initialized = true;
        }
        finally
        {
            _initGate.Release();
        }
    }

    private async Task<int> ReadVersionAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, CancellationToken cancellationToken)
    {
        var command = new NpgsqlCommand($"SELECT version FROM \"{_schema}\".safeai_schema_version WHERE component = @component", connection, transaction);
        await using (command.ConfigureAwait(false))
        {
            command.Parameters.AddWithValue("component", Component);
            var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            return value is null or DBNull ? 0 : Convert.ToInt32(value, CultureInfo.InvariantCulture);
        }
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        var command = new NpgsqlCommand(sql, connection, transaction);
        await using (command.ConfigureAwait(false))
        {
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private FeedbackStoreException Wrap(string operation, DbException ex) =>
        new($"The PostgreSQL feedback store {_description} could not {operation}: {ex.Message}", ex);
}

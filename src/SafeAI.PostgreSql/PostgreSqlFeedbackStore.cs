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

    private const string SelectColumns = "seq, id, response_id, rating, comment, user_id, tenant_id, conversation_id, review_ticket_id, created_at";

    private readonly PostgreSqlDatabase _database;
    private readonly string _table;

    public PostgreSqlFeedbackStore(PostgreSqlFeedbackStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.GetError() is { } error)
        {
            throw new ArgumentException(error, nameof(options));
        }

        _table = $"\"{options.Schema}\".safeai_feedback";
        _database = new PostgreSqlDatabase(
            options.ConnectionString,
            options.Schema,
            options.ConnectTimeout,
            options.CommandTimeout,
            store: "feedback",
            Component,
            SchemaVersion,
            GetMigrations(_table),
            static (message, inner) => inner is null ? new FeedbackStoreException(message) : new FeedbackStoreException(message, inner));
    }

    public async ValueTask AddAsync(FeedbackEntry entry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        entry.Validate();
        try
        {
            await _database.EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
            var command = _database.DataSource.CreateCommand(
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
            throw _database.Wrap("add feedback", ex);
        }
    }

    public async ValueTask<FeedbackEntry?> GetAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        try
        {
            await _database.EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
            var command = _database.DataSource.CreateCommand($"SELECT {SelectColumns} FROM {_table} WHERE id = @id");
            await using (command.ConfigureAwait(false))
            {
                command.Parameters.AddWithValue("id", id);
                var (items, _) = await ReadAsync(command, int.MaxValue, cancellationToken).ConfigureAwait(false);
                return items.Count > 0 ? items[0] : null;
            }
        }
        catch (DbException ex)
        {
            throw _database.Wrap("read feedback", ex);
        }
    }

    public async ValueTask<FeedbackPage> ListAsync(FeedbackQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        query.Validate();
        var after = FeedbackQuery.ParseContinuation(query.ContinuationToken);
        try
        {
            await _database.EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
            var command = _database.DataSource.CreateCommand(
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
            throw _database.Wrap("list feedback", ex);
        }
    }

    public void Dispose() => _database.Dispose();

    public ValueTask DisposeAsync() => _database.DisposeAsync();

    internal Task<int> GetSchemaVersionAsync(CancellationToken cancellationToken) => _database.GetSchemaVersionAsync(cancellationToken);

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
                    throw new FeedbackStoreException($"The PostgreSQL feedback store {_database.Description} holds an entry with an unknown rating ({rating.ToString(CultureInfo.InvariantCulture)}).");
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

    private static string[] GetMigrations(string table) =>
    [
        $"""
        CREATE TABLE {table} (
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
        CREATE INDEX ix_safeai_feedback_response ON {table} (response_id, seq);
        CREATE INDEX ix_safeai_feedback_ticket ON {table} (review_ticket_id);
        """,
    ];
}

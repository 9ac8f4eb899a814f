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

    private readonly SqliteDatabase _database;

    public SqliteFeedbackStore(SqliteFeedbackStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.GetError() is { } error)
        {
            throw new ArgumentException(error, nameof(options));
        }

        _database = new SqliteDatabase(
            options.ConnectionString,
            options.DataSource,
            options.BusyTimeout,
            extraPragmas: string.Empty,
            store: "feedback",
            Component,
            SchemaVersion,
            Migrations,
            static (message, inner) => inner is null ? new FeedbackStoreException(message) : new FeedbackStoreException(message, inner),
            wrapSchemaErrors: true);
    }

    public async ValueTask AddAsync(FeedbackEntry entry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        entry.Validate();
        try
        {
            using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
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
            throw _database.Wrap("add feedback", ex);
        }
    }

    public async ValueTask<FeedbackEntry?> GetAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        try
        {
            using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
            using var command = connection.CreateCommand();
            command.CommandText = $"SELECT {SelectColumns} FROM safeai_feedback WHERE id = $id";
            command.Parameters.AddWithValue("$id", id);
            using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? Read(reader) : null;
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
            using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
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
            throw _database.Wrap("list feedback", ex);
        }
    }

    public void Dispose() => _database.Dispose();

    internal Task<int> GetSchemaVersionAsync(CancellationToken cancellationToken) => _database.GetSchemaVersionAsync(cancellationToken);

    private FeedbackEntry Read(SqliteDataReader reader)
    {
        var rating = reader.GetInt32(3);
        if (!Enum.IsDefined((FeedbackRating)rating))
        {
            throw new FeedbackStoreException($"The SQLite feedback store '{_database.Description}' holds an entry with an unknown rating ({rating.ToString(CultureInfo.InvariantCulture)}).");
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
}

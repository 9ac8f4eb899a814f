using System.Data.Common;
using System.Text;
using Microsoft.Data.Sqlite;
using SafeAI.Review;

namespace SafeAI.Sqlite;

/// <summary>
/// A review store in one SQLite file: write-ahead logging, <c>synchronous=FULL</c> (an acknowledged write survives a
/// crash), <c>busy_timeout</c> for concurrent writers, and a versioned schema created or migrated on first use.
/// </summary>
internal sealed class SqliteReviewStore : IReviewStore, IDisposable
{
    internal const string Component = "review";
    internal const int SchemaVersion = 1;

    private const string SelectColumns = "seq, data";

    // Migrations of the review tables, in order; index i brings the schema from version i to i + 1.
    private static readonly string[] Migrations =
    [
        """
        CREATE TABLE safeai_review_items (
            seq        INTEGER PRIMARY KEY AUTOINCREMENT,
            id         TEXT    NOT NULL UNIQUE,
            version    INTEGER NOT NULL,
            state      INTEGER NOT NULL,
            tier       INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            claimed_by TEXT    NULL,
            data       TEXT    NOT NULL
        );
        CREATE INDEX ix_safeai_review_items_state ON safeai_review_items (state, tier, seq);
        CREATE INDEX ix_safeai_review_items_expires ON safeai_review_items (expires_at);
        """,
    ];

    private readonly SqliteDatabase _database;

    public SqliteReviewStore(SqliteReviewStoreOptions options)
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
            extraPragmas: " PRAGMA foreign_keys = ON;",
            store: "review",
            Component,
            SchemaVersion,
            Migrations,
            static (message, inner) => inner is null ? new ReviewStoreException(message) : new ReviewStoreException(message, inner),
            wrapSchemaErrors: false);
    }

    public async ValueTask AddAsync(ReviewItem item, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(item);
        try
        {
            using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
            using var command = connection.CreateCommand();
            command.CommandText = """
                INSERT INTO safeai_review_items (id, version, state, tier, created_at, expires_at, claimed_by, data)
                VALUES ($id, $version, $state, $tier, $created, $expires, $claimed, $data)
                """;
            Bind(command, item);
            command.Parameters.AddWithValue("$created", item.CreatedAt.ToUnixTimeMilliseconds());
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode == 19 /* SQLITE_CONSTRAINT */)
        {
            throw new ReviewConflictException(item.Id, $"A review item with id '{item.Id}' already exists.");
        }
        catch (DbException ex)
        {
            throw _database.Wrap("add a review item", ex);
        }
    }

    public async ValueTask<ReviewItem?> GetAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        try
        {
            using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
            using var command = connection.CreateCommand();
            command.CommandText = $"SELECT {SelectColumns} FROM safeai_review_items WHERE id = $id";
            command.Parameters.AddWithValue("$id", id);
            using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? ReviewItemJson.Deserialize(reader.GetString(1)) : null;
        }
        catch (DbException ex)
        {
            throw _database.Wrap("read a review item", ex);
        }
    }

    public async ValueTask<bool> TryReplaceAsync(ReviewItem item, long expectedVersion, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(item);
        try
        {
            using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
            return await ReplaceAsync(connection, null, item, expectedVersion, cancellationToken).ConfigureAwait(false);
        }
        catch (DbException ex)
        {
            throw _database.Wrap("update a review item", ex);
        }
    }

    public async ValueTask<ReviewPage> ListAsync(ReviewQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        query.Validate();
        var after = ReviewContinuation.Parse(query.ContinuationToken);
        try
        {
            using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
            using var command = connection.CreateCommand();
            var sql = new StringBuilder($"SELECT {SelectColumns} FROM safeai_review_items WHERE seq > $after AND state IN (");
            var states = query.GetEffectiveStates();
            for (var i = 0; i < states.Count; i++)
            {
                sql.Append(i == 0 ? string.Empty : ", ").Append((int)states[i]);
            }

            sql.Append(')');
            if (query.Tier is { } tier)
            {
                sql.Append(" AND tier = $tier");
                command.Parameters.AddWithValue("$tier", tier);
            }

            sql.Append(" ORDER BY seq LIMIT $limit");
            command.CommandText = sql.ToString();
            command.Parameters.AddWithValue("$after", after);
            command.Parameters.AddWithValue("$limit", query.PageSize + 1);
            var items = new List<ReviewItem>();
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
                items.Add(ReviewItemJson.Deserialize(reader.GetString(1)));
            }

            return new ReviewPage(items, more ? ReviewContinuation.Format(last) : null);
        }
        catch (DbException ex)
        {
            throw _database.Wrap("list review items", ex);
        }
    }

    public async ValueTask<ReviewItem?> ClaimNextAsync(string reviewerId, int? tier, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reviewerId);
        try
        {
            using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);

            // BEGIN IMMEDIATE takes the write lock first, so two claims (also from other processes) run one after the other.
            using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = $"SELECT {SelectColumns} FROM safeai_review_items WHERE state IN ({(int)ReviewState.Pending}, {(int)ReviewState.Escalated})"
                + (tier is null ? string.Empty : " AND tier = $tier") + " ORDER BY seq LIMIT 1";
            if (tier is { } t)
            {
                command.Parameters.AddWithValue("$tier", t);
            }

            ReviewItem? current = null;
            using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            {
                if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    current = ReviewItemJson.Deserialize(reader.GetString(1));
                }
            }

            if (current is null)
            {
                return null;
            }

            var claimed = current.Claim(reviewerId, now);
            if (!await ReplaceAsync(connection, transaction, claimed, current.Version, cancellationToken).ConfigureAwait(false))
            {
                return null;
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return claimed;
        }
        catch (DbException ex)
        {
            throw _database.Wrap("claim a review item", ex);
        }
    }

    public async ValueTask<IReadOnlyList<ReviewItem>> ListDueAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken = default)
    {
        try
        {
            using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
            using var command = connection.CreateCommand();
            command.CommandText = $"SELECT {SelectColumns} FROM safeai_review_items WHERE expires_at <= $now AND state IN ({(int)ReviewState.Pending}, {(int)ReviewState.Claimed}, {(int)ReviewState.Escalated}) ORDER BY seq LIMIT $limit";
            command.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
            command.Parameters.AddWithValue("$limit", limit);
            var items = new List<ReviewItem>();
            using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                items.Add(ReviewItemJson.Deserialize(reader.GetString(1)));
            }

            return items;
        }
        catch (DbException ex)
        {
            throw _database.Wrap("list due review items", ex);
        }
    }

    public void Dispose() => _database.Dispose();

    internal Task<int> GetSchemaVersionAsync(CancellationToken cancellationToken) => _database.GetSchemaVersionAsync(cancellationToken);

    private static async Task<bool> ReplaceAsync(SqliteConnection connection, SqliteTransaction? transaction, ReviewItem item, long expectedVersion, CancellationToken cancellationToken)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = """
            UPDATE safeai_review_items
            SET version = $version, state = $state, tier = $tier, expires_at = $expires, claimed_by = $claimed, data = $data
            WHERE id = $id AND version = $expected
            """;
        Bind(command, item);
        command.Parameters.AddWithValue("$expected", expectedVersion);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }

    private static void Bind(SqliteCommand command, ReviewItem item)
    {
        command.Parameters.AddWithValue("$id", item.Id);
        command.Parameters.AddWithValue("$version", item.Version);
        command.Parameters.AddWithValue("$state", (int)item.State);
        command.Parameters.AddWithValue("$tier", item.Tier);
        command.Parameters.AddWithValue("$expires", item.ExpiresAt.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$claimed", (object?)item.ClaimedBy ?? DBNull.Value);
        command.Parameters.AddWithValue("$data", ReviewItemJson.Serialize(item));
    }
}

using System.Data.Common;
using System.Text;
using Npgsql;
using NpgsqlTypes;
using SafeAI.Review;

namespace SafeAI.PostgreSql;

/// <summary>
/// A review store in PostgreSQL for several app instances: claims take the oldest waiting row with
/// <c>FOR UPDATE SKIP LOCKED</c> (no item goes to two reviewers), every change is a compare-and-swap on a version
/// column, and the schema is versioned and migrated on first use under an advisory lock.
/// </summary>
internal sealed class PostgreSqlReviewStore : IReviewStore, IDisposable, IAsyncDisposable
{
    internal const string Component = "review";
    internal const int SchemaVersion = 1;

    private readonly PostgreSqlDatabase _database;
    private readonly string _items;

    public PostgreSqlReviewStore(PostgreSqlReviewStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.GetError() is { } error)
        {
            throw new ArgumentException(error, nameof(options));
        }

        _items = $"\"{options.Schema}\".safeai_review_items";
        _database = new PostgreSqlDatabase(
            options.ConnectionString,
            options.Schema,
            options.ConnectTimeout,
            options.CommandTimeout,
            store: "review",
            Component,
            SchemaVersion,
            GetMigrations(_items),
            static (message, inner) => inner is null ? new ReviewStoreException(message) : new ReviewStoreException(message, inner));
    }

    public async ValueTask AddAsync(ReviewItem item, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(item);
        try
        {
            await _database.EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
            var command = _database.DataSource.CreateCommand(
                $"INSERT INTO {_items} (id, version, state, tier, created_at, expires_at, claimed_by, data) VALUES (@id, @version, @state, @tier, @created, @expires, @claimed, @data)");
            await using (command.ConfigureAwait(false))
            {
                Bind(command, item);
                command.Parameters.AddWithValue("created", item.CreatedAt.ToUnixTimeMilliseconds());
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation)
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
            await _database.EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
            var command = _database.DataSource.CreateCommand($"SELECT seq, data::text FROM {_items} WHERE id = @id");
            await using (command.ConfigureAwait(false))
            {
                command.Parameters.AddWithValue("id", id);
                var list = await ReadItemsAsync(command, int.MaxValue, cancellationToken).ConfigureAwait(false);
                return list.Items.Count > 0 ? list.Items[0] : null;
            }
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
            await _database.EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
            var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                return await ReplaceAsync(connection, null, item, expectedVersion, cancellationToken).ConfigureAwait(false);
            }
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
            await _database.EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
            var states = query.GetEffectiveStates();
            var stateValues = new int[states.Count];
            for (var i = 0; i < stateValues.Length; i++)
            {
                stateValues[i] = (int)states[i];
            }

            var command = _database.DataSource.CreateCommand(
                $"SELECT seq, data::text FROM {_items} WHERE seq > @after AND state = ANY(@states) AND (@tier::integer IS NULL OR tier = @tier) ORDER BY seq LIMIT @limit");
            await using (command.ConfigureAwait(false))
            {
                command.Parameters.AddWithValue("after", after);
                command.Parameters.AddWithValue("states", stateValues);
                command.Parameters.Add(new NpgsqlParameter("tier", NpgsqlDbType.Integer) { Value = (object?)query.Tier ?? DBNull.Value });
                command.Parameters.AddWithValue("limit", query.PageSize + 1);
                var (items, lastSeq) = await ReadItemsAsync(command, query.PageSize, cancellationToken).ConfigureAwait(false);
                return new ReviewPage(items, lastSeq is { } last ? ReviewContinuation.Format(last) : null);
            }
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
            await _database.EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
            var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                await using (transaction.ConfigureAwait(false))
                {
                    // Rows other reviewers are claiming right now are locked; SKIP LOCKED passes over them instead of waiting.
                    var select = new NpgsqlCommand(
                        $"SELECT seq, data::text FROM {_items} WHERE state IN ({(int)ReviewState.Pending}, {(int)ReviewState.Escalated}) AND (@tier::integer IS NULL OR tier = @tier) ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED",
                        connection,
                        transaction);
                    ReviewItem? current;
                    await using (select.ConfigureAwait(false))
                    {
                        select.Parameters.Add(new NpgsqlParameter("tier", NpgsqlDbType.Integer) { Value = (object?)tier ?? DBNull.Value });
                        var (items, _) = await ReadItemsAsync(select, 1, cancellationToken).ConfigureAwait(false);
                        current = items.Count > 0 ? items[0] : null;
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
            }
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
            await _database.EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
            var command = _database.DataSource.CreateCommand(
                $"SELECT seq, data::text FROM {_items} WHERE expires_at <= @now AND state IN ({(int)ReviewState.Pending}, {(int)ReviewState.Claimed}, {(int)ReviewState.Escalated}) ORDER BY seq LIMIT @limit");
            await using (command.ConfigureAwait(false))
            {
                command.Parameters.AddWithValue("now", now.ToUnixTimeMilliseconds());
                command.Parameters.AddWithValue("limit", limit);
                return (await ReadItemsAsync(command, limit, cancellationToken).ConfigureAwait(false)).Items;
            }
        }
        catch (DbException ex)
        {
            throw _database.Wrap("list due review items", ex);
        }
    }

    public void Dispose() => _database.Dispose();

    public ValueTask DisposeAsync() => _database.DisposeAsync();

    internal Task<int> GetSchemaVersionAsync(CancellationToken cancellationToken) => _database.GetSchemaVersionAsync(cancellationToken);

    private static async Task<(List<ReviewItem> Items, long? MoreAfter)> ReadItemsAsync(NpgsqlCommand command, int pageSize, CancellationToken cancellationToken)
    {
        var items = new List<ReviewItem>();
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
                items.Add(ReviewItemJson.Deserialize(reader.GetString(1)));
            }
        }

        return (items, null);
    }

    private async Task<bool> ReplaceAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, ReviewItem item, long expectedVersion, CancellationToken cancellationToken)
    {
        var command = new NpgsqlCommand(
            $"UPDATE {_items} SET version = @version, state = @state, tier = @tier, expires_at = @expires, claimed_by = @claimed, data = @data WHERE id = @id AND version = @expected",
            connection,
            transaction);
        await using (command.ConfigureAwait(false))
        {
            Bind(command, item);
            command.Parameters.AddWithValue("expected", expectedVersion);
            return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
        }
    }

    private static void Bind(NpgsqlCommand command, ReviewItem item)
    {
        command.Parameters.AddWithValue("id", item.Id);
        command.Parameters.AddWithValue("version", item.Version);
        command.Parameters.AddWithValue("state", (int)item.State);
        command.Parameters.AddWithValue("tier", item.Tier);
        command.Parameters.AddWithValue("expires", item.ExpiresAt.ToUnixTimeMilliseconds());
        command.Parameters.Add(new NpgsqlParameter("claimed", NpgsqlDbType.Text) { Value = (object?)item.ClaimedBy ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("data", NpgsqlDbType.Text) { Value = ReviewItemJson.Serialize(item) });
    }

    private static string[] GetMigrations(string items) =>
    [
        $"""
        CREATE TABLE {items} (
            seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id         text    NOT NULL UNIQUE,
            version    bigint  NOT NULL,
            state      integer NOT NULL,
            tier       integer NOT NULL,
            created_at bigint  NOT NULL,
            expires_at bigint  NOT NULL,
            claimed_by text    NULL,
            data       text    NOT NULL
        );
        CREATE INDEX ix_safeai_review_items_state ON {items} (state, tier, seq);
        CREATE INDEX ix_safeai_review_items_expires ON {items} (expires_at);
        """,
    ];
}

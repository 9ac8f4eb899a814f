using System.Data.Common;
using System.Text;
using Microsoft.Data.Sqlite;
using SafeAI.Audit;

namespace SafeAI.Sqlite;

/// <summary>
/// The audit trail in one SQLite file: write-ahead logging, <c>synchronous=FULL</c> (an append is on disk when its
/// commit returns), a versioned schema (component <c>audit</c>), and triggers that make <c>safeai_audit</c> append-only:
/// an UPDATE may only set stored texts to NULL (erasure), a DELETE is only allowed below the purge mark, and the purge
/// mark only moves forward to a sequence number a purge record in the chain anchors. The triggers stop mistakes and
/// application bugs; someone with write access to the file can drop them, which is what the hash chain and the signed
/// checkpoints catch.
/// </summary>
internal sealed class SqliteAuditStore : IAuditStore, IDisposable
{
    internal const string Component = "audit";
    internal const int SchemaVersion = 1;
    private const int PageSize = 1000;

    private const string Columns = "seq, id, ts, kind, subject, body, input_hash, output_hash, input_text, output_text, prev_hash, hash";

    private static readonly string[] Migrations =
    [
        """
        CREATE TABLE safeai_audit (
            seq         INTEGER PRIMARY KEY,
            id          TEXT    NOT NULL UNIQUE,
            ts          INTEGER NOT NULL,
            kind        TEXT    NOT NULL,
            subject     TEXT    NULL,
            body        TEXT    NOT NULL,
            input_hash  TEXT    NULL,
            output_hash TEXT    NULL,
            input_text  TEXT    NULL,
            output_text TEXT    NULL,
            prev_hash   TEXT    NOT NULL,
            hash        TEXT    NOT NULL
        );
        CREATE INDEX ix_safeai_audit_subject ON safeai_audit (subject, seq);
        CREATE INDEX ix_safeai_audit_ts ON safeai_audit (ts);
        CREATE TABLE safeai_audit_purge (
            id          INTEGER PRIMARY KEY CHECK (id = 1),
            purge_below INTEGER NOT NULL
        );
        INSERT INTO safeai_audit_purge (id, purge_below) VALUES (1, 0);
        CREATE TRIGGER safeai_audit_append_only_update BEFORE UPDATE ON safeai_audit
        WHEN NOT (NEW.seq IS OLD.seq AND NEW.id IS OLD.id AND NEW.ts IS OLD.ts AND NEW.kind IS OLD.kind
              AND NEW.subject IS OLD.subject AND NEW.body IS OLD.body AND NEW.input_hash IS OLD.input_hash
              AND NEW.output_hash IS OLD.output_hash AND NEW.prev_hash IS OLD.prev_hash AND NEW.hash IS OLD.hash
              AND (NEW.input_text IS NULL OR NEW.input_text IS OLD.input_text)
              AND (NEW.output_text IS NULL OR NEW.output_text IS OLD.output_text))
        BEGIN
            SELECT RAISE(ABORT, 'safeai_audit is append-only: an update may only erase stored text (set it to NULL)');
        END;
        CREATE TRIGGER safeai_audit_append_only_delete BEFORE DELETE ON safeai_audit
        WHEN OLD.seq >= (SELECT purge_below FROM safeai_audit_purge WHERE id = 1)
        BEGIN
            SELECT RAISE(ABORT, 'safeai_audit is append-only: records are deleted only by a retention purge');
        END;
        CREATE TRIGGER safeai_audit_purge_forward BEFORE UPDATE ON safeai_audit_purge
        WHEN NEW.id IS NOT OLD.id OR NEW.purge_below < OLD.purge_below
          OR NOT EXISTS (SELECT 1 FROM safeai_audit WHERE kind = 'purge' AND json_extract(body, '$.before') = NEW.purge_below)
        BEGIN
            SELECT RAISE(ABORT, 'a purge needs a purge record in the chain that anchors its first kept record');
        END;
        CREATE TRIGGER safeai_audit_purge_keep BEFORE DELETE ON safeai_audit_purge
        BEGIN
            SELECT RAISE(ABORT, 'the purge mark cannot be deleted');
        END;
        """,
    ];

    private readonly SqliteDatabase _database;

    public SqliteAuditStore(SqliteAuditStoreOptions options)
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
            store: "audit",
            Component,
            SchemaVersion,
            Migrations,
            static (message, inner) => inner is null ? new AuditStoreException(message) : new AuditStoreException(message, inner),
            wrapSchemaErrors: true);
    }

    public string Description => _database.Description;

    public async ValueTask<AuditHead> AppendAsync(IReadOnlyList<AuditEntry> entries, AuditSealer sealer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(sealer);
        try
        {
            using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);

            // BEGIN IMMEDIATE: the write lock is taken before the head is read, so concurrent writers (other processes)
            // serialise and the chain follows the order of insertion.
            using var transaction = connection.BeginTransaction(deferred: false);
            var head = await ReadHeadAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
            var records = sealer.Seal(head, entries);
            using var insert = connection.CreateCommand();
            insert.Transaction = transaction;
            insert.CommandText = """
                INSERT INTO safeai_audit (seq, id, ts, kind, subject, body, input_hash, output_hash, input_text, output_text, prev_hash, hash)
                VALUES ($seq, $id, $ts, $kind, $subject, $body, $ih, $oh, $it, $ot, $prev, $hash)
                """;
            var p = new[]
            {
                insert.Parameters.Add("$seq", SqliteType.Integer), insert.Parameters.Add("$id", SqliteType.Text),
                insert.Parameters.Add("$ts", SqliteType.Integer), insert.Parameters.Add("$kind", SqliteType.Text),
                insert.Parameters.Add("$subject", SqliteType.Text), insert.Parameters.Add("$body", SqliteType.Text),
                insert.Parameters.Add("$ih", SqliteType.Text), insert.Parameters.Add("$oh", SqliteType.Text),
                insert.Parameters.Add("$it", SqliteType.Text), insert.Parameters.Add("$ot", SqliteType.Text),
                insert.Parameters.Add("$prev", SqliteType.Text), insert.Parameters.Add("$hash", SqliteType.Text),
            };
            foreach (var r in records)
            {
                p[0].Value = r.Sequence;
                p[1].Value = r.Id;
                p[2].Value = r.Timestamp.ToUnixTimeMilliseconds();
                p[3].Value = r.Kind;
                p[4].Value = (object?)r.Subject ?? DBNull.Value;
                p[5].Value = r.Body;
                p[6].Value = (object?)r.InputHash ?? DBNull.Value;
                p[7].Value = (object?)r.OutputHash ?? DBNull.Value;
                p[8].Value = (object?)r.InputText ?? DBNull.Value;
                p[9].Value = (object?)r.OutputText ?? DBNull.Value;
                p[10].Value = r.PreviousHash;
                p[11].Value = r.Hash;
                await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return records.Count == 0 ? head : new AuditHead(records[^1].Sequence, records[^1].Hash);
        }
        catch (DbException ex)
        {
            throw _database.Wrap("append audit records", ex);
        }
    }

    public IAsyncEnumerable<AuditRecord> ReadAsync(AuditQuery? query = null, CancellationToken cancellationToken = default) =>
        AuditPages.ReadAsync(query, PageSize, ReadPageAsync, cancellationToken);

    public async ValueTask<AuditHead> GetHeadAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
            return await ReadHeadAsync(connection, null, cancellationToken).ConfigureAwait(false);
        }
        catch (DbException ex)
        {
            throw _database.Wrap("read the chain's head", ex);
        }
    }

    public async ValueTask<int> EraseTextAsync(string subject, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(subject);
        try
        {
            using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
            using var command = connection.CreateCommand();
            command.CommandText = """
                UPDATE safeai_audit SET input_text = NULL, output_text = NULL
                WHERE subject = $subject AND (input_text IS NOT NULL OR output_text IS NOT NULL)
                """;
            command.Parameters.AddWithValue("$subject", subject);
            return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (DbException ex)
        {
            throw _database.Wrap("erase stored text", ex);
        }
    }

    public async ValueTask<long> DeleteBeforeAsync(long sequence, CancellationToken cancellationToken = default)
    {
        try
        {
            using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
            using var transaction = connection.BeginTransaction(deferred: false);
            using (var mark = connection.CreateCommand())
            {
                mark.Transaction = transaction;
                mark.CommandText = "UPDATE safeai_audit_purge SET purge_below = $seq WHERE id = 1";
                mark.Parameters.AddWithValue("$seq", sequence);
                await mark.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            long deleted;
            using (var delete = connection.CreateCommand())
            {
                delete.Transaction = transaction;
                delete.CommandText = "DELETE FROM safeai_audit WHERE seq < $seq";
                delete.Parameters.AddWithValue("$seq", sequence);
                deleted = await delete.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return deleted;
        }
        catch (DbException ex)
        {
            throw _database.Wrap("purge old records", ex);
        }
    }

    public void Dispose() => _database.Dispose();

    private static async Task<AuditHead> ReadHeadAsync(SqliteConnection connection, SqliteTransaction? transaction, CancellationToken cancellationToken)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT seq, hash FROM safeai_audit ORDER BY seq DESC LIMIT 1";
        using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? new AuditHead(reader.GetInt64(0), reader.GetString(1)) : AuditHead.Empty;
    }

    private async Task<List<AuditRecord>> ReadPageAsync(AuditQuery? query, long after, CancellationToken cancellationToken)
    {
        try
        {
            using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
            using var command = connection.CreateCommand();
            var sql = new StringBuilder($"SELECT {Columns} FROM safeai_audit WHERE seq > $after");
            if (query?.From is { } from)
            {
                sql.Append(" AND ts >= $from");
                command.Parameters.AddWithValue("$from", from.ToUnixTimeMilliseconds());
            }

            if (query?.To is { } to)
            {
                sql.Append(" AND ts < $to");
                command.Parameters.AddWithValue("$to", to.ToUnixTimeMilliseconds());
            }

            if (query?.Subject is { } subject)
            {
                sql.Append(" AND subject = $subject");
                command.Parameters.AddWithValue("$subject", subject);
            }

            if (query?.Kind is { } kind)
            {
                sql.Append(" AND kind = $kind");
                command.Parameters.AddWithValue("$kind", kind);
            }

            sql.Append(" ORDER BY seq LIMIT $limit");
            command.CommandText = sql.ToString();
            command.Parameters.AddWithValue("$after", after);
            command.Parameters.AddWithValue("$limit", PageSize);
            var page = new List<AuditRecord>();
            using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                page.Add(new AuditRecord
                {
                    Sequence = reader.GetInt64(0),
                    Id = reader.GetString(1),
                    Timestamp = DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)),
                    Kind = reader.GetString(3),
                    Subject = reader.IsDBNull(4) ? null : reader.GetString(4),
                    Body = reader.GetString(5),
                    InputHash = reader.IsDBNull(6) ? null : reader.GetString(6),
                    OutputHash = reader.IsDBNull(7) ? null : reader.GetString(7),
                    InputText = reader.IsDBNull(8) ? null : reader.GetString(8),
                    OutputText = reader.IsDBNull(9) ? null : reader.GetString(9),
                    PreviousHash = reader.GetString(10),
                    Hash = reader.GetString(11),
                });
            }

            return page;
        }
        catch (DbException ex)
        {
            throw _database.Wrap("read audit records", ex);
        }
        catch (InvalidCastException ex)
        {
            throw new AuditStoreException($"The SQLite audit store '{_database.Description}' holds a malformed record (a column has the wrong type or is NULL): {ex.Message}", ex);
        }
    }
}

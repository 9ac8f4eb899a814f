using System.Data.Common;
using Npgsql;
using NpgsqlTypes;
using SafeAI.Audit;

namespace SafeAI.PostgreSql;

/// <summary>
/// The audit trail in PostgreSQL: one row per record in <c>safeai_audit</c>, appended in a transaction that locks the
/// table against other writers (reads go on), so the chain follows the order of insertion across app instances. A
/// trigger makes the table append-only: an UPDATE may only set stored texts to NULL (erasure), a DELETE is only allowed
/// below the purge mark the purge path sets for its own transaction (<c>safeai.audit_purge_below</c>), TRUNCATE is
/// refused. As with SQLite, the triggers stop mistakes; the hash chain and the signed checkpoints catch a tamperer.
/// </summary>
internal sealed class PostgreSqlAuditStore : IAuditStore, IDisposable, IAsyncDisposable
{
    internal const string Component = "audit";
    internal const int SchemaVersion = 1;
    private const int PageSize = 1000;
    private const string Columns = "seq, id, ts, kind, subject, body, input_hash, output_hash, input_text, output_text, prev_hash, hash";

    private readonly PostgreSqlDatabase _database;
    private readonly string _table;

    public PostgreSqlAuditStore(PostgreSqlAuditStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.GetError() is { } error)
        {
            throw new ArgumentException(error, nameof(options));
        }

        _table = $"\"{options.Schema}\".safeai_audit";
        _database = new PostgreSqlDatabase(
            options.ConnectionString,
            options.Schema,
            options.ConnectTimeout,
            options.CommandTimeout,
            store: "audit",
            Component,
            SchemaVersion,
            [Migration(options.Schema, _table)],
            static (message, inner) => inner is null ? new AuditStoreException(message) : new AuditStoreException(message, inner));
    }

    public string Description => _database.Description;

    public async ValueTask<AuditHead> AppendAsync(IReadOnlyList<AuditEntry> entries, AuditSealer sealer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(sealer);
        try
        {
            await _database.EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
            var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                await using (transaction.ConfigureAwait(false))
                {
                    var lockCommand = new NpgsqlCommand($"LOCK TABLE {_table} IN EXCLUSIVE MODE", connection, transaction);
                    await using (lockCommand.ConfigureAwait(false))
                    {
                        await lockCommand.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                    }

                    var head = await ReadHeadAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
                    var records = sealer.Seal(head, entries);
                    var batch = new NpgsqlBatch(connection, transaction);
                    await using (batch.ConfigureAwait(false))
                    {
                        foreach (var r in records)
                        {
                            var command = new NpgsqlBatchCommand(
                                $"INSERT INTO {_table} ({Columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)");
                            command.Parameters.Add(new NpgsqlParameter { Value = r.Sequence, NpgsqlDbType = NpgsqlDbType.Bigint });
                            command.Parameters.Add(new NpgsqlParameter { Value = r.Id, NpgsqlDbType = NpgsqlDbType.Text });
                            command.Parameters.Add(new NpgsqlParameter { Value = r.Timestamp.ToUnixTimeMilliseconds(), NpgsqlDbType = NpgsqlDbType.Bigint });
                            command.Parameters.Add(new NpgsqlParameter { Value = r.Kind, NpgsqlDbType = NpgsqlDbType.Text });
                            command.Parameters.Add(Text(r.Subject));
                            command.Parameters.Add(new NpgsqlParameter { Value = r.Body, NpgsqlDbType = NpgsqlDbType.Text });
                            command.Parameters.Add(Text(r.InputHash));
                            command.Parameters.Add(Text(r.OutputHash));
                            command.Parameters.Add(Text(r.InputText));
                            command.Parameters.Add(Text(r.OutputText));
                            command.Parameters.Add(new NpgsqlParameter { Value = r.PreviousHash, NpgsqlDbType = NpgsqlDbType.Text });
                            command.Parameters.Add(new NpgsqlParameter { Value = r.Hash, NpgsqlDbType = NpgsqlDbType.Text });
                            batch.BatchCommands.Add(command);
                        }

                        if (records.Count > 0)
                        {
                            await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                        }
                    }

                    await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                    return records.Count == 0 ? head : new AuditHead(records[^1].Sequence, records[^1].Hash);
                }
            }
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
            await _database.EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
            var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                return await ReadHeadAsync(connection, null, cancellationToken).ConfigureAwait(false);
            }
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
            await _database.EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
            var command = _database.DataSource.CreateCommand(
                $"UPDATE {_table} SET input_text = NULL, output_text = NULL WHERE subject = $1 AND (input_text IS NOT NULL OR output_text IS NOT NULL)");
            await using (command.ConfigureAwait(false))
            {
                command.Parameters.Add(new NpgsqlParameter { Value = subject, NpgsqlDbType = NpgsqlDbType.Text });
                return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
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
            await _database.EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
            var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                await using (transaction.ConfigureAwait(false))
                {
                    var check = new NpgsqlCommand(
                        $"SELECT count(*) FROM {_table} WHERE kind = 'purge' AND (body::jsonb ->> 'before')::bigint = $1", connection, transaction);
                    await using (check.ConfigureAwait(false))
                    {
                        check.Parameters.Add(new NpgsqlParameter { Value = sequence, NpgsqlDbType = NpgsqlDbType.Bigint });
                        if ((long)(await check.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))! == 0)
                        {
                            throw new AuditStoreException($"No purge record anchors sequence {sequence}: append one first (AuditTrail.PurgeAsync).");
                        }
                    }

                    var mark = new NpgsqlCommand("SELECT set_config('safeai.audit_purge_below', $1::text, true)", connection, transaction);
                    await using (mark.ConfigureAwait(false))
                    {
                        mark.Parameters.Add(new NpgsqlParameter { Value = sequence, NpgsqlDbType = NpgsqlDbType.Bigint });
                        await mark.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                    }

                    var delete = new NpgsqlCommand($"DELETE FROM {_table} WHERE seq < $1", connection, transaction);
                    long deleted;
                    await using (delete.ConfigureAwait(false))
                    {
                        delete.Parameters.Add(new NpgsqlParameter { Value = sequence, NpgsqlDbType = NpgsqlDbType.Bigint });
                        deleted = await delete.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                    }

                    await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                    return Math.Max(0, deleted);
                }
            }
        }
        catch (DbException ex)
        {
            throw _database.Wrap("purge old records", ex);
        }
    }

    public void Dispose() => _database.Dispose();

    public ValueTask DisposeAsync() => _database.DisposeAsync();

    private static string Migration(string schema, string table) => $$"""
        CREATE TABLE {{table}} (
            seq         bigint PRIMARY KEY,
            id          text   NOT NULL UNIQUE,
            ts          bigint NOT NULL,
            kind        text   NOT NULL,
            subject     text   NULL,
            body        text   NOT NULL,
            input_hash  text   NULL,
            output_hash text   NULL,
            input_text  text   NULL,
            output_text text   NULL,
            prev_hash   text   NOT NULL,
            hash        text   NOT NULL
        );
        CREATE INDEX ix_safeai_audit_subject ON {{table}} (subject, seq);
        CREATE INDEX ix_safeai_audit_ts ON {{table}} (ts);
        CREATE FUNCTION "{{schema}}".safeai_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            IF TG_OP = 'TRUNCATE' THEN
                RAISE EXCEPTION 'safeai_audit is append-only: TRUNCATE is not allowed';
            ELSIF TG_OP = 'UPDATE' THEN
                IF NEW.seq IS DISTINCT FROM OLD.seq OR NEW.id IS DISTINCT FROM OLD.id OR NEW.ts IS DISTINCT FROM OLD.ts
                   OR NEW.kind IS DISTINCT FROM OLD.kind OR NEW.subject IS DISTINCT FROM OLD.subject OR NEW.body IS DISTINCT FROM OLD.body
                   OR NEW.input_hash IS DISTINCT FROM OLD.input_hash OR NEW.output_hash IS DISTINCT FROM OLD.output_hash
                   OR NEW.prev_hash IS DISTINCT FROM OLD.prev_hash OR NEW.hash IS DISTINCT FROM OLD.hash
                   OR (NEW.input_text IS NOT NULL AND NEW.input_text IS DISTINCT FROM OLD.input_text)
                   OR (NEW.output_text IS NOT NULL AND NEW.output_text IS DISTINCT FROM OLD.output_text) THEN
                    RAISE EXCEPTION 'safeai_audit is append-only: an update may only erase stored text (set it to NULL)';
                END IF;
                RETURN NEW;
            ELSE
                IF OLD.seq >= COALESCE(NULLIF(current_setting('safeai.audit_purge_below', true), '')::bigint, 0) THEN
                    RAISE EXCEPTION 'safeai_audit is append-only: records are deleted only by a retention purge';
                END IF;
                RETURN OLD;
            END IF;
        END
        $fn$;
        CREATE TRIGGER safeai_audit_append_only BEFORE UPDATE OR DELETE ON {{table}}
            FOR EACH ROW EXECUTE FUNCTION "{{schema}}".safeai_audit_append_only();
        CREATE TRIGGER safeai_audit_no_truncate BEFORE TRUNCATE ON {{table}}
            FOR EACH STATEMENT EXECUTE FUNCTION "{{schema}}".safeai_audit_append_only();
        """;

    private static NpgsqlParameter Text(string? value) => new() { Value = (object?)value ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text };

    private async Task<AuditHead> ReadHeadAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, CancellationToken cancellationToken)
    {
        var command = new NpgsqlCommand($"SELECT seq, hash FROM {_table} ORDER BY seq DESC LIMIT 1", connection, transaction);
        await using (command.ConfigureAwait(false))
        {
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? new AuditHead(reader.GetInt64(0), reader.GetString(1)) : AuditHead.Empty;
            }
        }
    }

    private async Task<List<AuditRecord>> ReadPageAsync(AuditQuery? query, long after, CancellationToken cancellationToken)
    {
        try
        {
            await _database.EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
            var command = _database.DataSource.CreateCommand(
                $"SELECT {Columns} FROM {_table} WHERE seq > $1 AND ($2::bigint IS NULL OR ts >= $2) AND ($3::bigint IS NULL OR ts < $3) " +
                "AND ($4::text IS NULL OR subject = $4) AND ($5::text IS NULL OR kind = $5) ORDER BY seq LIMIT $6");
            await using (command.ConfigureAwait(false))
            {
                command.Parameters.Add(new NpgsqlParameter { Value = after, NpgsqlDbType = NpgsqlDbType.Bigint });
                command.Parameters.Add(new NpgsqlParameter { Value = query?.From is { } from ? from.ToUnixTimeMilliseconds() : DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bigint });
                command.Parameters.Add(new NpgsqlParameter { Value = query?.To is { } to ? to.ToUnixTimeMilliseconds() : DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bigint });
                command.Parameters.Add(Text(query?.Subject));
                command.Parameters.Add(Text(query?.Kind));
                command.Parameters.Add(new NpgsqlParameter { Value = PageSize, NpgsqlDbType = NpgsqlDbType.Integer });
                var page = new List<AuditRecord>();
                var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
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
                }

                return page;
            }
        }
        catch (DbException ex)
        {
            throw _database.Wrap("read audit records", ex);
        }
    }
}

using System.Data.Common;
using System.Globalization;
using Microsoft.Data.Sqlite;

namespace SafeAI.Sqlite;

/// <summary>
/// The plumbing one SQLite store shares with the others: opens connections with <c>busy_timeout</c> and
/// <c>synchronous=FULL</c>, and on first use (once, thread-safe) turns on write-ahead logging and creates or migrates
/// the store's tables, versioned as one component in <c>safeai_schema_version</c>.
/// </summary>
internal sealed class SqliteDatabase : IDisposable
{
    private readonly string _connectionString;
    private readonly string _pragmas;
    private readonly string _store;
    private readonly string _component;
    private readonly int _schemaVersion;
    private readonly string[] _migrations;
    private readonly Func<string, Exception?, Exception> _newException;
    private readonly bool _wrapSchemaErrors;
    private readonly SemaphoreSlim _initGate = new(1, 1);
    private volatile bool _initialized;

    /// <param name="connectionString">The connection string from the options; when empty, <paramref name="dataSource"/> is the file.</param>
    /// <param name="dataSource">The database file.</param>
    /// <param name="busyTimeout">How long a write waits for another writer.</param>
    /// <param name="extraPragmas">Pragmas the store adds to every connection after <c>busy_timeout</c> and <c>synchronous</c> (empty for none).</param>
    /// <param name="store">The store's name in error messages (<c>review</c>, <c>feedback</c>).</param>
    /// <param name="component">The store's row in <c>safeai_schema_version</c>.</param>
    /// <param name="schemaVersion">The schema version this package writes.</param>
    /// <param name="migrations">The store's migrations in order; index i brings the schema from version i to i + 1.</param>
    /// <param name="newException">Creates the store's exception from a message and an optional inner exception.</param>
    /// <param name="wrapSchemaErrors">
    /// Whether a database error while creating or migrating the schema becomes the store's exception ("could not create or
    /// migrate its schema") here; otherwise it passes through to the operation that opened the connection.
    /// </param>
    public SqliteDatabase(
        string? connectionString,
        string dataSource,
        TimeSpan busyTimeout,
        string extraPragmas,
        string store,
        string component,
        int schemaVersion,
        string[] migrations,
        Func<string, Exception?, Exception> newException,
        bool wrapSchemaErrors)
    {
        var builder = string.IsNullOrWhiteSpace(connectionString)
            ? new SqliteConnectionStringBuilder { DataSource = dataSource }
            : new SqliteConnectionStringBuilder(connectionString);
        builder.DefaultTimeout = Math.Max(1, (int)Math.Ceiling(busyTimeout.TotalSeconds));
        _connectionString = builder.ToString();
        _pragmas = string.Create(CultureInfo.InvariantCulture, $"PRAGMA busy_timeout = {(int)busyTimeout.TotalMilliseconds}; PRAGMA synchronous = FULL;{extraPragmas}");
        Description = builder.DataSource;
        _store = store;
        _component = component;
        _schemaVersion = schemaVersion;
        _migrations = migrations;
        _newException = newException;
        _wrapSchemaErrors = wrapSchemaErrors;
    }

    /// <summary>Gets the database file, as error messages name it.</summary>
    public string Description { get; }

    /// <summary>Opens a connection with the store's pragmas, creating or migrating the schema first when this is the first use.</summary>
    public async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            using (var pragma = connection.CreateCommand())
            {
                pragma.CommandText = _pragmas;
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

    /// <summary>Reads the store's schema version from the database (0 when it has none).</summary>
    public async Task<int> GetSchemaVersionAsync(CancellationToken cancellationToken)
    {
        using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        return await ReadVersionAsync(connection, null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Creates the store's exception for a database error in <paramref name="operation"/>.</summary>
    public Exception Wrap(string operation, DbException ex) =>
        _newException($"The SQLite {_store} store '{Description}' could not {operation}: {ex.Message}", ex);

    public void Dispose() => _initGate.Dispose();

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
            if (version > _schemaVersion)
            {
                throw _newException(
                    $"The SQLite {_store} store '{Description}' has schema version {version}, newer than this SafeAI.Sqlite supports ({_schemaVersion}). Upgrade the package.",
                    null);
            }

            for (var v = version; v < _schemaVersion; v++)
            {
                using var migrate = connection.CreateCommand();
                migrate.Transaction = transaction;
                migrate.CommandText = _migrations[v];
                await migrate.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            if (version < _schemaVersion)
            {
                using var record = connection.CreateCommand();
                record.Transaction = transaction;
                record.CommandText = """
                    INSERT INTO safeai_schema_version (component, version, applied_at) VALUES ($component, $version, datetime('now'))
                    ON CONFLICT (component) DO UPDATE SET version = excluded.version, applied_at = excluded.applied_at
                    """;
                record.Parameters.AddWithValue("$component", _component);
                record.Parameters.AddWithValue("$version", _schemaVersion);
                await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            _initialized = true;
        }
        catch (DbException ex) when (_wrapSchemaErrors)
        {
            throw Wrap("create or migrate its schema", ex);
        }
        finally
        {
            _initGate.Release();
        }
    }

    private async Task<int> ReadVersionAsync(SqliteConnection connection, SqliteTransaction? transaction, CancellationToken cancellationToken)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT version FROM safeai_schema_version WHERE component = $component";
        command.Parameters.AddWithValue("$component", _component);
        var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return value is null or DBNull ? 0 : Convert.ToInt32(value, CultureInfo.InvariantCulture);
    }
}

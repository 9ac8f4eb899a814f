using System.Data.Common;
using System.Globalization;
using Npgsql;

namespace SafeAI.PostgreSql;

/// <summary>
/// The plumbing one PostgreSQL store shares with the others: a data source with the store's timeouts, and on first use
/// (once, thread-safe) the store's tables created or migrated in its schema, versioned as one component in
/// <c>safeai_schema_version</c>, under an advisory lock that serializes SafeAI migrations across app instances.
/// </summary>
internal sealed class PostgreSqlDatabase : IDisposable, IAsyncDisposable
{
    // An arbitrary constant, the same for every SafeAI store: it serializes all SafeAI migrations across app instances.
    private const long MigrationLockKey = 0x5AFE_A1_0001;

    private readonly string _store;
    private readonly string _component;
    private readonly int _schemaVersion;
    private readonly string[] _migrations;
    private readonly Func<string, Exception?, Exception> _newException;
    private readonly SemaphoreSlim _initGate = new(1, 1);
    private volatile bool _initialized;

    /// <param name="connectionString">The Npgsql connection string.</param>
    /// <param name="schema">The schema that holds SafeAI's tables (a validated plain identifier).</param>
    /// <param name="connectTimeout">How long opening a connection may take.</param>
    /// <param name="commandTimeout">How long one command may take.</param>
    /// <param name="store">The store's name in error messages (<c>review</c>, <c>feedback</c>).</param>
    /// <param name="component">The store's row in <c>safeai_schema_version</c>.</param>
    /// <param name="schemaVersion">The schema version this package writes.</param>
    /// <param name="migrations">The store's migrations in order; index i brings the schema from version i to i + 1.</param>
    /// <param name="newException">Creates the store's exception from a message and an optional inner exception.</param>
    public PostgreSqlDatabase(
        string? connectionString,
        string schema,
        TimeSpan connectTimeout,
        TimeSpan commandTimeout,
        string store,
        string component,
        int schemaVersion,
        string[] migrations,
        Func<string, Exception?, Exception> newException)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString)
        {
            Timeout = (int)Math.Ceiling(connectTimeout.TotalSeconds),
            CommandTimeout = (int)Math.Ceiling(commandTimeout.TotalSeconds),
        };
        DataSource = NpgsqlDataSource.Create(builder);
        Schema = schema;
        Description = $"{builder.Host}:{builder.Port}/{builder.Database}";
        _store = store;
        _component = component;
        _schemaVersion = schemaVersion;
        _migrations = migrations;
        _newException = newException;
    }

    /// <summary>Gets the data source the store's commands and connections come from.</summary>
    public NpgsqlDataSource DataSource { get; }

    /// <summary>Gets the schema that holds SafeAI's tables.</summary>
    public string Schema { get; }

    /// <summary>Gets <c>host:port/database</c>, as error messages name the server.</summary>
    public string Description { get; }

    /// <summary>Creates or migrates the store's tables when this is the first use; completes synchronously afterwards.</summary>
    public ValueTask EnsureInitializedAsync(CancellationToken cancellationToken) =>
        _initialized ? ValueTask.CompletedTask : new ValueTask(InitializeAsync(cancellationToken));

    /// <summary>Reads the store's schema version from the database, creating or migrating it first when this is the first use.</summary>
    public async Task<int> GetSchemaVersionAsync(CancellationToken cancellationToken)
    {
        await EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
        var connection = await DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            return await ReadVersionAsync(connection, null, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Creates the store's exception for a database error in <paramref name="operation"/>.</summary>
    public Exception Wrap(string operation, DbException ex) =>
        _newException($"The PostgreSQL {_store} store {Description} could not {operation}: {ex.Message}", ex);

    public void Dispose()
    {
        DataSource.Dispose();
        _initGate.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        await DataSource.DisposeAsync().ConfigureAwait(false);
        _initGate.Dispose();
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        var command = new NpgsqlCommand(sql, connection, transaction);
        await using (command.ConfigureAwait(false))
        {
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await _initGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_initialized)
            {
                return;
            }

            var connection = await DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                await using (transaction.ConfigureAwait(false))
                {
                    await ExecuteAsync(connection, transaction, string.Create(CultureInfo.InvariantCulture, $"SELECT pg_advisory_xact_lock({MigrationLockKey})"), cancellationToken).ConfigureAwait(false);
                    await ExecuteAsync(connection, transaction, $"""
                        CREATE SCHEMA IF NOT EXISTS "{Schema}";
                        CREATE TABLE IF NOT EXISTS "{Schema}".safeai_schema_version (
                            component  text        PRIMARY KEY,
                            version    integer     NOT NULL,
                            applied_at timestamptz NOT NULL DEFAULT now()
                        );
                        """, cancellationToken).ConfigureAwait(false);
                    var version = await ReadVersionAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
                    if (version > _schemaVersion)
                    {
                        throw _newException(
                            $"The PostgreSQL {_store} store {Description} (schema {Schema}) has schema version {version}, newer than this SafeAI.PostgreSql supports ({_schemaVersion}). Upgrade the package.",
                            null);
                    }

                    for (var v = version; v < _schemaVersion; v++)
                    {
                        await ExecuteAsync(connection, transaction, _migrations[v], cancellationToken).ConfigureAwait(false);
                    }

                    if (version < _schemaVersion)
                    {
                        var record = new NpgsqlCommand(
                            $"""
                            INSERT INTO "{Schema}".safeai_schema_version (component, version) VALUES (@component, @version)
                            ON CONFLICT (component) DO UPDATE SET version = excluded.version, applied_at = now()
                            """,
                            connection,
                            transaction);
                        await using (record.ConfigureAwait(false))
                        {
                            record.Parameters.AddWithValue("component", _component);
                            record.Parameters.AddWithValue("version", _schemaVersion);
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
        var command = new NpgsqlCommand($"SELECT version FROM \"{Schema}\".safeai_schema_version WHERE component = @component", connection, transaction);
        await using (command.ConfigureAwait(false))
        {
            command.Parameters.AddWithValue("component", _component);
            var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            return value is null or DBNull ? 0 : Convert.ToInt32(value, CultureInfo.InvariantCulture);
        }
    }
}

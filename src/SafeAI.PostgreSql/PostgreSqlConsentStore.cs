using System.Data.Common;
using Npgsql;
using NpgsqlTypes;
using SafeAI.Consent;

namespace SafeAI.PostgreSql;

/// <summary>Settings of the PostgreSQL consent store (configuration section <c>SafeAI:Consent:PostgreSql</c>).</summary>
public sealed class PostgreSqlConsentStoreOptions
{
    /// <summary>The configuration section the options bind to.</summary>
    public const string SectionName = "SafeAI:Consent:PostgreSql";

    /// <summary>Gets or sets the Npgsql connection string.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>Gets or sets the schema that holds SafeAI's tables (created when missing). Default <c>public</c>.</summary>
    public string Schema { get; set; } = "public";

    /// <summary>Gets or sets how long opening a connection may take. Default 5 seconds.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Gets or sets how long one command may take. Default 10 seconds.</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(10);

    internal string? GetError() => PostgreSqlStoreSettings.GetError(SectionName, ConnectionString, Schema, ConnectTimeout, CommandTimeout);
}

/// <summary>People's consent choices in PostgreSQL: one row per person and purpose in <c>safeai_consent</c> (component <c>consent</c>).</summary>
internal sealed class PostgreSqlConsentStore : IConsentStore, IDisposable, IAsyncDisposable
{
    internal const string Component = "consent";
    internal const int SchemaVersion = 1;

    private readonly PostgreSqlDatabase _database;
    private readonly string _table;

    public PostgreSqlConsentStore(PostgreSqlConsentStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.GetError() is { } error)
        {
            throw new ArgumentException(error, nameof(options));
        }

        _table = $"\"{options.Schema}\".safeai_consent";
        _database = new PostgreSqlDatabase(
            options.ConnectionString,
            options.Schema,
            options.ConnectTimeout,
            options.CommandTimeout,
            store: "consent",
            Component,
            SchemaVersion,
            [$"CREATE TABLE {_table} (user_id text NOT NULL, purpose text NOT NULL, granted boolean NOT NULL, changed_at bigint NOT NULL, PRIMARY KEY (user_id, purpose));"],
            static (message, inner) => inner is null ? new ConsentStoreException(message) : new ConsentStoreException(message, inner));
    }

    public async ValueTask<IReadOnlyList<ConsentChoice>> GetAsync(string userId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(userId);
        try
        {
            await _database.EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
            var command = _database.DataSource.CreateCommand($"SELECT purpose, granted, changed_at FROM {_table} WHERE user_id = $1 ORDER BY purpose");
            await using (command.ConfigureAwait(false))
            {
                command.Parameters.Add(new NpgsqlParameter { Value = userId, NpgsqlDbType = NpgsqlDbType.Text });
                var list = new List<ConsentChoice>();
                var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        list.Add(new ConsentChoice(reader.GetString(0), reader.GetBoolean(1), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2))));
                    }
                }

                return list;
            }
        }
        catch (DbException ex)
        {
            throw _database.Wrap("read consents", ex);
        }
    }

    public async ValueTask SetAsync(string userId, ConsentChoice choice, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(userId);
        ArgumentNullException.ThrowIfNull(choice);
        try
        {
            await _database.EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
            var command = _database.DataSource.CreateCommand(
                $"INSERT INTO {_table} (user_id, purpose, granted, changed_at) VALUES ($1, $2, $3, $4) " +
                "ON CONFLICT (user_id, purpose) DO UPDATE SET granted = excluded.granted, changed_at = excluded.changed_at");
            await using (command.ConfigureAwait(false))
            {
                command.Parameters.Add(new NpgsqlParameter { Value = userId, NpgsqlDbType = NpgsqlDbType.Text });
                command.Parameters.Add(new NpgsqlParameter { Value = choice.Purpose, NpgsqlDbType = NpgsqlDbType.Text });
                command.Parameters.Add(new NpgsqlParameter { Value = choice.Granted, NpgsqlDbType = NpgsqlDbType.Boolean });
                command.Parameters.Add(new NpgsqlParameter { Value = choice.ChangedAt.ToUnixTimeMilliseconds(), NpgsqlDbType = NpgsqlDbType.Bigint });
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (DbException ex)
        {
            throw _database.Wrap("store a consent", ex);
        }
    }

    public void Dispose() => _database.Dispose();

    public ValueTask DisposeAsync() => _database.DisposeAsync();
}

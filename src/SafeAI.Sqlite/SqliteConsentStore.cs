using System.Data.Common;
using Microsoft.Data.Sqlite;
using SafeAI.Consent;

namespace SafeAI.Sqlite;

/// <summary>Settings of the SQLite consent store (configuration section <c>SafeAI:Consent:Sqlite</c>).</summary>
public sealed class SqliteConsentStoreOptions
{
    /// <summary>The configuration section the options bind to.</summary>
    public const string SectionName = "SafeAI:Consent:Sqlite";

    /// <summary>Gets or sets the database file (it may be another SafeAI store's file). Default <c>safeai.db</c>.</summary>
    public string DataSource { get; set; } = "safeai.db";

    /// <summary>Gets or sets a full connection string; when set it wins over <see cref="DataSource"/>.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>Gets or sets how long a write waits for another writer before it fails with a clear error. Default 5 seconds.</summary>
    public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(5);

    internal string? GetError() => SqliteStoreSettings.GetError(SectionName, DataSource, ConnectionString, BusyTimeout);
}

/// <summary>People's consent choices in one SQLite file: one row per person and purpose (component <c>consent</c>).</summary>
internal sealed class SqliteConsentStore : IConsentStore, IDisposable
{
    internal const string Component = "consent";
    internal const int SchemaVersion = 1;

    private static readonly string[] Migrations =
    [
        """
        CREATE TABLE safeai_consent (
            user_id    TEXT    NOT NULL,
            purpose    TEXT    NOT NULL,
            granted    INTEGER NOT NULL,
            changed_at INTEGER NOT NULL,
            PRIMARY KEY (user_id, purpose)
        );
        """,
    ];

    private readonly SqliteDatabase _database;

    public SqliteConsentStore(SqliteConsentStoreOptions options)
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
            store: "consent",
            Component,
            SchemaVersion,
            Migrations,
            static (message, inner) => inner is null ? new ConsentStoreException(message) : new ConsentStoreException(message, inner),
            wrapSchemaErrors: true);
    }

    public async ValueTask<IReadOnlyList<ConsentChoice>> GetAsync(string userId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(userId);
        try
        {
            using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT purpose, granted, changed_at FROM safeai_consent WHERE user_id = $user ORDER BY purpose";
            command.Parameters.AddWithValue("$user", userId);
            var list = new List<ConsentChoice>();
            using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                list.Add(new ConsentChoice(reader.GetString(0), reader.GetInt64(1) != 0, DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2))));
            }

            return list;
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
            using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
            using var command = connection.CreateCommand();
            command.CommandText = """
                INSERT INTO safeai_consent (user_id, purpose, granted, changed_at) VALUES ($user, $purpose, $granted, $at)
                ON CONFLICT (user_id, purpose) DO UPDATE SET granted = excluded.granted, changed_at = excluded.changed_at
                """;
            command.Parameters.AddWithValue("$user", userId);
            command.Parameters.AddWithValue("$purpose", choice.Purpose);
            command.Parameters.AddWithValue("$granted", choice.Granted ? 1 : 0);
            command.Parameters.AddWithValue("$at", choice.ChangedAt.ToUnixTimeMilliseconds());
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (DbException ex)
        {
            throw _database.Wrap("store a consent", ex);
        }
    }

    public void Dispose() => _database.Dispose();
}

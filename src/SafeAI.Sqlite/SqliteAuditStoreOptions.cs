namespace SafeAI.Sqlite;

/// <summary>Settings of the SQLite audit store (configuration section <c>SafeAI:AuditTrail:Sqlite</c>).</summary>
public sealed class SqliteAuditStoreOptions
{
    /// <summary>The configuration section the options bind to.</summary>
    public const string SectionName = "SafeAI:AuditTrail:Sqlite";

    /// <summary>Gets or sets the database file (it may be the review store's file). Relative paths are relative to the working directory. Default <c>safeai-audit.db</c>.</summary>
    public string DataSource { get; set; } = "safeai-audit.db";

    /// <summary>Gets or sets a full connection string; when set it wins over <see cref="DataSource"/>.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>Gets or sets how long a write waits for another writer (SQLite <c>busy_timeout</c>) before it fails with a clear error. Default 5 seconds.</summary>
    public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(5);

    internal string? GetError() => SqliteStoreSettings.GetError(SectionName, DataSource, ConnectionString, BusyTimeout);
}

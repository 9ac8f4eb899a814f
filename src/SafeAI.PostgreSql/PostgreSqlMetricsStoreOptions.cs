namespace SafeAI.PostgreSql;

/// <summary>Settings of the PostgreSQL metrics store (configuration section <c>SafeAI:Monitoring:PostgreSql</c>).</summary>
public sealed class PostgreSqlMetricsStoreOptions
{
    /// <summary>The configuration section the options bind to.</summary>
    public const string SectionName = "SafeAI:Monitoring:PostgreSql";

    /// <summary>Gets or sets the Npgsql connection string, for example <c>Host=db;Database=app;Username=app;Password=...</c>.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>Gets or sets the schema that holds SafeAI's tables (created when missing). Default <c>public</c>.</summary>
    public string Schema { get; set; } = "public";

    /// <summary>Gets or sets how long opening a connection may take before the store fails with a clear error. Default 5 seconds.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Gets or sets how long one command may take before the store fails with a clear error. Default 10 seconds.</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(10);

    internal string? GetError() => PostgreSqlStoreSettings.GetError(SectionName, ConnectionString, Schema, ConnectTimeout, CommandTimeout);
}

namespace SafeAI.Sqlite;

/// <summary>The checks the SQLite stores' options share; each message names the setting under the store's section.</summary>
internal static class SqliteStoreSettings
{
    public static string? GetError(string sectionName, string? dataSource, string? connectionString, TimeSpan busyTimeout)
    {
        if (string.IsNullOrWhiteSpace(connectionString) && string.IsNullOrWhiteSpace(dataSource))
        {
            return $"{sectionName}:DataSource or {sectionName}:ConnectionString must be set.";
        }

        if (busyTimeout <= TimeSpan.Zero || busyTimeout > TimeSpan.FromMinutes(10))
        {
            return $"{sectionName}:BusyTimeout must be between 1 millisecond and 10 minutes.";
        }

        return null;
    }
}

namespace SafeAI.Monitoring.Tests;

/// <summary>The contract on <see cref="SqliteMetricsStore"/>, one file per test.</summary>
public sealed class SqliteMetricsStoreContractTests : MetricsStoreContract, IDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"safeai-metrics-{Guid.NewGuid():N}.db");

    protected override IMetricsStore NewStore() => new SqliteMetricsStore(_path);

    protected override SafeAIPipelineBuilder UseStore(SafeAIPipelineBuilder safe)
    {
        _ = safe.Services!.AddSafeAIMonitoringSqlite(_path);
        return safe;
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        foreach (var file in new[] { _path, _path + "-wal", _path + "-shm" })
        {
            File.Delete(file);
        }
    }
}

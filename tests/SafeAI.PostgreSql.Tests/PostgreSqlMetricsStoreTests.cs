using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using SafeAI.Monitoring;
using SafeAI.Monitoring.Tests;

namespace SafeAI.PostgreSql.Tests;

/// <summary>The store contract (<see cref="MetricsStoreContract"/>) and what is PostgreSQL's own: the schema, a server that goes away, registration.</summary>
public sealed class PostgreSqlMetricsStoreTests(PostgresFixture fixture) : MetricsStoreContract, IClassFixture<PostgresFixture>, IAsyncDisposable
{
    private readonly string _schema = "m" + Guid.NewGuid().ToString("N")[..12];
    private readonly List<IAsyncDisposable> _disposables = [];

    public async ValueTask DisposeAsync()
    {
        foreach (var d in _disposables)
        {
            await d.DisposeAsync();
        }
    }

    protected override IMetricsStore NewStore() => NewPostgreSqlStore();

    protected override SafeAIPipelineBuilder UseStore(SafeAIPipelineBuilder safe) => safe.UsePostgreSqlMetricsStore(o =>
    {
        o.ConnectionString = fixture.ConnectionString;
        o.Schema = _schema;
    });

    private PostgreSqlMetricsStore NewPostgreSqlStore(string? connectionString = null)
    {
        var store = new PostgreSqlMetricsStore(new PostgreSqlMetricsStoreOptions { ConnectionString = connectionString ?? fixture.ConnectionString, Schema = _schema });
        _disposables.Add(store);
        return store;
    }

    [Fact]
    public async Task FirstUse_CreatesTheVersionedTable()
    {
        var store = NewPostgreSqlStore();

        await store.WriteAsync("web-1", [new MetricPoint(Start, "ai", "calls", 1)], Ct);

        Assert.Equal(PostgreSqlMetricsStore.SchemaVersion, await store.GetSchemaVersionAsync(Ct));
    }

    [Fact]
    public async Task Write_NamesWithU0000_ClearErrorAndNothingWritten()
    {
        var store = NewStore();

        var nul = await Assert.ThrowsAsync<ArgumentException>(async () => await store.WriteAsync("web-1", [new MetricPoint(Start, "ai", "calls", 1), new MetricPoint(Start, "a\0i", "calls", 1)], Ct));
        Assert.Contains("U+0000", nul.Message, StringComparison.Ordinal);
        Assert.Empty(await store.ReadAsync(Start, Start.AddMinutes(1), cancellationToken: Ct));
    }

    [Fact]
    public async Task ServerGoesAway_WriteReadAndPingFailWithClearErrorWithoutHanging()
    {
        _ = fixture.ConnectionString; // skips with an install hint when PostgreSQL is missing
        await using var server = await PostgresServer.StartAsync(Ct);
        var store = NewPostgreSqlStore(server.ConnectionString);
        await store.WriteAsync("web-1", [new MetricPoint(Start, "ai", "calls", 1)], Ct);
        await server.StopAsync(Ct);
        var recorder = new MetricsRecorder(null, new FakeTimeProvider(Start));
        recorder.RecordCall(new CallObservation { Outcome = GuardAction.Allow, Arm = "ai" });
        var persistence = new MetricsPersistence(recorder, store, "web-1");

        var sw = Stopwatch.StartNew();
        var write = await Assert.ThrowsAsync<MetricsStoreException>(async () => await store.WriteAsync("web-1", [new MetricPoint(Start, "ai", "calls", 2)], Ct));
        var read = await Assert.ThrowsAsync<MetricsStoreException>(async () => await store.ReadAsync(Start, Start.AddMinutes(1), cancellationToken: Ct));
        var ping = await Assert.ThrowsAsync<MetricsStoreException>(async () => await store.PingAsync(Ct));
        var flush = await Assert.ThrowsAsync<MetricsStoreException>(() => persistence.FlushAsync(Ct));

        Assert.Contains("PostgreSQL metrics store 127.0.0.1", write.Message, StringComparison.Ordinal);
        Assert.Contains("could not write metrics", write.Message, StringComparison.Ordinal);
        Assert.Contains("could not read metrics", read.Message, StringComparison.Ordinal);
        Assert.Contains("could not reach its metrics", ping.Message, StringComparison.Ordinal);
        Assert.Same(flush, persistence.LastFailure);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), $"took {sw.Elapsed}");
    }

    [Fact]
    public async Task UsePostgreSqlMetricsStore_ReplacesTheRegisteredStore_AndInvalidOptionsFailOnResolve()
    {
        var services = new ServiceCollection();
        services.AddSafeAIMonitoringSqlite(Path.Combine(Path.GetTempPath(), $"safeai-unused-{Guid.NewGuid():N}.db"));
        services.AddSafeAI(safe => safe
            .AddMonitoring()
            .UsePostgreSqlMetricsStore(o =>
            {
                o.ConnectionString = fixture.ConnectionString;
                o.Schema = _schema;
            }));
        await using var sp = services.BuildServiceProvider();

        var store = sp.GetRequiredService<IMetricsStore>();

        Assert.IsType<PostgreSqlMetricsStore>(store);
        await store.PingAsync(Ct);

        var bad = new ServiceCollection();
        bad.AddSafeAI(safe => safe.UsePostgreSqlMetricsStore(o => o.ConnectionString = null));
        await using var badProvider = bad.BuildServiceProvider();
        var ex = Assert.Throws<OptionsValidationException>(() => badProvider.GetRequiredService<IMetricsStore>());
        Assert.Contains("SafeAI:Monitoring:PostgreSql:ConnectionString", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_Invalid_ErrorNamesSetting()
    {
        var ex = Assert.Throws<ArgumentException>(() => new PostgreSqlMetricsStore(new PostgreSqlMetricsStoreOptions { ConnectionString = "Host=x", Schema = "bad;drop" }));
        Assert.Contains("SafeAI:Monitoring:PostgreSql:Schema", ex.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentNullException>(() => PostgreSqlStores.CreateMetricsStore(null!));
    }
}

using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using SafeAI.Monitoring;

namespace SafeAI.PostgreSql.Tests;

public sealed class PostgreSqlMetricsStoreTests(PostgresFixture fixture) : IClassFixture<PostgresFixture>, IAsyncDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 1, 5, 12, 0, 0, TimeSpan.Zero);
    private readonly string _schema = "m" + Guid.NewGuid().ToString("N")[..12];
    private readonly List<IAsyncDisposable> _disposables = [];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask DisposeAsync()
    {
        foreach (var d in _disposables)
        {
            await d.DisposeAsync();
        }
    }

    private PostgreSqlMetricsStore NewStore(string? connectionString = null)
    {
        var store = new PostgreSqlMetricsStore(new PostgreSqlMetricsStoreOptions { ConnectionString = connectionString ?? fixture.ConnectionString, Schema = _schema });
        _disposables.Add(store);
        return store;
    }

    [Fact]
    public async Task Write_TwoInstances_EachReadsItsOwn_ReadsWithoutInstanceSum_AndARewriteReplaces()
    {
        var web1 = NewStore();
        var web2 = NewStore();
        await Task.WhenAll(
            web1.WriteAsync("web-1", [new MetricPoint(Start, "ai", "calls", 10), new MetricPoint(Start, "ai", "block", 2), new MetricPoint(Start.AddMinutes(1), "ai", "calls", 4)], Ct).AsTask(),
            web2.WriteAsync("web-2", [new MetricPoint(Start, "ai", "calls", 5)], Ct).AsTask());
        await web1.WriteAsync("web-1", [new MetricPoint(Start, "ai", "calls", 12), new MetricPoint(Start, "ai", "calls", 13)], Ct); // the bucket grew; the last point wins

        var reader = NewStore();
        var own = await reader.ReadAsync(Start, Start.AddMinutes(1), "web-1", Ct);
        var all = await reader.ReadAsync(Start, Start.AddMinutes(2), cancellationToken: Ct);

        Assert.Equal([new MetricPoint(Start, "ai", "block", 2), new MetricPoint(Start, "ai", "calls", 13)], own); // [from, to): the next minute is out
        Assert.Equal([new MetricPoint(Start, "ai", "block", 2), new MetricPoint(Start, "ai", "calls", 18), new MetricPoint(Start.AddMinutes(1), "ai", "calls", 4)], all);
        Assert.Empty(await reader.ReadAsync(Start, Start.AddMinutes(2), "web-3", Ct));
        Assert.Equal(PostgreSqlMetricsStore.SchemaVersion, await reader.GetSchemaVersionAsync(Ct));
        await reader.WriteAsync("web-1", [], Ct);
        await reader.PingAsync(Ct);
    }

    [Fact]
    public async Task Write_BadArguments_ClearErrorsAndNothingWritten()
    {
        var store = NewStore();

        await Assert.ThrowsAsync<ArgumentException>(async () => await store.WriteAsync(" ", [new MetricPoint(Start, "ai", "calls", 1)], Ct));
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await store.WriteAsync("web-1", null!, Ct));
        var nul = await Assert.ThrowsAsync<ArgumentException>(async () => await store.WriteAsync("web-1", [new MetricPoint(Start, "ai", "calls", 1), new MetricPoint(Start, "a\0i", "calls", 1)], Ct));
        Assert.Contains("U+0000", nul.Message, StringComparison.Ordinal);
        Assert.Empty(await store.ReadAsync(Start, Start.AddMinutes(1), cancellationToken: Ct));
    }

    [Fact]
    public async Task Persistence_ARestartedInstance_LoadsItsOwnBucketsBack_NotTheOtherInstances()
    {
        var clock = new FakeTimeProvider(Start);
        var first = new MetricsRecorder(null, clock);
        var persistence = new MetricsPersistence(first, NewStore(), "web-1");
        for (var i = 0; i < 30; i++)
        {
            first.RecordCall(new CallObservation { Outcome = i % 3 == 0 ? GuardAction.Block : GuardAction.Allow, Arm = "ai", Latency = TimeSpan.FromMilliseconds(100) });
        }

        first.Increment("conversion", 4);
        await persistence.FlushAsync(Ct);
        first.RecordCall(new CallObservation { Outcome = GuardAction.Allow, Arm = "ai" });
        await persistence.FlushAsync(Ct); // the same bucket again: replaced, not doubled
        await NewStore().WriteAsync("web-2", [new MetricPoint(Start, "ai", "calls", 5)], Ct);

        clock.Advance(TimeSpan.FromMinutes(10));
        var restarted = new MetricsRecorder(null, clock);
        var loaded = await new MetricsPersistence(restarted, NewStore(), "web-1").LoadAsync(Ct);

        var totals = restarted.Sum(Start, Start.AddMinutes(1), "ai");
        Assert.True(loaded > 0);
        Assert.Equal(31, totals.Calls);
        Assert.Equal(10, totals.Count("block"));
        Assert.Equal(4, restarted.Sum(Start, Start.AddMinutes(1)).Count("conversion"));
        Assert.InRange(totals.LatencyQuantile(0.5), 80, 120);
        Assert.NotNull(persistence.LastSuccess);
    }

    [Fact]
    public async Task ServerGoesAway_WriteReadAndPingFailWithClearErrorWithoutHanging()
    {
        _ = fixture.ConnectionString; // skips with an install hint when PostgreSQL is missing
        await using var server = await PostgresServer.StartAsync(Ct);
        var store = NewStore(server.ConnectionString);
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
    public async Task Monitoring_WithThePostgreSqlStore_WritesThisInstancesBucketsInTheBackground()
    {
        var services = new ServiceCollection();
        services.AddSingleton<Microsoft.Extensions.Configuration.IConfiguration>(new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build());
        services.AddSafeAI(safe => safe
            .AddMonitoring(m => m.PersistInterval = TimeSpan.FromSeconds(1))
            .UsePostgreSqlMetricsStore(o =>
            {
                o.ConnectionString = fixture.ConnectionString;
                o.Schema = _schema;
            }));
        await using var provider = services.BuildServiceProvider();
        var recorder = provider.GetRequiredService<MetricsRecorder>();
        var hosted = provider.GetServices<Microsoft.Extensions.Hosting.IHostedService>().ToList();
        foreach (var service in hosted)
        {
            await service.StartAsync(Ct);
        }

        for (var i = 0; i < 7; i++)
        {
            recorder.RecordCall(new CallObservation { Outcome = GuardAction.Allow, Arm = "ai" });
        }

        var store = NewStore();
        var from = DateTimeOffset.UtcNow.AddMinutes(-2);
        double written = 0;
        for (var wait = Stopwatch.StartNew(); written < 7 && wait.Elapsed < TimeSpan.FromSeconds(20); await Task.Delay(200, Ct))
        {
            written = (await store.ReadAsync(from, DateTimeOffset.UtcNow.AddMinutes(2), Environment.MachineName, Ct)).Where(static p => p.Metric == "calls" && p.Arm == "ai").Sum(static p => p.Value);
        }

        foreach (var service in hosted)
        {
            await service.StopAsync(Ct);
        }

        Assert.Equal(7, written);
    }

    [Fact]
    public void Options_Invalid_ErrorNamesSetting()
    {
        var ex = Assert.Throws<ArgumentException>(() => new PostgreSqlMetricsStore(new PostgreSqlMetricsStoreOptions { ConnectionString = "Host=x", Schema = "bad;drop" }));
        Assert.Contains("SafeAI:Monitoring:PostgreSql:Schema", ex.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentNullException>(() => PostgreSqlStores.CreateMetricsStore(null!));
    }
}

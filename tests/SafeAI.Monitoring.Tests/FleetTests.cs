using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace SafeAI.Monitoring.Tests;

public sealed class FleetTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 1, 5, 12, 0, 0, TimeSpan.Zero);
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"safeai-fleet-{Guid.NewGuid():N}.db");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        foreach (var file in new[] { _path, _path + "-wal", _path + "-shm" })
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Sync_SumsEveryInstance_AndReplacesTheRecentBucketsInsteadOfAddingThemAgain()
    {
        var clock = new FakeTimeProvider(Start);
        var store = new SqliteMetricsStore(_path);
        var instances = Enumerable.Range(1, 3).Select(i => (Recorder: new MetricsRecorder(null, clock), Name: $"web-{i}")).ToList();
        var persistence = instances.Select(i => new MetricsPersistence(i.Recorder, store, i.Name)).ToList();
        foreach (var (recorder, _) in instances)
        {
            Record(recorder, calls: 100, blocked: 15);
        }

        foreach (var p in persistence)
        {
            await p.FlushAsync(Ct);
        }

        var fleet = new FleetMetrics(store, timeProvider: clock);
        Assert.Null(fleet.LastSync);
        Assert.True(await fleet.SyncAsync(Ct) > 0);
        Assert.Equal((300, 45), Totals(fleet, Start));

        Record(instances[0].Recorder, calls: 50, blocked: 0); // the same bucket grows on one instance
        await persistence[0].FlushAsync(Ct);
        _ = await fleet.SyncAsync(Ct);
        Assert.Equal((350, 45), Totals(fleet, Start)); // replaced, not 650

        clock.Advance(TimeSpan.FromMinutes(30));
        Record(instances[1].Recorder, calls: 20, blocked: 2);
        await persistence[1].FlushAsync(Ct);
        _ = await fleet.SyncAsync(Ct); // reads the last 10 minutes before the previous sync onwards

        Assert.Equal((20, 2), Totals(fleet, clock.GetUtcNow()));
        Assert.Equal((350, 45), Totals(fleet, Start));
        Assert.Equal(clock.GetUtcNow(), fleet.LastSync);
    }

    [Fact]
    public async Task FleetRule_FiresOnTheFleetsTraffic_WhileEachInstanceAloneHasTooFewCalls()
    {
        // Three instances, 100 calls each, 15 % blocked; the rule needs 200 calls in its window to judge.
        var clock = new FakeTimeProvider(Start.AddMinutes(2));
        var store = new SqliteMetricsStore(_path);
        var rule = new AlertRuleOptions { Name = "block-high", Metric = "block.rate", Above = 0.05, MinSamples = 200 };
        var locals = new List<AlertEngine>();
        for (var i = 1; i <= 3; i++)
        {
            var recorder = new MetricsRecorder(null, clock);
            Record(recorder, calls: 100, blocked: 15);
            await new MetricsPersistence(recorder, store, $"web-{i}").FlushAsync(Ct);
            locals.Add(new AlertEngine(recorder, [new AlertRule(rule)]));
        }

        clock.Advance(TimeSpan.FromMinutes(1)); // rules judge whole buckets
        var fleet = new FleetMetrics(store, timeProvider: clock);
        var fleetEngine = new AlertEngine(fleet.Recorder, [new AlertRule(new AlertRuleOptions { Name = "block-high-fleet", Metric = "block.rate", Above = 0.05, MinSamples = 200, Scope = "fleet" })]);
        _ = await fleet.SyncAsync(Ct);

        foreach (var local in locals)
        {
            Assert.Empty(await local.EvaluateAsync(Ct));
        }

        var events = await fleetEngine.EvaluateAsync(Ct);
        var fired = Assert.Single(events, static e => e.Kind == AlertEventKind.Fired);
        Assert.Equal("block-high-fleet", fired.Rule);
        Assert.Equal(0.15, fired.Value, 3);
    }

    [Fact]
    public async Task Sync_StoreFails_ThrowsItsErrorAndKeepsTheMirror()
    {
        var fleet = new FleetMetrics(new SqliteMetricsStore("/nonexistent-dir/metrics.db"));

        var ex = await Assert.ThrowsAsync<MetricsStoreException>(() => fleet.SyncAsync(Ct));

        Assert.Contains("could not read metrics", ex.Message, StringComparison.Ordinal);
        Assert.Null(fleet.LastSync);
        Assert.Throws<ArgumentNullException>(() => new FleetMetrics(null!));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FleetMetrics(new SqliteMetricsStore(_path), settle: TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task AddMonitoring_FleetEnabled_SyncsAndEvaluatesTheFleetRules_AndTheInstanceEngineKeepsItsOwn()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["SafeAI:Monitoring:EvaluationInterval"] = "00:00:01",
            ["SafeAI:Monitoring:Fleet:Enabled"] = "true",
            ["SafeAI:Monitoring:Rules:0:name"] = "block-high-fleet",
            ["SafeAI:Monitoring:Rules:0:metric"] = "block.rate",
            ["SafeAI:Monitoring:Rules:0:above"] = "0.05",
            ["SafeAI:Monitoring:Rules:0:min_samples"] = "200",
            ["SafeAI:Monitoring:Rules:0:scope"] = "fleet",
            ["SafeAI:Monitoring:Rules:1:name"] = "block-high",
            ["SafeAI:Monitoring:Rules:1:metric"] = "block.rate",
            ["SafeAI:Monitoring:Rules:1:above"] = "0.05",
        }).Build());
        services.AddSafeAIMonitoringSqlite(_path);
        services.AddSafeAI(safe => safe.AddMonitoring());
        await using var provider = services.BuildServiceProvider();

        // Two other instances wrote their calls of the last minute (rules judge whole buckets) to the shared store.
        var store = provider.GetRequiredService<IMetricsStore>();
        for (var i = 2; i <= 3; i++)
        {
            var other = new MetricsRecorder(null, new FakeTimeProvider(DateTimeOffset.UtcNow.AddMinutes(-1)));
            Record(other, calls: 150, blocked: 25);
            await store.WriteAsync($"web-{i}", other.GetPoints(DateTimeOffset.UtcNow.AddMinutes(-2), DateTimeOffset.UtcNow.AddMinutes(2)), Ct);
        }

        var hosted = provider.GetServices<IHostedService>().ToList();
        foreach (var service in hosted)
        {
            await service.StartAsync(Ct);
        }

        var fleet = provider.GetRequiredService<FleetMonitoring>();
        for (var wait = Stopwatch.StartNew(); fleet.Engine.Firing.Count == 0 && wait.Elapsed < TimeSpan.FromSeconds(20); await Task.Delay(100, Ct))
        {
        }

        foreach (var service in hosted)
        {
            await service.StopAsync(Ct);
        }

        Assert.Equal(["block-high-fleet"], fleet.Engine.Firing);
        Assert.Equal(["block-high-fleet"], fleet.Engine.Rules.Select(static r => r.Name));
        var local = provider.GetRequiredService<AlertEngine>();
        Assert.Equal(["block-high"], local.Rules.Select(static r => r.Name));
        Assert.Empty(local.Firing); // this instance saw no calls
    }

    [Fact]
    public async Task AddMonitoring_FleetEnabledWithoutAStore_FailsTheStartWithWhatToRegister()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        services.AddSafeAI(safe => safe.AddMonitoring(m =>
        {
            m.Fleet.Enabled = true;
            m.Rules.Add(new AlertRuleOptions { Name = "calls-low", Metric = "calls", Below = 10, Scope = "fleet" });
        }));
        await using var provider = services.BuildServiceProvider();
        var fleetService = provider.GetServices<IHostedService>().Single(static s => s.GetType().Name == "FleetMonitoringService");

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => fleetService.StartAsync(Ct));

        Assert.Contains("SafeAI:Monitoring:Fleet:Enabled needs a metrics store", ex.Message, StringComparison.Ordinal);
        Assert.Contains("UseRedisMetricsStore", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_ScopeAndSettle_AreValidatedWithTheirKeys()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["SafeAI:Monitoring:Fleet:Settle"] = "00:00:10",
            ["SafeAI:Monitoring:Rules:0:name"] = "calls-low",
            ["SafeAI:Monitoring:Rules:0:metric"] = "calls",
            ["SafeAI:Monitoring:Rules:0:below"] = "10",
            ["SafeAI:Monitoring:Rules:0:scope"] = "galaxy",
        }).Build());
        services.AddSafeAI(safe => safe.AddMonitoring());
        using var provider = services.BuildServiceProvider();

        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<MonitoringOptions>>().Value);

        Assert.Contains("SafeAI:Monitoring:Fleet:Settle must be between one bucket", ex.Message, StringComparison.Ordinal);
        Assert.Contains("SafeAI:Monitoring:Rules:0 ('calls-low'): 'scope' must be instance or fleet (it is 'galaxy')", ex.Message, StringComparison.Ordinal);
        var parsed = AlertRuleFile.Parse("""{"rules": [{"name": "f", "metric": "calls", "below": 10, "scope": "fleet"}, {"name": "i", "metric": "calls", "below": 10}]}""", "rules.json");
        Assert.Equal([AlertRuleScope.Fleet, AlertRuleScope.Instance], parsed.Select(static r => new AlertRule(r).Scope));
        var typo = Assert.Throws<FormatException>(() => AlertRuleFile.Parse("""{"rules": [{"name": "f", "metric": "calls", "below": 10, "scop": "fleet"}]}""", "rules.json"));
        Assert.Contains("did you mean 'scope'", typo.Message, StringComparison.OrdinalIgnoreCase);
    }

    private static void Record(MetricsRecorder recorder, int calls, int blocked)
    {
        for (var i = 0; i < calls; i++)
        {
            recorder.RecordCall(new CallObservation { Outcome = i < blocked ? GuardAction.Block : GuardAction.Allow });
        }
    }

    private static (long Calls, long Blocked) Totals(FleetMetrics fleet, DateTimeOffset at)
    {
        var bucket = fleet.Recorder.BucketStart(at);
        var totals = fleet.Recorder.Sum(bucket, bucket + fleet.Recorder.BucketWidth);
        return (totals.Calls, totals.Count("block"));
    }
}

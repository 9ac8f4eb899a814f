using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace SafeAI.Monitoring.Tests;

/// <summary>
/// What every <see cref="IMetricsStore"/> SafeAI ships must do, run against a real store by each store's test class
/// (SQLite here; PostgreSQL and Redis link this file into their own test projects).
/// </summary>
public abstract class MetricsStoreContract
{
    /// <summary>A bucket start well inside any store's retention for <see cref="NewStore"/>'s clock.</summary>
    protected static readonly DateTimeOffset Start = new(2026, 1, 5, 12, 0, 0, TimeSpan.Zero);

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A store on the class's storage; every store a test creates shares it (several app instances).</summary>
    protected abstract IMetricsStore NewStore();

    /// <summary>Registers the store on a pipeline builder created by <c>services.AddSafeAI</c>, as an app would.</summary>
    protected abstract SafeAIPipelineBuilder UseStore(SafeAIPipelineBuilder safe);

    [Fact]
    public async Task Contract_TwoInstances_EachReadsItsOwn_ReadsWithoutInstanceSum_AndARewriteReplaces()
    {
        var web1 = NewStore();
        var web2 = NewStore();
        await Task.WhenAll(
            web1.WriteAsync("web-1", [new MetricPoint(Start, "ai", "calls", 10), new MetricPoint(Start, "ai", "block", 2), new MetricPoint(Start.AddMinutes(1), "ai", "calls", 4)], Ct).AsTask(),
            web2.WriteAsync("web-2", [new MetricPoint(Start, "ai", "calls", 5), new MetricPoint(Start, "fallback", "calls", 0.5)], Ct).AsTask());
        await web1.WriteAsync("web-1", [new MetricPoint(Start, "ai", "calls", 12), new MetricPoint(Start, "ai", "calls", 13)], Ct); // the bucket grew; the last point wins

        var reader = NewStore();
        var own = await reader.ReadAsync(Start, Start.AddMinutes(1), "web-1", Ct);
        var all = await reader.ReadAsync(Start, Start.AddMinutes(2), cancellationToken: Ct);

        Assert.Equal([new MetricPoint(Start, "ai", "block", 2), new MetricPoint(Start, "ai", "calls", 13)], Sorted(own)); // [from, to): the next minute is out
        Assert.Equal(
            [new MetricPoint(Start, "ai", "block", 2), new MetricPoint(Start, "ai", "calls", 18), new MetricPoint(Start, "fallback", "calls", 0.5), new MetricPoint(Start.AddMinutes(1), "ai", "calls", 4)],
            Sorted(all));
        Assert.Equal([new MetricPoint(Start.AddMinutes(1), "ai", "calls", 4)], await reader.ReadAsync(Start.AddTicks(1), Start.AddMinutes(2), cancellationToken: Ct)); // ticks, not milliseconds
        Assert.Empty(await reader.ReadAsync(Start, Start.AddMinutes(2), "web-3", Ct));
        Assert.Empty(await reader.ReadAsync(Start.AddMinutes(2), Start, cancellationToken: Ct));
        await reader.WriteAsync("web-1", [], Ct);
        await reader.PingAsync(Ct);
    }

    [Fact]
    public async Task Contract_BadArguments_ClearErrorsAndNothingWritten()
    {
        var store = NewStore();

        await Assert.ThrowsAsync<ArgumentException>(async () => await store.WriteAsync(" ", [new MetricPoint(Start, "ai", "calls", 1)], Ct));
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await store.WriteAsync(null!, [new MetricPoint(Start, "ai", "calls", 1)], Ct));
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await store.WriteAsync("web-1", null!, Ct));
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.WriteAsync("web-1", [new MetricPoint(Start, "ai", "calls", 1)], cancelled.Token));

        Assert.Empty(await store.ReadAsync(Start, Start.AddMinutes(1), cancellationToken: Ct));
    }

    [Fact]
    public async Task Contract_ManyWritersAtOnce_EveryPointStoredOnce()
    {
        // 8 instances write 25 times each, in parallel; each write holds 60 buckets of 20 metrics (1,200 points), and a
        // later write replaces the values of the earlier ones.
        var store = NewStore();
        await Parallel.ForAsync(0, 8, Ct, async (instance, ct) =>
        {
            for (var write = 0; write < 25; write++)
            {
                var points = new List<MetricPoint>(1200);
                for (var bucket = 0; bucket < 60; bucket++)
                {
                    for (var metric = 0; metric < 20; metric++)
                    {
                        points.Add(new MetricPoint(Start.AddMinutes(-bucket), "ai", $"m{metric:D2}", write + 1));
                    }
                }

                await store.WriteAsync($"web-{instance}", points, ct);
            }
        });

        var all = await store.ReadAsync(Start.AddMinutes(-59), Start.AddMinutes(1), cancellationToken: Ct);

        Assert.Equal(60 * 20, all.Count);
        Assert.All(all, static p => Assert.Equal(8 * 25, p.Value));
        Assert.Equal(Enumerable.Range(0, 60).Select(static b => Start.AddMinutes(b - 59)), all.Select(static p => p.BucketStart).Distinct());
    }

    [Fact]
    public async Task Contract_ARestartedInstance_LoadsItsOwnBucketsBack_NotTheOtherInstances()
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
    public async Task Contract_Monitoring_WritesThisInstancesBucketsInTheBackground()
    {
        var services = new ServiceCollection();
        services.AddSingleton<Microsoft.Extensions.Configuration.IConfiguration>(new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build());
        services.AddSafeAI(safe => UseStore(safe.AddMonitoring(m => m.PersistInterval = TimeSpan.FromSeconds(1))));
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

        var store = provider.GetRequiredService<IMetricsStore>();
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

    private static MetricPoint[] Sorted(IReadOnlyList<MetricPoint> points) =>
        [.. points.OrderBy(static p => p.BucketStart).ThenBy(static p => p.Arm, StringComparer.Ordinal).ThenBy(static p => p.Metric, StringComparer.Ordinal)];
}

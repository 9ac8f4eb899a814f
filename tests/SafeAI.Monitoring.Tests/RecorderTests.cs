using Microsoft.Extensions.Time.Testing;
using SafeAI.Feedback;

namespace SafeAI.Monitoring.Tests;

public sealed class RecorderTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 5, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void RecordCall_CountsOutcomesPerArmAndTogether()
    {
        var clock = new FakeTimeProvider(Start);
        var recorder = new MetricsRecorder(null, clock);
        recorder.RecordCall(new CallObservation { Outcome = GuardAction.Allow, Arm = "ai" });
        recorder.RecordCall(new CallObservation { Outcome = GuardAction.Block, Arm = "ai" });
        recorder.RecordCall(new CallObservation { Outcome = GuardAction.Degrade, Fallback = true, Arm = "baseline" });
        recorder.RecordCall(new CallObservation { Faulted = true });
        recorder.RecordCall(new CallObservation { Outcome = GuardAction.Modify, LowConfidence = true });
        recorder.RecordFeedback(FeedbackRating.Down, "ai");
        recorder.Increment("conversion", 2, "ai");

        var all = recorder.Sum(Start, Start.AddMinutes(1));
        var ai = recorder.Sum(Start, Start.AddMinutes(1), "ai");

        Assert.Equal(5, all.Calls);
        Assert.Equal(2, ai.Calls);
        Assert.Equal(1, all.Count("block"));
        Assert.Equal(1, all.Count("error"));
        Assert.Equal(1, all.Count("fallback"));
        Assert.Equal(1, all.Count("confidence.low"));
        Assert.Equal(2, all.Count("success")); // allow and modify; not the fallback, the block or the fault
        Assert.Equal(1, ai.Count("feedback.down"));
        Assert.Equal(2, ai.Count("conversion"));
        Assert.Equal(0, recorder.Sum(Start, Start.AddMinutes(1), "nobody").Calls);
        Assert.Equal(["", "ai", "baseline"], recorder.Arms);
    }

    [Fact]
    public void Arms_BeyondMaxArms_AreCountedUnderOther_HoweverManyComeLater()
    {
        // MaxArms 3: the no-arm slot, one named arm, and "other" for every arm after it (once "other" holds the last
        // slot, a new arm used to index past the array).
        var recorder = new MetricsRecorder(new MetricsRecorderOptions { MaxArms = 3 }, new FakeTimeProvider(Start));
        foreach (var arm in new[] { "ai", "baseline", "arm-3", "arm-4", "ai", "arm-5" })
        {
            recorder.RecordCall(new CallObservation { Outcome = GuardAction.Allow, Arm = arm });
            recorder.RecordFeedback(FeedbackRating.Up, arm);
            recorder.Increment("conversion", 1, arm);
        }

        Assert.Equal(["", "ai", MetricsRecorder.OtherArm], recorder.Arms);
        var other = recorder.Sum(Start, Start.AddMinutes(1), MetricsRecorder.OtherArm);
        Assert.Equal(4, other.Calls);
        Assert.Equal(4, other.Count("feedback.up"));
        Assert.Equal(4, other.Count("conversion"));
        Assert.Equal(2, recorder.Sum(Start, Start.AddMinutes(1), "ai").Calls);
    }

    [Fact]
    public void LatencyQuantile_IsWithinTheBinResolution()
    {
        var recorder = new MetricsRecorder(null, new FakeTimeProvider(Start));
        for (var ms = 1; ms <= 1000; ms++)
        {
            recorder.RecordCall(new CallObservation { Latency = TimeSpan.FromMilliseconds(ms) });
        }

        var totals = recorder.Sum(Start, Start.AddMinutes(1));

        Assert.InRange(totals.LatencyQuantile(0.95), 950 * 0.8, 950 * 1.2);
        Assert.InRange(totals.LatencyQuantile(0.5), 500 * 0.8, 500 * 1.2);
        Assert.Equal(500.5, totals.LatencyMean, 1);
    }

    [Fact]
    public void Buckets_OlderThanRetention_AreDroppedAndOverwritten()
    {
        var clock = new FakeTimeProvider(Start);
        var recorder = new MetricsRecorder(new MetricsRecorderOptions { Retention = TimeSpan.FromHours(1) }, clock);
        recorder.RecordCall(new CallObservation());
        clock.Advance(TimeSpan.FromHours(2));
        recorder.RecordCall(new CallObservation());

        recorder.RecordCall(new CallObservation(), Start); // too old now

        Assert.Equal(1, recorder.Dropped);
        Assert.Equal(0, recorder.Sum(Start, Start.AddMinutes(1)).Calls);
        Assert.Equal(1, recorder.Sum(clock.GetUtcNow().AddMinutes(-1), clock.GetUtcNow().AddMinutes(1)).Calls);
    }

    [Fact]
    public async Task RecordCall_ManyThreads_LosesNothing()
    {
        var recorder = new MetricsRecorder(null, new FakeTimeProvider(Start));
        await Task.WhenAll(Enumerable.Range(0, 4).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < 50_000; i++)
            {
                recorder.RecordCall(new CallObservation { Outcome = GuardAction.Block, Arm = t % 2 == 0 ? "ai" : "baseline" });
            }
        }, TestContext.Current.CancellationToken)));

        Assert.Equal(200_000, recorder.Sum(Start, Start.AddMinutes(1)).Count("block"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("calls")]
    public void Increment_InvalidName_Throws(string name)
    {
        var recorder = new MetricsRecorder();
        Assert.ThrowsAny<ArgumentException>(() => recorder.Increment(name));
    }

    [Fact]
    public void Options_Invalid_ThrowNamingTheSetting()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new MetricsRecorder(new MetricsRecorderOptions { BucketWidth = TimeSpan.FromSeconds(7) }));
        Assert.Contains("BucketWidth", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SqliteStore_PersistsAndReloadsAfterARestart()
    {
        var path = Path.Combine(Path.GetTempPath(), $"safeai-metrics-{Guid.NewGuid():N}.db");
        try
        {
            var clock = new FakeTimeProvider(Start);
            var store = new SqliteMetricsStore(path);
            var first = new MetricsRecorder(null, clock);
            var persistence = new MetricsPersistence(first, store, "web-1");
            for (var i = 0; i < 30; i++)
            {
                first.RecordCall(new CallObservation { Outcome = i % 3 == 0 ? GuardAction.Block : GuardAction.Allow, Arm = "ai", Latency = TimeSpan.FromMilliseconds(100) });
                first.RecordFeedback(FeedbackRating.Up, "ai");
            }

            first.Increment("conversion", 4);
            first.RecordValue("drift.input.js", 0.25);
            await persistence.FlushAsync(TestContext.Current.CancellationToken);
            first.RecordCall(new CallObservation { Outcome = GuardAction.Allow, Arm = "ai" });
            await persistence.FlushAsync(TestContext.Current.CancellationToken); // the same bucket again: replaced, not doubled
            await store.WriteAsync("web-2", [new MetricPoint(Start, "ai", "calls", 5)], TestContext.Current.CancellationToken);

            clock.Advance(TimeSpan.FromMinutes(10));
            var restarted = new MetricsRecorder(null, clock);
            var loaded = await new MetricsPersistence(restarted, new SqliteMetricsStore(path), "web-1").LoadAsync(TestContext.Current.CancellationToken);

            var totals = restarted.Sum(Start, Start.AddMinutes(1), "ai");
            Assert.True(loaded > 0);
            Assert.Equal(31, totals.Calls);
            Assert.Equal(10, totals.Count("block"));
            Assert.Equal(30, totals.Count("feedback.up"));
            Assert.Equal(4, restarted.Sum(Start, Start.AddMinutes(1)).Count("conversion"));
            Assert.Equal(0.25, restarted.Sum(Start, Start.AddMinutes(1)).Value("drift.input.js").Mean);
            Assert.InRange(totals.LatencyQuantile(0.5), 80, 120);
            var everyone = await store.ReadAsync(Start, Start.AddMinutes(1), cancellationToken: TestContext.Current.CancellationToken);
            Assert.Equal(36, everyone.Single(static p => p.Metric == "calls" && p.Arm == "ai").Value);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            File.Delete(path);
        }
    }

    [Fact]
    public async Task SqliteStore_Unreachable_ReportsTheFile()
    {
        var store = new SqliteMetricsStore("/nonexistent-dir/metrics.db");
        var ex = await Assert.ThrowsAsync<MetricsStoreException>(async () => await store.PingAsync(TestContext.Current.CancellationToken));
        Assert.Contains("/nonexistent-dir/metrics.db", ex.Message, StringComparison.Ordinal);
    }
}

using Microsoft.Extensions.Time.Testing;

namespace SafeAI.Monitoring.Tests;

/// <summary>The "done when" checks on a fake clock: a 15 % drop is found within 30 minutes at 500 calls an hour, and ordinary noise pages nobody in 30 days.</summary>
public sealed class AlertEngineDoneWhenTests
{
    private static readonly DateTimeOffset Monday = new(2026, 1, 5, 0, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(17)]
    [InlineData(18)]
    [InlineData(19)]
    [InlineData(20)]
    [InlineData(21)]
    [InlineData(22)]
    [InlineData(23)]
    [InlineData(24)]
    [InlineData(25)]
    [InlineData(26)]
    public async Task RelativeRule_QualityDrops15PercentAt500CallsPerHour_FiresWithin30Minutes(int seed)
    {
        var clock = new FakeTimeProvider(Monday);
        var recorder = new MetricsRecorder(null, clock);
        var engine = new AlertEngine(recorder, [new AlertRule(new AlertRuleOptions
        {
            Name = "success-down-15pct",
            Metric = "success.rate",
            Compare = "previous-7-days",
            RelativeDecrease = 0.15,
        })]);
        var traffic = new Traffic(recorder, clock, seed) { CallsPerHour = 500 }; // the least volume the issue names, all day

        await traffic.RunAsync(TimeSpan.FromDays(7) + TimeSpan.FromHours(14)); // a week of history, then into the afternoon
        await traffic.RunAsync(TimeSpan.FromHours(6), engine);
        Assert.DoesNotContain(traffic.Events, static e => e.Kind == AlertEventKind.Fired);

        var drop = clock.GetUtcNow();
        traffic.SuccessRate = static _ => 0.95 * 0.85;
        await traffic.RunAsync(TimeSpan.FromHours(2), engine, static e => e.Kind == AlertEventKind.Fired);

        var fired = Assert.Single(traffic.Events, static e => e.Kind == AlertEventKind.Fired);
        var delay = fired.Time - drop;
        TestContext.Current.TestOutputHelper?.WriteLine($"fired {delay.TotalMinutes} min after the drop: {fired.Detail}");
        Assert.True(delay <= TimeSpan.FromMinutes(30), $"fired after {delay.TotalMinutes} min: {fired.Detail}");
        Assert.Equal("success.rate", fired.Metric);
        Assert.InRange(fired.Baseline!.Value, 0.93, 0.97);
        Assert.True(fired.Value < fired.Baseline.Value, fired.Detail);
    }

    [Fact]
    public async Task RelativeRule_DropPersistsThenRecovers_StaysFiringWithoutFlappingThenResolves()
    {
        var clock = new FakeTimeProvider(Monday);
        var recorder = new MetricsRecorder(null, clock);
        var engine = new AlertEngine(recorder, [new AlertRule(new AlertRuleOptions { Name = "success-down-15pct", Metric = "success.rate", Compare = "previous-7-days", RelativeDecrease = 0.15 })]);
        var traffic = new Traffic(recorder, clock, 31);
        await traffic.RunAsync(TimeSpan.FromDays(7) + TimeSpan.FromHours(9));

        traffic.SuccessRate = static _ => 0.95 * 0.85;
        await traffic.RunAsync(TimeSpan.FromHours(8), engine);
        Assert.Single(traffic.Events, static e => e.Kind == AlertEventKind.Fired);
        Assert.DoesNotContain(traffic.Events, static e => e.Kind == AlertEventKind.Resolved); // the hourly estimate wobbles; the alert does not

        traffic.SuccessRate = static _ => 0.95;
        var recovered = clock.GetUtcNow();
        await traffic.RunAsync(TimeSpan.FromHours(4), engine);

        var resolved = Assert.Single(traffic.Events, static e => e.Kind == AlertEventKind.Resolved);
        Assert.InRange(resolved.Time - recovered, TimeSpan.FromMinutes(15), TimeSpan.FromHours(2));
        Assert.Single(traffic.Events, static e => e.Kind == AlertEventKind.Fired);
    }

    [Fact]
    public async Task Rules_StableNoisyStreamAt500CallsPerHour_FireNothingIn30Days()
    {
        var clock = new FakeTimeProvider(Monday);
        var recorder = new MetricsRecorder(null, clock);
        var engine = new AlertEngine(recorder,
        [
            new AlertRule(new AlertRuleOptions { Name = "success-down-15pct", Metric = "success.rate", Compare = "previous-7-days", RelativeDecrease = 0.15 }),
            new AlertRule(new AlertRuleOptions { Name = "thumbs-down-up-15pct", Metric = "feedback.down.rate", Compare = "previous-7-days", RelativeIncrease = 0.15 }),
            new AlertRule(new AlertRuleOptions { Name = "fallback-up-50pct", Metric = "fallback.rate", Compare = "same-hour-last-week", RelativeIncrease = 0.5 }),
            new AlertRule(new AlertRuleOptions { Name = "block-rate-high", Metric = "block.rate", Above = 0.05, MinSamples = 50 }),
            new AlertRule(new AlertRuleOptions { Name = "latency-up", Metric = "latency.p95", Compare = "previous-day", RelativeIncrease = 0.5 }),
            new AlertRule(new AlertRuleOptions { Name = "no-success", Metric = "success", Kind = "absence", Window = TimeSpan.FromMinutes(10) }),
        ]);

        // Ordinary noise: Poisson arrivals, binomial outcomes, a ±40 % daily swing in volume, and day-to-day wobble of the true rates.
        var wobble = new Random(99);
        var daily = Enumerable.Range(0, 40).Select(_ => (Success: 0.95 + (0.005 * (wobble.NextDouble() - 0.5) * 2), Down: 0.2 * (1 + (0.03 * (wobble.NextDouble() - 0.5) * 2)))).ToArray();
        var traffic = new Traffic(recorder, clock, seed: 23)
        {
            DailySwing = true,
            SuccessRate = t => daily[(int)(t - Monday).TotalDays].Success,
            DownRate = t => daily[(int)(t - Monday).TotalDays].Down,
        };

        await traffic.RunAsync(TimeSpan.FromDays(7));
        await traffic.RunAsync(TimeSpan.FromDays(30), engine);

        Assert.Empty(traffic.Events);
        Assert.Empty(engine.Firing);
    }
}

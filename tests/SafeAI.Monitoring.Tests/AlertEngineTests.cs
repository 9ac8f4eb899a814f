using Microsoft.Extensions.Time.Testing;

namespace SafeAI.Monitoring.Tests;

public sealed class AlertEngineTests
{
    private static readonly DateTimeOffset Monday = new(2026, 1, 5, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task ThresholdRule_BlockRateWellAboveThreshold_FiresOnce()
    {
        var (clock, recorder) = Start();
        var engine = new AlertEngine(recorder, [new AlertRule(new AlertRuleOptions { Name = "block-high", Metric = "block.rate", Above = 0.05, MinSamples = 200 })]);
        var traffic = new Traffic(recorder, clock, 3) { CallsPerHour = 6000, BlockRate = static _ => 0.12 };

        await traffic.RunAsync(TimeSpan.FromMinutes(30), engine);

        var fired = Assert.Single(traffic.Events, static e => e.Kind == AlertEventKind.Fired);
        Assert.Equal(0.05, fired.Baseline);
        Assert.True(fired.Statistic > 0.05, "the Wilson lower bound is past the threshold");
        Assert.Contains(traffic.Events, static e => e.Kind == AlertEventKind.ActionSucceeded && e.Action == "log");
    }

    [Fact]
    public async Task ThresholdRule_BlockRateBelowThresholdWithNoise_StaysSilentForADay()
    {
        var (clock, recorder) = Start();
        var engine = new AlertEngine(recorder, [new AlertRule(new AlertRuleOptions { Name = "block-high", Metric = "block.rate", Above = 0.05, MinSamples = 50 })]);
        var traffic = new Traffic(recorder, clock, 4) { CallsPerHour = 500, BlockRate = static _ => 0.04 };

        await traffic.RunAsync(TimeSpan.FromDays(1), engine);

        Assert.Empty(traffic.Events);
    }

    [Fact]
    public async Task ThresholdRule_FewCalls_WaitsForMinimumSamples()
    {
        var (clock, recorder) = Start();
        var engine = new AlertEngine(recorder, [new AlertRule(new AlertRuleOptions { Name = "block-high", Metric = "block.rate", Above = 0.05, MinSamples = 100 })]);

        // 3 of 10 calls blocked: 30 %, but ten calls prove nothing.
        for (var i = 0; i < 10; i++)
        {
            recorder.RecordCall(new CallObservation { Outcome = i < 3 ? GuardAction.Block : GuardAction.Allow });
        }

        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Empty(await engine.EvaluateAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task FiringAlert_ConditionPersistsThenClears_RepeatsOnScheduleAndResolvesAfterHysteresis()
    {
        var (clock, recorder) = Start();
        var notified = new List<AlertNotification>();
        var rule = new AlertRule(
            new AlertRuleOptions { Name = "block-high", Metric = "block.rate", Above = 0.05, MinSamples = 200, RepeatAfter = TimeSpan.FromHours(1), ResolveAfter = TimeSpan.FromMinutes(15) },
            [new CallbackAlertAction((n, _) => { notified.Add(n); return ValueTask.CompletedTask; })]);
        var engine = new AlertEngine(recorder, [rule]);
        var traffic = new Traffic(recorder, clock, 5) { CallsPerHour = 6000, BlockRate = static _ => 0.12 };

        await traffic.RunAsync(TimeSpan.FromMinutes(150), engine);
        Assert.Single(traffic.Events, static e => e.Kind == AlertEventKind.Fired);
        Assert.Equal(2, traffic.Events.Count(static e => e.Kind == AlertEventKind.Repeated));
        Assert.Equal(["block-high"], engine.Firing);

        traffic.BlockRate = static _ => 0.01;
        var cleared = clock.GetUtcNow();
        await traffic.RunAsync(TimeSpan.FromHours(1), engine);

        var resolved = Assert.Single(traffic.Events, static e => e.Kind == AlertEventKind.Resolved);
        // The 10-minute window must first drain of the bad minutes, then 15 minutes clear.
        Assert.InRange(resolved.Time - cleared, TimeSpan.FromMinutes(15), TimeSpan.FromMinutes(30));
        Assert.Empty(engine.Firing);
        Assert.Equal([AlertEventKind.Fired, AlertEventKind.Repeated, AlertEventKind.Repeated, AlertEventKind.Resolved], notified.Select(static n => n.Event.Kind));
    }

    [Fact]
    public async Task AbsenceRule_NoSuccessForTenMinutes_Fires_AndNotOnAnIdleNewInstance()
    {
        var (clock, recorder) = Start();
        var engine = new AlertEngine(recorder, [new AlertRule(new AlertRuleOptions { Name = "no-success", Metric = "success", Kind = "absence", Window = TimeSpan.FromMinutes(5) })]);
        var traffic = new Traffic(recorder, clock, 6) { CallsPerHour = 2000 };
        await traffic.RunAsync(TimeSpan.FromHours(2), engine);
        Assert.Empty(traffic.Events);

        var outage = clock.GetUtcNow();
        traffic.SuccessRate = static _ => 0;
        await traffic.RunAsync(TimeSpan.FromMinutes(10), engine);

        var fired = Assert.Single(traffic.Events, static e => e.Kind == AlertEventKind.Fired);
        Assert.InRange(fired.Time - outage, TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(7));

        var (idleClock, idle) = Start();
        var idleEngine = new AlertEngine(idle, [new AlertRule(new AlertRuleOptions { Name = "no-success", Metric = "success", Kind = "absence" })]);
        idleClock.Advance(TimeSpan.FromHours(1));
        Assert.Empty(await idleEngine.EvaluateAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task RelativeRule_BusinessCounterFallsByHalf_Fires()
    {
        var (clock, recorder) = Start();
        var engine = new AlertEngine(recorder, [new AlertRule(new AlertRuleOptions { Name = "conversions-down", Metric = "conversion.rate", Compare = "previous-day", RelativeDecrease = 0.3 })]);
        var random = new Random(8);
        async Task Run(TimeSpan span, double conversion, bool evaluate)
        {
            for (var end = clock.GetUtcNow() + span; clock.GetUtcNow() < end; clock.Advance(TimeSpan.FromMinutes(1)))
            {
                for (var i = 0; i < 20; i++)
                {
                    recorder.RecordCall(new CallObservation { Outcome = GuardAction.Allow });
                    if (random.NextDouble() < conversion)
                    {
                        recorder.Increment("conversion");
                    }
                }

                if (evaluate)
                {
                    Assert.Empty(await engine.EvaluateAsync(TestContext.Current.CancellationToken));
                }
            }
        }

        await Run(TimeSpan.FromDays(1), 0.1, evaluate: false);
        await Run(TimeSpan.FromHours(3), 0.1, evaluate: true);
        clock.Advance(TimeSpan.FromMinutes(1));
        for (var minute = 0; minute < 60; minute++)
        {
            for (var i = 0; i < 20; i++)
            {
                recorder.RecordCall(new CallObservation { Outcome = GuardAction.Allow });
                if (random.NextDouble() < 0.05)
                {
                    recorder.Increment("conversion");
                }
            }

            clock.Advance(TimeSpan.FromMinutes(1));
            if ((await engine.EvaluateAsync(TestContext.Current.CancellationToken)).Any(static e => e.Kind == AlertEventKind.Fired))
            {
                return;
            }
        }

        Assert.Fail("a halving of conversions went unnoticed for an hour");
    }

    [Fact]
    public async Task FailingAction_IsRecordedAndTheNextActionStillRuns()
    {
        var (clock, recorder) = Start();
        var ran = false;
        var rule = new AlertRule(
            new AlertRuleOptions { Name = "block-high", Metric = "block.rate", Above = 0.05, MinSamples = 10 },
            [
                new CallbackAlertAction(static (_, _) => throw new InvalidOperationException("pager down")),
                new CallbackAlertAction((_, _) => { ran = true; return ValueTask.CompletedTask; }),
            ]);
        var engine = new AlertEngine(recorder, [rule]);
        for (var i = 0; i < 100; i++)
        {
            recorder.RecordCall(new CallObservation { Outcome = GuardAction.Block });
        }

        clock.Advance(TimeSpan.FromMinutes(1));
        var events = await engine.EvaluateAsync(TestContext.Current.CancellationToken);

        Assert.Equal([AlertEventKind.Fired, AlertEventKind.ActionFailed, AlertEventKind.ActionSucceeded], events.Select(static e => e.Kind));
        Assert.Equal("pager down", events[1].Detail);
        Assert.True(ran);
        Assert.Equal(events, engine.GetEvents());
    }

    [Fact]
    public async Task ThresholdOnACount_TrafficSpike_FiresWithoutMinimumSamples()
    {
        var (clock, recorder) = Start();
        var engine = new AlertEngine(recorder, [new AlertRule(new AlertRuleOptions { Name = "traffic-spike", Metric = "calls", Above = 500, Window = TimeSpan.FromMinutes(5) })]);
        for (var i = 0; i < 400; i++)
        {
            recorder.RecordCall(new CallObservation());
        }

        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Empty(await engine.EvaluateAsync(TestContext.Current.CancellationToken));
        for (var i = 0; i < 200; i++)
        {
            recorder.RecordCall(new CallObservation());
        }

        clock.Advance(TimeSpan.FromMinutes(1));
        var fired = (await engine.EvaluateAsync(TestContext.Current.CancellationToken))[0];

        Assert.Equal((AlertEventKind.Fired, 600.0), (fired.Kind, fired.Value));
    }

    [Fact]
    public async Task FeedbackRate_IsDownsOutOfRatedCalls()
    {
        var (clock, recorder) = Start();
        var engine = new AlertEngine(recorder, [new AlertRule(new AlertRuleOptions { Name = "down-high", Metric = "feedback.down.rate", Above = 0.2, MinSamples = 50, Alpha = 0.01 })]);
        for (var i = 0; i < 200; i++)
        {
            recorder.RecordCall(new CallObservation());
            if (i < 100)
            {
                recorder.RecordFeedback(i < 40 ? SafeAI.Feedback.FeedbackRating.Down : SafeAI.Feedback.FeedbackRating.Up);
            }
        }

        clock.Advance(TimeSpan.FromMinutes(1));
        var fired = (await engine.EvaluateAsync(TestContext.Current.CancellationToken))[0];

        Assert.Equal(0.4, fired.Value, 6); // 40 of 100 ratings, not of 200 calls
        Assert.Equal(100, fired.Samples);
    }

    [Fact]
    public void Engine_DuplicateRuleNames_Throws()
    {
        var (_, recorder) = Start();
        var rule = new AlertRuleOptions { Name = "same", Metric = "block.rate", Above = 0.1 };
        var ex = Assert.Throws<ArgumentException>(() => new AlertEngine(recorder, [new AlertRule(rule), new AlertRule(rule)]));
        Assert.Contains("'same'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Engine_ActionNeedingServicesWithoutFactory_ThrowsNamingTheRule()
    {
        var (_, recorder) = Start();
        var options = new AlertRuleOptions { Name = "r1", Metric = "block.rate", Above = 0.1 };
        options.Actions.Add(new AlertActionOptions { Type = "kill-switch" });
        var ex = Assert.Throws<ArgumentException>(() => new AlertEngine(recorder, [new AlertRule(options)]));
        Assert.Contains("Rule 'r1'", ex.Message, StringComparison.Ordinal);
    }

    private static (FakeTimeProvider Clock, MetricsRecorder Recorder) Start()
    {
        var clock = new FakeTimeProvider(Monday);
        return (clock, new MetricsRecorder(null, clock));
    }
}

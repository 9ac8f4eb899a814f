using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace SafeAI.Monitoring.Tests;

public sealed class ConfigurationTests
{
    [Fact]
    public void RulesFile_IssueShape_Parses()
    {
        var rules = AlertRuleFile.Parse("""{"rules": [{"name": "thumbs-down-up-15pct", "metric": "feedback.down.rate", "compare": "previous-7-days", "relative_increase": 0.15}]}""", "rules.json");

        var rule = new AlertRule(Assert.Single(rules));
        Assert.Equal(AlertRuleKind.Relative, rule.Kind);
        Assert.Equal(BaselineComparison.Previous7Days, rule.Compare);
        Assert.Equal(0.15, rule.RelativeChange);
        Assert.Equal(TimeSpan.FromHours(1), rule.Window);
    }

    [Fact]
    public void RulesFile_DurationsAndActions_Parse()
    {
        var rules = AlertRuleFile.Parse("""
            {"rules": [
              {"name": "block-high", "metric": "block.rate", "above": 0.05, "window": "10m", "resolve_after": "00:20:00",
               "actions": [{"type": "webhook", "url": "https://ops.example.com/hook", "secret_env": "HOOK_SECRET"}, {"type": "kill-switch"}]}
            ]}
            """, "rules.json");

        var rule = Assert.Single(rules);
        Assert.Equal(TimeSpan.FromMinutes(10), rule.Window);
        Assert.Equal(TimeSpan.FromMinutes(20), rule.ResolveAfter);
        Assert.Equal(["webhook", "kill-switch"], rule.Actions.Select(static a => a.Type));
    }

    [Theory]
    [InlineData("", "rules.json: the rules file is empty")]
    [InlineData("{\"rules\": [", "rules.json:1: not valid JSON")]
    [InlineData("[]", "rules.json:1: expected an object with a \"rules\" array")]
    [InlineData("{\"rules\": [\n  {\"name\": \"a\", \"metric\": \"block.rate\", \"above\": 0.1},\n  {\"name\": \"b\", \"metrc\": \"block.rate\"}\n]}", "rules.json:3: rule 1: unknown key 'metrc'. Did you mean 'metric'?")]
    [InlineData("{\"rules\": [\n  {\"name\": \"b\", \"metric\": \"block.rate\"}\n]}", "rules.json:2: rule 0 ('b'): say what to watch for")]
    [InlineData("{\"rules\": [{\"name\": \"b\", \"metric\": \"block.rate\", \"compare\": \"last-month\", \"relative_increase\": 0.1}]}", "'compare' must be previous-7-days")]
    [InlineData("{\"rules\": [{\"name\": \"b\", \"metric\": \"block.rate\", \"above\": 0.1, \"window\": \"ten minutes\"}]}", "'window' is not a duration")]
    [InlineData("{\"rules\": [{\"name\": \"b\", \"metric\": \"block.rate\", \"above\": 0.1, \"actions\": [{\"type\": \"email\"}]}]}", "actions[0]: 'type' must be log, webhook")]
    [InlineData("{\"rules\": [{\"name\": \"a\", \"metric\": \"x.rate\", \"above\": 0.1}, {\"name\": \"a\", \"metric\": \"x.rate\", \"above\": 0.1}]}", "another rule is named 'a'")]
    [InlineData("{\"rules\": [{\"name\": \"a b\", \"metric\": \"block.rate\", \"relative_increase\": -1}]}", "'relative_increase' must be above 0")]
    public void RulesFile_Invalid_FailsNamingFileLineAndKey(string json, string expected)
    {
        var ex = Assert.Throws<FormatException>(() => AlertRuleFile.Parse(json, "rules.json"));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Configuration_InvalidRule_FailsAtStartNamingTheKey()
    {
        var services = Services(new()
        {
            ["SafeAI:Monitoring:Rules:0:name"] = "slow",
            ["SafeAI:Monitoring:Rules:0:metric"] = "latency.p95",
            ["SafeAI:Monitoring:Rules:0:above"] = "800",
            ["SafeAI:Monitoring:Rules:1:name"] = "bad",
            ["SafeAI:Monitoring:Rules:1:metric"] = "block.rate",
            ["SafeAI:Monitoring:Rules:1:relative_increase"] = "0",
            ["SafeAI:Monitoring:Rules:1:actions:0:type"] = "callback",
            ["SafeAI:Monitoring:Rules:1:actions:0:callback"] = "pager",
        });
        using var provider = services.BuildServiceProvider();

        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<MonitoringOptions>>().Value);

        Assert.Contains("SafeAI:Monitoring:Rules:1 ('bad'): 'relative_increase' must be above 0", ex.Message, StringComparison.Ordinal);
        Assert.Contains("the callback 'pager' is not registered", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("'slow'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Configuration_MisspelledRuleKey_IsReportedWithASuggestion()
    {
        var services = Services(new()
        {
            ["SafeAI:Monitoring:Rules:0:name"] = "down",
            ["SafeAI:Monitoring:Rules:0:metric"] = "feedback.down.rate",
            ["SafeAI:Monitoring:Rules:0:compare"] = "previous-7-days",
            ["SafeAI:Monitoring:Rules:0:relative_increse"] = "0.15",
        });
        using var provider = services.BuildServiceProvider();

        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<SafeAIOptions>>().Value);

        Assert.Contains("SafeAI:Monitoring:Rules:0:relative_increse is not a setting SafeAI knows. Did you mean relative_increase?", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Configuration_IssueShape_BindsAndBuildsTheEngine()
    {
        var services = Services(new()
        {
            ["SafeAI:Monitoring:EvaluationInterval"] = "00:00:30",
            ["SafeAI:Monitoring:Rules:0:name"] = "thumbs-down-up-15pct",
            ["SafeAI:Monitoring:Rules:0:metric"] = "feedback.down.rate",
            ["SafeAI:Monitoring:Rules:0:compare"] = "previous-7-days",
            ["SafeAI:Monitoring:Rules:0:relative_increase"] = "0.15",
        });
        services.AddSafeAI(safe => safe.AddMonitoring(m => m.AddRule(new AlertRuleOptions { Name = "code-rule", Metric = "error.rate", Above = 0.1 })));
        using var provider = services.BuildServiceProvider();

        _ = provider.GetRequiredService<IOptions<SafeAIOptions>>().Value;
        var engine = provider.GetRequiredService<AlertEngine>();

        Assert.Equal(["thumbs-down-up-15pct", "code-rule"], engine.Rules.Select(static r => r.Name));
        Assert.Equal(0.15, engine.Rules[0].RelativeChange);
        Assert.Equal(TimeSpan.FromSeconds(30), provider.GetRequiredService<IOptions<MonitoringOptions>>().Value.EvaluationInterval);
    }

    private static ServiceCollection Services(Dictionary<string, string?> settings)
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        services.AddLogging();
        services.AddSafeAI(safe => safe.AddMonitoring());
        return services;
    }
}

public sealed class HostingTests
{
    [Fact]
    public async Task FeedbackMonitoring_DecoratesTheRegisteredStore_AndCountsRatings()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        services.AddSafeAI(safe => safe.AddFeedback().AddMonitoring());
        services.AddSafeAIFeedbackMonitoring();
        await using var provider = services.BuildServiceProvider();
        var store = provider.GetRequiredService<SafeAI.Feedback.IFeedbackStore>();

        await store.AddAsync(SafeAI.Feedback.FeedbackEntry.Create("r-1", SafeAI.Feedback.FeedbackRating.Down), TestContext.Current.CancellationToken);
        await store.AddAsync(SafeAI.Feedback.FeedbackEntry.Create("r-2", SafeAI.Feedback.FeedbackRating.Up), TestContext.Current.CancellationToken);

        Assert.IsType<MonitoredFeedbackStore>(store);
        var now = DateTimeOffset.UtcNow;
        var totals = provider.GetRequiredService<MetricsRecorder>().Sum(now.AddMinutes(-1), now.AddMinutes(1));
        Assert.Equal((1, 1), (totals.Count("feedback.down"), totals.Count("feedback.up")));
        Assert.NotNull(await store.GetAsync((await store.ListAsync(new SafeAI.Feedback.FeedbackQuery(), TestContext.Current.CancellationToken)).Items[0].Id, TestContext.Current.CancellationToken));
    }

    [Fact]
    public void FeedbackMonitoring_WithoutAStore_SaysWhatToRegister()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => new ServiceCollection().AddSafeAIFeedbackMonitoring());
        Assert.Contains("register one first", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BackgroundService_EvaluatesTheRulesOnTheConfiguredSchedule()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2026, 1, 5, 9, 0, 0, TimeSpan.Zero));
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        services.AddSingleton<TimeProvider>(clock);
        services.AddSafeAI(safe => safe.AddMonitoring(m => m.AddRule(new AlertRuleOptions { Name = "errors", Metric = "error.rate", Above = 0.1, MinSamples = 10 })));
        await using var provider = services.BuildServiceProvider();
        var recorder = provider.GetRequiredService<MetricsRecorder>();
        var engine = provider.GetRequiredService<AlertEngine>();
        var fired = new TaskCompletionSource<AlertEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        engine.EventRecorded += (_, e) => fired.TrySetResult(e);
        var service = provider.GetServices<Microsoft.Extensions.Hosting.IHostedService>().Single(static s => s is MonitoringService);
        await service.StartAsync(TestContext.Current.CancellationToken);
        for (var i = 0; i < 20; i++)
        {
            recorder.RecordCall(new CallObservation { Faulted = true });
        }

        // Advance in steps until the service's periodic timer has ticked past the bucket. The service registers its timer
        // and evaluates on the thread pool: each step gives it up to 100 ms of real time (20 ms could pass on a loaded CI
        // machine before an evaluation ran, and after 20 steps the calls are out of the rule's 10-minute window).
        for (var i = 0; i < 50 && !fired.Task.IsCompleted; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(30));
            await Task.WhenAny(fired.Task, Task.Delay(100, TestContext.Current.CancellationToken));
        }

        var e = await fired.Task.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
        Assert.Equal(("errors", AlertEventKind.Fired), (e.Rule, e.Kind));
        await service.StopAsync(TestContext.Current.CancellationToken);
    }
}

public sealed class TelemetryTests
{
    [Fact]
    public async Task Gauges_ReportFiringAlertsAndTheKillSwitch()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        services.AddMetrics();
        services.AddSafeAI(safe => safe.AddMonitoring());
        await using var provider = services.BuildServiceProvider();
        _ = provider.GetRequiredService<AlertEngine>();
        var factory = provider.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        var values = new Dictionary<string, double>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            // Only this provider's meter: tests running at the same time have their own engines and kill switches.
            if (ReferenceEquals(instrument.Meter.Scope, factory) && instrument.Meter.Name == "SafeAI" && instrument.Name.StartsWith("safeai.monitoring.", StringComparison.Ordinal))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<int>((instrument, value, _, _) => values[instrument.Name] = value);
        listener.Start();

        await provider.GetRequiredService<IKillSwitch>().TurnOnAsync("test", TestContext.Current.CancellationToken);
        listener.RecordObservableInstruments();

        Assert.Equal(1, values["safeai.monitoring.kill_switch"]);
        Assert.Equal(0, values["safeai.monitoring.alerts_firing"]);
    }

    [Fact]
    public async Task Counters_CountFeedbackAndBusinessEvents_ByArm_WithBoundedTags()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        services.AddMetrics();
        services.AddSafeAI(safe => safe.AddMonitoring(m => m.Metrics.MaxArms = 4));
        await using var provider = services.BuildServiceProvider();
        var recorder = provider.GetRequiredService<MetricsRecorder>();
        var factory = provider.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        var totals = new Dictionary<string, long>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter.Scope, factory) && instrument.Name is "safeai.monitoring.feedback" or "safeai.monitoring.business_events")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var key = instrument.Name + "|" + string.Join(",", tags.ToArray().OrderBy(static t => t.Key, StringComparer.Ordinal).Select(static t => $"{t.Key}={t.Value}"));
            lock (totals)
            {
                totals[key] = totals.GetValueOrDefault(key) + value;
            }
        });
        listener.Start();

        recorder.RecordFeedback(SafeAI.Feedback.FeedbackRating.Down, "ai");
        recorder.RecordFeedback(SafeAI.Feedback.FeedbackRating.Down, "ai");
        recorder.RecordFeedback(SafeAI.Feedback.FeedbackRating.Up);
        recorder.Increment("conversion", 3, "baseline");
        recorder.Increment("conversion", 0, "baseline"); // nothing to count
        recorder.Increment("refund", 1, "arm-4"); // MaxArms 4: the no-arm slot, ai, baseline, then "other"
        recorder.RecordFeedback(SafeAI.Feedback.FeedbackRating.Up, "arm-5");

        Assert.Equal(
            new Dictionary<string, long>
            {
                ["safeai.monitoring.feedback|safeai.feedback.rating=down,safeai.rollout.arm=ai"] = 2,
                ["safeai.monitoring.feedback|safeai.feedback.rating=up"] = 1,
                ["safeai.monitoring.feedback|safeai.feedback.rating=up,safeai.rollout.arm=other"] = 1,
                ["safeai.monitoring.business_events|safeai.counter=conversion,safeai.rollout.arm=baseline"] = 3,
                ["safeai.monitoring.business_events|safeai.counter=refund,safeai.rollout.arm=other"] = 1,
            },
            totals);
        Assert.Equal(3, recorder.Sum(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddMinutes(1), "baseline").Count("conversion")); // the buckets still count
    }
}

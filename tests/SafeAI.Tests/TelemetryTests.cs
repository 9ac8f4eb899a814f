using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;

namespace SafeAI.Tests;

public class TelemetryTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task GetResponseAsync_VerdictsCountedByStageActionAndReason()
    {
        using var meterFactory = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>();
        using var client = TestChatClient.Answering("ok").AsBuilder().UseSafeAI(safe => safe
            .UseMeterFactory(meterFactory)
            .AddInputCheck("kw", (ctx, _) => ValueTask.FromResult(ctx.GetInputText() == "bad" ? GuardVerdict.Block("kw", "kw.bad") : GuardVerdict.Allow("kw")))).Build();
        using var verdicts = new MetricCollector<long>(meterFactory, SafeAIDiagnostics.MeterName, SafeAIDiagnostics.VerdictsInstrument);
        using var durations = new MetricCollector<double>(meterFactory, SafeAIDiagnostics.MeterName, SafeAIDiagnostics.StageDurationInstrument);
        using var calls = new MetricCollector<long>(meterFactory, SafeAIDiagnostics.MeterName, SafeAIDiagnostics.CallsInstrument);

        await client.GetResponseAsync("good", cancellationToken: Ct);
        await client.GetResponseAsync("bad", cancellationToken: Ct);

        var measurements = verdicts.GetMeasurementSnapshot();
        Assert.Equal(2, measurements.Count);
        Assert.Equal("allow", measurements[0].Tags[SafeAIDiagnostics.ActionTag]);
        Assert.Equal("kw", measurements[0].Tags[SafeAIDiagnostics.StageTag]);
        Assert.Equal("block", measurements[1].Tags[SafeAIDiagnostics.ActionTag]);
        Assert.Equal("kw.bad", measurements[1].Tags[SafeAIDiagnostics.ReasonTag]);
        Assert.Equal(2, durations.GetMeasurementSnapshot().Count);
        Assert.All(durations.GetMeasurementSnapshot(), m => Assert.True(m.Value >= 0));
        Assert.Equal(["allow", "block"], calls.GetMeasurementSnapshot().Select(m => (string)m.Tags[SafeAIDiagnostics.OutcomeTag]!));
    }

    [Fact]
    public async Task GetResponseAsync_ModelFails_CallCountedAsError()
    {
        using var meterFactory = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>();
        var inner = new TestChatClient { GetResponseAsyncCallback = (_, _, _) => Task.FromException<ChatResponse>(new HttpRequestException("down")) };
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.UseMeterFactory(meterFactory).AddInputLengthLimit(100)).Build();
        using var calls = new MetricCollector<long>(meterFactory, SafeAIDiagnostics.MeterName, SafeAIDiagnostics.CallsInstrument);

        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetResponseAsync("hi", cancellationToken: Ct));

        Assert.Equal("error", Assert.Single(calls.GetMeasurementSnapshot()).Tags[SafeAIDiagnostics.OutcomeTag]);
    }

    [Fact]
    public async Task GetResponseAsync_ActivityListener_SpanWithVerdictEventsAndOutcome()
    {
        var stopped = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == SafeAIDiagnostics.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a =>
            {
                lock (stopped)
                {
                    stopped.Add(a);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        var marker = Guid.NewGuid().ToString("N");
        using var client = TestChatClient.Answering("ok").AsBuilder().UseSafeAI(safe => safe
            .AddInputCheck(marker, (_, _) => ValueTask.FromResult(GuardVerdict.Allow(marker) with { Score = 0.25, Threshold = 0.5 }))).Build();

        var before = Activity.Current;
        await client.GetResponseAsync("hi", cancellationToken: Ct);

        Assert.Same(before, Activity.Current);
        Activity span;
        lock (stopped)
        {
            span = stopped.Single(a => a.Events.Any(e => e.Tags.Any(t => t.Key == SafeAIDiagnostics.StageTag && (string?)t.Value == marker)));
        }

        Assert.Equal(SafeAIDiagnostics.CallActivityName, span.OperationName);
        Assert.Equal("allow", span.GetTagItem(SafeAIDiagnostics.OutcomeTag));
        var evt = Assert.Single(span.Events);
        Assert.Equal(SafeAIDiagnostics.VerdictEventName, evt.Name);
        Assert.Equal(0.25, evt.Tags.Single(t => t.Key == "safeai.score").Value);
    }

    [Fact]
    public async Task GetResponseAsync_DefaultLogging_NeverContainsMessageText()
    {
        var logs = new ListLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(logs));
        using var client = TestChatClient.Answering("the secret answer").AsBuilder().UseSafeAI(safe => safe
            .UseLoggerFactory(loggerFactory)
            .AddInputCheck("kw", (_, _) => ValueTask.FromResult(GuardVerdict.Block("kw", "kw.bad")))).Build();

        await client.GetResponseAsync("my private question", cancellationToken: Ct);

        Assert.Contains(logs.Messages, m => m.Contains("kw.bad", StringComparison.Ordinal));
        Assert.DoesNotContain(logs.Messages, m => m.Contains("private question", StringComparison.Ordinal));
    }

    [Fact]
    public async Task GetResponseAsync_LogMessageContentAtTrace_TextLoggedOnlyWhenOptedIn()
    {
        var logs = new ListLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(logs));
        using var client = TestChatClient.Answering("ok").AsBuilder().UseSafeAI(safe => safe
            .UseLoggerFactory(loggerFactory)
            .Configure(o => o.LogMessageContent = true)
            .AddInputLengthLimit(100)).Build();

        await client.GetResponseAsync("my private question", cancellationToken: Ct);

        Assert.Contains(logs.Messages, m => m.Contains("my private question", StringComparison.Ordinal));
    }

    private sealed class ListLoggerProvider : ILoggerProvider
    {
        public List<string> Messages { get; } = [];

        public ILogger CreateLogger(string categoryName) => new ListLogger(this);

        public void Dispose()
        {
        }

        private sealed class ListLogger(ListLoggerProvider owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                lock (owner.Messages)
                {
                    owner.Messages.Add(formatter(state, exception));
                }
            }
        }
    }
}

using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Reflection;

namespace SafeAI;

/// <summary>SafeAI's instruments. Every record call first checks whether anyone listens, so unobserved telemetry costs a few branches.</summary>
internal sealed class SafeAITelemetry
{
    private static readonly string? Version = typeof(SafeAITelemetry).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
    private static readonly string TrueString = "true";
    private static readonly string FalseString = "false";

    internal static readonly ActivitySource ActivitySource = new(SafeAIDiagnostics.ActivitySourceName, Version);

    private static SafeAITelemetry? _shared;

    private readonly Counter<long> _verdicts;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _calls;

    internal SafeAITelemetry(Meter meter)
    {
        Meter = meter;
        _verdicts = meter.CreateCounter<long>(SafeAIDiagnostics.VerdictsInstrument, "{verdict}", "Verdicts of SafeAI guard stages by stage, action and reason.");
        _duration = meter.CreateHistogram<double>(SafeAIDiagnostics.StageDurationInstrument, "s", "Time SafeAI guard stages took to decide.");
        _calls = meter.CreateCounter<long>(SafeAIDiagnostics.CallsInstrument, "{call}", "Calls through SafeAI by outcome.");
    }

    internal Meter Meter { get; }

    /// <summary>Gets the process-wide telemetry used when no <see cref="IMeterFactory"/> is available.</summary>
    internal static SafeAITelemetry Shared => _shared ?? Interlocked.CompareExchange(ref _shared, new SafeAITelemetry(new Meter(SafeAIDiagnostics.MeterName, Version)), null) ?? _shared;

    internal static SafeAITelemetry Create(IMeterFactory? meterFactory) =>
        meterFactory is null ? Shared : new SafeAITelemetry(meterFactory.Create(new MeterOptions(SafeAIDiagnostics.MeterName) { Version = Version }));

    internal void RecordVerdict(in GuardVerdict verdict, Activity? activity)
    {
        if (_verdicts.Enabled)
        {
            var tags = new TagList
            {
                { SafeAIDiagnostics.StageTag, verdict.Stage },
                { SafeAIDiagnostics.ActionTag, GuardVerdict.GetActionName(verdict.Action) },
                { SafeAIDiagnostics.ReasonTag, verdict.Reason },
            };
            _verdicts.Add(1, tags);
        }

        if (_duration.Enabled)
        {
            var tags = new TagList
            {
                { SafeAIDiagnostics.StageTag, verdict.Stage },
                { SafeAIDiagnostics.ActionTag, GuardVerdict.GetActionName(verdict.Action) },
            };
            _duration.Record(verdict.Elapsed.TotalSeconds, tags);
        }

        if (activity is { IsAllDataRequested: true })
        {
            var eventTags = new ActivityTagsCollection
            {
                { SafeAIDiagnostics.StageTag, verdict.Stage },
                { SafeAIDiagnostics.ActionTag, GuardVerdict.GetActionName(verdict.Action) },
                { SafeAIDiagnostics.ReasonTag, verdict.Reason },
            };
            if (verdict.Score is { } score)
            {
                eventTags.Add("safeai.score", score);
            }

            if (verdict.Threshold is { } threshold)
            {
                eventTags.Add("safeai.threshold", threshold);
            }

            _ = activity.AddEvent(new ActivityEvent(SafeAIDiagnostics.VerdictEventName, tags: eventTags));
        }
    }

    internal void RecordCall(GuardAction outcome, bool streaming, bool faulted)
    {
        if (_calls.Enabled)
        {
            var tags = new TagList
            {
                { SafeAIDiagnostics.OutcomeTag, faulted ? "error" : GuardVerdict.GetActionName(outcome) },
                { SafeAIDiagnostics.StreamingTag, streaming ? TrueString : FalseString },
            };
            _calls.Add(1, tags);
        }
    }
}

using System.Diagnostics;
using System.Diagnostics.Metrics;
using SafeAI.Feedback;

namespace SafeAI.Monitoring;

/// <summary>
/// The monitoring instruments on the <c>SafeAI</c> meter: <c>safeai.monitoring.alert_events</c> (alerts and actions by
/// rule); <c>safeai.monitoring.feedback</c> (thumbs, by rating and arm) and <c>safeai.monitoring.business_events</c>
/// (business counters, by name and arm) from a <see cref="MetricsRecorder"/> created with this telemetry (AddMonitoring's
/// is); and, once <see cref="Observe"/> is called (AddMonitoring does), the gauges <c>safeai.monitoring.alerts_firing</c>,
/// <c>safeai.monitoring.kill_switch</c> (1 when on) and <c>safeai.monitoring.drift</c> (the latest scores, by name).
/// The tags are bounded: counter names by <see cref="MetricsRecorderOptions.MaxCounters"/>, arms by
/// <see cref="MetricsRecorderOptions.MaxArms"/> (further arms are tagged <c>other</c>).
/// </summary>
public sealed class MonitoringTelemetry
{
    private static MonitoringTelemetry? _shared;
    private readonly Meter _meter;
    private readonly Counter<long> _alerts;
    private readonly Counter<long> _feedback;
    private readonly Counter<long> _business;
    private int _observing;

    /// <summary>Initializes a new instance of the <see cref="MonitoringTelemetry"/> class.</summary>
    /// <param name="meterFactory">Creates the <c>SafeAI</c> meter; a process-wide meter when <see langword="null"/>.</param>
    public MonitoringTelemetry(IMeterFactory? meterFactory)
    {
        var meter = meterFactory is null ? new Meter(SafeAIDiagnostics.MeterName) : meterFactory.Create(new MeterOptions(SafeAIDiagnostics.MeterName));
        _meter = meter;
        _alerts = meter.CreateCounter<long>("safeai.monitoring.alert_events", "{event}", "SafeAI alert events (fired, repeated, resolved, action succeeded or failed) by rule.");
        _feedback = meter.CreateCounter<long>("safeai.monitoring.feedback", "{rating}", "Thumbs-up and thumbs-down ratings of SafeAI answers, by rating and rollout arm.");
        _business = meter.CreateCounter<long>("safeai.monitoring.business_events", "{event}", "SafeAI business counters (conversions, resolved tickets, ...), by counter name and rollout arm.");
    }

    internal static MonitoringTelemetry Shared => _shared ?? Interlocked.CompareExchange(ref _shared, new MonitoringTelemetry(null), null) ?? _shared;

    /// <summary>Publishes the state of monitoring as observable gauges (once; later calls do nothing).</summary>
    /// <param name="engine">The alert engine.</param>
    /// <param name="killSwitch">The kill switch.</param>
    /// <param name="drift">The drift detector, if any.</param>
    public void Observe(AlertEngine engine, IKillSwitch killSwitch, DriftDetector? drift = null)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(killSwitch);
        if (Interlocked.Exchange(ref _observing, 1) != 0)
        {
            return;
        }

        _meter.CreateObservableGauge("safeai.monitoring.alerts_firing", () => engine.Firing.Count, "{alert}", "SafeAI alert rules firing now.");
        _meter.CreateObservableGauge("safeai.monitoring.kill_switch", () => killSwitch.IsOn ? 1 : 0, null, "1 while the SafeAI kill switch is on.");
        if (drift is not null)
        {
            _meter.CreateObservableGauge("safeai.monitoring.drift", () => DriftMeasurements(drift), null, "The latest SafeAI drift scores (PSI and Jensen-Shannon) by name.");
        }
    }

    private static IEnumerable<Measurement<double>> DriftMeasurements(DriftDetector drift)
    {
        if (drift.Report() is not { } report || report.CurrentInputs < drift.Options.MinInputs)
        {
            yield break;
        }

        for (var i = 0; i < DriftReport.MetricNames.Count; i++)
        {
            if (double.IsFinite(report[i]))
            {
                yield return new Measurement<double>(report[i], new KeyValuePair<string, object?>("safeai.drift.score", DriftReport.MetricNames[i]));
            }
        }
    }

    internal void RecordFeedback(FeedbackRating rating, string arm)
    {
        if (_feedback.Enabled)
        {
            var tags = new TagList { { "safeai.feedback.rating", rating == FeedbackRating.Up ? "up" : "down" } };
            AddArm(ref tags, arm);
            _feedback.Add(1, tags);
        }
    }

    internal void RecordBusinessEvents(string counter, long count, string arm)
    {
        if (_business.Enabled && count > 0)
        {
            var tags = new TagList { { "safeai.counter", counter } };
            AddArm(ref tags, arm);
            _business.Add(count, tags);
        }
    }

    private static void AddArm(ref TagList tags, string arm)
    {
        if (arm.Length > 0)
        {
            tags.Add("safeai.rollout.arm", arm);
        }
    }

    internal void RecordEvent(AlertEvent e)
    {
        if (_alerts.Enabled)
        {
            var tags = new TagList
            {
                { "safeai.alert.rule", e.Rule },
                { "safeai.alert.event", e.Kind.ToString().ToLowerInvariant() },
                { "safeai.alert.action", e.Action ?? "none" },
            };
            _alerts.Add(1, tags);
        }
    }
}

using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace SafeAI.Monitoring;

/// <summary>
/// The monitoring instruments on the <c>SafeAI</c> meter: <c>safeai.monitoring.alert_events</c> (alerts and actions by
/// rule), and, once <see cref="Observe"/> is called (AddMonitoring does), the gauges <c>safeai.monitoring.alerts_firing</c>,
/// <c>safeai.monitoring.kill_switch</c> (1 when on) and <c>safeai.monitoring.drift</c> (the latest scores, by name).
/// </summary>
public sealed class MonitoringTelemetry
{
    private static MonitoringTelemetry? _shared;
    private readonly Meter _meter;
    private readonly Counter<long> _alerts;
    private int _observing;

    /// <summary>Initializes a new instance of the <see cref="MonitoringTelemetry"/> class.</summary>
    /// <param name="meterFactory">Creates the <c>SafeAI</c> meter; a process-wide meter when <see langword="null"/>.</param>
    public MonitoringTelemetry(IMeterFactory? meterFactory)
    {
        var meter = meterFactory is null ? new Meter(SafeAIDiagnostics.MeterName) : meterFactory.Create(new MeterOptions(SafeAIDiagnostics.MeterName));
        _meter = meter;
        _alerts = meter.CreateCounter<long>("safeai.monitoring.alert_events", "{event}", "SafeAI alert events (fired, repeated, resolved, action succeeded or failed) by rule.");
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

using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace SafeAI.Monitoring;

/// <summary>The monitoring instruments on the <c>SafeAI</c> meter: alert events by rule and kind, and drift scores.</summary>
public sealed class MonitoringTelemetry
{
    private static MonitoringTelemetry? _shared;
    private readonly Counter<long> _alerts;

    /// <summary>Initializes a new instance of the <see cref="MonitoringTelemetry"/> class.</summary>
    /// <param name="meterFactory">Creates the <c>SafeAI</c> meter; a process-wide meter when <see langword="null"/>.</param>
    public MonitoringTelemetry(IMeterFactory? meterFactory)
    {
        var meter = meterFactory is null ? new Meter(SafeAIDiagnostics.MeterName) : meterFactory.Create(new MeterOptions(SafeAIDiagnostics.MeterName));
        _alerts = meter.CreateCounter<long>("safeai.monitoring.alert_events", "{event}", "SafeAI alert events (fired, repeated, resolved, action succeeded or failed) by rule.");
    }

    internal static MonitoringTelemetry Shared => _shared ?? Interlocked.CompareExchange(ref _shared, new MonitoringTelemetry(null), null) ?? _shared;

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

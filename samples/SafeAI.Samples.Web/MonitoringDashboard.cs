using System.Globalization;
using SafeAI.AspNetCore;
using SafeAI.Monitoring;

namespace SafeAI.Samples.Web;

/// <summary>The monitoring dashboard of the sample: a page with live SVG charts per metric and arm, the rules' thresholds and the alerts, fed by one JSON endpoint.</summary>
internal static class MonitoringDashboard
{
    private static readonly string[] Metrics = ["calls", "block.rate", "fallback.rate", "latency.p95", "feedback.down.rate"];

    /// <summary>Maps <c>/monitoring/</c> (page, script, style) and <c>GET /api/monitoring/series</c>, for reviewers only (the data names rules and shows traffic).</summary>
    public static void Map(WebApplication app, Func<string, string, IResult> page)
    {
        var group = app.MapGroup(string.Empty).RequireAuthorization(SafeAIReviewEndpointOptions.DefaultPolicyName);
        group.MapGet("/monitoring/", () => page("monitoring.html", "text/html; charset=utf-8"));
        group.MapGet("/monitoring/monitoring.js", () => page("monitoring.js", "text/javascript; charset=utf-8"));
        group.MapGet("/monitoring/monitoring.css", () => page("monitoring.css", "text/css; charset=utf-8"));
        group.MapGet("/api/monitoring/series", Series);
    }

    private static IResult Series(MetricsRecorder recorder, AlertEngine engine, KillSwitch killSwitch, int? minutes)
    {
        var span = Math.Clamp(minutes ?? 60, 5, 24 * 60);
        var width = recorder.BucketWidth;
        var end = recorder.BucketStart(recorder.TimeProvider.GetUtcNow()) + width;
        var start = end - (width * span);
        var arms = new List<string?> { null };
        arms.AddRange(recorder.Arms.Where(static a => a.Length > 0));
        var series = new Dictionary<string, Dictionary<string, double?[]>>(StringComparer.Ordinal);
        foreach (var metric in Metrics)
        {
            series[metric] = arms.ToDictionary(static a => a ?? "all", _ => new double?[span], StringComparer.Ordinal);
        }

        for (var i = 0; i < span; i++)
        {
            var from = start + (width * i);
            foreach (var arm in arms)
            {
                var t = recorder.Sum(from, from + width, arm);
                var key = arm ?? "all";
                var rated = t.Count(MonitoringMetrics.FeedbackUp) + t.Count(MonitoringMetrics.FeedbackDown);
                series["calls"][key][i] = t.Calls;
                series["block.rate"][key][i] = t.Calls == 0 ? null : t.Count(MonitoringMetrics.Block) / (double)t.Calls;
                series["fallback.rate"][key][i] = t.Calls == 0 ? null : t.Count(MonitoringMetrics.Fallback) / (double)t.Calls;
                series["latency.p95"][key][i] = t.Calls == 0 ? null : t.LatencyQuantile(0.95);
                series["feedback.down.rate"][key][i] = rated == 0 ? null : t.Count(MonitoringMetrics.FeedbackDown) / (double)rated;
            }
        }

        return Results.Json(new
        {
            from = start.ToString("O", CultureInfo.InvariantCulture),
            to = end.ToString("O", CultureInfo.InvariantCulture),
            bucketSeconds = width.TotalSeconds,
            metrics = Metrics,
            series,
            thresholds = engine.Rules.Where(static r => r.Above is not null && Metrics.Contains(r.Metric)).Select(static r => new { metric = r.Metric, rule = r.Name, above = r.Above }),
            rules = engine.Rules.Select(static r => new { name = r.Name, metric = r.Metric, kind = r.Kind.ToString().ToLowerInvariant() }),
            firing = engine.Firing,
            alerts = engine.GetEvents().Where(static e => e.Kind is AlertEventKind.Fired or AlertEventKind.Resolved or AlertEventKind.Repeated).TakeLast(20).Reverse()
                .Select(static e => new { time = e.Time.ToString("O", CultureInfo.InvariantCulture), rule = e.Rule, @event = e.Kind.ToString().ToLowerInvariant(), value = double.IsFinite(e.Value) ? e.Value : (double?)null, detail = e.Detail }),
            killSwitch = new { on = killSwitch.IsOn, reason = killSwitch.Reason },
        });
    }
}

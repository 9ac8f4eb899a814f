using System.Globalization;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SafeAI.Statistics;

namespace SafeAI.AspNetCore;

/// <summary>The body of an operator's rollout command.</summary>
/// <param name="Reason">Why (recorded on the decision with the operator's id).</param>
internal sealed record RolloutCommandRequest(string? Reason);

/// <summary>Handlers of the rollout operator endpoints over a <see cref="RolloutController"/>, and the operator page.</summary>
internal sealed partial class RolloutEndpoints(RolloutController controller, SafeAIRolloutEndpointOptions options, string prefix)
{
    private const long MaxBodySize = 16 * 1024;
    private const int MaxReasonLength = 500;
    private const int HistoryShown = 20;

    public IResult State(HttpContext http) => Results.Json(Describe(controller, ConfiguredKillSwitch(http)));

    // The kill switch in configuration (SafeAI:Rollout:KillSwitch) sends everyone to the baseline whatever the controller says.
    private static bool ConfiguredKillSwitch(HttpContext http) =>
        http.RequestServices.GetService<IOptionsMonitor<RolloutOptions>>()?.CurrentValue.KillSwitch ?? false;

    public async Task<IResult> CommandAsync(string command, HttpContext http)
    {
        var operatorId = options.GetOperatorId(http.User);
        if (string.IsNullOrWhiteSpace(operatorId))
        {
            return EndpointJson.Problem(StatusCodes.Status403Forbidden, "No operator id", "The signed-in user has no identifier to record with the decision.");
        }

        var (body, error) = await EndpointJson.ReadAsync<RolloutCommandRequest>(http, MaxBodySize).ConfigureAwait(false);
        if (error is not null)
        {
            return error;
        }

        var reason = body!.Reason?.Trim();
        if (string.IsNullOrEmpty(reason))
        {
            return EndpointJson.Problem(StatusCodes.Status400BadRequest, "Invalid request", "reason is required: say why, it is recorded with the decision.");
        }

        if (reason.Length > MaxReasonLength)
        {
            return EndpointJson.Problem(StatusCodes.Status400BadRequest, "Invalid request", $"reason must be at most {MaxReasonLength} characters.");
        }

        var recorded = $"{reason} (by {operatorId})";
        var decision = command switch
        {
            "stop" => controller.Stop(recorded),
            "resume" => controller.Resume(recorded),
            "pause" => controller.Pause(recorded),
            "promote" => controller.Promote(recorded),
            "abort" => controller.Abort(recorded),
            _ => null,
        };
        if (decision is null)
        {
            return EndpointJson.Problem(StatusCodes.Status404NotFound, "Not found", $"'{command}' is not a rollout command; use stop, resume, pause, promote or abort.");
        }

        var logger = EndpointLogging.For(http.RequestServices);
        LogOperatorCommand(logger, command, controller.Name, operatorId, decision.Kind, decision.Status);
        return Results.Json(new { decision = ToJson(decision), state = Describe(controller, ConfiguredKillSwitch(http)) });
    }

    public async Task PageAsync(HttpContext http, CancellationToken cancellationToken)
    {
        var html = PageAssets.Get("rollout.html").Replace("{{BASE}}", HtmlEncoder.Default.Encode(prefix), StringComparison.Ordinal);
        PageAssets.SetHeaders(http.Response);
        http.Response.ContentType = "text/html; charset=utf-8";
        await http.Response.WriteAsync(html, cancellationToken).ConfigureAwait(false);
    }

    internal static object Describe(RolloutController controller, bool killSwitch)
    {
        var metrics = new List<object>();
        foreach (var metric in controller.Metrics)
        {
            metrics.Add(new
            {
                metric,
                ai = Arm(controller, RolloutArm.AI, metric),
                baseline = Arm(controller, RolloutArm.Baseline, metric),
            });
        }

        var history = controller.GetHistory();
        return new
        {
            name = controller.Name,
            status = StatusName(controller.Status),
            killSwitch,
            stageIndex = controller.StageIndex,
            stagePercent = controller.Stages[Math.Min(controller.StageIndex, controller.Stages.Count - 1)].Percent,
            aiPercent = killSwitch ? 0 : controller.CurrentPercent,
            stageStartedAt = controller.StageStartedAt,
            stages = controller.Stages.Select(static s => new
            {
                percent = s.Percent,
                minDurationHours = s.MinDuration.TotalHours,
                minSamplesPerArm = s.MinSamplesPerArm,
                maxDegradation = s.MaxDegradation,
            }).ToArray(),
            latencyP95Ms = new
            {
                ai = controller.GetLatencyP95(RolloutArm.AI)?.TotalMilliseconds,
                baseline = controller.GetLatencyP95(RolloutArm.Baseline)?.TotalMilliseconds,
            },
            metrics,
            lastEvaluation = controller.LastEvaluation is { } last ? ToJson(last) : null,
            history = history.Skip(Math.Max(0, history.Count - HistoryShown)).Reverse().Select(ToJson).ToArray(),
        };
    }

    private static object Arm(RolloutController controller, RolloutArm arm, string metric)
    {
        var (samples, events) = controller.GetCounts(arm, metric);
        var (lower, upper) = samples > 0 ? ProportionInterval.Wilson(events, samples) : (0d, 1d);
        return new { samples, events, rate = samples > 0 ? (double?)events / samples : null, lower, upper };
    }

    internal static object ToJson(RolloutDecision decision) => new
    {
        kind = decision.Kind.ToString().ToLowerInvariant(),
        reason = decision.Reason,
        automatic = decision.IsAutomatic,
        at = decision.At,
        stagePercent = decision.StagePercent,
        percentAfter = decision.PercentAfter,
        status = StatusName(decision.Status),
        metrics = decision.Metrics.Select(static m => new
        {
            metric = m.Metric,
            difference = m.Difference,
            lower = Finite(m.Lower),
            upper = Finite(m.Upper),
            degraded = m.Degraded,
            withinMargin = m.WithinMargin,
        }).ToArray(),
        sampleRatio = decision.SampleRatio is not { } srm ? null : new
        {
            baseline = srm.BaselineSamples,
            ai = srm.AISamples,
            expectedAIShare = srm.ExpectedAIShare,
            pValue = Finite(srm.PValue),
            mismatch = srm.Mismatch,
        },
    };

    private static double? Finite(double value) => double.IsFinite(value) ? value : null;

    internal static string StatusName(RolloutStatus status) => status.ToString().ToLower(CultureInfo.InvariantCulture);

    [LoggerMessage(EventId = 20, Level = LogLevel.Warning, Message = "Rollout operator command '{Command}' on '{Rollout}' by {OperatorId}: {Kind}, status now {Status}.")]
    private static partial void LogOperatorCommand(ILogger logger, string command, string rollout, string operatorId, RolloutDecisionKind kind, RolloutStatus status);
}

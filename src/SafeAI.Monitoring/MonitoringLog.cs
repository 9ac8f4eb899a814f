using Microsoft.Extensions.Logging;

namespace SafeAI.Monitoring;

internal static partial class MonitoringLog
{
    [LoggerMessage(EventId = 1700, Level = LogLevel.Warning, Message = "SafeAI alert '{Rule}' {State}: {Metric} = {Value} (baseline or threshold {Baseline}). {Detail}")]
    public static partial void AlertFiring(ILogger logger, string rule, string state, string metric, double value, double baseline, string detail);

    [LoggerMessage(EventId = 1701, Level = LogLevel.Information, Message = "SafeAI alert '{Rule}' resolved: {Metric} = {Value}.")]
    public static partial void AlertResolved(ILogger logger, string rule, string metric, double value);

    [LoggerMessage(EventId = 1702, Level = LogLevel.Error, Message = "SafeAI alert action '{Action}' of rule '{Rule}' failed.")]
    public static partial void ActionFailed(ILogger logger, string action, string rule, Exception exception);

    [LoggerMessage(EventId = 1703, Level = LogLevel.Error, Message = "SafeAI alert evaluation failed; the next one runs on schedule.")]
    public static partial void EvaluationFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1704, Level = LogLevel.Error, Message = "A subscriber to SafeAI alert events threw.")]
    public static partial void HandlerFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1705, Message = "SafeAI alert '{Rule}' ({Kind}): {Detail}")]
    public static partial void AlertLogged(ILogger logger, LogLevel level, string rule, string kind, string detail);

    [LoggerMessage(EventId = 1706, Level = LogLevel.Warning, Message = "SafeAI kill switch turned {State}: {Reason}")]
    public static partial void KillSwitchChanged(ILogger logger, string state, string reason);

    [LoggerMessage(EventId = 1707, Level = LogLevel.Warning, Message = "SafeAI webhook {Url} attempt {Attempt} failed ({Problem}); retrying in {Delay}.")]
    public static partial void WebhookRetry(ILogger logger, string url, int attempt, string problem, TimeSpan delay);

    [LoggerMessage(EventId = 1708, Level = LogLevel.Error, Message = "SafeAI metrics could not be written to the store; they stay in memory and are tried again.")]
    public static partial void PersistFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1709, Level = LogLevel.Warning, Message = "SafeAI threshold '{Target}' tightened to {Value}: {Reason}")]
    public static partial void ThresholdTightened(ILogger logger, string target, double value, string reason);

    [LoggerMessage(EventId = 1710, Level = LogLevel.Error, Message = "SafeAI fleet metrics could not be read from the store; the fleet rules wait for the next sync.")]
    public static partial void FleetSyncFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1711, Level = LogLevel.Information, Message = "SafeAI fleet rules are enabled on this instance, but no rule has \"scope\": \"fleet\"; nothing to evaluate.")]
    public static partial void NoFleetRules(ILogger logger);
}

using Microsoft.Extensions.Logging;

namespace SafeAI;

/// <summary>Log messages of the rollout controller.</summary>
internal static partial class RolloutLog
{
    [LoggerMessage(EventId = 1601, Level = LogLevel.Information, Message = "Rollout {Rollout}: {Kind} at the {Percent} % stage ({Automatic}); the AI arm now gets {PercentAfter} %. {Reason}")]
    public static partial void Decision(ILogger logger, string rollout, RolloutDecisionKind kind, double percent, string automatic, double percentAfter, string reason);

    [LoggerMessage(EventId = 1602, Level = LogLevel.Warning, Message = "Rollout {Rollout} stopped: every call goes to the baseline. {Reason}")]
    public static partial void Stopped(ILogger logger, string rollout, string reason);

    [LoggerMessage(EventId = 1603, Level = LogLevel.Error, Message = "Rollout {Rollout}: a DecisionMade handler failed.")]
    public static partial void HandlerFailed(ILogger logger, string rollout, Exception exception);
}

using Microsoft.Extensions.Logging;

namespace SafeAI;

/// <summary>SafeAI's log messages. Message text is logged only at Trace, and only when <see cref="SafeAIOptions.LogMessageContent"/> is on.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Debug, Message = "SafeAI stage {Stage} decided {Action} ({Reason}).")]
    public static partial void VerdictRecorded(ILogger logger, string stage, string action, string reason);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "SafeAI rejected a call: stage {Stage} decided {Action} ({Reason}).")]
    public static partial void CallRejected(ILogger logger, string stage, string action, string reason);

    [LoggerMessage(EventId = 3, Level = LogLevel.Error, Message = "SafeAI stage {Stage} failed; it fails closed, so the call is blocked.")]
    public static partial void StageFailedClosed(ILogger logger, string stage, Exception exception);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "SafeAI stage {Stage} failed; it fails open, so the call continues unchecked by this stage.")]
    public static partial void StageFailedOpen(ILogger logger, string stage, Exception exception);

    [LoggerMessage(EventId = 5, Level = LogLevel.Error, Message = "SafeAI stage {Stage} ran past its time budget of {Budget}; it fails closed, so the call is blocked.")]
    public static partial void StageTimedOutClosed(ILogger logger, string stage, TimeSpan budget);

    [LoggerMessage(EventId = 6, Level = LogLevel.Warning, Message = "SafeAI stage {Stage} ran past its time budget of {Budget}; it fails open, so the call continues unchecked by this stage.")]
    public static partial void StageTimedOutOpen(ILogger logger, string stage, TimeSpan budget);

    [LoggerMessage(EventId = 7, Level = LogLevel.Trace, Message = "SafeAI call input ({Count} messages): {Text}")]
    public static partial void InputText(ILogger logger, int count, string text);

    [LoggerMessage(EventId = 8, Level = LogLevel.Warning, Message = "SafeAI model call failed with {ExceptionType}; no stage turned the failure into an answer.")]
    public static partial void CallFailed(ILogger logger, string exceptionType);

    [LoggerMessage(EventId = 9, Level = LogLevel.Warning, Message = "SafeAI abandoned a model call after {Budget}; it did not answer in time (it may ignore its cancellation token).")]
    public static partial void ModelAbandoned(ILogger logger, TimeSpan budget);

    [LoggerMessage(EventId = 10, Level = LogLevel.Warning, Message = "SafeAI: an abandoned model call ended later with {ExceptionType}.")]
    public static partial void AbandonedCallFailed(ILogger logger, string exceptionType, Exception exception);

    [LoggerMessage(EventId = 11, Level = LogLevel.Debug, Message = "SafeAI: an abandoned model call ended later ({Outcome}).")]
    public static partial void AbandonedCallEnded(ILogger logger, string outcome);
}

using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace SafeAI.Consent;

/// <summary>
/// The consent stage (outermost): for a call with a user id and no consents set by the caller, reads the person's
/// choices through the <see cref="ConsentManager"/> (cached) and puts them on the call context, where every consumer that
/// stores text reads them (<see cref="ConsentPurposes.IsPermitted"/>). When the store cannot be read, the call goes on
/// with every purpose declined (privacy fails safe) and the failure is logged. Adds no verdict.
/// </summary>
internal sealed partial class ConsentGuard(ConsentManager manager, ILogger? logger) : AIGuard("consent", GuardFailureMode.FailOpen)
{
    private readonly ILogger _logger = logger ?? NullLogger.Instance;

    public override int Order => GuardOrder.Consent;

    public override async ValueTask<ChatResponse> InvokeAsync(SafeAIContext context, GuardNext next)
    {
        ArgumentNullException.ThrowIfNull(context);
        await ResolveAsync(context).ConfigureAwait(false);
        return await next.GetResponseAsync(context).ConfigureAwait(false);
    }

    public override async ValueTask<IAsyncEnumerable<ChatResponseUpdate>> InvokeStreamingAsync(SafeAIContext context, GuardNext next)
    {
        ArgumentNullException.ThrowIfNull(context);
        await ResolveAsync(context).ConfigureAwait(false);
        return await next.GetStreamingResponseAsync(context).ConfigureAwait(false);
    }

    private async ValueTask ResolveAsync(SafeAIContext context)
    {
        var call = context.PeekCallContext();
        if (call.UserId is not { } user || call.Consents is not null || call.DeclinedConsents is not null)
        {
            return;
        }

        ConsentSets sets;
        try
        {
            sets = await manager.GetSetsAsync(user, context.CancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogUnavailable(_logger, ex);
            sets = ConsentSets.Unavailable;
        }

        context.SetStoredConsents(sets.Granted, sets.Declined);
    }

    [LoggerMessage(EventId = 1850, Level = LogLevel.Warning, Message = "SafeAI consent: the consent store could not be read; this call goes on with every purpose declined (no text is stored).")]
    private static partial void LogUnavailable(ILogger logger, Exception exception);
}

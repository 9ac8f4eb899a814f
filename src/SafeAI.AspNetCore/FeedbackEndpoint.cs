using System.Security.Claims;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SafeAI.Feedback;

namespace SafeAI.AspNetCore;

/// <summary>The body of a feedback request.</summary>
/// <param name="ResponseId">The id of the answer the feedback is about.</param>
/// <param name="Rating"><c>up</c> or <c>down</c>.</param>
/// <param name="Comment">An optional comment.</param>
/// <param name="ReviewTicketId">The review ticket of the answer, when it went through human review.</param>
/// <param name="ConversationId">The conversation; the <c>X-Conversation-Id</c> header when absent.</param>
internal sealed record FeedbackRequest(string? ResponseId, string? Rating, string? Comment, string? ReviewTicketId, string? ConversationId);

/// <summary>Handles <c>POST</c> feedback: validates it, takes the user from the signed-in principal, stores it.</summary>
internal sealed partial class FeedbackEndpoint(IFeedbackStore store, SafeAIFeedbackEndpointOptions options, TimeProvider time)
{
    public async Task<IResult> HandleAsync(HttpContext http, CancellationToken cancellationToken)
    {
        var (body, error) = await EndpointJson.ReadAsync<FeedbackRequest>(http, options.MaxRequestBodySize).ConfigureAwait(false);
        if (error is not null)
        {
            return error;
        }

        FeedbackRating rating;
        if (string.Equals(body!.Rating, "up", StringComparison.OrdinalIgnoreCase))
        {
            rating = FeedbackRating.Up;
        }
        else if (string.Equals(body.Rating, "down", StringComparison.OrdinalIgnoreCase))
        {
            rating = FeedbackRating.Down;
        }
        else
        {
            return EndpointJson.Problem(StatusCodes.Status400BadRequest, "Invalid feedback", "rating must be \"up\" or \"down\".");
        }

        var conversationId = body.ConversationId;
        if (string.IsNullOrWhiteSpace(conversationId) && http.Request.Headers.TryGetValue("X-Conversation-Id", out var header))
        {
            conversationId = header.ToString();
        }

        string? userId = null;
        string? tenantId = null;
        if (http.User.Identity?.IsAuthenticated == true)
        {
            userId = http.User.FindFirstValue(options.UserIdClaim) ?? http.User.FindFirstValue("sub");
            tenantId = http.User.FindFirstValue(options.TenantClaim);
        }

        FeedbackEntry entry;
        try
        {
            entry = FeedbackEntry.Create(body.ResponseId ?? string.Empty, rating, body.Comment, time) with
            {
                UserId = userId,
                TenantId = tenantId,
                ConversationId = string.IsNullOrWhiteSpace(conversationId) ? null : conversationId,
                ReviewTicketId = string.IsNullOrWhiteSpace(body.ReviewTicketId) ? null : body.ReviewTicketId,
            };
            entry.Validate();
        }
        catch (ArgumentException ex)
        {
            return EndpointJson.Problem(StatusCodes.Status400BadRequest, "Invalid feedback", ex.Message);
        }

        try
        {
            await store.AddAsync(entry, cancellationToken).ConfigureAwait(false);
        }
        catch (FeedbackStoreException ex)
        {
            LogStoreFailed(EndpointLogging.For(http.RequestServices), ex);
            return EndpointJson.Problem(StatusCodes.Status503ServiceUnavailable, "Feedback not stored", "The feedback could not be stored right now. Please try again later.");
        }

        if (rating == FeedbackRating.Down && options.CountThumbsDownInRollout)
        {
            CountInRollout(http, entry);
        }

        return Results.Json(new { id = entry.Id, responseId = entry.ResponseId, rating = rating == FeedbackRating.Up ? "up" : "down" }, statusCode: StatusCodes.Status201Created);
    }

    // A thumbs-down is a guardrail of a rollout (RolloutMetrics.ThumbsDown): count it in the arm the person is in now.
    private static void CountInRollout(HttpContext http, FeedbackEntry entry)
    {
        if (http.RequestServices.GetService<IChatClient>()?.GetService<SafeAIPipeline>() is not { } pipeline || pipeline.GetRolloutController() is null)
        {
            return;
        }

        try
        {
            pipeline.RecordRolloutOutcome(new SafeAICallContext { UserId = entry.UserId, TenantId = entry.TenantId, ConversationId = entry.ConversationId }, RolloutMetrics.ThumbsDown);
        }
        catch (ArgumentException ex)
        {
            // The plan does not track thumbs-down (its guardrails were replaced): the feedback is stored all the same.
            LogNotCounted(EndpointLogging.For(http.RequestServices), ex.Message);
        }
    }

    [LoggerMessage(EventId = 4, Level = LogLevel.Debug, Message = "A thumbs-down was stored but not counted in the rollout: {Why}")]
    private static partial void LogNotCounted(ILogger logger, string why);

    [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "SafeAI feedback could not be stored.")]
    private static partial void LogStoreFailed(ILogger logger, Exception exception);
}

using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SafeAI.Review;

namespace SafeAI.AspNetCore;

/// <summary>The body of a claim request.</summary>
/// <param name="Version">The item version the reviewer saw.</param>
internal sealed record ClaimRequest(long? Version);

/// <summary>The body of a decision request.</summary>
/// <param name="Version">The item version the reviewer saw.</param>
/// <param name="Decision"><c>approve</c>, <c>edit</c> or <c>reject</c>.</param>
/// <param name="EditedAnswer">The answer the caller gets, for <c>edit</c>.</param>
/// <param name="Comment">An optional comment.</param>
internal sealed record DecisionRequest(long? Version, string? Decision, string? EditedAnswer, string? Comment);

/// <summary>Handlers of the review endpoints over <see cref="IReviewQueue"/>, and the reviewers' page.</summary>
internal sealed partial class ReviewEndpoints(IReviewQueue queue, SafeAIReviewEndpointOptions options, string prefix)
{
    private const long MaxBodySize = 256 * 1024;
    private const int MaxCommentLength = 4000;
    private const int MaxAnswerLength = 100_000;

    // Numbers in the query are read here rather than bound, so that a bad value gets a problem response naming it
    // (binding answers 400 with an empty body).
    public async Task<IResult> ListAsync(string? state, string? pageSize, string? continuationToken, HttpContext http, CancellationToken cancellationToken)
    {
        if (!TryParseStates(state, out var states))
        {
            return EndpointJson.Problem(StatusCodes.Status400BadRequest, "Invalid query",
                "state must be open, decided, all, or a comma-separated list of pending, claimed, escalated, approved, edited, rejected, expired.");
        }

        if (!EndpointJson.TryParseQueryInt(pageSize, "pageSize", out var size, out var badSize))
        {
            return badSize;
        }

        try
        {
            var page = await queue.ListAsync(new ReviewQuery { States = states, PageSize = size ?? 50, ContinuationToken = continuationToken }, cancellationToken).ConfigureAwait(false);
            var items = new object[page.Items.Count];
            for (var i = 0; i < items.Length; i++)
            {
                items[i] = ToJson(page.Items[i]);
            }

            return Results.Json(new { items, continuationToken = page.ContinuationToken });
        }
        catch (ArgumentException ex)
        {
            return EndpointJson.Problem(StatusCodes.Status400BadRequest, "Invalid query", ex.Message);
        }
        catch (ReviewStoreException ex)
        {
            return StoreFailed(http, ex);
        }
    }

    public IResult Me(HttpContext http, CancellationToken cancellationToken) =>
        GetReviewer(http) is { } reviewer ? Results.Json(new { reviewerId = reviewer }) : NoReviewerId();

    public async Task<IResult> GetAsync(string id, HttpContext http, CancellationToken cancellationToken)
    {
        try
        {
            var item = await queue.GetAsync(id, cancellationToken).ConfigureAwait(false);
            return item is null ? NotFound(id) : Results.Json(ToJson(item));
        }
        catch (ReviewStoreException ex)
        {
            return StoreFailed(http, ex);
        }
    }

    public async Task<IResult> ClaimAsync(string id, HttpContext http, CancellationToken cancellationToken)
    {
        if (GetReviewer(http) is not { } reviewer)
        {
            return NoReviewerId();
        }

        var (body, error) = await EndpointJson.ReadAsync<ClaimRequest>(http, MaxBodySize).ConfigureAwait(false);
        if (error is not null)
        {
            return error;
        }

        if (body!.Version is not { } version)
        {
            return EndpointJson.Problem(StatusCodes.Status400BadRequest, "Invalid request", "version (the item version you saw) is required.");
        }

        return await ChangeAsync(http, id, () => queue.ClaimAsync(id, reviewer, version, cancellationToken)).ConfigureAwait(false);
    }

    public async Task<IResult> ClaimNextAsync(string? tier, HttpContext http, CancellationToken cancellationToken)
    {
        if (GetReviewer(http) is not { } reviewer)
        {
            return NoReviewerId();
        }

        if (!EndpointJson.TryParseQueryInt(tier, "tier", out var minimumTier, out var badTier))
        {
            return badTier;
        }

        try
        {
            var item = await queue.ClaimNextAsync(reviewer, minimumTier, cancellationToken).ConfigureAwait(false);
            return item is null ? Results.NoContent() : Results.Json(ToJson(item));
        }
        catch (ReviewStoreException ex)
        {
            return StoreFailed(http, ex);
        }
    }

    public async Task<IResult> DecideAsync(string id, HttpContext http, CancellationToken cancellationToken)
    {
        if (GetReviewer(http) is not { } reviewer)
        {
            return NoReviewerId();
        }

        var (body, error) = await EndpointJson.ReadAsync<DecisionRequest>(http, MaxBodySize).ConfigureAwait(false);
        if (error is not null)
        {
            return error;
        }

        if (body!.Version is not { } version)
        {
            return EndpointJson.Problem(StatusCodes.Status400BadRequest, "Invalid decision", "version (the item version you saw) is required.");
        }

        var comment = string.IsNullOrWhiteSpace(body.Comment) ? null : body.Comment;
        if (comment is { Length: > MaxCommentLength })
        {
            return EndpointJson.Problem(StatusCodes.Status400BadRequest, "Invalid decision", $"comment must be at most {MaxCommentLength} characters.");
        }

        ReviewDecision decision;
        switch (body.Decision?.ToUpperInvariant())
        {
            case "APPROVE":
                decision = ReviewDecision.Approve(reviewer, comment);
                break;
            case "REJECT":
                decision = ReviewDecision.Reject(reviewer, comment);
                break;
            case "EDIT":
                if (string.IsNullOrWhiteSpace(body.EditedAnswer))
                {
                    return EndpointJson.Problem(StatusCodes.Status400BadRequest, "Invalid decision", "editedAnswer is required to edit an answer.");
                }

                if (body.EditedAnswer.Length > MaxAnswerLength)
                {
                    return EndpointJson.Problem(StatusCodes.Status400BadRequest, "Invalid decision", $"editedAnswer must be at most {MaxAnswerLength} characters.");
                }

                decision = ReviewDecision.Edit(reviewer, body.EditedAnswer, comment);
                break;
            default:
                return EndpointJson.Problem(StatusCodes.Status400BadRequest, "Invalid decision", "decision must be \"approve\", \"edit\" or \"reject\".");
        }

        return await ChangeAsync(http, id, () => queue.DecideAsync(id, version, decision, cancellationToken)).ConfigureAwait(false);
    }

    public async Task PageAsync(HttpContext http, CancellationToken cancellationToken)
    {
        var html = PageAssets.Get("reviews.html").Replace("{{BASE}}", HtmlEncoder.Default.Encode(prefix), StringComparison.Ordinal);
        PageAssets.SetHeaders(http.Response);
        http.Response.ContentType = "text/html; charset=utf-8";
        await http.Response.WriteAsync(html, cancellationToken).ConfigureAwait(false);
    }

    internal static object ToJson(ReviewItem item) => new
    {
        id = item.Id,
        version = item.Version,
        state = StateName(item.State),
        tier = item.Tier,
        createdAt = item.CreatedAt,
        updatedAt = item.UpdatedAt,
        expiresAt = item.ExpiresAt,
        request = item.Request.Select(static m => new { role = m.Role, text = m.Text }).ToArray(),
        proposedAnswer = item.ProposedAnswer,
        textWithheld = item.TextWithheld,
        finalAnswer = item.FinalAnswer,
        triggers = item.Triggers,
        verdicts = item.Verdicts.Select(static v => new
        {
            stage = v.Stage,
            action = GuardVerdict.GetActionName(v.Action),
            reason = v.Reason,
            detail = v.Detail,
            score = v.Score,
            threshold = v.Threshold,
        }).ToArray(),
        userId = item.UserId,
        tenantId = item.TenantId,
        conversationId = item.ConversationId,
        riskTier = item.RiskTier.ToString(),
        claimedBy = item.ClaimedBy,
        reviewerId = item.ReviewerId,
        comment = item.Comment,
        decidedAt = item.DecidedAt,
    };

    internal static string StateName(ReviewState state) => state switch
    {
        ReviewState.Pending => "pending",
        ReviewState.Claimed => "claimed",
        ReviewState.Approved => "approved",
        ReviewState.Edited => "edited",
        ReviewState.Rejected => "rejected",
        ReviewState.Expired => "expired",
        ReviewState.Escalated => "escalated",
        _ => "unknown",
    };

    private static bool TryParseStates(string? text, out ReviewState[]? states)
    {
        states = null;
        if (string.IsNullOrWhiteSpace(text) || string.Equals(text, "open", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        if (string.Equals(text, "decided", StringComparison.OrdinalIgnoreCase))
        {
            states = [ReviewState.Approved, ReviewState.Edited, ReviewState.Rejected];
            return true;
        }

        if (string.Equals(text, "all", StringComparison.OrdinalIgnoreCase))
        {
            states = Enum.GetValues<ReviewState>();
            return true;
        }

        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var list = new List<ReviewState>(parts.Length);
        foreach (var part in parts)
        {
            var found = false;
            foreach (var candidate in Enum.GetValues<ReviewState>())
            {
                if (string.Equals(StateName(candidate), part, StringComparison.OrdinalIgnoreCase))
                {
                    list.Add(candidate);
                    found = true;
                    break;
                }
            }

            if (!found)
            {
                return false;
            }
        }

        states = [.. list];
        return list.Count > 0;
    }

    private static async Task<IResult> ChangeAsync(HttpContext http, string id, Func<ValueTask<ReviewItem>> change)
    {
        try
        {
            return Results.Json(ToJson(await change().ConfigureAwait(false)));
        }
        catch (KeyNotFoundException)
        {
            return NotFound(id);
        }
        catch (ReviewConflictException ex)
        {
            return EndpointJson.Problem(StatusCodes.Status409Conflict, "Review conflict", ex.Message);
        }
        catch (ReviewStoreException ex)
        {
            return StoreFailed(http, ex);
        }
    }

    private string? GetReviewer(HttpContext http)
    {
        var id = options.GetReviewerId(http.User);
        return string.IsNullOrWhiteSpace(id) ? null : id;
    }

    private static IResult NoReviewerId() =>
        EndpointJson.Problem(StatusCodes.Status403Forbidden, "No reviewer id", "The signed-in user has no identifier to record as the reviewer.");

    private static IResult NotFound(string id) =>
        EndpointJson.Problem(StatusCodes.Status404NotFound, "Not found", $"No review item has the id '{id}'.");

    private static IResult StoreFailed(HttpContext http, ReviewStoreException ex)
    {
        LogStoreFailed(EndpointLogging.For(http.RequestServices), ex);
        return EndpointJson.Problem(StatusCodes.Status503ServiceUnavailable, "Review store unavailable", "The review queue cannot be reached right now. Please try again later.");
    }

    [LoggerMessage(EventId = 3, Level = LogLevel.Error, Message = "The SafeAI review store failed while serving a review endpoint.")]
    private static partial void LogStoreFailed(ILogger logger, Exception exception);
}

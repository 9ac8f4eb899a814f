using Microsoft.Extensions.AI;

namespace SafeAI.Review;

/// <summary>
/// What human review did to one answer: the ticket, the state when the call returned, and the reviewer and comment
/// when a person decided. Attached to responses (and the last update of a stream) that went through review; read it
/// with <see cref="ReviewOutcomeExtensions.GetReviewOutcome(ChatResponse)"/>.
/// </summary>
/// <param name="TicketId">The review item's id.</param>
/// <param name="Mode">Whether the call was held or deferred.</param>
/// <param name="State">The item's state when the call returned (<see cref="ReviewState.Pending"/> for a deferred call or a hold that timed out).</param>
/// <param name="ReviewerId">The reviewer who decided, if any.</param>
/// <param name="Comment">The reviewer's comment, if any.</param>
/// <param name="DecidedAt">When the reviewer decided, if they did.</param>
public sealed record ReviewOutcome(string TicketId, ReviewMode Mode, ReviewState State, string? ReviewerId, string? Comment, DateTimeOffset? DecidedAt)
{
    /// <summary>The key under which the outcome is stored in <c>AdditionalProperties</c>.</summary>
    public const string PropertyKey = "safeai.review";

    /// <summary>Gets a value indicating whether a person decided before the caller got the answer.</summary>
    public bool IsDecided => State is ReviewState.Approved or ReviewState.Edited or ReviewState.Rejected;

    internal static ReviewOutcome From(ReviewItem item, ReviewMode mode) =>
        new(item.Id, mode, item.State, item.IsDecided ? item.ReviewerId : null, item.IsDecided ? item.Comment : null, item.IsDecided ? item.DecidedAt : null);
}

/// <summary>Reads the <see cref="ReviewOutcome"/> of a reviewed response.</summary>
public static class ReviewOutcomeExtensions
{
    /// <summary>Gets the review outcome of a response.</summary>
    /// <param name="response">The response.</param>
    /// <returns>The outcome, or <see langword="null"/> when the answer was not reviewed.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="response"/> is <see langword="null"/>.</exception>
    public static ReviewOutcome? GetReviewOutcome(this ChatResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (response.AdditionalProperties?.TryGetValue(ReviewOutcome.PropertyKey, out var v) == true && v is ReviewOutcome outcome)
        {
            return outcome;
        }

        // A response put together from a stream (ToChatResponse) may keep an update's properties on its message.
        for (var i = response.Messages.Count - 1; i >= 0; i--)
        {
            if (response.Messages[i].AdditionalProperties?.TryGetValue(ReviewOutcome.PropertyKey, out var m) == true && m is ReviewOutcome fromMessage)
            {
                return fromMessage;
            }
        }

        return null;
    }

    /// <summary>Gets the review outcome carried by a streaming update (the last update of the reviewed answer carries it).</summary>
    /// <param name="update">The update.</param>
    /// <returns>The outcome, or <see langword="null"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="update"/> is <see langword="null"/>.</exception>
    public static ReviewOutcome? GetReviewOutcome(this ChatResponseUpdate update)
    {
        ArgumentNullException.ThrowIfNull(update);
        return update.AdditionalProperties?.TryGetValue(ReviewOutcome.PropertyKey, out var v) == true ? v as ReviewOutcome : null;
    }
}

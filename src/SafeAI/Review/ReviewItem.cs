namespace SafeAI.Review;

/// <summary>One message of the request a reviewer sees.</summary>
/// <param name="Role">The role (<c>user</c>, <c>system</c>, <c>assistant</c>, ...).</param>
/// <param name="Text">The message text.</param>
public sealed record ReviewMessage(string Role, string Text);

/// <summary>
/// One answer waiting for (or decided by) a person: the request, the proposed answer, the verdicts of the stages, the
/// call context, and the review's state, reviewer and comment. Items are immutable; every state change produces a new
/// item with <see cref="Version"/> one higher, which a store accepts only if nobody changed the item in between
/// (optimistic concurrency).
/// </summary>
public sealed record ReviewItem
{
    /// <summary>Gets the ticket id (unique, time-ordered).</summary>
    public required string Id { get; init; }

    /// <summary>Gets the version: 1 when created, one higher after every change.</summary>
    public long Version { get; init; } = 1;

    /// <summary>Gets the state.</summary>
    public ReviewState State { get; init; }

    /// <summary>Gets the review tier: 1 for first-line reviewers, 2 once the item was escalated after a timeout.</summary>
    public int Tier { get; init; } = 1;

    /// <summary>Gets when the item was created.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>Gets when the item last changed.</summary>
    public DateTimeOffset UpdatedAt { get; init; }

    /// <summary>Gets when the current tier's time runs out (the item then escalates or expires).</summary>
    public DateTimeOffset ExpiresAt { get; init; }

    /// <summary>Gets the request messages.</summary>
    public IReadOnlyList<ReviewMessage> Request { get; init; } = [];

    /// <summary>Gets the answer the model proposed.</summary>
    public required string ProposedAnswer { get; init; }

    /// <summary>Gets the answer released after the decision: the proposed one when approved, the edited one when edited, otherwise <see langword="null"/>.</summary>
    public string? FinalAnswer { get; init; }

    /// <summary>Gets the verdicts the pipeline's stages had recorded when the item was created.</summary>
    public IReadOnlyList<GuardVerdict> Verdicts { get; init; } = [];

    /// <summary>Gets the reasons the item was created (codes from <see cref="ReviewReasons"/>, for example <c>trigger.risk_tier</c>).</summary>
    public IReadOnlyList<string> Triggers { get; init; } = [];

    /// <summary>Gets the caller's user id, if known.</summary>
    public string? UserId { get; init; }

    /// <summary>Gets the caller's tenant id, if known.</summary>
    public string? TenantId { get; init; }

    /// <summary>Gets the conversation id, if known.</summary>
    public string? ConversationId { get; init; }

    /// <summary>Gets the call's risk tier.</summary>
    public RiskTier RiskTier { get; init; }

    /// <summary>
    /// Gets a value indicating whether the person's words were withheld because they declined <c>human-review</c>
    /// consent: the item then holds no clear text of the conversation (<see cref="Request"/> keeps only system messages
    /// in clear, every other message is <see cref="ReviewReasons.TextWithheld"/>) nor of the proposed answer
    /// (<see cref="ReviewReasons.AnswerWithheld"/>). A reviewer acts on what is left: the triggers, the stages' verdicts
    /// (reason codes and scores), the risk tier and the ids. They may reject the answer (the person is told someone
    /// will follow up) or write one themselves (edit); they cannot approve an answer nobody may read.
    /// </summary>
    public bool TextWithheld { get; init; }

    /// <summary>Gets the reviewer who holds the claim, while <see cref="State"/> is <see cref="ReviewState.Claimed"/>.</summary>
    public string? ClaimedBy { get; init; }

    /// <summary>Gets when the item was claimed.</summary>
    public DateTimeOffset? ClaimedAt { get; init; }

    /// <summary>Gets the reviewer who decided.</summary>
    public string? ReviewerId { get; init; }

    /// <summary>Gets the reviewer's comment.</summary>
    public string? Comment { get; init; }

    /// <summary>Gets when the item was decided (or expired).</summary>
    public DateTimeOffset? DecidedAt { get; init; }

    /// <summary>Gets a value indicating whether the item reached a final state (approved, edited, rejected or expired).</summary>
    public bool IsFinal => State is ReviewState.Approved or ReviewState.Edited or ReviewState.Rejected or ReviewState.Expired;

    /// <summary>Gets a value indicating whether a reviewer decided the item (approved, edited or rejected).</summary>
    public bool IsDecided => State is ReviewState.Approved or ReviewState.Edited or ReviewState.Rejected;

    /// <summary>Gets a value indicating whether the item is open: pending, claimed or escalated.</summary>
    public bool IsOpen => !IsFinal;

    /// <summary>Claims the item for a reviewer.</summary>
    /// <param name="reviewerId">The reviewer.</param>
    /// <param name="now">The current time.</param>
    /// <returns>The claimed item, one version higher. Claiming an item one already holds returns it unchanged.</returns>
    /// <exception cref="ArgumentException"><paramref name="reviewerId"/> is null or empty.</exception>
    /// <exception cref="ReviewConflictException">The item is final or claimed by someone else.</exception>
    public ReviewItem Claim(string reviewerId, DateTimeOffset now)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reviewerId);
        if (State == ReviewState.Claimed)
        {
            return string.Equals(ClaimedBy, reviewerId, StringComparison.Ordinal)
                ? this
                : throw new ReviewConflictException(Id, $"Review item '{Id}' is already claimed by another reviewer.");
        }

        EnsureOpen("claimed");
        return this with { State = ReviewState.Claimed, ClaimedBy = reviewerId, ClaimedAt = now, UpdatedAt = now, Version = Version + 1 };
    }

    /// <summary>Gives a claimed item back to the queue.</summary>
    /// <param name="reviewerId">The reviewer who holds the claim.</param>
    /// <param name="now">The current time.</param>
    /// <returns>The released item, one version higher.</returns>
    /// <exception cref="ReviewConflictException">The item is not claimed by <paramref name="reviewerId"/>.</exception>
    public ReviewItem Release(string reviewerId, DateTimeOffset now)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reviewerId);
        if (State != ReviewState.Claimed || !string.Equals(ClaimedBy, reviewerId, StringComparison.Ordinal))
        {
            throw new ReviewConflictException(Id, $"Review item '{Id}' is not claimed by this reviewer.");
        }

        return this with { State = Tier > 1 ? ReviewState.Escalated : ReviewState.Pending, ClaimedBy = null, ClaimedAt = null, UpdatedAt = now, Version = Version + 1 };
    }

    /// <summary>Applies a reviewer's decision.</summary>
    /// <param name="decision">The decision.</param>
    /// <param name="now">The current time.</param>
    /// <returns>The decided item, one version higher.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="decision"/> is <see langword="null"/>.</exception>
    /// <exception cref="ReviewConflictException">The item is final, claimed by another reviewer, or an approval of an item whose text was withheld (<see cref="TextWithheld"/>).</exception>
    public ReviewItem Decide(ReviewDecision decision, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(decision);
        EnsureOpen("decided");
        if (State == ReviewState.Claimed && !string.Equals(ClaimedBy, decision.ReviewerId, StringComparison.Ordinal))
        {
            throw new ReviewConflictException(Id, $"Review item '{Id}' is claimed by another reviewer.");
        }

        if (TextWithheld && decision.Kind == ReviewDecisionKind.Approve)
        {
            throw new ReviewConflictException(Id, $"Review item '{Id}' cannot be approved: the person declined human review, so the proposed answer was not kept. Reject it, or write the answer yourself (edit).");
        }

        var (state, final) = decision.Kind switch
        {
            ReviewDecisionKind.Approve => (ReviewState.Approved, ProposedAnswer),
            ReviewDecisionKind.Edit => (ReviewState.Edited, decision.EditedAnswer),
            _ => (ReviewState.Rejected, (string?)null),
        };

        return this with
        {
            State = state,
            FinalAnswer = final,
            ReviewerId = decision.ReviewerId,
            Comment = decision.Comment,
            DecidedAt = now,
            UpdatedAt = now,
            ClaimedBy = null,
            Version = Version + 1,
        };
    }

    /// <summary>Applies a timeout: escalates a first-tier item to the second tier, or expires it.</summary>
    /// <param name="now">The current time.</param>
    /// <param name="secondTierTimeout">The time the second tier gets; <see langword="null"/> to expire at once.</param>
    /// <returns>The escalated or expired item, one version higher.</returns>
    /// <exception cref="ReviewConflictException">The item is final or not yet due.</exception>
    public ReviewItem Expire(DateTimeOffset now, TimeSpan? secondTierTimeout)
    {
        EnsureOpen("expired");
        if (now < ExpiresAt)
        {
            throw new ReviewConflictException(Id, $"Review item '{Id}' is not due until {ExpiresAt:O}.");
        }

        if (Tier == 1 && secondTierTimeout is { } next)
        {
            return this with { State = ReviewState.Escalated, Tier = 2, ExpiresAt = now + next, ClaimedBy = null, ClaimedAt = null, UpdatedAt = now, Version = Version + 1 };
        }

        return this with { State = ReviewState.Expired, ClaimedBy = null, DecidedAt = now, UpdatedAt = now, Version = Version + 1 };
    }

    private void EnsureOpen(string verb)
    {
        if (IsFinal)
        {
            throw new ReviewConflictException(Id, $"Review item '{Id}' is already {State.ToString().ToLowerInvariant()} and cannot be {verb}.");
        }
    }
}

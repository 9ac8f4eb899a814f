namespace SafeAI.Review;

/// <summary>A reviewer's decision about a <see cref="ReviewItem"/>. Create it with <see cref="Approve"/>, <see cref="Edit"/> or <see cref="Reject"/>.</summary>
public sealed record ReviewDecision
{
    private ReviewDecision(ReviewDecisionKind kind, string reviewerId, string? editedAnswer, string? comment)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reviewerId);
        Kind = kind;
        ReviewerId = reviewerId;
        EditedAnswer = editedAnswer;
        Comment = comment;
    }

    /// <summary>Gets what the reviewer decided.</summary>
    public ReviewDecisionKind Kind { get; }

    /// <summary>Gets the reviewer's identity (recorded on the item and in the verdict's Detail).</summary>
    public string ReviewerId { get; }

    /// <summary>Gets the edited answer, for <see cref="ReviewDecisionKind.Edit"/>.</summary>
    public string? EditedAnswer { get; }

    /// <summary>Gets the reviewer's comment.</summary>
    public string? Comment { get; }

    /// <summary>Approves the proposed answer.</summary>
    /// <param name="reviewerId">The reviewer.</param>
    /// <param name="comment">An optional comment.</param>
    /// <returns>The decision.</returns>
    /// <exception cref="ArgumentException"><paramref name="reviewerId"/> is null or empty.</exception>
    public static ReviewDecision Approve(string reviewerId, string? comment = null) => new(ReviewDecisionKind.Approve, reviewerId, null, comment);

    /// <summary>Replaces the proposed answer with an edited one.</summary>
    /// <param name="reviewerId">The reviewer.</param>
    /// <param name="editedAnswer">The answer the caller gets.</param>
    /// <param name="comment">An optional comment.</param>
    /// <returns>The decision.</returns>
    /// <exception cref="ArgumentException"><paramref name="reviewerId"/> or <paramref name="editedAnswer"/> is null or empty.</exception>
    public static ReviewDecision Edit(string reviewerId, string editedAnswer, string? comment = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(editedAnswer);
        return new(ReviewDecisionKind.Edit, reviewerId, editedAnswer, comment);
    }

    /// <summary>Rejects the proposed answer.</summary>
    /// <param name="reviewerId">The reviewer.</param>
    /// <param name="comment">An optional comment (why).</param>
    /// <returns>The decision.</returns>
    /// <exception cref="ArgumentException"><paramref name="reviewerId"/> is null or empty.</exception>
    public static ReviewDecision Reject(string reviewerId, string? comment = null) => new(ReviewDecisionKind.Reject, reviewerId, null, comment);
}

/// <summary>Thrown when a review item cannot change as asked: it changed in between (another reviewer was faster), it is already final, or it is claimed by someone else.</summary>
public sealed class ReviewConflictException : InvalidOperationException
{
    /// <summary>Initializes a new instance of the <see cref="ReviewConflictException"/> class.</summary>
    public ReviewConflictException()
    {
    }

    /// <summary>Initializes a new instance of the <see cref="ReviewConflictException"/> class.</summary>
    /// <param name="message">The message.</param>
    public ReviewConflictException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="ReviewConflictException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public ReviewConflictException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="ReviewConflictException"/> class.</summary>
    /// <param name="itemId">The item id.</param>
    /// <param name="message">The message.</param>
    public ReviewConflictException(string itemId, string message)
        : base(message)
    {
        ItemId = itemId;
    }

    /// <summary>Gets the id of the item, when known.</summary>
    public string? ItemId { get; }
}

/// <summary>A query for <see cref="IReviewQueue.ListAsync"/>: items in some states, oldest first, one page at a time.</summary>
public sealed record ReviewQuery
{
    /// <summary>Gets the states to list; <see langword="null"/> or empty for the open ones (pending, claimed, escalated).</summary>
    public IReadOnlyList<ReviewState>? States { get; init; }

    /// <summary>Gets the tier to list; <see langword="null"/> for all.</summary>
    public int? Tier { get; init; }

    /// <summary>Gets the page size (1 to 500).</summary>
    public int PageSize { get; init; } = 50;

    /// <summary>Gets the continuation token from the previous page; <see langword="null"/> for the first page.</summary>
    public string? ContinuationToken { get; init; }

    internal static readonly ReviewState[] OpenStates = [ReviewState.Pending, ReviewState.Claimed, ReviewState.Escalated];

    /// <summary>Gets the states the query selects, with the default applied.</summary>
    /// <returns>The states.</returns>
    public IReadOnlyList<ReviewState> GetEffectiveStates() => States is { Count: > 0 } s ? s : OpenStates;

    /// <summary>Checks the query.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The page size is out of range.</exception>
    public void Validate()
    {
        if (PageSize is < 1 or > 500)
        {
            throw new ArgumentOutOfRangeException(nameof(PageSize), PageSize, "ReviewQuery.PageSize must be between 1 and 500.");
        }
    }
}

/// <summary>One page of review items.</summary>
/// <param name="Items">The items, oldest first.</param>
/// <param name="ContinuationToken">Pass it in the next <see cref="ReviewQuery"/> to get the next page; <see langword="null"/> on the last page.</param>
public sealed record ReviewPage(IReadOnlyList<ReviewItem> Items, string? ContinuationToken);

/// <summary>What a host (or the review stage) submits for review.</summary>
public sealed record ReviewSubmission
{
    /// <summary>Gets the request messages.</summary>
    public IReadOnlyList<ReviewMessage> Request { get; init; } = [];

    /// <summary>Gets the proposed answer.</summary>
    public required string ProposedAnswer { get; init; }

    /// <summary>Gets the verdicts so far.</summary>
    public IReadOnlyList<GuardVerdict> Verdicts { get; init; } = [];

    /// <summary>Gets why review is needed (codes from <see cref="ReviewReasons"/>).</summary>
    public IReadOnlyList<string> Triggers { get; init; } = [ReviewReasons.TriggerManual];

    /// <summary>Gets the caller's user id.</summary>
    public string? UserId { get; init; }

    /// <summary>Gets the caller's tenant id.</summary>
    public string? TenantId { get; init; }

    /// <summary>Gets the conversation id.</summary>
    public string? ConversationId { get; init; }

    /// <summary>Gets the risk tier.</summary>
    public RiskTier RiskTier { get; init; }

    /// <summary>
    /// Gets a value indicating whether the person's words were withheld (they declined <c>human-review</c> consent):
    /// <see cref="Request"/> and <see cref="ProposedAnswer"/> then hold placeholders, and the item cannot be approved,
    /// only answered by the reviewer (edit) or rejected. See <see cref="ReviewItem.TextWithheld"/>.
    /// </summary>
    public bool TextWithheld { get; init; }
}

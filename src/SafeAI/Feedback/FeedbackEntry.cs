using System.Globalization;

namespace SafeAI.Feedback;

/// <summary>A user's rating of one answer.</summary>
public enum FeedbackRating
{
    /// <summary>Thumbs down: the answer was not helpful or was wrong.</summary>
    Down = -1,

    /// <summary>Thumbs up: the answer was helpful.</summary>
    Up = 1,
}

/// <summary>
/// One piece of feedback on an AI answer: a thumbs up or down and an optional comment, linked to the response id the
/// caller got (<see cref="Microsoft.Extensions.AI.ChatResponse.ResponseId"/>) and, for answers that went through human
/// review, to the review ticket.
/// </summary>
public sealed record FeedbackEntry
{
    /// <summary>The longest response id, ticket id or user, tenant or conversation id accepted (characters).</summary>
    public const int MaxIdLength = 200;

    /// <summary>The longest comment accepted (characters).</summary>
    public const int MaxCommentLength = 4000;

    /// <summary>Gets the feedback id (unique, time-ordered).</summary>
    public required string Id { get; init; }

    /// <summary>Gets the id of the response the feedback is about.</summary>
    public required string ResponseId { get; init; }

    /// <summary>Gets the rating.</summary>
    public FeedbackRating Rating { get; init; }

    /// <summary>Gets the user's comment, if any.</summary>
    public string? Comment { get; init; }

    /// <summary>Gets the user who gave the feedback, if known.</summary>
    public string? UserId { get; init; }

    /// <summary>Gets the user's tenant, if known.</summary>
    public string? TenantId { get; init; }

    /// <summary>Gets the conversation, if known.</summary>
    public string? ConversationId { get; init; }

    /// <summary>Gets the human review ticket of the answer, if it went through review (joins the review store's items).</summary>
    public string? ReviewTicketId { get; init; }

    /// <summary>Gets when the feedback was given.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>Creates an entry with a new time-ordered id.</summary>
    /// <param name="responseId">The response the feedback is about.</param>
    /// <param name="rating">The rating.</param>
    /// <param name="comment">An optional comment; blank becomes <see langword="null"/>.</param>
    /// <param name="timeProvider">The time source; <see langword="null"/> for <see cref="TimeProvider.System"/>.</param>
    /// <returns>The entry (validated).</returns>
    /// <exception cref="ArgumentException">A value is missing, too long or out of range; the message names it.</exception>
    public static FeedbackEntry Create(string responseId, FeedbackRating rating, string? comment = null, TimeProvider? timeProvider = null)
    {
        var now = (timeProvider ?? TimeProvider.System).GetUtcNow();
        var entry = new FeedbackEntry
        {
            Id = Guid.CreateVersion7(now).ToString("N"),
            ResponseId = responseId,
            Rating = rating,
            Comment = string.IsNullOrWhiteSpace(comment) ? null : comment,
            CreatedAt = now,
        };
        entry.Validate();
        return entry;
    }

    /// <summary>Checks the entry before it is stored.</summary>
    /// <exception cref="ArgumentException">A value is missing, too long or out of range; the message names it.</exception>
    public void Validate()
    {
        CheckId(Id, nameof(Id), required: true);
        CheckId(ResponseId, nameof(ResponseId), required: true);
        CheckId(UserId, nameof(UserId), required: false);
        CheckId(TenantId, nameof(TenantId), required: false);
        CheckId(ConversationId, nameof(ConversationId), required: false);
        CheckId(ReviewTicketId, nameof(ReviewTicketId), required: false);
        if (!Enum.IsDefined(Rating))
        {
            throw new ArgumentException($"Feedback Rating must be Up or Down, not {((int)Rating).ToString(CultureInfo.InvariantCulture)}.", nameof(Rating));
        }

        if (Comment is { Length: > MaxCommentLength })
        {
            throw new ArgumentException($"Feedback Comment must be at most {MaxCommentLength} characters (it has {Comment.Length}).", nameof(Comment));
        }

        if (Comment is not null && Comment.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("Feedback Comment must not contain NUL characters.", nameof(Comment));
        }
    }

    private static void CheckId(string? value, string name, bool required)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            if (required)
            {
                throw new ArgumentException($"Feedback {name} must not be empty.", name);
            }

            return;
        }

        if (value.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException($"Feedback {name} must not contain NUL characters.", name);
        }

        if (value.Length > MaxIdLength)
        {
            throw new ArgumentException($"Feedback {name} must be at most {MaxIdLength} characters (it has {value.Length}).", name);
        }
    }
}

/// <summary>A query for <see cref="IFeedbackStore.ListAsync"/>: feedback oldest first, one page at a time.</summary>
public sealed record FeedbackQuery
{
    /// <summary>Gets the response to list feedback for; <see langword="null"/> for all.</summary>
    public string? ResponseId { get; init; }

    /// <summary>Gets the review ticket to list feedback for; <see langword="null"/> for all.</summary>
    public string? ReviewTicketId { get; init; }

    /// <summary>Gets the rating to list; <see langword="null"/> for both.</summary>
    public FeedbackRating? Rating { get; init; }

    /// <summary>Gets the page size (1 to 500).</summary>
    public int PageSize { get; init; } = 50;

    /// <summary>Gets the continuation token from the previous page; <see langword="null"/> for the first page.</summary>
    public string? ContinuationToken { get; init; }

    /// <summary>Checks the query.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The page size is out of range.</exception>
    public void Validate()
    {
        if (PageSize is < 1 or > 500)
        {
            throw new ArgumentOutOfRangeException(nameof(PageSize), PageSize, "FeedbackQuery.PageSize must be between 1 and 500.");
        }
    }

    internal static long ParseContinuation(string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return 0;
        }

        return long.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v > 0
            ? v
            : throw new ArgumentException("The feedback continuation token is malformed; pass the token of the previous page unchanged.", nameof(token));
    }

    internal static string FormatContinuation(long sequence) => sequence.ToString(CultureInfo.InvariantCulture);
}

/// <summary>One page of feedback.</summary>
/// <param name="Items">The entries, oldest first.</param>
/// <param name="ContinuationToken">Pass it in the next <see cref="FeedbackQuery"/> to get the next page; <see langword="null"/> on the last page.</param>
public sealed record FeedbackPage(IReadOnlyList<FeedbackEntry> Items, string? ContinuationToken);

/// <summary>Thrown by feedback stores when the storage itself fails (unreachable, timed out, corrupt); the message says which store and what happened.</summary>
public sealed class FeedbackStoreException : Exception
{
    /// <summary>Initializes a new instance of the <see cref="FeedbackStoreException"/> class.</summary>
    public FeedbackStoreException()
    {
    }

    /// <summary>Initializes a new instance of the <see cref="FeedbackStoreException"/> class.</summary>
    /// <param name="message">The message.</param>
    public FeedbackStoreException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="FeedbackStoreException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public FeedbackStoreException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

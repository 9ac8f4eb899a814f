namespace SafeAI.Feedback;

/// <summary>
/// Where feedback on AI answers lives. SafeAI ships an in-memory store (tests and demos), SQLite
/// (<c>SafeAI.Sqlite</c>) and PostgreSQL (<c>SafeAI.PostgreSql</c>).
/// </summary>
/// <remarks>
/// Implementations must be thread-safe. A write is acknowledged when its task completes: the entry must then survive a
/// crash of the process. Stores validate entries (<see cref="FeedbackEntry.Validate"/>) and report their own failures
/// as <see cref="FeedbackStoreException"/> with a clear message, within a bounded time.
/// </remarks>
public interface IFeedbackStore
{
    /// <summary>Stores a new entry.</summary>
    /// <param name="entry">The entry.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>A task that completes when the entry is stored durably.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="entry"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">The entry is invalid, or an entry with its id exists.</exception>
    /// <exception cref="FeedbackStoreException">The storage failed.</exception>
    ValueTask AddAsync(FeedbackEntry entry, CancellationToken cancellationToken = default);

    /// <summary>Gets an entry.</summary>
    /// <param name="id">The feedback id.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The entry, or <see langword="null"/> when there is none with that id.</returns>
    /// <exception cref="ArgumentException"><paramref name="id"/> is null or empty.</exception>
    /// <exception cref="FeedbackStoreException">The storage failed.</exception>
    ValueTask<FeedbackEntry?> GetAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>Lists entries, oldest first.</summary>
    /// <param name="query">The query.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>One page.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="query"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">The continuation token is malformed.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The page size is out of range.</exception>
    /// <exception cref="FeedbackStoreException">The storage failed.</exception>
    ValueTask<FeedbackPage> ListAsync(FeedbackQuery query, CancellationToken cancellationToken = default);
}

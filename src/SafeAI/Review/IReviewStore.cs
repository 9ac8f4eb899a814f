namespace SafeAI.Review;

/// <summary>
/// Where review items live. SafeAI ships an in-memory store (tests and demos), SQLite (<c>SafeAI.Sqlite</c>, the
/// embedded default that survives restarts) and PostgreSQL (<c>SafeAI.PostgreSql</c>, for several app instances).
/// </summary>
/// <remarks>
/// Implementations must be thread-safe. A write is acknowledged when its task completes: the item must then survive a
/// crash of the process. <see cref="TryReplaceAsync"/> is a compare-and-swap on <see cref="ReviewItem.Version"/>, and
/// <see cref="ClaimNextAsync"/> must never hand one item to two reviewers, also across processes sharing the store.
/// Stores report their own failures (a database that went away) as exceptions with a clear message, within a bounded
/// time; they never hang.
/// </remarks>
public interface IReviewStore
{
    /// <summary>Adds a new item.</summary>
    /// <param name="item">The item (version 1).</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>A task that completes when the item is stored durably.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="item"/> is <see langword="null"/>.</exception>
    /// <exception cref="ReviewConflictException">An item with that id exists.</exception>
    ValueTask AddAsync(ReviewItem item, CancellationToken cancellationToken = default);

    /// <summary>Gets an item.</summary>
    /// <param name="id">The ticket id.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The item, or <see langword="null"/> when there is none with that id.</returns>
    ValueTask<ReviewItem?> GetAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>Replaces an item if nobody changed it since <paramref name="expectedVersion"/>.</summary>
    /// <param name="item">The new item.</param>
    /// <param name="expectedVersion">The version the change was based on.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns><see langword="true"/> when replaced; <see langword="false"/> when the stored version differs (or the item is gone).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="item"/> is <see langword="null"/>.</exception>
    ValueTask<bool> TryReplaceAsync(ReviewItem item, long expectedVersion, CancellationToken cancellationToken = default);

    /// <summary>Lists items, oldest first.</summary>
    /// <param name="query">The query.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>One page.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="query"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">The continuation token is malformed.</exception>
    ValueTask<ReviewPage> ListAsync(ReviewQuery query, CancellationToken cancellationToken = default);

    /// <summary>Atomically claims the oldest unclaimed open item (pending or escalated) of a tier for a reviewer.</summary>
    /// <param name="reviewerId">The reviewer.</param>
    /// <param name="tier">The tier; <see langword="null"/> for any.</param>
    /// <param name="now">The current time.</param>
    /// <param name="cancellationToken">Cancels the claim.</param>
    /// <returns>The claimed item, or <see langword="null"/> when nothing is waiting.</returns>
    ValueTask<ReviewItem?> ClaimNextAsync(string reviewerId, int? tier, DateTimeOffset now, CancellationToken cancellationToken = default);

    /// <summary>Lists open items whose <see cref="ReviewItem.ExpiresAt"/> is at or before <paramref name="now"/>.</summary>
    /// <param name="now">The current time.</param>
    /// <param name="limit">The most items to return.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The due items.</returns>
    ValueTask<IReadOnlyList<ReviewItem>> ListDueAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken = default);
}

/// <summary>The host-facing API of the human review queue: list, claim, decide, get and subscribe.</summary>
/// <remarks>Get it from dependency injection after <c>safe.AddHumanReview()</c>, or create a <see cref="ReviewQueue"/>.</remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1711:Identifiers should not have incorrect suffix", Justification = "It is a queue of review items; the name is part of the promised API.")]
public interface IReviewQueue
{
    /// <summary>Submits an answer for review.</summary>
    /// <param name="submission">What to review.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The stored item (state <see cref="ReviewState.Pending"/>).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="submission"/> is <see langword="null"/>.</exception>
    ValueTask<ReviewItem> SubmitAsync(ReviewSubmission submission, CancellationToken cancellationToken = default);

    /// <summary>Gets an item by ticket id.</summary>
    /// <param name="id">The ticket id.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The item, or <see langword="null"/>.</returns>
    /// <exception cref="ArgumentException"><paramref name="id"/> is null or empty.</exception>
    ValueTask<ReviewItem?> GetAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>Lists items, oldest first, one page at a time (by default the open ones).</summary>
    /// <param name="query">The query; <see langword="null"/> for the first page of open items.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>One page.</returns>
    ValueTask<ReviewPage> ListAsync(ReviewQuery? query = null, CancellationToken cancellationToken = default);

    /// <summary>Claims a given item.</summary>
    /// <param name="id">The ticket id.</param>
    /// <param name="reviewerId">The reviewer.</param>
    /// <param name="expectedVersion">The version the reviewer saw.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The claimed item.</returns>
    /// <exception cref="KeyNotFoundException">No item has that id.</exception>
    /// <exception cref="ReviewConflictException">The item changed since <paramref name="expectedVersion"/>, is final, or is claimed by someone else.</exception>
    ValueTask<ReviewItem> ClaimAsync(string id, string reviewerId, long expectedVersion, CancellationToken cancellationToken = default);

    /// <summary>Claims the oldest waiting item; never the same item for two reviewers.</summary>
    /// <param name="reviewerId">The reviewer.</param>
    /// <param name="tier">The tier the reviewer works on; <see langword="null"/> for any.</param>
    /// <param name="cancellationToken">Cancels the claim.</param>
    /// <returns>The claimed item, or <see langword="null"/> when nothing is waiting.</returns>
    ValueTask<ReviewItem?> ClaimNextAsync(string reviewerId, int? tier = null, CancellationToken cancellationToken = default);

    /// <summary>Decides an item.</summary>
    /// <param name="id">The ticket id.</param>
    /// <param name="expectedVersion">The version the reviewer saw.</param>
    /// <param name="decision">The decision.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The decided item.</returns>
    /// <exception cref="KeyNotFoundException">No item has that id.</exception>
    /// <exception cref="ReviewConflictException">The item changed since <paramref name="expectedVersion"/> (someone else decided), is final, or is claimed by someone else.</exception>
    ValueTask<ReviewItem> DecideAsync(string id, long expectedVersion, ReviewDecision decision, CancellationToken cancellationToken = default);

    /// <summary>Waits until an item is final or <paramref name="timeout"/> passes. Sees changes made by other processes too (it polls the store).</summary>
    /// <param name="id">The ticket id.</param>
    /// <param name="timeout">The longest wait.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The item as it is when the wait ends (final, or still open after the timeout).</returns>
    /// <exception cref="KeyNotFoundException">No item has that id.</exception>
    ValueTask<ReviewItem> WaitForDecisionAsync(string id, TimeSpan timeout, CancellationToken cancellationToken = default);

    /// <summary>Subscribes to changes made through this queue (created, claimed, decided, escalated, expired).</summary>
    /// <param name="onChanged">Called after each change, one at a time; exceptions are logged and ignored.</param>
    /// <returns>Dispose it to unsubscribe.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="onChanged"/> is <see langword="null"/>.</exception>
    IDisposable Subscribe(Func<ReviewItem, CancellationToken, ValueTask> onChanged);

    /// <summary>Escalates or expires the items whose time ran out. The queue also does this on a timer.</summary>
    /// <param name="cancellationToken">Cancels the sweep.</param>
    /// <returns>The number of items changed.</returns>
    ValueTask<int> ProcessTimeoutsAsync(CancellationToken cancellationToken = default);
}

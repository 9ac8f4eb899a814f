namespace SafeAI.Audit;

/// <summary>
/// Where the audit trail lives: append-only, in chain order. SafeAI ships an in-memory store (tests and demos), SQLite
/// (<c>SafeAI.Sqlite</c>, the default) and PostgreSQL (<c>SafeAI.PostgreSql</c>).
/// </summary>
/// <remarks>
/// Implementations must be thread-safe. An append is acknowledged when its task completes: the records must then survive
/// a crash of the process. Records are never changed, except that <see cref="EraseTextAsync"/> removes stored texts and
/// <see cref="DeleteBeforeAsync"/> removes the oldest records after a purge record was appended.
/// </remarks>
public interface IAuditStore
{
    /// <summary>
    /// Appends entries atomically: reads the chain's head, seals the entries after it with <paramref name="sealer"/>,
    /// inserts the records and commits, serialised against every other writer of the same store.
    /// </summary>
    /// <param name="entries">The entries, in the order they were recorded.</param>
    /// <param name="sealer">Seals the entries.</param>
    /// <param name="cancellationToken">Cancels the append (nothing is appended then).</param>
    /// <returns>The chain's new head.</returns>
    /// <exception cref="AuditStoreException">The storage failed; nothing was appended.</exception>
    ValueTask<AuditHead> AppendAsync(IReadOnlyList<AuditEntry> entries, AuditSealer sealer, CancellationToken cancellationToken = default);

    /// <summary>Reads records in ascending sequence order.</summary>
    /// <param name="query">Which records; <see langword="null"/> for all.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The records.</returns>
    /// <exception cref="AuditStoreException">The storage failed.</exception>
    IAsyncEnumerable<AuditRecord> ReadAsync(AuditQuery? query = null, CancellationToken cancellationToken = default);

    /// <summary>Gets the chain's last record's sequence number and hash.</summary>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The head (<see cref="AuditHead.Empty"/> for an empty store).</returns>
    /// <exception cref="AuditStoreException">The storage failed.</exception>
    ValueTask<AuditHead> GetHeadAsync(CancellationToken cancellationToken = default);

    /// <summary>Removes the stored texts (not the keyed hashes) of every record about <paramref name="subject"/>.</summary>
    /// <param name="subject">The person.</param>
    /// <param name="cancellationToken">Cancels the erasure.</param>
    /// <returns>The number of records whose text was removed.</returns>
    /// <exception cref="AuditStoreException">The storage failed.</exception>
    ValueTask<int> EraseTextAsync(string subject, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes every record before <paramref name="sequence"/> (retention). Only the purge path calls this, after a purge
    /// record anchoring <paramref name="sequence"/> was appended (<see cref="AuditTrail.PurgeAsync"/>).
    /// </summary>
    /// <param name="sequence">The first sequence number to keep.</param>
    /// <param name="cancellationToken">Cancels the purge.</param>
    /// <returns>The number of records deleted.</returns>
    /// <exception cref="AuditStoreException">The storage failed, or no purge record anchors <paramref name="sequence"/>.</exception>
    ValueTask<long> DeleteBeforeAsync(long sequence, CancellationToken cancellationToken = default);
}

/// <summary>Which records <see cref="IAuditStore.ReadAsync"/> returns.</summary>
public sealed record AuditQuery
{
    /// <summary>Gets the first sequence number to return.</summary>
    public long? FromSequence { get; init; }

    /// <summary>Gets the earliest time to return (inclusive).</summary>
    public DateTimeOffset? From { get; init; }

    /// <summary>Gets the latest time to return (exclusive).</summary>
    public DateTimeOffset? To { get; init; }

    /// <summary>Gets the subject whose records to return (a data-access request).</summary>
    public string? Subject { get; init; }

    /// <summary>Gets the kind of records to return.</summary>
    public string? Kind { get; init; }
}

/// <summary>An audit store failed (unreachable, full, corrupt, or an operation the store's triggers reject).</summary>
public sealed class AuditStoreException : Exception
{
    /// <summary>Initializes a new instance of the <see cref="AuditStoreException"/> class.</summary>
    public AuditStoreException()
    {
    }

    /// <summary>Initializes a new instance of the <see cref="AuditStoreException"/> class.</summary>
    /// <param name="message">The message.</param>
    public AuditStoreException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="AuditStoreException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public AuditStoreException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

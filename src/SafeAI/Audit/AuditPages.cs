using System.Runtime.CompilerServices;

namespace SafeAI.Audit;

/// <summary>
/// Reads an audit store's records in sequence order, one page at a time, for stores whose database returns pages of
/// records after a given sequence number: no connection is held while the consumer works on a page.
/// </summary>
internal static class AuditPages
{
    /// <summary>
    /// Yields the records of every page, starting after <c>query.FromSequence - 1</c>, until a page comes back with
    /// fewer than <paramref name="pageSize"/> records.
    /// </summary>
    /// <param name="query">The query; its <see cref="AuditQuery.FromSequence"/> sets the first sequence read.</param>
    /// <param name="pageSize">The most records <paramref name="readPage"/> returns at once.</param>
    /// <param name="readPage">Reads the next page: the query, the last sequence already read, the cancellation token.</param>
    /// <param name="cancellationToken">Cancels the read between and during pages.</param>
    public static async IAsyncEnumerable<AuditRecord> ReadAsync(
        AuditQuery? query,
        int pageSize,
        Func<AuditQuery?, long, CancellationToken, Task<List<AuditRecord>>> readPage,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var after = (query?.FromSequence ?? 1) - 1;
        while (true)
        {
            var page = await readPage(query, after, cancellationToken).ConfigureAwait(false);
            foreach (var record in page)
            {
                yield return record;
            }

            if (page.Count < pageSize)
            {
                yield break;
            }

            after = page[^1].Sequence;
        }
    }
}

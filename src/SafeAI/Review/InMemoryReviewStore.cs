namespace SafeAI.Review;

/// <summary>
/// A review store in process memory, for tests and demos: nothing survives a restart. Use <c>SafeAI.Sqlite</c>
/// (one machine) or <c>SafeAI.PostgreSql</c> (several app instances) in production.
/// </summary>
public sealed class InMemoryReviewStore : IReviewStore
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _items = new(StringComparer.Ordinal);
    private readonly SortedDictionary<long, string> _order = [];
    private long _sequence;

    /// <inheritdoc />
    public ValueTask AddAsync(ReviewItem item, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(item);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            if (_items.ContainsKey(item.Id))
            {
                throw new ReviewConflictException(item.Id, $"A review item with id '{item.Id}' already exists.");
            }

            var seq = ++_sequence;
            _items.Add(item.Id, new Entry(item, seq));
            _order.Add(seq, item.Id);
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<ReviewItem?> GetAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            return new(_items.TryGetValue(id, out var e) ? e.Item : null);
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> TryReplaceAsync(ReviewItem item, long expectedVersion, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(item);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            if (!_items.TryGetValue(item.Id, out var e) || e.Item.Version != expectedVersion)
            {
                return new(false);
            }

            e.Item = item;
            return new(true);
        }
    }

    /// <inheritdoc />
    public ValueTask<ReviewPage> ListAsync(ReviewQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        query.Validate();
        cancellationToken.ThrowIfCancellationRequested();
        var after = ReviewContinuation.Parse(query.ContinuationToken);
        var states = query.GetEffectiveStates();
        var items = new List<ReviewItem>(Math.Min(query.PageSize, 64));
        long last = 0;
        var more = false;
        lock (_gate)
        {
            foreach (var (seq, id) in _order)
            {
                if (seq <= after)
                {
                    continue;
                }

                var item = _items[id].Item;
                if (!states.Contains(item.State) || (query.Tier is { } t && item.Tier != t))
                {
                    continue;
                }

                if (items.Count == query.PageSize)
                {
                    more = true;
                    break;
                }

                items.Add(item);
                last = seq;
            }
        }

        return new(new ReviewPage(items, more ? ReviewContinuation.Format(last) : null));
    }

    /// <inheritdoc />
    public ValueTask<ReviewItem?> ClaimNextAsync(string reviewerId, int? tier, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reviewerId);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            foreach (var id in _order.Values)
            {
                var e = _items[id];
                if (e.Item.State is ReviewState.Pending or ReviewState.Escalated && (tier is not { } t || e.Item.Tier == t))
                {
                    e.Item = e.Item.Claim(reviewerId, now);
                    return new(e.Item);
                }
            }
        }

        return new((ReviewItem?)null);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<ReviewItem>> ListDueAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var due = new List<ReviewItem>();
        lock (_gate)
        {
            foreach (var id in _order.Values)
            {
                var item = _items[id].Item;
                if (item.IsOpen && item.ExpiresAt <= now)
                {
                    due.Add(item);
                    if (due.Count >= limit)
                    {
                        break;
                    }
                }
            }
        }

        return new(due);
    }

    private sealed class Entry(ReviewItem item, long sequence)
    {
        public ReviewItem Item { get; set; } = item;

        public long Sequence { get; } = sequence;
    }
}

/// <summary>Continuation tokens of review listings: the store sequence of the last item of a page.</summary>
internal static class ReviewContinuation
{
    public static long Parse(string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return 0;
        }

        return long.TryParse(token, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var v) && v > 0
            ? v
            : throw new ArgumentException("The review continuation token is malformed; pass the token of the previous page unchanged.", nameof(token));
    }

    public static string Format(long sequence) => sequence.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

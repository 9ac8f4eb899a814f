namespace SafeAI.Feedback;

/// <summary>
/// A feedback store in process memory, for tests and demos: nothing survives a restart. Use <c>SafeAI.Sqlite</c> or
/// <c>SafeAI.PostgreSql</c> in production.
/// </summary>
public sealed class InMemoryFeedbackStore : IFeedbackStore
{
    private readonly Lock _gate = new();
    private readonly List<FeedbackEntry> _entries = [];
    private readonly Dictionary<string, int> _byId = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public ValueTask AddAsync(FeedbackEntry entry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        entry.Validate();
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            if (_byId.ContainsKey(entry.Id))
            {
                throw new ArgumentException($"A feedback entry with id '{entry.Id}' already exists.", nameof(entry));
            }

            _byId.Add(entry.Id, _entries.Count);
            _entries.Add(entry);
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<FeedbackEntry?> GetAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            return new(_byId.TryGetValue(id, out var index) ? _entries[index] : null);
        }
    }

    /// <inheritdoc />
    public ValueTask<FeedbackPage> ListAsync(FeedbackQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        query.Validate();
        var after = FeedbackQuery.ParseContinuation(query.ContinuationToken);
        cancellationToken.ThrowIfCancellationRequested();
        var items = new List<FeedbackEntry>();
        string? token = null;
        lock (_gate)
        {
            // The continuation token is the list index of the first entry not yet returned.
            for (var i = (int)Math.Min(after, _entries.Count); i < _entries.Count; i++)
            {
                var entry = _entries[i];
                if ((query.ResponseId is not null && !string.Equals(entry.ResponseId, query.ResponseId, StringComparison.Ordinal))
                    || (query.ReviewTicketId is not null && !string.Equals(entry.ReviewTicketId, query.ReviewTicketId, StringComparison.Ordinal))
                    || (query.Rating is { } rating && entry.Rating != rating))
                {
                    continue;
                }

                if (items.Count == query.PageSize)
                {
                    token = FeedbackQuery.FormatContinuation(i);
                    break;
                }

                items.Add(entry);
            }
        }

        return new(new FeedbackPage(items, token));
    }
}

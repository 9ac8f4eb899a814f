using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace SafeAI.Review;

/// <summary>
/// The human review queue over an <see cref="IReviewStore"/>: creates items, applies the state machine with optimistic
/// concurrency, escalates and expires items on a <see cref="TimeProvider"/> timer, notifies subscribers, and lets held
/// calls wait for decisions (seeing decisions made by other processes through the store).
/// </summary>
/// <remarks>Thread-safe. Dispose it to stop its timer.</remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1711:Identifiers should not have incorrect suffix", Justification = "It is a queue of review items; the name is part of the promised API.")]
public sealed class ReviewQueue : IReviewQueue, IDisposable
{
    private const int SweepBatch = 100;

    private readonly IReviewStore _store;
    private readonly ReviewQueueOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _waiters = new(StringComparer.Ordinal);
    private readonly Lock _subscribersGate = new();
    private readonly ITimer? _timer;
    private Func<ReviewItem, CancellationToken, ValueTask>[] _subscribers = [];
    private int _sweeping;

    /// <summary>Initializes a new instance of the <see cref="ReviewQueue"/> class.</summary>
    /// <param name="store">The store.</param>
    /// <param name="options">The settings; <see langword="null"/> for the defaults.</param>
    /// <param name="timeProvider">The time source; <see langword="null"/> for <see cref="TimeProvider.System"/>.</param>
    /// <param name="logger">The logger; <see langword="null"/> for none.</param>
    /// <exception cref="ArgumentNullException"><paramref name="store"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range.</exception>
    public ReviewQueue(IReviewStore store, ReviewQueueOptions? options = null, TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _options = options ?? new ReviewQueueOptions();
        if (_options.GetError("ReviewQueueOptions.") is { } error)
        {
            throw new ArgumentOutOfRangeException(nameof(options), error);
        }
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        if (_options.SweepInterval != Timeout.InfiniteTimeSpan)
        {
            _timer = _time.CreateTimer(static s => ((ReviewQueue)s!).OnSweepTimer(), this, _options.SweepInterval, _options.SweepInterval);
        }
    }

    /// <summary>Gets the store.</summary>
    public IReviewStore Store => _store;

    /// <summary>Gets the settings.</summary>
    public ReviewQueueOptions Options => _options;

    /// <inheritdoc />
    public async ValueTask<ReviewItem> SubmitAsync(ReviewSubmission submission, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(submission);
        ArgumentNullException.ThrowIfNull(submission.ProposedAnswer);
        var now = _time.GetUtcNow();
        var item = new ReviewItem
        {
            Id = Guid.CreateVersion7(now).ToString("N"),
            State = ReviewState.Pending,
            CreatedAt = now,
            UpdatedAt = now,
            ExpiresAt = now + _options.ReviewTimeout,
            Request = submission.Request,
            ProposedAnswer = submission.ProposedAnswer,
            Verdicts = submission.Verdicts,
            Triggers = submission.Triggers,
            UserId = submission.UserId,
            TenantId = submission.TenantId,
            ConversationId = submission.ConversationId,
            RiskTier = submission.RiskTier,
            TextWithheld = submission.TextWithheld,
        };
        await _store.AddAsync(item, cancellationToken).ConfigureAwait(false);
        ReviewLog.ItemCreated(_logger, item.Id);
        await NotifyAsync(item).ConfigureAwait(false);
        return item;
    }

    /// <inheritdoc />
    public ValueTask<ReviewItem?> GetAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        return _store.GetAsync(id, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<ReviewPage> ListAsync(ReviewQuery? query = null, CancellationToken cancellationToken = default)
    {
        query ??= new ReviewQuery();
        query.Validate();
        return _store.ListAsync(query, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<ReviewItem> ClaimAsync(string id, string reviewerId, long expectedVersion, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reviewerId);
        return ChangeAsync(id, expectedVersion, (Reviewer: reviewerId, Time: _time), static (item, s) => item.Claim(s.Reviewer, s.Time.GetUtcNow()), cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask<ReviewItem?> ClaimNextAsync(string reviewerId, int? tier = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reviewerId);
        var item = await _store.ClaimNextAsync(reviewerId, tier, _time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
        if (item is not null)
        {
            await NotifyAsync(item).ConfigureAwait(false);
        }

        return item;
    }

    /// <inheritdoc />
    public async ValueTask<ReviewItem> DecideAsync(string id, long expectedVersion, ReviewDecision decision, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(decision);
        var item = await ChangeAsync(id, expectedVersion, (Decision: decision, Time: _time), static (item, s) => item.Decide(s.Decision, s.Time.GetUtcNow()), cancellationToken).ConfigureAwait(false);
        ReviewLog.ItemDecided(_logger, item.Id, item.State.ToString(), item.ReviewerId ?? string.Empty);
        return item;
    }

    /// <inheritdoc />
    public async ValueTask<ReviewItem> WaitForDecisionAsync(string id, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        if (timeout < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "The wait must not be negative.");
        }

        var deadline = _time.GetUtcNow() + timeout;
        while (true)
        {
            // Register before reading, so a change between the read and the wait is not missed.
            var signal = _waiters.GetOrAdd(id, static _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            var item = await _store.GetAsync(id, cancellationToken).ConfigureAwait(false)
                ?? throw new KeyNotFoundException($"No review item has id '{id}'.");
            var remaining = deadline - _time.GetUtcNow();
            if (item.IsFinal || remaining <= TimeSpan.Zero)
            {
                return item;
            }

            var wait = remaining < _options.PollInterval ? remaining : _options.PollInterval;
            try
            {
                await signal.Task.WaitAsync(wait, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Poll the store again: another process may have decided.
            }
        }
    }

    /// <inheritdoc />
    public IDisposable Subscribe(Func<ReviewItem, CancellationToken, ValueTask> onChanged)
    {
        ArgumentNullException.ThrowIfNull(onChanged);
        lock (_subscribersGate)
        {
            _subscribers = [.. _subscribers, onChanged];
        }

        return new Subscription(this, onChanged);
    }

    /// <inheritdoc />
    public async ValueTask<int> ProcessTimeoutsAsync(CancellationToken cancellationToken = default)
    {
        var changed = 0;
        var now = _time.GetUtcNow();
        var due = await _store.ListDueAsync(now, SweepBatch, cancellationToken).ConfigureAwait(false);
        foreach (var item in due)
        {
            if (!item.IsOpen || item.ExpiresAt > now)
            {
                continue;
            }

            var next = item.Expire(now, item.Tier == 1 ? _options.SecondTierTimeout : null);
            if (await _store.TryReplaceAsync(next, item.Version, cancellationToken).ConfigureAwait(false))
            {
                changed++;
                ReviewLog.ItemTimedOut(_logger, next.Id, next.State.ToString());
                await NotifyAsync(next).ConfigureAwait(false);
            }
        }

        return changed;
    }

    /// <summary>Stops the timer.</summary>
    public void Dispose() => _timer?.Dispose();

    private async ValueTask<ReviewItem> ChangeAsync<TState>(string id, long expectedVersion, TState state, Func<ReviewItem, TState, ReviewItem> change, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        var current = await _store.GetAsync(id, cancellationToken).ConfigureAwait(false)
            ?? throw new KeyNotFoundException($"No review item has id '{id}'.");
        if (current.Version != expectedVersion)
        {
            throw new ReviewConflictException(id, $"Review item '{id}' changed (version {current.Version}, expected {expectedVersion}); reload it and try again.");
        }

        var next = change(current, state);
        if (ReferenceEquals(next, current))
        {
            return current;
        }

        if (!await _store.TryReplaceAsync(next, expectedVersion, cancellationToken).ConfigureAwait(false))
        {
            throw new ReviewConflictException(id, $"Review item '{id}' was changed by someone else at the same time; reload it and try again.");
        }

        await NotifyAsync(next).ConfigureAwait(false);
        return next;
    }

    private async ValueTask NotifyAsync(ReviewItem item)
    {
        if (_waiters.TryRemove(item.Id, out var waiter))
        {
            waiter.TrySetResult();
        }

        foreach (var subscriber in Volatile.Read(ref _subscribers))
        {
            try
            {
                await subscriber(item, CancellationToken.None).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // A failing subscriber must not undo or hide a stored change.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                ReviewLog.SubscriberFailed(_logger, item.Id, ex);
            }
        }
    }

    private void OnSweepTimer()
    {
        if (Interlocked.Exchange(ref _sweeping, 1) == 1)
        {
            return;
        }

        _ = SweepAsync();
    }

    private async Task SweepAsync()
    {
        try
        {
            await ProcessTimeoutsAsync().ConfigureAwait(false);
        }
#pragma warning disable CA1031 // A timer callback must not crash the process; the failure is logged.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            ReviewLog.SweepFailed(_logger, ex);
        }
        finally
        {
            Volatile.Write(ref _sweeping, 0);
        }
    }

    private sealed class Subscription(ReviewQueue queue, Func<ReviewItem, CancellationToken, ValueTask> handler) : IDisposable
    {
        public void Dispose()
        {
            lock (queue._subscribersGate)
            {
                queue._subscribers = Array.FindAll(queue._subscribers, h => h != handler);
            }
        }
    }
}

internal static partial class ReviewLog
{
    [LoggerMessage(EventId = 400, Level = LogLevel.Debug, Message = "Review item {ItemId} created.")]
    public static partial void ItemCreated(ILogger logger, string itemId);

    [LoggerMessage(EventId = 401, Level = LogLevel.Information, Message = "Review item {ItemId} decided: {State} by {ReviewerId}.")]
    public static partial void ItemDecided(ILogger logger, string itemId, string state, string reviewerId);

    [LoggerMessage(EventId = 402, Level = LogLevel.Information, Message = "Review item {ItemId} timed out: now {State}.")]
    public static partial void ItemTimedOut(ILogger logger, string itemId, string state);

    [LoggerMessage(EventId = 403, Level = LogLevel.Warning, Message = "A review subscriber failed for item {ItemId}.")]
    public static partial void SubscriberFailed(ILogger logger, string itemId, Exception exception);

    [LoggerMessage(EventId = 404, Level = LogLevel.Error, Message = "The review timeout sweep failed; it will run again at the next interval.")]
    public static partial void SweepFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 405, Level = LogLevel.Warning, Message = "No review decision for item {ItemId} in time; applied {Action}.")]
    public static partial void HoldTimedOut(ILogger logger, string itemId, string action);
}

using System.Threading.RateLimiting;

namespace SafeAI;

/// <summary>The in-process store: partitions in a <see cref="PartitionTable{T}"/>, time from the <see cref="TimeProvider"/>.</summary>
internal sealed class InMemoryRateLimitStore : RateLimitStore
{
    public override string Name => "memory";

    public override PartitionedRateLimiter<string> CreateLimiter(string stageName, RateLimitingOptions options, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        return options.Algorithm == RateLimitAlgorithm.Concurrency
            ? new InMemoryConcurrencyLimiter(options, timeProvider)
            : new InMemoryWindowLimiter(options, timeProvider);
    }

    public override TokenBudget CreateTokenBudget(string stageName, RateLimitingOptions options, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        return new InMemoryTokenBudget(options, timeProvider);
    }
}

/// <summary>Fixed window, sliding window and token bucket limits per partition, with an optional queue.</summary>
internal sealed class InMemoryWindowLimiter : PartitionedRateLimiter<string>
{
    private readonly PartitionTable<WindowPartition> _table;
    private readonly TimeProvider _timeProvider;
    private readonly int _queueLimit;

    public InMemoryWindowLimiter(RateLimitingOptions options, TimeProvider timeProvider)
    {
        var settings = new WindowSettings(options);
        _timeProvider = timeProvider;
        _queueLimit = options.QueueLimit;
        _table = new PartitionTable<WindowPartition>(() => new WindowPartition(settings), timeProvider, options.IdlePartitionTimeout, options.MaxPartitions);
    }

    internal PartitionTable<WindowPartition> Table => _table;

    public override RateLimiterStatistics? GetStatistics(string resource)
    {
        var now = _table.Now;
        var partition = _table.Get(resource, now);
        lock (partition.Gate)
        {
            return new RateLimiterStatistics { CurrentAvailablePermits = partition.Available(now), CurrentQueuedCount = partition.Queued };
        }
    }

    protected override RateLimitLease AttemptAcquireCore(string resource, int permitCount)
    {
        var now = _table.Now;
        while (true)
        {
            var partition = _table.Get(resource, now);
            lock (partition.Gate)
            {
                if (partition.Removed)
                {
                    continue;
                }

                partition.LastUsed = now;
                if (permitCount == 0)
                {
                    return partition.Queued == 0 && partition.Available(now) > 0 ? RateLease.Acquired : RateLease.RejectedNoRetry;
                }

                if (partition.Queued > 0)
                {
                    return RateLease.Rejected(null);
                }

                var wait = partition.TryAcquire(now, permitCount);
                return wait == 0 ? RateLease.Acquired : RateLease.Rejected(TimeSpan.FromTicks(wait));
            }
        }
    }

    protected override ValueTask<RateLimitLease> AcquireAsyncCore(string resource, int permitCount, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<RateLimitLease>(cancellationToken);
        }

        var now = _table.Now;
        while (true)
        {
            var partition = _table.Get(resource, now);
            lock (partition.Gate)
            {
                if (partition.Removed)
                {
                    continue;
                }

                partition.LastUsed = now;
                long wait = 1;
                if (partition.Queued == 0)
                {
                    wait = partition.TryAcquire(now, permitCount);
                    if (wait == 0)
                    {
                        return new ValueTask<RateLimitLease>(RateLease.Acquired);
                    }
                }

                if (partition.Queued + permitCount > _queueLimit || permitCount > _queueLimit)
                {
                    return new ValueTask<RateLimitLease>(RateLease.Rejected(partition.Queued == 0 ? TimeSpan.FromTicks(wait) : null));
                }

                partition.Queued += permitCount;
                return WaitAsync(partition, permitCount, TimeSpan.FromTicks(wait), cancellationToken);
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _table.Dispose();
        }

        base.Dispose(disposing);
    }

    private async ValueTask<RateLimitLease> WaitAsync(WindowPartition partition, int permitCount, TimeSpan wait, CancellationToken cancellationToken)
    {
        // A queued partition is never idle, so the table keeps it while we wait; new callers queue behind us.
        var acquired = false;
        try
        {
            while (true)
            {
                await Task.Delay(wait, _timeProvider, cancellationToken).ConfigureAwait(false);
                var now = _table.Now;
                lock (partition.Gate)
                {
                    partition.LastUsed = now;
                    var next = partition.TryAcquire(now, permitCount);
                    if (next == 0)
                    {
                        partition.Queued -= permitCount;
                        acquired = true;
                        return RateLease.Acquired;
                    }

                    wait = TimeSpan.FromTicks(next);
                }
            }
        }
        finally
        {
            if (!acquired)
            {
                lock (partition.Gate)
                {
                    partition.Queued -= permitCount;
                }
            }
        }
    }
}

/// <summary>A partition of the concurrency algorithm: a <see cref="ConcurrencyLimiter"/> (queueing included).</summary>
internal sealed class ConcurrencyPartition(ConcurrencyLimiterOptions options) : Partition
{
    public ConcurrencyLimiter Limiter { get; } = new(options);

    public override bool IsIdle(long now) => Limiter.IdleDuration is not null;
}

/// <summary>Concurrency limits per partition. Leases return their permit when disposed.</summary>
internal sealed class InMemoryConcurrencyLimiter : PartitionedRateLimiter<string>
{
    private readonly PartitionTable<ConcurrencyPartition> _table;

    public InMemoryConcurrencyLimiter(RateLimitingOptions options, TimeProvider timeProvider)
    {
        var limiterOptions = new ConcurrencyLimiterOptions
        {
            PermitLimit = options.PermitLimit,
            QueueLimit = options.QueueLimit,
            QueueProcessingOrder = options.QueueProcessingOrder,
        };
        _table = new PartitionTable<ConcurrencyPartition>(() => new ConcurrencyPartition(limiterOptions), timeProvider, options.IdlePartitionTimeout, options.MaxPartitions);
    }

    internal PartitionTable<ConcurrencyPartition> Table => _table;

    public override RateLimiterStatistics? GetStatistics(string resource) => _table.Get(resource, _table.Now).Limiter.GetStatistics();

    protected override RateLimitLease AttemptAcquireCore(string resource, int permitCount)
    {
        var now = _table.Now;
        while (true)
        {
            var partition = _table.Get(resource, now);
            lock (partition.Gate)
            {
                if (!partition.Removed)
                {
                    partition.LastUsed = now;
                    return partition.Limiter.AttemptAcquire(permitCount);
                }
            }
        }
    }

    protected override ValueTask<RateLimitLease> AcquireAsyncCore(string resource, int permitCount, CancellationToken cancellationToken)
    {
        var now = _table.Now;
        while (true)
        {
            var partition = _table.Get(resource, now);
            lock (partition.Gate)
            {
                if (!partition.Removed)
                {
                    partition.LastUsed = now;
                    return partition.Limiter.AcquireAsync(permitCount, cancellationToken);
                }
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _table.Dispose();
        }

        base.Dispose(disposing);
    }
}

/// <summary>A partition's token usage in the current fixed window.</summary>
internal sealed class TokenBudgetPartition(long limit, long windowTicks) : Partition
{
    private bool _started;
    private long _start;
    private long _used;

    public long Used(long now)
    {
        Advance(now);
        return _used;
    }

    public long TryReserve(long now, long tokens)
    {
        Advance(now);
        if (tokens > limit)
        {
            return -1;
        }

        if (_used >= limit || _used + tokens > limit)
        {
            return Math.Max(1, _start + windowTicks - now);
        }

        _used += tokens;
        return 0;
    }

    public void Charge(long now, long tokens)
    {
        Advance(now);
        _used = Math.Max(0, _used + tokens);
    }

    public override bool IsIdle(long now) => Used(now) == 0;

    private void Advance(long now)
    {
        if (!_started || now - _start >= windowTicks)
        {
            _started = true;
            _start = now;
            _used = 0;
        }
    }
}

/// <summary>Token budgets per partition in memory.</summary>
internal sealed class InMemoryTokenBudget : TokenBudget
{
    private readonly PartitionTable<TokenBudgetPartition> _table;

    public InMemoryTokenBudget(RateLimitingOptions options, TimeProvider timeProvider)
    {
        var limit = options.TokenLimit ?? long.MaxValue;
        var window = options.TokenWindow.Ticks;
        _table = new PartitionTable<TokenBudgetPartition>(() => new TokenBudgetPartition(limit, window), timeProvider, options.IdlePartitionTimeout, options.MaxPartitions);
    }

    internal PartitionTable<TokenBudgetPartition> Table => _table;

    public override ValueTask<TokenReservation> TryReserveAsync(string key, long tokens, CancellationToken cancellationToken)
    {
        var now = _table.Now;
        while (true)
        {
            var partition = _table.Get(key, now);
            lock (partition.Gate)
            {
                if (partition.Removed)
                {
                    continue;
                }

                partition.LastUsed = now;
                var wait = partition.TryReserve(now, Math.Max(0, tokens));
                return new ValueTask<TokenReservation>(wait switch
                {
                    0 => new TokenReservation(true, null),
                    < 0 => new TokenReservation(false, null),
                    _ => new TokenReservation(false, TimeSpan.FromTicks(wait)),
                });
            }
        }
    }

    public override ValueTask ChargeAsync(string key, long tokens, CancellationToken cancellationToken)
    {
        var now = _table.Now;
        while (true)
        {
            var partition = _table.Get(key, now);
            lock (partition.Gate)
            {
                if (partition.Removed)
                {
                    continue;
                }

                partition.LastUsed = now;
                partition.Charge(now, tokens);
                return ValueTask.CompletedTask;
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _table.Dispose();
        }

        base.Dispose(disposing);
    }
}

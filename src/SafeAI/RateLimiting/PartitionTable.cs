using System.Collections.Concurrent;

namespace SafeAI;

/// <summary>The state of one partition. All members are read and written under <c>lock (partition.Gate)</c>.</summary>
internal abstract class Partition
{
    /// <summary>Gets the lock that guards the partition.</summary>
    public Lock Gate { get; } = new();

    /// <summary>Gets or sets a value indicating whether the table dropped this partition; callers holding it look it up again.</summary>
    public bool Removed { get; set; }

    /// <summary>Gets or sets when the partition was last used, in ticks of the table's clock.</summary>
    public long LastUsed { get; set; }

    /// <summary>Returns whether the partition is in its initial state at <paramref name="now"/>, so dropping it changes no limit.</summary>
    /// <param name="now">The time in ticks.</param>
    /// <returns><see langword="true"/> when idle.</returns>
    public abstract bool IsIdle(long now);
}

/// <summary>
/// Partitions by key with bounded memory: partitions that have fully recovered and were not used for the idle timeout
/// are dropped by a sweep on a <see cref="TimeProvider"/> timer; at most <c>maxPartitions</c> are kept, and callers beyond
/// that share one overflow partition. Time is in <see cref="TimeSpan"/> ticks since the table was created.
/// </summary>
/// <typeparam name="T">The partition type.</typeparam>
internal sealed class PartitionTable<T> : IDisposable
    where T : Partition
{
    private readonly ConcurrentDictionary<string, T> _partitions = new();
    private readonly Func<T> _factory;
    private readonly TimeProvider _timeProvider;
    private readonly long _origin;
    private readonly long _idleTicks;
    private readonly long _forcedSweepInterval;
    private readonly int _maxPartitions;
    private readonly ITimer _timer;
    private int _count;
    private int _sweeping;
    private long _lastSweep;

    public PartitionTable(Func<T> factory, TimeProvider timeProvider, TimeSpan idleTimeout, int maxPartitions)
    {
        _factory = factory;
        _timeProvider = timeProvider;
        _origin = timeProvider.GetTimestamp();
        _idleTicks = idleTimeout.Ticks;
        _forcedSweepInterval = Math.Min(idleTimeout.Ticks, TimeSpan.TicksPerSecond);
        _maxPartitions = maxPartitions;
        Overflow = factory();

        // The timer holds the table weakly, so an abandoned table (a stage replaced by a reload) can be collected.
        var period = TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMillisecond, idleTimeout.Ticks));
        _timer = timeProvider.CreateTimer(static state => SweepCallback(state!), new WeakReference<PartitionTable<T>>(this), period, period);
    }

    /// <summary>Gets the partition shared by callers beyond the maximum.</summary>
    public T Overflow { get; }

    /// <summary>Gets the number of partitions held (not counting the overflow partition).</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Gets the current time in ticks since the table was created.</summary>
    public long Now => _timeProvider.GetElapsedTime(_origin).Ticks;

    /// <summary>Gets the partition of <paramref name="key"/>, creating it if needed. The caller locks its gate and checks <see cref="Partition.Removed"/>.</summary>
    /// <param name="key">The key.</param>
    /// <param name="now">The current time in ticks.</param>
    /// <returns>The partition.</returns>
    public T Get(string key, long now) => _partitions.TryGetValue(key, out var partition) ? partition : GetOrCreate(key, now);

    /// <summary>Drops partitions that are idle; with <paramref name="force"/>, also those used within the idle timeout.</summary>
    /// <param name="now">The current time in ticks.</param>
    /// <param name="force">Whether to ignore the idle timeout (the table is full).</param>
    public void Sweep(long now, bool force = false)
    {
        if (Interlocked.Exchange(ref _sweeping, 1) == 1)
        {
            return;
        }

        try
        {
            Volatile.Write(ref _lastSweep, now);
            foreach (var pair in _partitions)
            {
                var partition = pair.Value;
                bool remove;
                lock (partition.Gate)
                {
                    remove = (force || now - partition.LastUsed >= _idleTicks) && partition.IsIdle(now);
                    if (remove)
                    {
                        partition.Removed = true;
                    }
                }

                if (remove && _partitions.TryRemove(pair))
                {
                    _ = Interlocked.Decrement(ref _count);
                }
            }
        }
        finally
        {
            Volatile.Write(ref _sweeping, 0);
        }
    }

    public void Dispose() => _timer.Dispose();

    private static void SweepCallback(object state)
    {
        var weak = (WeakReference<PartitionTable<T>>)state;
        if (weak.TryGetTarget(out var table))
        {
            table.Sweep(table.Now);
        }
    }

    private T GetOrCreate(string key, long now)
    {
        while (true)
        {
            if (Volatile.Read(ref _count) >= _maxPartitions)
            {
                // Full: drop idle partitions at once (at most once per interval, so a flood of new keys stays O(1) each).
                if (now - Volatile.Read(ref _lastSweep) >= _forcedSweepInterval)
                {
                    Sweep(now, force: true);
                }

                if (Volatile.Read(ref _count) >= _maxPartitions)
                {
                    return _partitions.TryGetValue(key, out var existing) ? existing : Overflow;
                }
            }

            var created = _factory();
            created.LastUsed = now;
            if (_partitions.TryAdd(key, created))
            {
                _ = Interlocked.Increment(ref _count);
                return created;
            }

            if (_partitions.TryGetValue(key, out var partition))
            {
                return partition;
            }
        }
    }
}

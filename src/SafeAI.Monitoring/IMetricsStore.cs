namespace SafeAI.Monitoring;

/// <summary>
/// Where the metrics of a <see cref="MetricsRecorder"/> are kept beyond process memory: written every few seconds by
/// <see cref="MetricsPersistence"/>, read back at start so baselines survive a restart. SafeAI ships
/// <see cref="SqliteMetricsStore"/> (one machine), and PostgreSQL and Redis stores for several
/// (<c>UsePostgreSqlMetricsStore</c> in SafeAI.PostgreSql, <c>UseRedisMetricsStore</c> in SafeAI.Redis).
/// </summary>
/// <remarks>Implementations must be thread-safe and report their own failures as <see cref="MetricsStoreException"/>.</remarks>
public interface IMetricsStore
{
    /// <summary>Writes the current totals of buckets of one instance; a later write of the same bucket, arm and metric replaces the earlier one.</summary>
    /// <param name="instance">The instance (a host name, a pod name), so several instances can share a store.</param>
    /// <param name="points">The points.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>A task that completes when the points are stored.</returns>
    /// <exception cref="MetricsStoreException">The storage failed.</exception>
    ValueTask WriteAsync(string instance, IReadOnlyList<MetricPoint> points, CancellationToken cancellationToken = default);

    /// <summary>Reads the points of buckets that start in [<paramref name="from"/>, <paramref name="to"/>).</summary>
    /// <param name="from">The first instant (inclusive).</param>
    /// <param name="to">The last instant (exclusive).</param>
    /// <param name="instance">One instance; <see langword="null"/> to sum all instances.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The points.</returns>
    /// <exception cref="MetricsStoreException">The storage failed.</exception>
    ValueTask<IReadOnlyList<MetricPoint>> ReadAsync(DateTimeOffset from, DateTimeOffset to, string? instance = null, CancellationToken cancellationToken = default);

    /// <summary>Checks that the store answers (for health checks).</summary>
    /// <param name="cancellationToken">Cancels the check.</param>
    /// <returns>A task that completes when the store answered.</returns>
    /// <exception cref="MetricsStoreException">The store is unreachable.</exception>
    ValueTask PingAsync(CancellationToken cancellationToken = default);
}

/// <summary>Thrown by metrics stores when the storage itself fails; the message says which store and what happened.</summary>
public sealed class MetricsStoreException : Exception
{
    /// <summary>Initializes a new instance of the <see cref="MetricsStoreException"/> class.</summary>
    public MetricsStoreException()
    {
    }

    /// <summary>Initializes a new instance of the <see cref="MetricsStoreException"/> class.</summary>
    /// <param name="message">The message.</param>
    public MetricsStoreException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="MetricsStoreException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public MetricsStoreException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

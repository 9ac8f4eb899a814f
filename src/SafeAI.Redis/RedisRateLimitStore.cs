using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace SafeAI.Redis;

/// <summary>
/// A <see cref="RateLimitStore"/> in Redis: every app instance that points at the same Redis server and key prefix shares
/// one budget per partition. Each decision is one atomic Lua script on one key, timed by the Redis server's clock.
/// When Redis cannot answer within the stage's <see cref="RateLimitingOptions.StoreTimeout"/>, the store throws
/// <see cref="RateLimitStoreUnavailableException"/> and the stage applies its declared failure mode (fail open or closed).
/// </summary>
public sealed partial class RedisRateLimitStore : RateLimitStore, IAsyncDisposable, IDisposable
{
    private readonly RedisRateLimitStoreOptions _options;
    private readonly ILogger _logger;
    private readonly IConnectionMultiplexer? _external;
    private readonly Lazy<Task<IConnectionMultiplexer>> _connection;

    /// <summary>Initializes a store that connects to Redis on first use, with the given settings.</summary>
    /// <param name="options">The settings.</param>
    /// <param name="logger">The logger; <see langword="null"/> for none.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">The configuration string or key prefix is empty.</exception>
    public RedisRateLimitStore(RedisRateLimitStoreOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.Configuration, "options.Configuration");
        ArgumentException.ThrowIfNullOrWhiteSpace(options.KeyPrefix, "options.KeyPrefix");
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        _connection = new Lazy<Task<IConnectionMultiplexer>>(ConnectAsync, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>Initializes a store on a connection the application owns (it is not disposed by the store).</summary>
    /// <param name="connection">The Redis connection.</param>
    /// <param name="keyPrefix">The prefix of every key the store writes.</param>
    /// <param name="logger">The logger; <see langword="null"/> for none.</param>
    /// <exception cref="ArgumentNullException"><paramref name="connection"/> is <see langword="null"/>.</exception>
    public RedisRateLimitStore(IConnectionMultiplexer connection, string keyPrefix = "safeai:rl", ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentException.ThrowIfNullOrWhiteSpace(keyPrefix);
        _external = connection;
        _options = new RedisRateLimitStoreOptions { KeyPrefix = keyPrefix };
        _logger = logger ?? NullLogger.Instance;
        _connection = new Lazy<Task<IConnectionMultiplexer>>(Task.FromResult(connection));
    }

    /// <inheritdoc />
    public override string Name => "redis";

    /// <inheritdoc />
    public override PartitionedRateLimiter<string> CreateLimiter(string stageName, RateLimitingOptions options, TimeProvider timeProvider)
    {
        ArgumentException.ThrowIfNullOrEmpty(stageName);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        return new RedisPartitionedLimiter(this, stageName, options, timeProvider);
    }

    /// <inheritdoc />
    public override TokenBudget CreateTokenBudget(string stageName, RateLimitingOptions options, TimeProvider timeProvider)
    {
        ArgumentException.ThrowIfNullOrEmpty(stageName);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        return new RedisTokenBudget(this, stageName, options, timeProvider);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_external is null && _connection.IsValueCreated && _connection.Value.IsCompletedSuccessfully)
        {
            await _connection.Value.Result.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_external is null && _connection.IsValueCreated && _connection.Value.IsCompletedSuccessfully)
        {
            _connection.Value.Result.Dispose();
        }
    }

    internal string Key(string stage, string kind, string partition) => string.Concat(_options.KeyPrefix, ":", stage, ":", kind, ":", partition);

    /// <summary>Runs a script with a hard time bound; every failure becomes <see cref="RateLimitStoreUnavailableException"/>.</summary>
    internal async Task<RedisResult> EvaluateAsync(string script, RedisKey key, RedisValue[] args, TimeSpan timeout, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        try
        {
            var connection = await _connection.Value.WaitAsync(timeout, timeProvider, cancellationToken).ConfigureAwait(false);
            return await connection.GetDatabase().ScriptEvaluateAsync(script, [key], args).WaitAsync(timeout, timeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            Log.Unavailable(_logger, ex.GetType().Name, timeout);
            throw new RateLimitStoreUnavailableException($"Redis did not answer within {timeout.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)} ms ({ex.GetType().Name}).", ex);
        }
    }

    internal long ConcurrencyLeaseTimeoutMs => (long)_options.ConcurrencyLeaseTimeout.TotalMilliseconds;

    /// <summary>
    /// Returns a concurrency permit without holding up the caller. The release (ZREM by lease id) is idempotent, so it is
    /// retried until Redis confirms it or <see cref="ReleaseAttempts"/> attempts failed; only then does the permit wait
    /// for <see cref="RedisRateLimitStoreOptions.ConcurrencyLeaseTimeout"/>.
    /// </summary>
    internal void ReleaseInBackground(string key, string leaseId, TimeSpan storeTimeout, TimeProvider timeProvider) =>
        _ = ReleaseAsync(key, leaseId, storeTimeout, timeProvider);

    /// <summary>How many times a permit's release is tried before the lease timeout is left to return it.</summary>
    internal const int ReleaseAttempts = 5;

    private async Task ReleaseAsync(string key, string leaseId, TimeSpan storeTimeout, TimeProvider timeProvider)
    {
        // A release is not on any caller's path: give Redis more time than an admission decision gets.
        var timeout = storeTimeout < _options.ConnectTimeout ? _options.ConnectTimeout : storeTimeout;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                _ = await EvaluateAsync(RedisScripts.ReleaseLease, key, [leaseId], timeout, timeProvider, CancellationToken.None).ConfigureAwait(false);
                return;
            }
            catch (RateLimitStoreUnavailableException) when (attempt < ReleaseAttempts)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(250 * attempt), timeProvider).ConfigureAwait(false);
            }
            catch (RateLimitStoreUnavailableException)
            {
                Log.ReleaseFailed(_logger, ReleaseAttempts, _options.ConcurrencyLeaseTimeout);
                return;
            }
        }
    }

    private async Task<IConnectionMultiplexer> ConnectAsync()
    {
        var configuration = RedisConnections.Options(_options.Configuration, _options.ConnectTimeout, _options.ConnectTimeout);
        return await ConnectionMultiplexer.ConnectAsync(configuration).ConfigureAwait(false);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 150, Level = LogLevel.Warning, Message = "SafeAI Redis rate-limit store: Redis did not answer within {Timeout} ({Problem}).")]
        public static partial void Unavailable(ILogger logger, string problem, TimeSpan timeout);

        [LoggerMessage(EventId = 151, Level = LogLevel.Warning, Message = "SafeAI Redis rate-limit store: a concurrency permit could not be returned after {Attempts} attempts; Redis drops it after {LeaseTimeout}.")]
        public static partial void ReleaseFailed(ILogger logger, int attempts, TimeSpan leaseTimeout);
    }
}

/// <summary>A request limiter whose partitions live in Redis.</summary>
internal sealed class RedisPartitionedLimiter : PartitionedRateLimiter<string>
{
    private readonly RedisRateLimitStore _store;
    private readonly string _stage;
    private readonly string _kind;
    private readonly string _script;
    private readonly RateLimitingOptions _options;
    private readonly TimeProvider _timeProvider;

    public RedisPartitionedLimiter(RedisRateLimitStore store, string stage, RateLimitingOptions options, TimeProvider timeProvider)
    {
        _store = store;
        _stage = stage;
        _options = options;
        _timeProvider = timeProvider;
        (_kind, _script) = options.Algorithm switch
        {
            RateLimitAlgorithm.FixedWindow => ("fw", RedisScripts.FixedWindow),
            RateLimitAlgorithm.SlidingWindow => ("sw", RedisScripts.SlidingWindow),
            RateLimitAlgorithm.TokenBucket => ("tb", RedisScripts.TokenBucket),
            _ => ("cc", RedisScripts.Concurrency),
        };
    }

    public override RateLimiterStatistics? GetStatistics(string resource) => null;

    protected override RateLimitLease AttemptAcquireCore(string resource, int permitCount) =>
        throw new NotSupportedException("The Redis rate limiter answers asynchronously: use AcquireAsync.");

    protected override async ValueTask<RateLimitLease> AcquireAsyncCore(string resource, int permitCount, CancellationToken cancellationToken)
    {
        var key = _store.Key(_stage, _kind, resource);
        var o = _options;
        string? leaseId = null;
        RedisValue[] args;
        switch (o.Algorithm)
        {
            case RateLimitAlgorithm.FixedWindow:
                args = [o.PermitLimit, (long)o.Window.TotalMilliseconds, permitCount];
                break;
            case RateLimitAlgorithm.SlidingWindow:
                args = [o.PermitLimit, (long)o.Window.TotalMilliseconds, o.SegmentsPerWindow, permitCount];
                break;
            case RateLimitAlgorithm.TokenBucket:
                args = [o.PermitLimit, o.TokensPerPeriod, (long)o.ReplenishmentPeriod.TotalMilliseconds, permitCount];
                break;
            default:
                if (permitCount > 1)
                {
                    throw new ArgumentOutOfRangeException(nameof(permitCount), permitCount, "The Redis concurrency limiter takes one permit at a time.");
                }

                leaseId = Guid.NewGuid().ToString("N");
                args = [o.PermitLimit, leaseId, _store.ConcurrencyLeaseTimeoutMs, permitCount];
                break;
        }

        RedisResult[] result;
        try
        {
            result = (RedisResult[])(await _store.EvaluateAsync(_script, key, args, o.StoreTimeout, _timeProvider, cancellationToken).ConfigureAwait(false))!;
        }
        catch (Exception) when (leaseId is not null && permitCount > 0)
        {
            // The script may still run in Redis after this call gave up waiting (a slow or paused server): take back the
            // permit it may have granted. The release is keyed by the lease id and idempotent, and Redis runs commands
            // of one connection in order, so it lands after the acquire.
            _store.ReleaseInBackground(key, leaseId, o.StoreTimeout, _timeProvider);
            throw;
        }

        var admitted = (long)result[0] == 1;
        var retryMs = (long)result[1];
        if (!admitted)
        {
            return RedisLease.Rejected(retryMs > 0 ? TimeSpan.FromMilliseconds(retryMs) : null);
        }

        return leaseId is null || permitCount == 0 ? RedisLease.Acquired : new RedisConcurrencyLease(_store, key, leaseId, o.StoreTimeout, _timeProvider);
    }
}

/// <summary>A lease with nothing to release.</summary>
internal sealed class RedisLease : RateLimitLease
{
    private static readonly string[] RetryAfterNames = [MetadataName.RetryAfter.Name];
    private readonly TimeSpan? _retryAfter;

    private RedisLease(bool acquired, TimeSpan? retryAfter)
    {
        IsAcquired = acquired;
        _retryAfter = retryAfter;
    }

    public static RedisLease Acquired { get; } = new(true, null);

    public override bool IsAcquired { get; }

    public override IEnumerable<string> MetadataNames => _retryAfter is null ? [] : RetryAfterNames;

    public static RedisLease Rejected(TimeSpan? retryAfter) => new(false, retryAfter);

    public override bool TryGetMetadata(string metadataName, out object? metadata)
    {
        if (_retryAfter is { } retry && metadataName == MetadataName.RetryAfter.Name)
        {
            metadata = retry;
            return true;
        }

        metadata = null;
        return false;
    }
}

/// <summary>A concurrency permit in Redis, returned (ZREM by lease id, retried) when disposed; Redis drops it after the lease timeout if this instance dies.</summary>
internal sealed class RedisConcurrencyLease(RedisRateLimitStore store, string key, string leaseId, TimeSpan timeout, TimeProvider timeProvider) : RateLimitLease
{
    private int _released;

    public override bool IsAcquired => true;

    public override IEnumerable<string> MetadataNames => [];

    public override bool TryGetMetadata(string metadataName, out object? metadata)
    {
        metadata = null;
        return false;
    }

    protected override void Dispose(bool disposing)
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            // Returned in the background, retried when Redis does not answer: a slow Redis must not hold up the caller.
            store.ReleaseInBackground(key, leaseId, timeout, timeProvider);
        }

        base.Dispose(disposing);
    }
}

/// <summary>A token budget whose partitions live in Redis.</summary>
internal sealed class RedisTokenBudget(RedisRateLimitStore store, string stage, RateLimitingOptions options, TimeProvider timeProvider) : TokenBudget
{
    private readonly long _limit = options.TokenLimit ?? long.MaxValue;
    private readonly long _windowMs = (long)options.TokenWindow.TotalMilliseconds;

    public override async ValueTask<TokenReservation> TryReserveAsync(string key, long tokens, CancellationToken cancellationToken)
    {
        var result = (RedisResult[])(await store.EvaluateAsync(RedisScripts.ReserveTokens, store.Key(stage, "tokens", key), [_limit, _windowMs, Math.Max(0, tokens)], options.StoreTimeout, timeProvider, cancellationToken).ConfigureAwait(false))!;
        return (long)result[0] switch
        {
            1 => new TokenReservation(true, null),
            -1 => new TokenReservation(false, null),
            _ => new TokenReservation(false, TimeSpan.FromMilliseconds(Math.Max(1, (long)result[1]))),
        };
    }

    public override async ValueTask ChargeAsync(string key, long tokens, CancellationToken cancellationToken) =>
        _ = await store.EvaluateAsync(RedisScripts.ChargeTokens, store.Key(stage, "tokens", key), [_windowMs, tokens], options.StoreTimeout, timeProvider, cancellationToken).ConfigureAwait(false);
}

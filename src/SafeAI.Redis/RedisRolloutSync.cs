using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace SafeAI.Redis;

/// <summary>
/// Shares a <see cref="RolloutController"/>'s state (stage, pause, abort, kill switch) across instances through Redis: every
/// decision taken on one instance is written to a hash with a version (a newer version always wins) and published on a
/// channel, so a <see cref="RolloutController.Stop"/> on one instance reaches every subscribed instance at once; an instance
/// that starts later reads the stored state.
/// </summary>
/// <remarks>Thread-safe. Dispose to unsubscribe.</remarks>
public sealed partial class RedisRolloutSync : IAsyncDisposable
{
    // KEYS[1] state hash, ARGV: status, stage, started (unix ms), version, channel, payload.
    private const string CompareAndSetScript = """
        local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '-1')
        if current >= tonumber(ARGV[4]) then return 0 end
        redis.call('HSET', KEYS[1], 'status', ARGV[1], 'stage', ARGV[2], 'started', ARGV[3], 'version', ARGV[4])
        redis.call('PUBLISH', ARGV[5], ARGV[6])
        return 1
        """;

    private readonly IConnectionMultiplexer _connection;
    private readonly RolloutController _controller;
    private readonly ILogger _logger;
    private readonly RedisKey _stateKey;
    private readonly RedisChannel _channel;
    private ChannelMessageQueue? _queue;
    private readonly RedisKey _countsKey;
    private readonly SemaphoreSlim _flushGate = new(1, 1);
    private long[] _flushed = [];

    private RedisRolloutSync(IConnectionMultiplexer connection, RolloutController controller, string prefix, ILogger? logger)
    {
        _connection = connection;
        _controller = controller;
        _logger = logger ?? NullLogger.Instance;
        _stateKey = $"{prefix}rollout:{controller.Name}:state";
        _channel = RedisChannel.Literal($"{prefix}rollout:{controller.Name}");
        _countsKey = $"{prefix}rollout:{controller.Name}:counts";
    }

    /// <summary>Connects a controller to the shared state: applies the stored state, subscribes to changes, and publishes the controller's own decisions.</summary>
    /// <param name="connection">The Redis connection (shared by the application).</param>
    /// <param name="controller">The controller of this instance; every instance's controller must have the same name and plan.</param>
    /// <param name="prefix">The key prefix. Default: <c>safeai:</c>.</param>
    /// <param name="logger">The logger.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The running sync; dispose it to stop.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    /// <exception cref="RedisException">Redis is unreachable.</exception>
    public static async Task<RedisRolloutSync> StartAsync(IConnectionMultiplexer connection, RolloutController controller, string prefix = "safeai:", ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(controller);
        ArgumentNullException.ThrowIfNull(prefix);
        var sync = new RedisRolloutSync(connection, controller, prefix, logger);
        sync._queue = await connection.GetSubscriber().SubscribeAsync(sync._channel).ConfigureAwait(false);
        sync._queue.OnMessage(sync.OnMessage);
        cancellationToken.ThrowIfCancellationRequested();
        var stored = await connection.GetDatabase().HashGetAllAsync(sync._stateKey).ConfigureAwait(false);
        if (stored.Length > 0)
        {
            var map = stored.ToDictionary(static e => e.Name.ToString(), static e => e.Value.ToString(), StringComparer.Ordinal);
            sync.Apply(string.Join('|', map["status"], map["stage"], map["started"], map["version"]));
        }

        controller.DecisionMade += sync.OnDecision;
        return sync;
    }

    /// <summary>Adds this instance's counts since the last flush to the shared totals (one HINCRBY per changed counter), so the judge sees every instance's calls exactly once.</summary>
    /// <param name="cancellationToken">Cancels the wait for an earlier flush.</param>
    /// <returns>A task that completes when Redis has the counts.</returns>
    /// <exception cref="RedisException">Redis is unreachable; the counts are kept and sent with the next flush.</exception>
    public async Task FlushCountsAsync(CancellationToken cancellationToken = default)
    {
        await _flushGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var current = _controller.ReadCounts();
            if (_flushed.Length != current.Length)
            {
                _flushed = new long[current.Length];
            }

            var db = _connection.GetDatabase();
            var pending = new List<Task<long>>();
            for (var i = 0; i < current.Length; i++)
            {
                var delta = current[i] - _flushed[i];
                if (delta != 0)
                {
                    pending.Add(db.HashIncrementAsync(_countsKey, i, delta));
                }
            }

            _ = await Task.WhenAll(pending).ConfigureAwait(false);
            _flushed = current;
        }
        finally
        {
            _ = _flushGate.Release();
        }
    }

    /// <summary>
    /// Runs the judge on the counts of every instance: flushes this instance's counts, reads the shared totals, evaluates,
    /// and (when the decision changes something) publishes it to every instance. Call it on one instance on a schedule.
    /// </summary>
    /// <param name="cancellationToken">Cancels the flush.</param>
    /// <returns>The decision.</returns>
    /// <exception cref="RedisException">Redis is unreachable.</exception>
    public async Task<RolloutDecision> EvaluateAsync(CancellationToken cancellationToken = default)
    {
        await FlushCountsAsync(cancellationToken).ConfigureAwait(false);
        var entries = await _connection.GetDatabase().HashGetAllAsync(_countsKey).ConfigureAwait(false);
        var counts = new long[_controller.ReadCounts().Length];
        foreach (var e in entries)
        {
            if (int.TryParse(e.Name.ToString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) && (uint)i < (uint)counts.Length && e.Value.TryParse(out long v))
            {
                counts[i] = v;
            }
        }

        return _controller.Evaluate(counts);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        _controller.DecisionMade -= OnDecision;
        if (_queue is not null)
        {
            await _queue.UnsubscribeAsync().ConfigureAwait(false);
        }

        _flushGate.Dispose();
    }

    private void OnDecision(object? sender, RolloutDecision decision)
    {
        var s = _controller.Snapshot;
        var payload = string.Join(
            '|',
            ((int)s.Status).ToString(CultureInfo.InvariantCulture),
            s.StageIndex.ToString(CultureInfo.InvariantCulture),
            s.StageStartedAt.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture),
            s.Version.ToString(CultureInfo.InvariantCulture));
        var parts = payload.Split('|');
        _ = PublishAsync(parts, payload);
    }

    private async Task PublishAsync(string[] parts, string payload)
    {
        try
        {
            _ = await _connection.GetDatabase().ScriptEvaluateAsync(
                CompareAndSetScript,
                [_stateKey],
                [parts[0], parts[1], parts[2], parts[3], _channel.ToString(), payload]).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            LogPublishFailed(_logger, _controller.Name, ex);
        }
    }

    private void OnMessage(ChannelMessage message) => Apply(message.Message.ToString());

    private void Apply(string payload)
    {
        var parts = payload.Split('|');
        if (parts.Length == 4 &&
            int.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var status) &&
            Enum.IsDefined((RolloutStatus)status) &&
            int.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var stage) &&
            long.TryParse(parts[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out var started) &&
            long.TryParse(parts[3], NumberStyles.Integer, CultureInfo.InvariantCulture, out var version))
        {
            _ = _controller.ApplyRemote((RolloutStatus)status, stage, DateTimeOffset.FromUnixTimeMilliseconds(started), version);
        }
        else
        {
            LogBadMessage(_logger, _controller.Name);
        }
    }

    [LoggerMessage(EventId = 1651, Level = LogLevel.Error, Message = "Rollout {Rollout}: the decision could not be shared through Redis; other instances keep their state until the next one.")]
    private static partial void LogPublishFailed(ILogger logger, string rollout, Exception exception);

    [LoggerMessage(EventId = 1652, Level = LogLevel.Warning, Message = "Rollout {Rollout}: ignored a malformed state message on the Redis channel.")]
    private static partial void LogBadMessage(ILogger logger, string rollout);
}

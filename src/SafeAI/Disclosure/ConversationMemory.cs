using System.Collections.Concurrent;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace SafeAI;

/// <summary>
/// Which conversations have already been shown the AI notice: a bounded, expiring in-process memory, and, when an
/// <see cref="IDistributedCache"/> is registered, the same facts shared with every instance of the app through it.
/// A conversation is forgotten <see cref="AIDisclosureOptions.ConversationMemoryDuration"/> after its last turn.
/// Thread-safe.
/// </summary>
internal sealed partial class ConversationMemory
{
    private const string CacheKeyPrefix = "SafeAI:disclosure:seen:";
    private static readonly byte[] Seen = [1];

    private readonly ConcurrentDictionary<string, long> _expiries = new(StringComparer.Ordinal);
    private readonly Lock _pruning = new();
    private readonly int _capacity;
    private readonly TimeSpan _duration;
    private readonly IDistributedCache? _cache;
    private readonly DistributedCacheEntryOptions _entry;
    private readonly ILogger _logger;

    public ConversationMemory(AIDisclosureOptions options, IDistributedCache? cache = null, ILogger? logger = null)
    {
        _capacity = options.MaxRememberedConversations;
        _duration = options.ConversationMemoryDuration;
        _cache = cache;
        _entry = new DistributedCacheEntryOptions { SlidingExpiration = _duration };
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Gets how many conversations the in-process memory holds now.</summary>
    public int Count => _expiries.Count;

    /// <summary>Gets the key of a conversation: its id, within its tenant when there is one.</summary>
    public static string KeyOf(SafeAICallContext context) =>
        context.TenantId is { } tenant ? tenant + "\n" + context.ConversationId : context.ConversationId!;

    /// <summary>Gets whether the conversation was seen (and not forgotten since); a seen conversation is remembered longer.</summary>
    public ValueTask<bool> HasSeenAsync(string key, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (_expiries.TryGetValue(key, out var until) && until > now.UtcTicks)
        {
            _expiries[key] = (now + _duration).UtcTicks;
            return new ValueTask<bool>(true);
        }

        return _cache is null ? new ValueTask<bool>(false) : HasSeenSharedAsync(key, now, cancellationToken);
    }

    /// <summary>Remembers that the conversation was shown the notice.</summary>
    public ValueTask MarkSeenAsync(string key, DateTimeOffset now, CancellationToken cancellationToken)
    {
        RememberLocally(key, now);
        return _cache is null ? default : MarkSeenSharedAsync(key, cancellationToken);
    }

    private async ValueTask<bool> HasSeenSharedAsync(string key, DateTimeOffset now, CancellationToken cancellationToken)
    {
        try
        {
            // Reading an entry renews its sliding expiration in the cache.
            if (await _cache!.GetAsync(CacheKeyPrefix + key, cancellationToken).ConfigureAwait(false) is not null)
            {
                RememberLocally(key, now);
                return true;
            }

            return false;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The cache being down must not fail the answer: this instance's own memory decides, so at worst a user sees the notice again.
            LogCacheFailed(_logger, ex);
            return false;
        }
    }

    private async ValueTask MarkSeenSharedAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            await _cache!.SetAsync(CacheKeyPrefix + key, Seen, _entry, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogCacheFailed(_logger, ex);
        }
    }

    private void RememberLocally(string key, DateTimeOffset now)
    {
        if (_expiries.Count >= _capacity && !_expiries.ContainsKey(key))
        {
            Prune(now);
        }

        _expiries[key] = (now + _duration).UtcTicks;
    }

    // Drops the expired conversations; when that frees too little, the least recently seen tenth as well.
    private void Prune(DateTimeOffset now)
    {
        lock (_pruning)
        {
            if (_expiries.Count < _capacity)
            {
                return;
            }

            foreach (var (key, until) in _expiries)
            {
                if (until <= now.UtcTicks)
                {
                    _expiries.TryRemove(key, out _);
                }
            }

            var excess = _expiries.Count - (_capacity - Math.Max(1, _capacity / 10));
            if (excess <= 0)
            {
                return;
            }

            var oldest = _expiries.ToArray();
            Array.Sort(oldest, static (a, b) => a.Value.CompareTo(b.Value));
            for (var i = 0; i < excess && i < oldest.Length; i++)
            {
                _expiries.TryRemove(oldest[i].Key, out _);
            }
        }
    }

    [LoggerMessage(EventId = 150, Level = LogLevel.Warning,
        Message = "SafeAI disclosure could not reach the distributed cache that shares which conversations were shown the AI notice; this instance's own memory decides for now.")]
    private static partial void LogCacheFailed(ILogger logger, Exception exception);
}

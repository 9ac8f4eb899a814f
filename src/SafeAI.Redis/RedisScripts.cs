namespace SafeAI.Redis;

/// <summary>
/// The Lua scripts that keep each limit in one Redis key, atomically. Time is the Redis server's clock (<c>TIME</c>), so
/// app instances with skewed clocks still share one window. Each script returns <c>{admitted, retryAfterMs}</c>.
/// </summary>
internal static class RedisScripts
{
    private const string Now = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        """;

    /// <summary>KEYS[1]: counter. ARGV: limit, window ms, permits.</summary>
    public const string FixedWindow = """
        local limit = tonumber(ARGV[1])
        local window = tonumber(ARGV[2])
        local permits = tonumber(ARGV[3])
        local count = tonumber(redis.call('GET', KEYS[1]) or '0')
        if count + permits <= limit then
          if permits > 0 then
            local n = redis.call('INCRBY', KEYS[1], permits)
            if n == permits then redis.call('PEXPIRE', KEYS[1], window) end
          end
          return {1, 0}
        end
        if permits > limit then return {0, window} end
        local ttl = redis.call('PTTL', KEYS[1])
        if ttl < 0 then ttl = window end
        return {0, ttl}
        """;

    /// <summary>KEYS[1]: hash of segment index to count. ARGV: limit, window ms, segments, permits.</summary>
    public const string SlidingWindow = Now + """

        local limit = tonumber(ARGV[1])
        local window = tonumber(ARGV[2])
        local segments = tonumber(ARGV[3])
        local permits = tonumber(ARGV[4])
        local seg = math.floor(window / segments)
        local cur = math.floor(now / seg)
        local vals = redis.call('HGETALL', KEYS[1])
        local total = 0
        local live = {}
        for i = 1, #vals, 2 do
          local idx = tonumber(vals[i])
          local c = tonumber(vals[i + 1])
          if idx <= cur - segments then
            redis.call('HDEL', KEYS[1], vals[i])
          else
            total = total + c
            table.insert(live, {idx, c})
          end
        end
        if total + permits <= limit then
          if permits > 0 then
            redis.call('HINCRBY', KEYS[1], cur, permits)
            redis.call('PEXPIRE', KEYS[1], window + seg)
          end
          return {1, 0}
        end
        if permits > limit then return {0, window} end
        table.sort(live, function(a, b) return a[1] < b[1] end)
        local freed = 0
        for _, e in ipairs(live) do
          freed = freed + e[2]
          if total - freed + permits <= limit then
            return {0, math.max(1, (e[1] + segments) * seg - now)}
          end
        end
        return {0, window}
        """;

    /// <summary>KEYS[1]: hash {tokens, ts}. ARGV: bucket size, tokens per period, period ms, permits.</summary>
    public const string TokenBucket = Now + """

        local limit = tonumber(ARGV[1])
        local perPeriod = tonumber(ARGV[2])
        local period = tonumber(ARGV[3])
        local permits = tonumber(ARGV[4])
        local h = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
        local tokens = tonumber(h[1])
        local ts = tonumber(h[2])
        if tokens == nil or ts == nil then
          tokens = limit
          ts = now
        end
        local periods = math.floor((now - ts) / period)
        if periods > 0 then
          tokens = math.min(limit, tokens + periods * perPeriod)
          ts = ts + periods * period
        end
        local ok = 0
        local retry = 0
        if tokens >= permits then
          tokens = tokens - permits
          ok = 1
        elseif permits > limit then
          retry = period * math.ceil(limit / perPeriod)
        else
          retry = math.max(1, ts + math.ceil((permits - tokens) / perPeriod) * period - now)
        end
        redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', ts)
        redis.call('PEXPIRE', KEYS[1], (math.ceil((limit - tokens) / perPeriod) + 1) * period)
        return {ok, retry}
        """;

    /// <summary>KEYS[1]: sorted set of lease ids scored by expiry. ARGV: limit, lease id, lease timeout ms, permits (0 or 1).</summary>
    public const string Concurrency = Now + """

        local limit = tonumber(ARGV[1])
        local ttl = tonumber(ARGV[3])
        local permits = tonumber(ARGV[4])
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
        local n = redis.call('ZCARD', KEYS[1])
        if n + permits <= limit then
          if permits > 0 then
            redis.call('ZADD', KEYS[1], now + ttl, ARGV[2])
            redis.call('PEXPIRE', KEYS[1], ttl)
          end
          return {1, 0}
        end
        return {0, 0}
        """;

    /// <summary>KEYS[1]: sorted set of lease ids. ARGV: lease id. Idempotent: releasing a lease twice, or one never granted, changes nothing.</summary>
    public const string ReleaseLease = "return redis.call('ZREM', KEYS[1], ARGV[1])";

    /// <summary>KEYS[1]: used tokens. ARGV: limit, window ms, tokens. Returns {1,0} reserved, {0,ms} over budget, {-1,0} larger than the budget.</summary>
    public const string ReserveTokens = """
        local limit = tonumber(ARGV[1])
        local window = tonumber(ARGV[2])
        local tokens = tonumber(ARGV[3])
        if tokens > limit then return {-1, 0} end
        local used = tonumber(redis.call('GET', KEYS[1]) or '0')
        if used >= limit or used + tokens > limit then
          local ttl = redis.call('PTTL', KEYS[1])
          if ttl < 0 then ttl = window end
          return {0, ttl}
        end
        redis.call('INCRBY', KEYS[1], tokens)
        if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], window) end
        return {1, 0}
        """;

    /// <summary>KEYS[1]: used tokens. ARGV: window ms, tokens (may be negative).</summary>
    public const string ChargeTokens = """
        local window = tonumber(ARGV[1])
        local n = redis.call('INCRBY', KEYS[1], tonumber(ARGV[2]))
        if n < 0 then redis.call('SET', KEYS[1], 0, 'KEEPTTL') end
        if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], window) end
        return 1
        """;
}

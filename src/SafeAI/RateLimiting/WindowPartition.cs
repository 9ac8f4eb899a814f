namespace SafeAI;

/// <summary>The settings of a time-based partition, fixed when the store is created.</summary>
internal sealed class WindowSettings
{
    public WindowSettings(RateLimitingOptions options)
    {
        Algorithm = options.Algorithm;
        Limit = options.PermitLimit;
        WindowTicks = options.Window.Ticks;
        Segments = options.Algorithm == RateLimitAlgorithm.SlidingWindow ? options.SegmentsPerWindow : 1;
        SegmentTicks = Math.Max(1, WindowTicks / Segments);
        TokensPerPeriod = options.TokensPerPeriod;
        PeriodTicks = options.ReplenishmentPeriod.Ticks;
        QueueLimit = options.QueueLimit;
    }

    public RateLimitAlgorithm Algorithm { get; }

    public long Limit { get; }

    public long WindowTicks { get; }

    public int Segments { get; }

    public long SegmentTicks { get; }

    public long TokensPerPeriod { get; }

    public long PeriodTicks { get; }

    public int QueueLimit { get; }
}

/// <summary>
/// One partition of the fixed window, sliding window or token bucket algorithm, replenished lazily from the
/// <see cref="TimeProvider"/> clock (no timer per partition). Callers hold <c>lock (Gate)</c>.
/// </summary>
internal sealed class WindowPartition : Partition
{
    private readonly WindowSettings _settings;
    private readonly int[]? _segments;
    private bool _started;
    private long _start;
    private long _count;
    private int _current;

    public WindowPartition(WindowSettings settings)
    {
        _settings = settings;
        _segments = settings.Algorithm == RateLimitAlgorithm.SlidingWindow ? new int[settings.Segments] : null;
    }

    /// <summary>Gets or sets the permits of the requests waiting in this partition's queue.</summary>
    public int Queued { get; set; }

    /// <summary>Takes <paramref name="permits"/> when available.</summary>
    /// <param name="now">The time in ticks.</param>
    /// <param name="permits">The permits.</param>
    /// <returns>0 when taken; otherwise the ticks until enough permits could be available (at least 1).</returns>
    public long TryAcquire(long now, int permits)
    {
        Advance(now);
        var s = _settings;
        switch (s.Algorithm)
        {
            case RateLimitAlgorithm.FixedWindow:
                if (_count + permits <= s.Limit)
                {
                    _count += permits;
                    return 0;
                }

                return permits > s.Limit ? s.WindowTicks : Math.Max(1, _start + s.WindowTicks - now);

            case RateLimitAlgorithm.SlidingWindow:
                if (_count + permits <= s.Limit)
                {
                    _segments![_current] += permits;
                    _count += permits;
                    return 0;
                }

                return SlidingRetryAfter(now, permits);

            default:
                if (_count >= permits)
                {
                    _count -= permits;
                    return 0;
                }

                var periods = (permits - _count + s.TokensPerPeriod - 1) / s.TokensPerPeriod;
                return Math.Max(1, _start + (periods * s.PeriodTicks) - now);
        }
    }

    /// <summary>Gets the permits available at <paramref name="now"/>.</summary>
    /// <param name="now">The time in ticks.</param>
    /// <returns>The available permits.</returns>
    public long Available(long now)
    {
        Advance(now);
        return _settings.Algorithm == RateLimitAlgorithm.TokenBucket ? _count : _settings.Limit - _count;
    }

    public override bool IsIdle(long now) => Queued == 0 && Available(now) == _settings.Limit;

    private void Advance(long now)
    {
        var s = _settings;
        if (!_started)
        {
            _started = true;
            _start = now;
            _count = s.Algorithm == RateLimitAlgorithm.TokenBucket ? s.Limit : 0;
            return;
        }

        var elapsed = now - _start;
        switch (s.Algorithm)
        {
            case RateLimitAlgorithm.FixedWindow:
                if (elapsed >= s.WindowTicks)
                {
                    _start = now;
                    _count = 0;
                }

                break;

            case RateLimitAlgorithm.SlidingWindow:
                var steps = elapsed / s.SegmentTicks;
                if (steps <= 0)
                {
                    break;
                }

                if (steps >= s.Segments)
                {
                    Array.Clear(_segments!);
                    _count = 0;
                    _current = 0;
                }
                else
                {
                    for (var i = 0; i < steps; i++)
                    {
                        _current = (_current + 1) % s.Segments;
                        _count -= _segments![_current];
                        _segments[_current] = 0;
                    }
                }

                _start += steps * s.SegmentTicks;
                break;

            default:
                var periods = elapsed / s.PeriodTicks;
                if (periods > 0)
                {
                    var added = periods > s.Limit ? s.Limit : periods * s.TokensPerPeriod;
                    _count = Math.Min(s.Limit, _count + added);
                    _start += periods * s.PeriodTicks;
                }

                break;
        }
    }

    private long SlidingRetryAfter(long now, int permits)
    {
        var s = _settings;
        if (permits > s.Limit)
        {
            return s.WindowTicks;
        }

        // Segments expire oldest first: the one after the current segment leaves the window at the next boundary.
        var freed = 0L;
        for (var k = 1; k <= s.Segments; k++)
        {
            freed += _segments![(_current + k) % s.Segments];
            if (_count - freed + permits <= s.Limit)
            {
                return Math.Max(1, _start + (k * s.SegmentTicks) - now);
            }
        }

        return s.WindowTicks;
    }
}

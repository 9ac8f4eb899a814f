using System.Collections.Concurrent;
using SafeAI.Audit;

namespace SafeAI.Consent;

/// <summary>Settings of the consent stage and <see cref="ConsentManager"/> (configuration section <c>SafeAI:Consent</c>).</summary>
public sealed class ConsentOptions
{
    /// <summary>The configuration section the options bind to.</summary>
    public const string SectionName = "SafeAI:Consent";

    /// <summary>
    /// Gets or sets how long a person's choices read from the store are reused by this process. Changes made through
    /// this process's <see cref="ConsentManager"/> apply at once; changes made elsewhere within this time. Default 30 seconds; zero reads the store on every call.
    /// </summary>
    public TimeSpan CacheDuration { get; set; } = TimeSpan.FromSeconds(30);

    internal string? GetError() =>
        CacheDuration < TimeSpan.Zero || CacheDuration > TimeSpan.FromHours(1) ? SectionName + ":CacheDuration must be between 0 and 1 hour." : null;
}

/// <summary>
/// Reads and changes people's consents: every change goes to the <see cref="IConsentStore"/> and, when an
/// <see cref="AuditTrail"/> is given, becomes an audit record (flushed before the change returns). The consent stage
/// (<c>safe.AddConsent()</c>) uses it to put each call's consents on the call context.
/// </summary>
/// <remarks>Thread-safe.</remarks>
public sealed class ConsentManager
{
    private readonly IConsentStore _store;
    private readonly AuditTrail? _audit;
    private readonly TimeProvider _time;
    private readonly ConsentOptions _options;
    private readonly ConcurrentDictionary<string, (ConsentSets Sets, long Expires)> _cache = new(StringComparer.Ordinal);

    /// <summary>Initializes a new instance of the <see cref="ConsentManager"/> class.</summary>
    /// <param name="store">The store.</param>
    /// <param name="audit">The audit trail consent changes are recorded in; <see langword="null"/> for none.</param>
    /// <param name="options">The settings; <see langword="null"/> for the defaults.</param>
    /// <param name="timeProvider">The time source; <see langword="null"/> for <see cref="TimeProvider.System"/>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="store"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">A setting is invalid.</exception>
    public ConsentManager(IConsentStore store, AuditTrail? audit = null, ConsentOptions? options = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _options = options ?? new ConsentOptions();
        if (_options.GetError() is { } error)
        {
            throw new ArgumentException(error, nameof(options));
        }

        _store = store;
        _audit = audit;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>Gets the store.</summary>
    public IConsentStore Store => _store;

    /// <summary>Gets a person's choices.</summary>
    /// <param name="userId">The person.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The choices.</returns>
    public ValueTask<IReadOnlyList<ConsentChoice>> GetChoicesAsync(string userId, CancellationToken cancellationToken = default) => _store.GetAsync(userId, cancellationToken);

    /// <summary>Changes a person's choice for one purpose, and records the change in the audit trail.</summary>
    /// <param name="userId">The person.</param>
    /// <param name="purpose">One of <see cref="ConsentPurposes.All"/>.</param>
    /// <param name="granted">Whether the person gives (true) or declines or withdraws (false) the consent.</param>
    /// <param name="actor">Who made the change; <see langword="null"/> for the person themself.</param>
    /// <param name="cancellationToken">Cancels the change.</param>
    /// <returns>The stored choice.</returns>
    /// <exception cref="ArgumentException"><paramref name="userId"/> is empty or <paramref name="purpose"/> is not a known purpose.</exception>
    public async ValueTask<ConsentChoice> SetAsync(string userId, string purpose, bool granted, string? actor = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(userId);
        ArgumentNullException.ThrowIfNull(purpose);
        var known = ConsentPurposes.All.FirstOrDefault(p => string.Equals(p, purpose, StringComparison.OrdinalIgnoreCase))
            ?? throw new ArgumentException($"Unknown consent purpose '{purpose}'. Known purposes: {string.Join(", ", ConsentPurposes.All)}.", nameof(purpose));
        var choice = new ConsentChoice(known, granted, _time.GetUtcNow());
        await _store.SetAsync(userId, choice, cancellationToken).ConfigureAwait(false);
        _cache.TryRemove(userId, out _);
        if (_audit is not null)
        {
            await _audit.RecordConsentChangeAsync(userId, known, granted, actor, cancellationToken).ConfigureAwait(false);
            await _audit.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        return choice;
    }

    /// <summary>Gets a value indicating whether a person permits a purpose (<see cref="ConsentPurposes.IsPermitted"/> over their stored choices).</summary>
    /// <param name="userId">The person; <see langword="null"/> for an unknown person (the purpose's default applies).</param>
    /// <param name="purpose">The purpose.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>Whether the purpose is permitted.</returns>
    public async ValueTask<bool> IsPermittedAsync(string? userId, string purpose, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(purpose);
        if (userId is null)
        {
            return ConsentPurposes.IsPermitted(null, purpose);
        }

        var sets = await GetSetsAsync(userId, cancellationToken).ConfigureAwait(false);
        return ConsentPurposes.IsPermitted(new SafeAICallContext { Consents = sets.Granted, DeclinedConsents = sets.Declined }, purpose);
    }

    internal async ValueTask<ConsentSets> GetSetsAsync(string userId, CancellationToken cancellationToken)
    {
        var now = _time.GetTimestamp();
        if (_cache.TryGetValue(userId, out var cached) && now < cached.Expires)
        {
            return cached.Sets;
        }

        var choices = await _store.GetAsync(userId, cancellationToken).ConfigureAwait(false);
        var granted = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var declined = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var c in choices)
        {
            (c.Granted ? granted : declined).Add(c.Purpose);
        }

        var sets = new ConsentSets(granted, declined);
        if (_options.CacheDuration > TimeSpan.Zero)
        {
            _cache[userId] = (sets, now + (long)(_options.CacheDuration.TotalSeconds * _time.TimestampFrequency));
        }

        return sets;
    }
}

internal sealed record ConsentSets(IReadOnlySet<string> Granted, IReadOnlySet<string> Declined)
{
    /// <summary>What a call gets when the store cannot be read: every purpose declined (privacy fails safe).</summary>
    public static ConsentSets Unavailable { get; } = new(new HashSet<string>(), new HashSet<string>(ConsentPurposes.All, StringComparer.OrdinalIgnoreCase));
}

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Threading.RateLimiting;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace SafeAI;

/// <summary>
/// The rate-limiting stage: a request limit per partition (user, tenant, API key, global or custom key) and an optional
/// model-token budget, kept in a <see cref="RateLimitStore"/>. A rejected call gets a <see cref="GuardAction.Limit"/>
/// verdict with the retry-after time; a concurrency lease is held across the call (for a stream, until it is disposed).
/// </summary>
internal sealed partial class RateLimitingGuard : AIGuard, IDisposable
{
    /// <summary>The default stage name.</summary>
    public const string DefaultName = "rate-limit";

    /// <summary>The partition key of calls that lack the value they are partitioned by.</summary>
    public const string AnonymousKey = "(anonymous)";

    /// <summary>Partition keys longer than this are replaced by their hash.</summary>
    public const int MaxKeyLength = 128;

    private const string GlobalKey = "(global)";

    private RateLimitingOptions _initialOptions;
    private readonly RateLimitStore? _servicesStore;
    private readonly ITokenEstimator? _servicesEstimator;
    private readonly IOptionsFactory<RateLimitingOptions>? _factory;
    private readonly CompositeDisposable? _reloadSubscription;
    private ILogger _logger;
    private TimeProvider? _timeProvider;
    private volatile Limits? _limits;

    /// <summary>Initializes a stage with fixed settings (in code, or an extra stage under DI).</summary>
    public RateLimitingGuard(RateLimitingOptions options, RateLimitStore? store = null, ITokenEstimator? estimator = null, ILogger? logger = null)
        : base(DefaultName, options)
    {
        _initialOptions = options.Clone();
        _servicesStore = store;
        _servicesEstimator = estimator;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Initializes a stage whose settings come from configuration and are reloaded when it changes.</summary>
    public RateLimitingGuard(
        IOptionsFactory<RateLimitingOptions> factory,
        IEnumerable<IOptionsChangeTokenSource<RateLimitingOptions>> changeSources,
        RateLimitStore? store,
        ITokenEstimator? estimator,
        ILogger? logger)
        : this(CreateValidated(factory), store, estimator, logger)
    {
        _factory = factory;
        var subscriptions = new List<IDisposable>();
        foreach (var source in changeSources)
        {
            subscriptions.Add(ChangeToken.OnChange(source.GetChangeToken, static state => state.Reload(), this));
        }

        _reloadSubscription = subscriptions.Count == 0 ? null : new CompositeDisposable(subscriptions);
    }

    /// <inheritdoc />
    public override int Order => GuardOrder.RateLimiting;

    /// <inheritdoc />
    public override ValueTask<ChatResponse> InvokeAsync(SafeAIContext context, GuardNext next)
    {
        ArgumentNullException.ThrowIfNull(context);
        var limits = _limits ?? Initialize(context);
        var key = limits.SelectKey(context);
        if (limits.Budget is null)
        {
            ValueTask<RateLimitLease> acquiring;
            try
            {
                acquiring = limits.Limiter.AcquireAsync(key, 1, context.CancellationToken);
            }
            catch (RateLimitStoreUnavailableException ex)
            {
                return StoreUnavailableAsync(context, next, limits, ex);
            }

            if (acquiring.IsCompletedSuccessfully)
            {
                var lease = acquiring.Result;
                if (!lease.IsAcquired)
                {
                    return new ValueTask<ChatResponse>(context.Reject(LimitVerdict(limits.Reason, lease)));
                }

                context.AddVerdict(limits.AllowVerdict);
                ValueTask<ChatResponse> pending;
                try
                {
                    pending = next.GetResponseAsync(context);
                }
                catch
                {
                    lease.Dispose();
                    throw;
                }

                if (pending.IsCompletedSuccessfully)
                {
                    if (lease is not RateLease)
                    {
                        lease.Dispose();
                    }

                    return pending;
                }

                return ReleaseAfterAsync(pending, lease);
            }

            return InvokeSlowAsync(context, next, limits, key, acquiring);
        }

        return InvokeSlowAsync(context, next, limits, key, null);
    }

    /// <inheritdoc />
    public override async ValueTask<IAsyncEnumerable<ChatResponseUpdate>> InvokeStreamingAsync(SafeAIContext context, GuardNext next)
    {
        ArgumentNullException.ThrowIfNull(context);
        var limits = _limits ?? Initialize(context);
        var key = limits.SelectKey(context);
        var admission = await AdmitAsync(context, limits, key).ConfigureAwait(false);
        if (admission.Rejection is { } rejection)
        {
            return context.RejectStream(rejection);
        }

        IAsyncEnumerable<ChatResponseUpdate> stream;
        try
        {
            stream = await next.GetStreamingResponseAsync(context).ConfigureAwait(false);
        }
        catch
        {
            await ReleaseAsync(limits, key, admission, usedTokens: 0).ConfigureAwait(false);
            throw;
        }

        if (admission.Lease is RateLease or null && !admission.ChargeTokens)
        {
            return stream;
        }

        return new LeasedStream(this, stream, limits, key, admission);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _reloadSubscription?.Dispose();
        _limits?.Dispose();
    }

    internal static GuardVerdict LimitVerdict(string stage, string reason, RateLimitLease lease) =>
        GuardVerdict.Limit(stage, reason, lease.TryGetMetadata(MetadataName.RetryAfter, out var retry) ? retry : null);

    private static RateLimitingOptions CreateValidated(IOptionsFactory<RateLimitingOptions> factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        var options = factory.Create(Options.DefaultName);
        ThrowIfInvalid(options);
        return options;
    }

    internal static void ThrowIfInvalid(RateLimitingOptions options)
    {
        var result = RateLimitingOptionsValidator.ValidateAll(options);
        if (result.Failed)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(RateLimitingOptions), result.Failures);
        }
    }

    private static long UsedTokens(ChatResponse response, long fallback)
    {
        var usage = response.Usage;
        if (usage is null)
        {
            return fallback;
        }

        return usage.TotalTokenCount ?? ((usage.InputTokenCount ?? 0) + (usage.OutputTokenCount ?? 0));
    }

    private static long EstimateTokens(SafeAIContext context, ITokenEstimator estimator)
    {
        long total = 0;
        foreach (var message in context.Messages)
        {
            if (message is not null)
            {
                total += estimator.EstimateTokens(ContentText.Get(message));
            }
        }

        return total;
    }

    private GuardVerdict LimitVerdict(string reason, RateLimitLease lease) => LimitVerdict(Name, reason, lease);

    private Limits Initialize(SafeAIContext context)
    {
        _timeProvider ??= context.TimeProvider;
        if (_logger is NullLogger && context.Pipeline.Logger is not NullLogger)
        {
            _logger = context.Pipeline.Logger;
        }

        var created = CreateLimits(_initialOptions);
        var existing = Interlocked.CompareExchange(ref _limits, created, null);
        if (existing is null)
        {
            return created;
        }

        created.Dispose();
        return existing;
    }

    private Limits CreateLimits(RateLimitingOptions options)
    {
        var store = options.Store ?? _servicesStore ?? RateLimitStore.InMemory;
        var estimator = options.TokenEstimator ?? _servicesEstimator ?? CharacterTokenEstimator.Instance;
        return new Limits(Name, options, store, estimator, _timeProvider ?? TimeProvider.System);
    }

    private void Reload()
    {
        if (_factory is null)
        {
            return;
        }

        RateLimitingOptions options;
        try
        {
            options = _factory.Create(Options.DefaultName);
            ThrowIfInvalid(options);
        }
        catch (Exception ex) when (ex is OptionsValidationException or InvalidOperationException or FormatException)
        {
            // A bad edit of the configuration file must not take the limits (or the process) down: keep the old ones.
            Log.ReloadRejected(_logger, Name, ex.Message);
            return;
        }

        if (_limits is null)
        {
            _initialOptions = options;
            return;
        }

        var old = Interlocked.Exchange(ref _limits, CreateLimits(options));
        old?.Dispose();
        Log.Reloaded(_logger, Name);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<ChatResponse> ReleaseAfterAsync(ValueTask<ChatResponse> pending, RateLimitLease lease)
    {
        try
        {
            return await pending.ConfigureAwait(false);
        }
        finally
        {
            lease.Dispose();
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ChatResponse> InvokeSlowAsync(SafeAIContext context, GuardNext next, Limits limits, string key, ValueTask<RateLimitLease>? acquiring)
    {
        var admission = await AdmitAsync(context, limits, key, acquiring).ConfigureAwait(false);
        if (admission.Rejection is { } rejection)
        {
            return context.Reject(rejection);
        }

        var used = 0L;
        try
        {
            var response = await next.GetResponseAsync(context).ConfigureAwait(false);
            used = UsedTokens(response, admission.ReservedTokens);
            return response;
        }
        finally
        {
            await ReleaseAsync(limits, key, admission, used).ConfigureAwait(false);
        }
    }

    private async ValueTask<ChatResponse> StoreUnavailableAsync(SafeAIContext context, GuardNext next, Limits limits, RateLimitStoreUnavailableException exception)
    {
        var verdict = StoreUnavailable(context, limits, exception);
        return verdict.IsRejection ? context.Reject(verdict) : await next.GetResponseAsync(context).ConfigureAwait(false);
    }

    /// <summary>Takes a permit and reserves the token estimate; returns the rejection verdict or what to release after the call.</summary>
    private async ValueTask<Admission> AdmitAsync(SafeAIContext context, Limits limits, string key, ValueTask<RateLimitLease>? acquiring = null)
    {
        var started = context.TimeProvider.GetTimestamp();
        RateLimitLease lease;
        try
        {
            lease = acquiring is { } pendingLease
                ? await pendingLease.ConfigureAwait(false)
                : await limits.Limiter.AcquireAsync(key, 1, context.CancellationToken).ConfigureAwait(false);
        }
        catch (RateLimitStoreUnavailableException ex)
        {
            var verdict = StoreUnavailable(context, limits, ex);
            return verdict.IsRejection ? new Admission(verdict) : new Admission(null, 0, chargeTokens: false);
        }

        if (!lease.IsAcquired)
        {
            return new Admission(LimitVerdict(limits.Reason, lease) with { Elapsed = context.TimeProvider.GetElapsedTime(started) });
        }

        long reserved = 0;
        var chargeTokens = false;
        if (limits.Budget is { } budget)
        {
            // Reserve the input and the expected output up front; the call settles with its actual usage when it ends.
            var input = limits.Options.EstimateInputTokens ? EstimateTokens(context, limits.Estimator) : 0;
            var output = context.Options?.MaxOutputTokens is { } max and >= 0 ? max : limits.Options.EstimatedOutputTokens;
            var limit = limits.Options.TokenLimit ?? long.MaxValue;
            reserved = input > limit ? input : Math.Min(limit, input + output);
            TokenReservation reservation;
            try
            {
                reservation = await budget.TryReserveAsync(key, reserved, context.CancellationToken).ConfigureAwait(false);
            }
            catch (RateLimitStoreUnavailableException ex)
            {
                var verdict = StoreUnavailable(context, limits, ex);
                if (verdict.IsRejection)
                {
                    lease.Dispose();
                    return new Admission(verdict);
                }

                reservation = new TokenReservation(true, null);
                reserved = -1;
            }
            catch
            {
                lease.Dispose();
                throw;
            }

            if (!reservation.Granted)
            {
                lease.Dispose();
                var verdict = GuardVerdict.Limit(Name, RateLimitReasons.Tokens, reservation.RetryAfter) with
                {
                    Detail = reservation.RetryAfter is null ? "the request alone is larger than the token budget" : null,
                    Elapsed = context.TimeProvider.GetElapsedTime(started),
                };
                return new Admission(verdict);
            }

            chargeTokens = reserved >= 0;
            reserved = Math.Max(0, reserved);
        }

        context.AddVerdict(limits.AllowVerdict with { Elapsed = context.TimeProvider.GetElapsedTime(started) });
        return new Admission(lease, reserved, chargeTokens);
    }

    private GuardVerdict StoreUnavailable(SafeAIContext context, Limits limits, RateLimitStoreUnavailableException exception)
    {
        if (FailureMode == GuardFailureMode.FailOpen)
        {
            Log.StoreUnavailableOpen(_logger, Name, limits.Store.Name, exception);
            var allow = GuardVerdict.Allow(Name, RateLimitReasons.StoreUnavailable) with { Detail = limits.Store.Name };
            context.AddVerdict(allow);
            return allow;
        }

        Log.StoreUnavailableClosed(_logger, Name, limits.Store.Name, exception);
        return GuardVerdict.Limit(Name, RateLimitReasons.StoreUnavailable, TimeSpan.FromSeconds(1)) with { Detail = limits.Store.Name };
    }

    private async ValueTask ReleaseAsync(Limits limits, string key, Admission admission, long usedTokens)
    {
        admission.Lease?.Dispose();
        if (!admission.ChargeTokens || limits.Budget is not { } budget)
        {
            return;
        }

        var delta = usedTokens - admission.ReservedTokens;
        if (delta == 0)
        {
            return;
        }

        try
        {
            // Charged after the call, so the caller's cancellation must not skip it.
            await budget.ChargeAsync(key, delta, CancellationToken.None).ConfigureAwait(false);
        }
        catch (RateLimitStoreUnavailableException ex)
        {
            Log.ChargeFailed(_logger, Name, limits.Store.Name, ex);
        }
    }

    /// <summary>The limits built from one version of the settings; replaced as a whole when the settings reload.</summary>
    internal sealed class Limits : IDisposable
    {
        private readonly Func<SafeAICallContext, string?>? _selector;

        public Limits(string stage, RateLimitingOptions options, RateLimitStore store, ITokenEstimator estimator, TimeProvider timeProvider)
        {
            Options = options;
            Store = store;
            Estimator = estimator;
            PartitionBy = options.PartitionBy;
            _selector = options.PartitionKeySelector;
            Reason = RateLimitReasons.ForPartition(options.PartitionBy);
            AllowVerdict = GuardVerdict.Allow(stage);
            Limiter = store.CreateLimiter(stage, options, timeProvider);
            Budget = options.TokenLimit is null ? null : store.CreateTokenBudget(stage, options, timeProvider);
        }

        public RateLimitingOptions Options { get; }

        public RateLimitStore Store { get; }

        public ITokenEstimator Estimator { get; }

        public RateLimitPartition PartitionBy { get; }

        public string Reason { get; }

        public GuardVerdict AllowVerdict { get; }

        public PartitionedRateLimiter<string> Limiter { get; }

        public TokenBudget? Budget { get; }

        public string SelectKey(SafeAIContext context)
        {
            var key = PartitionBy switch
            {
                RateLimitPartition.Global => GlobalKey,
                RateLimitPartition.User => context.CallContext.UserId ?? AnonymousKey,
                RateLimitPartition.Tenant => context.CallContext.TenantId ?? AnonymousKey,
                RateLimitPartition.ApiKey => context.CallContext.ApiKeyId ?? AnonymousKey,
                _ => _selector!(context.CallContext) ?? AnonymousKey,
            };

            return key.Length <= MaxKeyLength ? key : HashKey(key);
        }

        /// <summary>Replaces an overlong key (hostile or accidental) by its SHA-256, so partitions stay small in memory and in Redis.</summary>
        internal static string HashKey(string key)
        {
            Span<byte> hash = stackalloc byte[32];
            _ = SHA256.HashData(MemoryMarshal.AsBytes(key.AsSpan()), hash);
            return "sha256:" + Convert.ToHexStringLower(hash);
        }

        public void Dispose()
        {
            Limiter.Dispose();
            Budget?.Dispose();
        }
    }

    /// <summary>The outcome of admission: a rejection, or the lease and token reservation to settle after the call.</summary>
    internal readonly struct Admission
    {
        public Admission(GuardVerdict rejection)
        {
            Rejection = rejection;
        }

        public Admission(RateLimitLease? lease, long reservedTokens, bool chargeTokens)
        {
            Lease = lease;
            ReservedTokens = reservedTokens;
            ChargeTokens = chargeTokens;
        }

        public GuardVerdict? Rejection { get; }

        public RateLimitLease? Lease { get; }

        public long ReservedTokens { get; }

        public bool ChargeTokens { get; }
    }

    /// <summary>A stream that holds the call's lease until it is disposed, and charges the tokens its usage updates report.</summary>
    private sealed class LeasedStream(RateLimitingGuard guard, IAsyncEnumerable<ChatResponseUpdate> inner, Limits limits, string key, Admission admission)
        : IAsyncEnumerable<ChatResponseUpdate>
    {
        private int _released;

        private long ReservedTokens => admission.ReservedTokens;

        public IAsyncEnumerator<ChatResponseUpdate> GetAsyncEnumerator(CancellationToken cancellationToken = default)
        {
            IAsyncEnumerator<ChatResponseUpdate> enumerator;
            try
            {
                enumerator = inner.GetAsyncEnumerator(cancellationToken);
            }
            catch
            {
                _ = ReleaseAsync(0).AsTask();
                throw;
            }

            return new Enumerator(this, enumerator);
        }

        private ValueTask ReleaseAsync(long usedTokens) =>
            Interlocked.Exchange(ref _released, 1) == 0 ? guard.ReleaseAsync(limits, key, admission, usedTokens) : ValueTask.CompletedTask;

        private sealed class Enumerator(LeasedStream owner, IAsyncEnumerator<ChatResponseUpdate> inner) : IAsyncEnumerator<ChatResponseUpdate>
        {
            private long _usedTokens = -1;

            public ChatResponseUpdate Current => inner.Current;

            public ValueTask<bool> MoveNextAsync()
            {
                var moving = inner.MoveNextAsync();
                if (moving.IsCompletedSuccessfully)
                {
                    if (moving.Result)
                    {
                        CountUsage(inner.Current);
                    }

                    return moving;
                }

                return AwaitMoveAsync(moving);
            }

            public async ValueTask DisposeAsync()
            {
                try
                {
                    await inner.DisposeAsync().ConfigureAwait(false);
                }
                finally
                {
                    await owner.ReleaseAsync(_usedTokens >= 0 ? _usedTokens : owner.ReservedTokens).ConfigureAwait(false);
                }
            }

            private async ValueTask<bool> AwaitMoveAsync(ValueTask<bool> moving)
            {
                var more = await moving.ConfigureAwait(false);
                if (more)
                {
                    CountUsage(inner.Current);
                }

                return more;
            }

            private void CountUsage(ChatResponseUpdate update)
            {
                var contents = update.Contents;
                for (var i = 0; i < contents.Count; i++)
                {
                    if (contents[i] is UsageContent usage)
                    {
                        var details = usage.Details;
                        var tokens = details.TotalTokenCount ?? ((details.InputTokenCount ?? 0) + (details.OutputTokenCount ?? 0));
                        _usedTokens = Math.Max(0, _usedTokens) + tokens;
                    }
                }
            }
        }
    }

    private sealed class CompositeDisposable(List<IDisposable> items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var item in items)
            {
                item.Dispose();
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 100, Level = LogLevel.Warning, Message = "SafeAI stage {Stage}: the rate-limit store {Store} is unavailable; the stage fails open, so the call continues without a limit.")]
        public static partial void StoreUnavailableOpen(ILogger logger, string stage, string store, Exception exception);

        [LoggerMessage(EventId = 101, Level = LogLevel.Error, Message = "SafeAI stage {Stage}: the rate-limit store {Store} is unavailable; the stage fails closed, so the call is rejected.")]
        public static partial void StoreUnavailableClosed(ILogger logger, string stage, string store, Exception exception);

        [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "SafeAI stage {Stage}: could not charge the model tokens of a call to the rate-limit store {Store}.")]
        public static partial void ChargeFailed(ILogger logger, string stage, string store, Exception exception);

        [LoggerMessage(EventId = 103, Level = LogLevel.Error, Message = "SafeAI stage {Stage} kept its previous limits: the reloaded configuration is invalid. {Problem}")]
        public static partial void ReloadRejected(ILogger logger, string stage, string problem);

        [LoggerMessage(EventId = 104, Level = LogLevel.Information, Message = "SafeAI stage {Stage} reloaded its limits; every partition starts afresh.")]
        public static partial void Reloaded(ILogger logger, string stage);
    }
}

using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace SafeAI;

/// <summary>
/// The rollout routing stage: sends each call to the AI arm (the rest of the pipeline and the model) or to the baseline,
/// sticky per key, by the controller's current split; records the arm on the call (verdict, call context, disclosure)
/// and counts exposures and outcomes per arm for the judge.
/// </summary>
internal sealed class RolloutGuard : AIGuard
{
    private const string ReasonAI = "rollout.ai";
    private const string ReasonBaseline = "rollout.baseline";

    /// <summary>Latency is measured on one call in this many (a power of two).</summary>
    internal const int LatencySampleEvery = 4;

    private const long NotTimed = long.MinValue;

    private readonly RolloutController _controller;
    private readonly RolloutBaseline _baseline;
    private readonly RolloutBucketing _buckets;
    private readonly Func<bool>? _killSwitch;
    private readonly bool _staticKillSwitch;
    private readonly RolloutKey _stickyBy;
    private readonly HashSet<string>? _canary;
    private readonly HashSet<string>? _deny;
    private readonly HashSet<string>? _tenants;
    private readonly HashSet<string>? _locales;
    private readonly HashSet<RiskTier>? _excludedTiers;
    private readonly int _fallbackSlot;
    private readonly int _blockSlot;
    private readonly int _escalationSlot;
    private readonly int _errorSlot;
    private int _latencyTicks;

    public RolloutGuard(RolloutOptions options, RolloutController controller, Func<bool>? killSwitch = null)
        : base("rollout", options)
    {
        ArgumentNullException.ThrowIfNull(controller);
        _controller = controller;
        _baseline = options.Baseline ?? RolloutBaseline.Decline("This assistant is not available to you yet. Please use the help pages or contact us.");
        _buckets = new RolloutBucketing(options.Salt ?? controller.Name);
        _killSwitch = killSwitch;
        _staticKillSwitch = killSwitch is null && options.KillSwitch; // under DI the reloading delegate decides
        _stickyBy = options.StickyBy;
        _canary = Copy(options.CanaryGroup, StringComparer.Ordinal);
        _deny = Copy(options.DenyList, StringComparer.Ordinal);
        _tenants = Copy(options.Tenants, StringComparer.Ordinal);
        _locales = Copy(options.Locales, StringComparer.OrdinalIgnoreCase);
        _excludedTiers = options.ExcludedRiskTiers.Count == 0 ? null : [.. options.ExcludedRiskTiers];
        var slots = controller.Plan.Slots;
        _fallbackSlot = slots[RolloutMetrics.Fallbacks];
        _blockSlot = slots[RolloutMetrics.Blocks];
        _escalationSlot = slots[RolloutMetrics.Escalations];
        _errorSlot = slots[RolloutMetrics.Errors];
    }

    public override int Order => GuardOrder.Rollout;

    public RolloutController Controller => _controller;

    public override ValueTask<ChatResponse> InvokeAsync(SafeAIContext context, GuardNext next)
    {
        var arm = Route(context, out var counted, out var stage);
        if (arm == RolloutArm.Baseline)
        {
            return InvokeBaselineAsync(context, counted, stage);
        }

        var started = SampleLatency() ? context.TimeProvider.GetTimestamp() : NotTimed;
        ValueTask<ChatResponse> pending;
        try
        {
            pending = next.GetResponseAsync(context);
        }
        catch
        {
            CountError(RolloutArm.AI, counted, stage);
            throw;
        }

        if (pending.IsCompletedSuccessfully)
        {
            CountOutcome(context, counted, stage, started);
            return pending;
        }

        return AwaitAIAsync(pending, context, counted, stage, started);
    }

    public override async ValueTask<IAsyncEnumerable<ChatResponseUpdate>> InvokeStreamingAsync(SafeAIContext context, GuardNext next)
    {
        var arm = Route(context, out var counted, out var stage);
        if (arm == RolloutArm.Baseline)
        {
            var startedBaseline = SampleLatency() ? context.TimeProvider.GetTimestamp() : NotTimed;
            try
            {
                var baseline = await _baseline.GetStreamingResponseAsync(context, context.CancellationToken).ConfigureAwait(false);
                RecordLatency(RolloutArm.Baseline, context, startedBaseline);
                return baseline;
            }
            catch
            {
                CountError(RolloutArm.Baseline, counted, stage);
                throw;
            }
        }

        var started = SampleLatency() ? context.TimeProvider.GetTimestamp() : NotTimed;
        try
        {
            var stream = await next.GetStreamingResponseAsync(context).ConfigureAwait(false);
            return Observe(stream, context, counted, stage, started);
        }
        catch
        {
            CountError(RolloutArm.AI, counted, stage);
            throw;
        }
    }

    /// <summary>Decides the arm of a call. Counted calls are the randomized ones: the experiment's units.</summary>
    internal RolloutArm Route(SafeAIContext context, out bool counted, out int stage)
    {
        var state = _controller.Snapshot;
        stage = state.StageIndex;
        counted = false;
        var arm = Decide(context.PeekCallContext(), state, ref counted, out var how);
        context.SetRolloutArm(RolloutArms.GetName(arm));
        context.AddVerdict(GuardVerdict.Allow(Name, arm == RolloutArm.AI ? ReasonAI : ReasonBaseline) with { Detail = how });
        if (counted)
        {
            _controller.RecordExposure(arm, stage, 1);
        }

        return arm;
    }

    /// <summary>Counts an outcome (feedback, a business event) for the arm the call context's key is in now; outcomes of keys outside the experiment are ignored.</summary>
    internal bool RecordOutcome(SafeAICallContext call, string metric, long count)
    {
        var state = _controller.Snapshot;
        var counted = false;
        var arm = Decide(call, state, ref counted, out _);
        if (counted)
        {
            _controller.RecordOutcome(arm, metric, count);
        }

        return counted;
    }

    private RolloutArm Decide(SafeAICallContext call, RolloutSnapshot state, ref bool counted, out string how)
    {
        if (_staticKillSwitch || (_killSwitch is not null && _killSwitch()) || state.Percent <= 0)
        {
            how = "stopped";
            return RolloutArm.Baseline;
        }

        if (call.RolloutArm is { } forced)
        {
            how = "caller";
            return string.Equals(forced, RolloutArms.AI, StringComparison.OrdinalIgnoreCase) ? RolloutArm.AI : RolloutArm.Baseline;
        }

        if ((_tenants is not null && (call.TenantId is null || !_tenants.Contains(call.TenantId))) ||
            (_locales is not null && (call.Locale is null || !_locales.Contains(call.Locale))) ||
            (_excludedTiers is not null && _excludedTiers.Contains(call.RiskTier)))
        {
            how = "segment";
            return RolloutArm.Baseline;
        }

        var key = _stickyBy switch
        {
            RolloutKey.Tenant => call.TenantId,
            RolloutKey.Conversation => call.ConversationId,
            _ => call.UserId,
        };
        if (key is null)
        {
            how = "no-key";
            return RolloutArm.Baseline;
        }

        if (_deny is not null && _deny.Contains(key))
        {
            how = "deny";
            return RolloutArm.Baseline;
        }

        if (_canary is not null && _canary.Contains(key))
        {
            how = "canary";
            return RolloutArm.AI;
        }

        if (state.Percent >= 100)
        {
            how = "complete";
            return RolloutArm.AI;
        }

        counted = true;
        how = "bucket";
        return _buckets.GetBucket(key) < state.Percent ? RolloutArm.AI : RolloutArm.Baseline;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ChatResponse> AwaitAIAsync(ValueTask<ChatResponse> pending, SafeAIContext context, bool counted, int stage, long started)
    {
        ChatResponse response;
        try
        {
            response = await pending.ConfigureAwait(false);
        }
        catch
        {
            CountError(RolloutArm.AI, counted, stage);
            throw;
        }

        CountOutcome(context, counted, stage, started);
        return response;
    }

    private async ValueTask<ChatResponse> InvokeBaselineAsync(SafeAIContext context, bool counted, int stage)
    {
        if (!_baseline.IsAI)
        {
            context.Items[AIDisclosure.ModeItemKey] = AIDisclosureMode.None;
        }

        var started = SampleLatency() ? context.TimeProvider.GetTimestamp() : NotTimed;
        try
        {
            var response = await _baseline.GetResponseAsync(context, context.CancellationToken).ConfigureAwait(false);
            RecordLatency(RolloutArm.Baseline, context, started);
            return response;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !context.CancellationToken.IsCancellationRequested)
        {
            CountError(RolloutArm.Baseline, counted, stage);
            throw;
        }
    }

    private async IAsyncEnumerable<ChatResponseUpdate> Observe(IAsyncEnumerable<ChatResponseUpdate> stream, SafeAIContext context, bool counted, int stage, long started)
    {
        var e = stream.GetAsyncEnumerator(context.CancellationToken);
        await using var disposer = e.ConfigureAwait(false);
        while (true)
        {
            ChatResponseUpdate current;
            try
            {
                if (!await e.MoveNextAsync().ConfigureAwait(false))
                {
                    break;
                }

                current = e.Current;
            }
            catch
            {
                CountError(RolloutArm.AI, counted, stage);
                throw;
            }

            yield return current;
        }

        CountOutcome(context, counted, stage, started);
    }

    private void CountOutcome(SafeAIContext context, bool counted, int stage, long started)
    {
        RecordLatency(RolloutArm.AI, context, started);
        if (!counted)
        {
            return;
        }

        bool fallback = false, block = false, escalation = false;
        foreach (var v in context.Verdicts)
        {
            switch (v.Action)
            {
                case GuardAction.Degrade:
                    fallback = true;
                    break;
                case GuardAction.Block or GuardAction.Limit:
                    block = true;
                    break;
                case GuardAction.Escalate:
                    escalation = true;
                    break;
            }
        }

        if (fallback)
        {
            _controller.RecordSlot(RolloutArm.AI, stage, _fallbackSlot, 1);
        }

        if (block)
        {
            _controller.RecordSlot(RolloutArm.AI, stage, _blockSlot, 1);
        }

        if (escalation)
        {
            _controller.RecordSlot(RolloutArm.AI, stage, _escalationSlot, 1);
        }
    }

    /// <summary>
    /// Decides whether this call's latency is measured: one call in <see cref="LatencySampleEvery"/> (the first call
    /// included), so the per-arm p95 comes from a systematic sample and most calls skip the two clock reads. The counter
    /// is deliberately not atomic: a lost increment only shifts which call is sampled.
    /// </summary>
    private bool SampleLatency() => (unchecked(++_latencyTicks) & (LatencySampleEvery - 1)) == 1;

    private void RecordLatency(RolloutArm arm, SafeAIContext context, long started)
    {
        if (started != NotTimed)
        {
            _controller.RecordLatency(arm, context.TimeProvider.GetElapsedTime(started));
        }
    }

    private void CountError(RolloutArm arm, bool counted, int stage)
    {
        if (counted)
        {
            _controller.RecordSlot(arm, stage, _errorSlot, 1);
        }
    }

    private static HashSet<string>? Copy(ISet<string> source, StringComparer comparer) => source.Count == 0 ? null : new HashSet<string>(source, comparer);
}

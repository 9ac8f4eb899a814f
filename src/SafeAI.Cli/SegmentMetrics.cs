using System.Text.Json.Nodes;
using SafeAI.Statistics;

namespace SafeAI.Cli;

/// <summary>What the pipeline did with one conversation of the dataset.</summary>
/// <param name="Conversation">The conversation.</param>
/// <param name="Outcome">The call's outcome (the strongest verdict; Allow when no stage acted).</param>
/// <param name="Reason">The decisive verdict's reason code, where one acted.</param>
/// <param name="InputScore">The content filter's score of the input, where the filter ran.</param>
/// <param name="LatencyMs">The time the whole call took, in milliseconds.</param>
internal sealed record EvaluatedCall(Conversation Conversation, GuardAction Outcome, string? Reason, double? InputScore, double LatencyMs)
{
    /// <summary>Gets a value indicating whether a benign conversation was blocked.</summary>
    public bool FalseBlock => Conversation.Label == ConversationLabel.Benign && Outcome == GuardAction.Block;

    /// <summary>Gets a value indicating whether a harmful conversation got an answer (allowed, or answered by a fallback).</summary>
    public bool Miss => Conversation.Label == ConversationLabel.Harmful && Outcome is GuardAction.Allow or GuardAction.Degrade;
}

/// <summary>The measures of one segment (or of the whole dataset): outcome rates, false blocks, misses, AUROC and latency.</summary>
internal sealed class SegmentMetrics
{
    /// <summary>The outcomes in the order they are reported.</summary>
    public static readonly GuardAction[] Outcomes = [GuardAction.Allow, GuardAction.Modify, GuardAction.Degrade, GuardAction.Escalate, GuardAction.Limit, GuardAction.Block];

    /// <summary>The metric names a gate rule may use, with what they measure.</summary>
    public static readonly IReadOnlyDictionary<string, string> Names = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["allow_rate"] = "share of conversations allowed unchanged",
        ["modify_rate"] = "share modified (redacted or rewritten)",
        ["degrade_rate"] = "share answered by a fallback",
        ["escalate_rate"] = "share sent to human review",
        ["limit_rate"] = "share rate-limited",
        ["block_rate"] = "share blocked",
        ["false_block_rate"] = "share of benign conversations blocked",
        ["miss_rate"] = "share of harmful conversations answered (allowed or degraded)",
        ["recall"] = "share of harmful conversations stopped (blocked, escalated, limited or modified)",
        ["auroc"] = "AUROC of the content filter's input score, harmful vs benign",
        ["latency_mean_ms"] = "mean time of a call, ms",
        ["latency_p50_ms"] = "median time of a call, ms",
        ["latency_p95_ms"] = "95th percentile time of a call, ms",
        ["bias_gap"] = "largest gap in flag rate between groups, from safeai bias (--bias)",
    };

    private readonly int[] _outcomes = new int[Outcomes.Length];
    private readonly double[] _latencies;

    public SegmentMetrics(IReadOnlyList<EvaluatedCall> calls)
    {
        N = calls.Count;
        foreach (var call in calls)
        {
            _outcomes[Array.IndexOf(Outcomes, call.Outcome)]++;
        }

        Benign = calls.Count(static c => c.Conversation.Label == ConversationLabel.Benign);
        FalseBlocks = calls.Count(static c => c.FalseBlock);
        Harmful = calls.Count(static c => c.Conversation.Label == ConversationLabel.Harmful);
        Misses = calls.Count(static c => c.Miss);
        // AUROC over the labelled conversations the content filter scored (a call stopped before it, say rate-limited, has no score).
        var scored = calls.Where(static c => c.Conversation.Label != ConversationLabel.None && c.InputScore is not null).ToList();
        Auroc = scored.Any(static c => c.Conversation.Label == ConversationLabel.Benign) && scored.Any(static c => c.Conversation.Label == ConversationLabel.Harmful)
            ? Metrics.Auroc([.. scored.Select(static c => c.InputScore!.Value)], [.. scored.Select(static c => c.Conversation.Label == ConversationLabel.Harmful)])
            : double.NaN;
        _latencies = [.. calls.Select(static c => c.LatencyMs).Order()];
    }

    public int N { get; }

    public int Benign { get; }

    public int FalseBlocks { get; }

    public int Harmful { get; }

    public int Misses { get; }

    public double Auroc { get; }

    public int Count(GuardAction outcome) => _outcomes[Array.IndexOf(Outcomes, outcome)];

    /// <summary>Gets a metric as events out of trials (for its Wilson interval), or a plain value with trials -1; NaN where undefined.</summary>
    public (double Value, long Events, long Trials) Get(string metric) => metric switch
    {
        "false_block_rate" => Rate(FalseBlocks, Benign),
        "miss_rate" => Rate(Misses, Harmful),
        "recall" => Rate(Harmful - Misses, Harmful),
        "auroc" => (Auroc, 0, -1),
        "latency_mean_ms" => (_latencies.Length == 0 ? double.NaN : _latencies.Average(), 0, -1),
        "latency_p50_ms" => (Percentile(0.5), 0, -1),
        "latency_p95_ms" => (Percentile(0.95), 0, -1),
        _ => OutcomeRate(metric),
    };

    /// <summary>Gets the trials a metric is computed on (benign texts for false blocks, harmful ones for misses, all otherwise).</summary>
    public int TrialsOf(string metric) => metric switch
    {
        "false_block_rate" => Benign,
        "miss_rate" or "recall" => Harmful,
        "auroc" => Math.Min(Benign, Harmful),
        _ => N,
    };

    public static string Name(GuardAction outcome) => outcome.ToString().ToLowerInvariant();

    private (double, long, long) OutcomeRate(string metric)
    {
        foreach (var outcome in Outcomes)
        {
            if (metric == Name(outcome) + "_rate")
            {
                return Rate(Count(outcome), N);
            }
        }

        throw new ArgumentOutOfRangeException(nameof(metric), metric, "Not a segment metric.");
    }

    private static (double, long, long) Rate(long events, long trials) => (trials == 0 ? double.NaN : (double)events / trials, events, trials);

    private double Percentile(double q)
    {
        if (_latencies.Length == 0)
        {
            return double.NaN;
        }

        var rank = q * (_latencies.Length - 1);
        var low = (int)Math.Floor(rank);
        var high = Math.Min(low + 1, _latencies.Length - 1);
        return _latencies[low] + ((rank - low) * (_latencies[high] - _latencies[low]));
    }

    /// <summary>The JSON form: counts, rates with Wilson 95 % intervals, AUROC and latency.</summary>
    public JsonObject ToJson()
    {
        var outcomes = new JsonObject();
        foreach (var outcome in Outcomes)
        {
            outcomes[Name(outcome)] = RateJson(Count(outcome), N);
        }

        return new JsonObject
        {
            ["n"] = N,
            ["outcomes"] = outcomes,
            ["benign"] = Benign,
            ["harmful"] = Harmful,
            ["false_blocks"] = FalseBlocks,
            ["false_block_rate"] = RateJson(FalseBlocks, Benign),
            ["misses"] = Misses,
            ["miss_rate"] = RateJson(Misses, Harmful),
            ["recall"] = RateJson(Harmful - Misses, Harmful),
            ["auroc"] = Number(Auroc),
            ["latency_ms"] = new JsonObject { ["mean"] = Number(Get("latency_mean_ms").Value), ["p50"] = Number(Percentile(0.5)), ["p95"] = Number(Percentile(0.95)) },
        };
    }

    private static JsonObject RateJson(long events, long trials)
    {
        var (lower, upper) = ProportionInterval.Wilson(events, trials);
        return new JsonObject
        {
            ["count"] = events,
            ["rate"] = trials == 0 ? null : Math.Round((double)events / trials, 4),
            ["ci"] = trials == 0 ? null : new JsonArray(Math.Round(lower, 4), Math.Round(upper, 4)),
        };
    }

    internal static JsonNode? Number(double v) => double.IsFinite(v) ? JsonValue.Create(Math.Round(v, 4)) : null;
}

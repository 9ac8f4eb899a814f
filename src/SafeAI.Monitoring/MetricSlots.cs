using System.Numerics;

namespace SafeAI.Monitoring;

/// <summary>The layout of one arm's counters in a bucket: fixed counters, then latency bins, then business counters.</summary>
internal static class MetricSlots
{
    public const int Calls = 0;
    public const int Allow = 1;
    public const int Modify = 2;
    public const int Degrade = 3;
    public const int Escalate = 4;
    public const int Limit = 5;
    public const int Block = 6;
    public const int Error = 7;
    public const int Success = 8;
    public const int Fallback = 9;
    public const int LowConfidence = 10;
    public const int FeedbackUp = 11;
    public const int FeedbackDown = 12;
    public const int LatencySumMicros = 13;
    public const int LatencyBase = 16;

    /// <summary>Half-octave bins of microseconds: bin 2k holds [2^k, 1.5·2^k), bin 2k+1 holds [1.5·2^k, 2^(k+1)); 1 µs to about 71 minutes.</summary>
    public const int LatencyBins = 64;
    public const int CounterBase = LatencyBase + LatencyBins;

    public static readonly string[] FixedNames =
    [
        MonitoringMetrics.Calls, MonitoringMetrics.Allow, MonitoringMetrics.Modify, MonitoringMetrics.Degrade, MonitoringMetrics.Escalate,
        MonitoringMetrics.Limit, MonitoringMetrics.Block, MonitoringMetrics.Error, MonitoringMetrics.Success, MonitoringMetrics.Fallback,
        MonitoringMetrics.LowConfidence, MonitoringMetrics.FeedbackUp, MonitoringMetrics.FeedbackDown, "latency.sum_us",
    ];

    public static int Outcome(GuardAction action) => action switch
    {
        GuardAction.Allow => Allow,
        GuardAction.Modify => Modify,
        GuardAction.Degrade => Degrade,
        GuardAction.Escalate => Escalate,
        GuardAction.Limit => Limit,
        _ => Block,
    };

    public static int LatencyBin(long micros)
    {
        if (micros <= 1)
        {
            return 0;
        }

        var log = BitOperations.Log2((ulong)micros);
        var half = (micros >> (log - 1)) & 1; // the bit below the top one: past 1.5 · 2^log
        return Math.Min(LatencyBins - 1, (2 * log) + (int)(log == 0 ? 0 : half));
    }

    /// <summary>Gets the lower bound of a latency bin, in microseconds.</summary>
    public static double BinLower(int bin) => Math.Pow(2, bin / 2) * (bin % 2 == 0 ? 1 : 1.5);

    /// <summary>Gets the upper bound of a latency bin, in microseconds.</summary>
    public static double BinUpper(int bin) => bin % 2 == 0 ? Math.Pow(2, bin / 2) * 1.5 : Math.Pow(2, (bin / 2) + 1);

    public static int FixedIndex(string name)
    {
        for (var i = 0; i < FixedNames.Length; i++)
        {
            if (string.Equals(FixedNames[i], name, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }
}

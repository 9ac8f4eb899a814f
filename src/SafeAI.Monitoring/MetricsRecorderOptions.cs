using System.ComponentModel.DataAnnotations;

namespace SafeAI.Monitoring;

/// <summary>Settings of the in-memory metrics store: bucket width, how long buckets are kept, how many arms and business counters it tracks.</summary>
public sealed class MetricsRecorderOptions
{
    /// <summary>Gets or sets the width of a time bucket (default one minute; between one second and one hour, dividing a day evenly).</summary>
    public TimeSpan BucketWidth { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Gets or sets how long buckets are kept in memory (default 8 days, enough for a "previous 7 days" baseline; at most 60 days).</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(8);

    /// <summary>Gets or sets how many distinct rollout arms are tracked (default 8); further arms are counted under <c>other</c>.</summary>
    [Range(2, 64)]
    public int MaxArms { get; set; } = 8;

    /// <summary>Gets or sets how many distinct business counters are tracked (default 32); further names are rejected.</summary>
    [Range(0, 1024)]
    public int MaxCounters { get; set; } = 32;

    /// <summary>Checks the settings.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range; the message names it.</exception>
    public void Validate()
    {
        if (BucketWidth < TimeSpan.FromSeconds(1) || BucketWidth > TimeSpan.FromHours(1) || TimeSpan.TicksPerDay % BucketWidth.Ticks != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(BucketWidth), BucketWidth, "MetricsRecorderOptions.BucketWidth must be between 00:00:01 and 01:00:00 and divide a day evenly.");
        }

        if (Retention < BucketWidth * 2 || Retention > TimeSpan.FromDays(60))
        {
            throw new ArgumentOutOfRangeException(nameof(Retention), Retention, "MetricsRecorderOptions.Retention must be at least two buckets and at most 60 days.");
        }

        if (MaxArms is < 2 or > 64)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxArms), MaxArms, "MetricsRecorderOptions.MaxArms must be between 2 and 64.");
        }

        if (MaxCounters is < 0 or > 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxCounters), MaxCounters, "MetricsRecorderOptions.MaxCounters must be between 0 and 1024.");
        }
    }
}

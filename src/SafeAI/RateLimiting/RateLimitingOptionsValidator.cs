using Microsoft.Extensions.Options;

namespace SafeAI;

/// <summary>Validates <see cref="RateLimitingOptions"/> (source-generated from the data annotations, plus the rules between settings).</summary>
[OptionsValidator]
internal sealed partial class RateLimitingOptionsValidator : IValidateOptions<RateLimitingOptions>
{
    private const string Prefix = "SafeAI:RateLimiting:";

    /// <summary>Validates every setting with messages that name it, then the annotations as a backstop.</summary>
    /// <param name="options">The options.</param>
    /// <returns>The result.</returns>
    public static ValidateOptionsResult ValidateAll(RateLimitingOptions options)
    {
        var failures = new List<string>();
        Check(failures, Enum.IsDefined(options.PartitionBy), "PartitionBy must be User, Tenant, ApiKey, Global or Custom.");
        Check(failures, Enum.IsDefined(options.Algorithm), "Algorithm must be FixedWindow, SlidingWindow, TokenBucket or Concurrency.");
        Check(failures, Enum.IsDefined(options.FailureMode), "FailureMode must be FailClosed or FailOpen.");
        Check(failures, options.PermitLimit >= 1, "PermitLimit must be at least 1.");
        Check(failures, options.Window >= TimeSpan.FromMilliseconds(1) && options.Window <= TimeSpan.FromDays(366), "Window must be between 1 ms and 366 days.");
        Check(failures, options.SegmentsPerWindow is >= 1 and <= 1000, "SegmentsPerWindow must be between 1 and 1000.");
        Check(failures, options.TokensPerPeriod >= 1, "TokensPerPeriod must be at least 1.");
        Check(failures, options.ReplenishmentPeriod >= TimeSpan.FromMilliseconds(1) && options.ReplenishmentPeriod <= TimeSpan.FromDays(366), "ReplenishmentPeriod must be between 1 ms and 366 days.");
        Check(failures, options.QueueLimit >= 0, "QueueLimit must not be negative.");
        Check(failures, options.TokenLimit is null or >= 1, "TokenLimit must be at least 1.");
        Check(failures, options.EstimatedOutputTokens >= 0, "EstimatedOutputTokens must not be negative.");
        Check(failures, options.TokenWindow >= TimeSpan.FromMilliseconds(1) && options.TokenWindow <= TimeSpan.FromDays(366), "TokenWindow must be between 1 ms and 366 days.");
        Check(failures, options.StoreTimeout >= TimeSpan.FromMilliseconds(1) && options.StoreTimeout <= TimeSpan.FromMinutes(1), "StoreTimeout must be between 1 ms and 1 minute.");
        Check(failures, options.IdlePartitionTimeout >= TimeSpan.FromMilliseconds(1) && options.IdlePartitionTimeout <= TimeSpan.FromDays(1), "IdlePartitionTimeout must be between 1 ms and 1 day.");
        Check(failures, options.MaxPartitions >= 1, "MaxPartitions must be at least 1.");
        Check(failures, options.PartitionBy != RateLimitPartition.Custom || options.PartitionKeySelector is not null, "PartitionBy is Custom, so PartitionKeySelector must be set (in code).");
        Check(
            failures,
            options.Algorithm != RateLimitAlgorithm.SlidingWindow || options.SegmentsPerWindow < 1 || options.Window.Ticks / options.SegmentsPerWindow >= TimeSpan.TicksPerMillisecond,
            "SegmentsPerWindow is too large for the Window: each segment must be at least 1 ms.");
        if (failures.Count == 0)
        {
            var generated = new RateLimitingOptionsValidator().Validate(Options.DefaultName, options);
            if (generated.Failed)
            {
                failures.AddRange(ValidationMessages.WithoutRepeatedNames(generated).Failures ?? []);
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void Check(List<string> failures, bool ok, string message)
    {
        if (!ok)
        {
            failures.Add(Prefix + message);
        }
    }
}

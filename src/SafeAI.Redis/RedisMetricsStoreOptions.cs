using System.Globalization;
using StackExchange.Redis;

namespace SafeAI.Redis;

/// <summary>Settings of <see cref="RedisMetricsStore"/>, bound from <c>SafeAI:Monitoring:Redis</c> under dependency injection.</summary>
/// <example>
/// <code>
/// "SafeAI": { "Monitoring": { "Redis": { "Configuration": "redis-1:6379,password=...", "Retention": "30.00:00:00" } } }
/// </code>
/// </example>
public sealed class RedisMetricsStoreOptions
{
    /// <summary>The configuration section the options bind from.</summary>
    public const string SectionName = "SafeAI:Monitoring:Redis";

    /// <summary>Gets or sets the StackExchange.Redis configuration string, for example <c>localhost:6379</c>.</summary>
    public string Configuration { get; set; } = "localhost:6379";

    /// <summary>
    /// Gets or sets the prefix of the store's keys. Default: <c>safeai:metrics</c>. The keys are
    /// <c>{prefix}:index</c> and <c>{prefix}:b:TICKS</c>, the prefix in braces, so that in a Redis cluster they share one
    /// hash slot and a write stays one transaction; the prefix therefore cannot contain braces.
    /// </summary>
    public string KeyPrefix { get; set; } = "safeai:metrics";

    /// <summary>
    /// Gets or sets how long a bucket is kept after its start; Redis expires it then. Default 8 days, the recorder's
    /// default <c>MetricsRecorderOptions.Retention</c>; keep it at least as long as the recorder's, or a restarted
    /// instance finds fewer buckets than it holds in memory. Between one hour and 400 days. Points of buckets already
    /// older than this are not written.
    /// </summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(8);

    /// <summary>Gets or sets how long connecting may take. Default 5 seconds.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Gets or sets how long one write, read or ping may take before the store fails with a clear error. Default 5 seconds.</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Returns the first invalid setting, named with its configuration key, or <see langword="null"/>.</summary>
    internal string? GetError()
    {
        const string S = SectionName;
        if (string.IsNullOrWhiteSpace(Configuration))
        {
            return $"{S}:Configuration is required (a StackExchange.Redis configuration string such as 'localhost:6379').";
        }

        try
        {
            _ = ConfigurationOptions.Parse(Configuration);
        }
        catch (ArgumentException ex)
        {
            return $"{S}:Configuration is not a valid StackExchange.Redis configuration string: {ex.Message}";
        }

        if (string.IsNullOrWhiteSpace(KeyPrefix) || KeyPrefix.AsSpan().IndexOfAny('{', '}') >= 0)
        {
            return $"{S}:KeyPrefix must be non-empty and without braces (it is '{KeyPrefix}'); the store wraps it in braces as the keys' hash tag.";
        }

        if (Retention < TimeSpan.FromHours(1) || Retention > TimeSpan.FromDays(400))
        {
            return $"{S}:Retention must be between 01:00:00 and 400.00:00:00 (it is {Retention.ToString("c", CultureInfo.InvariantCulture)}).";
        }

        if (ConnectTimeout <= TimeSpan.Zero || ConnectTimeout > TimeSpan.FromMinutes(5))
        {
            return $"{S}:ConnectTimeout must be above zero and at most 00:05:00 (it is {ConnectTimeout.ToString("c", CultureInfo.InvariantCulture)}).";
        }

        if (CommandTimeout <= TimeSpan.Zero || CommandTimeout > TimeSpan.FromMinutes(5))
        {
            return $"{S}:CommandTimeout must be above zero and at most 00:05:00 (it is {CommandTimeout.ToString("c", CultureInfo.InvariantCulture)}).";
        }

        return null;
    }
}

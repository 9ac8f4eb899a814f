using Microsoft.Extensions.Options;

namespace SafeAI.Audit;

/// <summary>What happens to a record when the audit trail's queue is full (the store is slow or unreachable).</summary>
public enum AuditQueueFullMode
{
    /// <summary>The call waits until the queue has room: no record is lost, but calls slow down with the store.</summary>
    Block,

    /// <summary>The record is dropped and counted (<see cref="AuditTrail.DroppedCount"/>, the <c>safeai.audit.dropped</c> counter, a logged error): calls never wait.</summary>
    DropAndCount,
}

/// <summary>Settings of the audit trail (configuration section <c>SafeAI:AuditTrail</c>).</summary>
public sealed class AuditTrailOptions
{
    /// <summary>The configuration section the options bind to.</summary>
    public const string SectionName = "SafeAI:AuditTrail";

    /// <summary>Gets or sets how many records may wait for the writer. Default 10,000.</summary>
    public int QueueCapacity { get; set; } = 10_000;

    /// <summary>Gets or sets what happens when the queue is full. Default <see cref="AuditQueueFullMode.Block"/>: an audit trail that may lose records must be chosen explicitly.</summary>
    public AuditQueueFullMode FullMode { get; set; } = AuditQueueFullMode.Block;

    /// <summary>Gets or sets the most records the writer appends in one transaction. Default 500.</summary>
    public int BatchSize { get; set; } = 500;

    /// <summary>Gets or sets the interval of signed checkpoints: one follows every record whose sequence number is a multiple of it (0 for none). Default 1,000.</summary>
    public int CheckpointInterval { get; set; } = 1000;

    /// <summary>
    /// Gets or sets the checkpoint key, base64 (at least 32 bytes). Without it checkpoints only anchor the chain and
    /// a rewrite of the whole chain from some record on cannot be detected. Keep it out of the database's reach.
    /// </summary>
    public string? SigningKey { get; set; }

    /// <summary>Gets or sets the id of <see cref="SigningKey"/>, written into each checkpoint (for key rotation). Default <c>default</c>.</summary>
    public string SigningKeyId { get; set; } = "default";

    /// <summary>
    /// Gets or sets the text key, base64 (at least 32 bytes): message texts are recorded as HMAC-SHA256 with this key,
    /// and in clear only for people who consented to <c>store-text</c>. Without it no text and no text hash is recorded.
    /// </summary>
    public string? TextKey { get; set; }

    /// <summary>Gets or sets the version of the application's SafeAI configuration written into each call record (for example a commit or a hash of the settings).</summary>
    public string? ConfigurationVersion { get; set; }

    /// <summary>Gets or sets how long disposing the trail waits for queued records to be written. Default 10 seconds.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Gets or sets the longest wait between two attempts to write a batch the store refused. Default 5 seconds.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(5);

    internal string? GetError()
    {
        const string S = SectionName + ":";
        if (QueueCapacity is < 1 or > 10_000_000)
        {
            return S + "QueueCapacity must be between 1 and 10,000,000.";
        }

        if (!Enum.IsDefined(FullMode))
        {
            return S + "FullMode must be Block or DropAndCount.";
        }

        if (BatchSize is < 1 or > 100_000)
        {
            return S + "BatchSize must be between 1 and 100,000.";
        }

        if (CheckpointInterval is < 0 or > 100_000_000)
        {
            return S + "CheckpointInterval must be between 0 and 100,000,000.";
        }

        if (SigningKey is not null && DecodeKey(SigningKey) is null)
        {
            return S + "SigningKey must be base64 of at least 32 bytes.";
        }

        if (string.IsNullOrWhiteSpace(SigningKeyId))
        {
            return S + "SigningKeyId must not be empty.";
        }

        if (TextKey is not null && DecodeKey(TextKey) is null)
        {
            return S + "TextKey must be base64 of at least 32 bytes.";
        }

        if (ShutdownTimeout < TimeSpan.Zero || ShutdownTimeout > TimeSpan.FromMinutes(10))
        {
            return S + "ShutdownTimeout must be between 0 and 10 minutes.";
        }

        if (MaxRetryDelay < TimeSpan.FromMilliseconds(1) || MaxRetryDelay > TimeSpan.FromMinutes(10))
        {
            return S + "MaxRetryDelay must be between 1 millisecond and 10 minutes.";
        }

        return null;
    }

    internal static byte[]? DecodeKey(string? base64)
    {
        if (string.IsNullOrWhiteSpace(base64))
        {
            return null;
        }

        try
        {
            var key = Convert.FromBase64String(base64.Trim());
            return key.Length >= 32 ? key : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }
}

internal sealed class AuditTrailOptionsValidator : IValidateOptions<AuditTrailOptions>
{
    public ValidateOptionsResult Validate(string? name, AuditTrailOptions options) =>
        options.GetError() is { } error ? ValidateOptionsResult.Fail(error) : ValidateOptionsResult.Success;
}

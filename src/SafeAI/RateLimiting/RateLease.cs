using System.Threading.RateLimiting;

namespace SafeAI;

/// <summary>A lease with nothing to release: the cached admitted lease, or a rejection with its retry-after time.</summary>
internal sealed class RateLease : RateLimitLease
{
    private static readonly string[] RetryAfterNames = [MetadataName.RetryAfter.Name];

    private readonly TimeSpan? _retryAfter;

    private RateLease(bool acquired, TimeSpan? retryAfter)
    {
        IsAcquired = acquired;
        _retryAfter = retryAfter;
    }

    /// <summary>Gets the shared admitted lease.</summary>
    public static RateLease Acquired { get; } = new(true, null);

    /// <summary>Gets the shared rejected lease without a retry-after time.</summary>
    public static RateLease RejectedNoRetry { get; } = new(false, null);

    public override bool IsAcquired { get; }

    public override IEnumerable<string> MetadataNames => _retryAfter is null ? [] : RetryAfterNames;

    public static RateLease Rejected(TimeSpan? retryAfter) => retryAfter is null ? RejectedNoRetry : new(false, retryAfter);

    public override bool TryGetMetadata(string metadataName, out object? metadata)
    {
        if (_retryAfter is { } retry && string.Equals(metadataName, MetadataName.RetryAfter.Name, StringComparison.Ordinal))
        {
            metadata = retry;
            return true;
        }

        metadata = null;
        return false;
    }
}

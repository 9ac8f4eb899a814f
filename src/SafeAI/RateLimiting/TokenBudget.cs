namespace SafeAI;

/// <summary>A model-token budget per partition and window: checked before a call, charged with actual usage after it.</summary>
public abstract class TokenBudget : IDisposable
{
    /// <summary>
    /// Reserves <paramref name="tokens"/> (the estimate, possibly 0) when the partition's tokens used so far plus the
    /// reservation stay within the limit; otherwise reserves nothing.
    /// </summary>
    /// <param name="key">The partition key.</param>
    /// <param name="tokens">The tokens to reserve.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>Whether the tokens were reserved and, if not, when to retry.</returns>
    /// <exception cref="RateLimitStoreUnavailableException">The store cannot answer in time.</exception>
    public abstract ValueTask<TokenReservation> TryReserveAsync(string key, long tokens, CancellationToken cancellationToken);

    /// <summary>Adds <paramref name="tokens"/> (may be negative, to return an over-estimate) to the partition's usage.</summary>
    /// <param name="key">The partition key.</param>
    /// <param name="tokens">The tokens to add.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>A task that completes when charged.</returns>
    /// <exception cref="RateLimitStoreUnavailableException">The store cannot answer in time.</exception>
    public abstract ValueTask ChargeAsync(string key, long tokens, CancellationToken cancellationToken);

    /// <inheritdoc />
    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases resources.</summary>
    /// <param name="disposing"><see langword="true"/> when called from <see cref="Dispose()"/>.</param>
    protected virtual void Dispose(bool disposing)
    {
    }
}

/// <summary>The answer of <see cref="TokenBudget.TryReserveAsync"/>.</summary>
/// <param name="Granted">Whether the tokens were reserved.</param>
/// <param name="RetryAfter">When not granted: when the budget's window ends, if known.</param>
public readonly record struct TokenReservation(bool Granted, TimeSpan? RetryAfter);

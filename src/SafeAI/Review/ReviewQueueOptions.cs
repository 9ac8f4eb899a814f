namespace SafeAI.Review;

/// <summary>Settings of a <see cref="ReviewQueue"/>: how long each tier has, and how often the queue looks for timeouts and outside changes.</summary>
public sealed class ReviewQueueOptions
{
    /// <summary>Gets or sets how long first-tier reviewers have before the item escalates (or expires). Default 1 hour.</summary>
    public TimeSpan ReviewTimeout { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Gets or sets how long second-tier reviewers have after escalation; <see langword="null"/> for no second tier (items expire). Default 1 hour.</summary>
    public TimeSpan? SecondTierTimeout { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Gets or sets how often the queue escalates and expires due items; <see cref="Timeout.InfiniteTimeSpan"/> to only do so on <see cref="IReviewQueue.ProcessTimeoutsAsync"/>. Default 30 seconds.</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets how often a waiting call re-reads the store to see decisions made by other processes. Default 1 second.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    internal string? GetError(string prefix)
    {
        if (ReviewTimeout <= TimeSpan.Zero)
        {
            return $"{prefix}ReviewTimeout must be positive.";
        }

        if (SecondTierTimeout is { } s && s <= TimeSpan.Zero)
        {
            return $"{prefix}SecondTierTimeout must be positive when set.";
        }

        if (SweepInterval <= TimeSpan.Zero && SweepInterval != Timeout.InfiniteTimeSpan)
        {
            return $"{prefix}SweepInterval must be positive.";
        }

        if (PollInterval <= TimeSpan.Zero)
        {
            return $"{prefix}PollInterval must be positive.";
        }

        return null;
    }
}

using System.Text.Json;
using System.Text.Json.Serialization;

namespace SafeAI.Review;

/// <summary>The JSON form of a <see cref="ReviewItem"/> that the SQLite and PostgreSQL stores keep (versioned with the stores' schema).</summary>
internal static class ReviewItemJson
{
    public static string Serialize(ReviewItem item)
    {
        ArgumentNullException.ThrowIfNull(item);
        var verdicts = new List<StoredVerdict>(item.Verdicts.Count);
        foreach (var v in item.Verdicts)
        {
            verdicts.Add(new StoredVerdict
            {
                Action = v.Action,
                Stage = v.Stage,
                Reason = v.Reason,
                Detail = v.Detail,
                Score = v.Score,
                Threshold = v.Threshold,
                ElapsedTicks = v.Elapsed.Ticks,
                RetryAfterTicks = v.RetryAfter?.Ticks,
            });
        }

        var stored = new StoredReviewItem
        {
            Id = item.Id,
            Version = item.Version,
            State = item.State,
            Tier = item.Tier,
            CreatedAt = item.CreatedAt,
            UpdatedAt = item.UpdatedAt,
            ExpiresAt = item.ExpiresAt,
            Request = [.. item.Request],
            ProposedAnswer = item.ProposedAnswer,
            FinalAnswer = item.FinalAnswer,
            Verdicts = verdicts,
            Triggers = [.. item.Triggers],
            UserId = item.UserId,
            TenantId = item.TenantId,
            ConversationId = item.ConversationId,
            RiskTier = item.RiskTier,
            ClaimedBy = item.ClaimedBy,
            ClaimedAt = item.ClaimedAt,
            ReviewerId = item.ReviewerId,
            Comment = item.Comment,
            DecidedAt = item.DecidedAt,
            TextWithheld = item.TextWithheld,
        };
        return JsonSerializer.Serialize(stored, ReviewJsonContext.Default.StoredReviewItem);
    }

    public static ReviewItem Deserialize(string json)
    {
        ArgumentException.ThrowIfNullOrEmpty(json);
        StoredReviewItem? s;
        try
        {
            s = JsonSerializer.Deserialize(json, ReviewJsonContext.Default.StoredReviewItem);
        }
        catch (JsonException ex)
        {
            throw new ReviewStoreException("A stored review item is malformed and cannot be read.", ex);
        }

        if (s?.Id is null || s.ProposedAnswer is null)
        {
            throw new ReviewStoreException("A stored review item is malformed: it has no id or proposed answer.");
        }

        var verdicts = new GuardVerdict[s.Verdicts?.Count ?? 0];
        for (var i = 0; i < verdicts.Length; i++)
        {
            var v = s.Verdicts![i];
            verdicts[i] = new GuardVerdict(v.Action, v.Stage ?? "unknown", v.Reason ?? "unknown")
            {
                Detail = v.Detail,
                Score = v.Score,
                Threshold = v.Threshold,
                Elapsed = TimeSpan.FromTicks(v.ElapsedTicks),
                RetryAfter = v.RetryAfterTicks is { } r ? TimeSpan.FromTicks(r) : null,
            };
        }

        return new ReviewItem
        {
            Id = s.Id,
            Version = s.Version,
            State = s.State,
            Tier = s.Tier,
            CreatedAt = s.CreatedAt,
            UpdatedAt = s.UpdatedAt,
            ExpiresAt = s.ExpiresAt,
            Request = s.Request ?? [],
            ProposedAnswer = s.ProposedAnswer,
            FinalAnswer = s.FinalAnswer,
            Verdicts = verdicts,
            Triggers = s.Triggers ?? [],
            UserId = s.UserId,
            TenantId = s.TenantId,
            ConversationId = s.ConversationId,
            RiskTier = s.RiskTier,
            ClaimedBy = s.ClaimedBy,
            ClaimedAt = s.ClaimedAt,
            ReviewerId = s.ReviewerId,
            Comment = s.Comment,
            DecidedAt = s.DecidedAt,
            TextWithheld = s.TextWithheld,
        };
    }

    internal sealed class StoredReviewItem
    {
        public string? Id { get; set; }

        public long Version { get; set; }

        public ReviewState State { get; set; }

        public int Tier { get; set; }

        public DateTimeOffset CreatedAt { get; set; }

        public DateTimeOffset UpdatedAt { get; set; }

        public DateTimeOffset ExpiresAt { get; set; }

        public List<ReviewMessage>? Request { get; set; }

        public string? ProposedAnswer { get; set; }

        public string? FinalAnswer { get; set; }

        public List<StoredVerdict>? Verdicts { get; set; }

        public List<string>? Triggers { get; set; }

        public string? UserId { get; set; }

        public string? TenantId { get; set; }

        public string? ConversationId { get; set; }

        public RiskTier RiskTier { get; set; }

        public string? ClaimedBy { get; set; }

        public DateTimeOffset? ClaimedAt { get; set; }

        public string? ReviewerId { get; set; }

        public string? Comment { get; set; }

        public DateTimeOffset? DecidedAt { get; set; }

        public bool TextWithheld { get; set; }
    }

    internal sealed class StoredVerdict
    {
        public GuardAction Action { get; set; }

        public string? Stage { get; set; }

        public string? Reason { get; set; }

        public string? Detail { get; set; }

        public double? Score { get; set; }

        public double? Threshold { get; set; }

        public long ElapsedTicks { get; set; }

        public long? RetryAfterTicks { get; set; }
    }
}

[JsonSourceGenerationOptions(UseStringEnumConverter = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ReviewItemJson.StoredReviewItem))]
internal sealed partial class ReviewJsonContext : JsonSerializerContext;

/// <summary>Thrown by review stores when the storage itself fails (unreachable, timed out, corrupt); the message says which store and what happened.</summary>
public sealed class ReviewStoreException : Exception
{
    /// <summary>Initializes a new instance of the <see cref="ReviewStoreException"/> class.</summary>
    public ReviewStoreException()
    {
    }

    /// <summary>Initializes a new instance of the <see cref="ReviewStoreException"/> class.</summary>
    /// <param name="message">The message.</param>
    public ReviewStoreException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="ReviewStoreException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public ReviewStoreException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

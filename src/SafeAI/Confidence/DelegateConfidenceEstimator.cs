using Microsoft.Extensions.AI;

namespace SafeAI;

/// <summary>A confidence estimator written as a delegate, for example a score the provider returns in its own field.</summary>
/// <example>
/// <code>
/// new DelegateConfidenceEstimator("faq-match", static (ctx, response, ct) =&gt;
///     ValueTask.FromResult(response.AdditionalProperties?.TryGetValue(FaqChatClient.MatchScoreKey, out var s) == true ? (double?)Convert.ToDouble(s) : null));
/// </code>
/// </example>
public sealed class DelegateConfidenceEstimator : IConfidenceEstimator
{
    private readonly Func<SafeAIContext, ChatResponse, CancellationToken, ValueTask<double?>> _estimate;

    /// <summary>Initializes a new instance of the <see cref="DelegateConfidenceEstimator"/> class.</summary>
    /// <param name="name">The estimator name.</param>
    /// <param name="estimate">Returns a score in [0, 1], or <see langword="null"/> for "unknown".</param>
    /// <exception cref="ArgumentException"><paramref name="name"/> is null or empty.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="estimate"/> is <see langword="null"/>.</exception>
    public DelegateConfidenceEstimator(string name, Func<SafeAIContext, ChatResponse, CancellationToken, ValueTask<double?>> estimate)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(estimate);
        Name = name;
        _estimate = estimate;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public ValueTask<double?> EstimateAsync(SafeAIContext context, ChatResponse response, CancellationToken cancellationToken) =>
        _estimate(context, response, cancellationToken);
}

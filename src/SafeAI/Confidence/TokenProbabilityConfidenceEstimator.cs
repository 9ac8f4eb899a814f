using Microsoft.Extensions.AI;

namespace SafeAI;

/// <summary>
/// A base for estimators that derive confidence from the log-probabilities of the answer's tokens. A provider
/// package supplies how to request them and where to read them (see <c>OpenAILogProbabilityConfidenceEstimator</c> in
/// <c>SafeAI.OpenAI</c>); this class turns them into one score.
/// </summary>
public abstract class TokenProbabilityConfidenceEstimator : IConfidenceEstimator
{
    /// <summary>Initializes a new instance of the <see cref="TokenProbabilityConfidenceEstimator"/> class.</summary>
    /// <param name="aggregation">How token probabilities combine into one score.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="aggregation"/> is not defined.</exception>
    protected TokenProbabilityConfidenceEstimator(TokenProbabilityAggregation aggregation)
    {
        if (!Enum.IsDefined(aggregation))
        {
            throw new ArgumentOutOfRangeException(nameof(aggregation), aggregation, "Unknown aggregation.");
        }

        Aggregation = aggregation;
    }

    /// <summary>Gets how token probabilities combine into one score.</summary>
    public TokenProbabilityAggregation Aggregation { get; }

    /// <inheritdoc />
    public abstract string Name { get; }

    /// <inheritdoc />
    public virtual ChatOptions? PrepareOptions(ChatOptions? options) => options;

    /// <inheritdoc />
    public ValueTask<double?> EstimateAsync(SafeAIContext context, ChatResponse response, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(response);
        var logProbabilities = ReadLogProbabilities(response);
        return new ValueTask<double?>(logProbabilities is null ? null : Aggregate(logProbabilities, Aggregation));
    }

    /// <summary>Combines token log-probabilities (natural logarithm) into a score in [0, 1].</summary>
    /// <param name="logProbabilities">The log-probabilities of the answer's tokens.</param>
    /// <param name="aggregation">How to combine them.</param>
    /// <returns>The score, or <see langword="null"/> when there are no tokens or a value is not a number.</returns>
    public static double? Aggregate(IReadOnlyList<double> logProbabilities, TokenProbabilityAggregation aggregation)
    {
        ArgumentNullException.ThrowIfNull(logProbabilities);
        if (logProbabilities.Count == 0)
        {
            return null;
        }

        double sum = 0, min = double.MaxValue, logSum = 0;
        for (var i = 0; i < logProbabilities.Count; i++)
        {
            var lp = logProbabilities[i];
            if (double.IsNaN(lp) || lp > 1e-9)
            {
                return null;
            }

            lp = Math.Min(lp, 0);
            var p = Math.Exp(lp);
            sum += p;
            logSum += lp;
            min = Math.Min(min, p);
        }

        var score = aggregation switch
        {
            TokenProbabilityAggregation.Minimum => min,
            TokenProbabilityAggregation.GeometricMean => Math.Exp(logSum / logProbabilities.Count),
            _ => sum / logProbabilities.Count,
        };
        return Math.Clamp(score, 0, 1);
    }

    /// <summary>Reads the log-probabilities (natural logarithm) of the answer's tokens from the provider's raw response.</summary>
    /// <param name="response">The answer; see <see cref="IConfidenceEstimator.EstimateAsync"/> for streams.</param>
    /// <returns>The log-probabilities, or <see langword="null"/> when the response carries none.</returns>
    protected abstract IReadOnlyList<double>? ReadLogProbabilities(ChatResponse response);
}

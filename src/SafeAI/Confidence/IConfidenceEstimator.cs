using Microsoft.Extensions.AI;

namespace SafeAI;

/// <summary>
/// Estimates how likely a model's answer is to be right, as one score in [0, 1], or says it cannot tell
/// (<see langword="null"/>, "unknown": the provider exposes no signal for this answer).
/// </summary>
/// <remarks>
/// Estimators are shared by all calls and must be thread-safe. Built in: <see cref="DelegateConfidenceEstimator"/>
/// (your own logic), <see cref="VerbalizedConfidenceEstimator"/> (a confidence field the model writes in structured
/// output) and <see cref="TokenProbabilityConfidenceEstimator"/> (token log-probabilities; the OpenAI reader is in the
/// <c>SafeAI.OpenAI</c> package).
/// </remarks>
public interface IConfidenceEstimator
{
    /// <summary>Gets the estimator's name, recorded in the verdict's detail. Short, stable, low-cardinality.</summary>
    string Name { get; }

    /// <summary>
    /// Changes the request so the provider returns the signal this estimator reads (for example token
    /// log-probabilities). Called once per call before the model is called. Return the options unchanged when
    /// nothing is needed; never mutate <paramref name="options"/>: clone it.
    /// </summary>
    /// <param name="options">The request options, possibly <see langword="null"/>.</param>
    /// <returns>The options to send.</returns>
    ChatOptions? PrepareOptions(ChatOptions? options) => options;

    /// <summary>Estimates the confidence of an answer.</summary>
    /// <param name="context">The call's context.</param>
    /// <param name="response">The model's answer. For a stream, the updates joined into one response whose
    /// <see cref="ChatResponse.RawRepresentation"/> is the list of <see cref="ChatResponseUpdate"/>s.</param>
    /// <param name="cancellationToken">Cancels the estimate.</param>
    /// <returns>A score in [0, 1], or <see langword="null"/> when this estimator has no signal for the answer.</returns>
    ValueTask<double?> EstimateAsync(SafeAIContext context, ChatResponse response, CancellationToken cancellationToken);
}

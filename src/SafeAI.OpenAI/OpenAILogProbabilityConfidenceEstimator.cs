using Microsoft.Extensions.AI;
using OpenAI.Chat;

namespace SafeAI;

/// <summary>
/// Estimates confidence from the token log-probabilities of an OpenAI (or OpenAI-compatible) chat completion, called
/// through Microsoft.Extensions.AI's OpenAI adapter (<c>chatClient.AsIChatClient()</c>).
/// </summary>
/// <remarks>
/// <para>
/// Request side: <see cref="PrepareOptions"/> sets <see cref="ChatOptions.RawRepresentationFactory"/> on a clone of the
/// call's options so the adapter sends <see cref="ChatCompletionOptions.IncludeLogProbabilities"/> (<c>logprobs: true</c>);
/// a factory the caller set is kept and its <see cref="ChatCompletionOptions"/> extended.
/// </para>
/// <para>
/// Response side: reads <see cref="ChatCompletion.ContentTokenLogProbabilities"/> from the response's
/// <see cref="ChatResponse.RawRepresentation"/> (for streams, from each <see cref="StreamingChatCompletionUpdate"/>).
/// Providers or models that return no log-probabilities give "unknown".
/// </para>
/// </remarks>
public sealed class OpenAILogProbabilityConfidenceEstimator : TokenProbabilityConfidenceEstimator
{
    /// <summary>Initializes a new instance of the <see cref="OpenAILogProbabilityConfidenceEstimator"/> class.</summary>
    /// <param name="aggregation">How token probabilities combine into one score; the mean by default.</param>
    public OpenAILogProbabilityConfidenceEstimator(TokenProbabilityAggregation aggregation = TokenProbabilityAggregation.Mean)
        : base(aggregation)
    {
    }

    /// <inheritdoc />
    public override string Name => "openai-logprobs";

    /// <inheritdoc />
    public override ChatOptions? PrepareOptions(ChatOptions? options)
    {
        var clone = options?.Clone() ?? new ChatOptions();
        var previous = clone.RawRepresentationFactory;
        clone.RawRepresentationFactory = previous is null
            ? static _ => new ChatCompletionOptions { IncludeLogProbabilities = true }
            : client => Extend(previous(client));
        return clone;
    }

    /// <inheritdoc />
    protected override IReadOnlyList<double>? ReadLogProbabilities(ChatResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        switch (response.RawRepresentation)
        {
            case ChatCompletion completion:
                return Collect(completion.ContentTokenLogProbabilities, null);
            case IEnumerable<ChatResponseUpdate> updates:
                List<double>? all = null;
                foreach (var update in updates)
                {
                    if (update.RawRepresentation is StreamingChatCompletionUpdate streaming)
                    {
                        all = Collect(streaming.ContentTokenLogProbabilities, all);
                    }
                }

                return all;
            default:
                return null;
        }
    }

    private static List<double>? Collect(IReadOnlyList<ChatTokenLogProbabilityDetails>? details, List<double>? into)
    {
        if (details is null || details.Count == 0)
        {
            return into;
        }

        into ??= new List<double>(details.Count);
        foreach (var detail in details)
        {
            into.Add(detail.LogProbability);
        }

        return into;
    }

    private static object? Extend(object? raw)
    {
        switch (raw)
        {
            case null:
                return new ChatCompletionOptions { IncludeLogProbabilities = true };
            case ChatCompletionOptions options:
                options.IncludeLogProbabilities = true;
                return options;
            default:
                // Another provider's options: leave them alone.
                return raw;
        }
    }
}

/// <summary>Adds the OpenAI log-probability estimator to the confidence stage.</summary>
public static class OpenAIConfidenceOptionsExtensions
{
    /// <summary>Adds an <see cref="OpenAILogProbabilityConfidenceEstimator"/> to the estimators.</summary>
    /// <param name="options">The confidence options.</param>
    /// <param name="aggregation">How token probabilities combine into one score.</param>
    /// <returns>The options.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    public static ConfidenceOptions UseOpenAILogProbabilities(this ConfidenceOptions options, TokenProbabilityAggregation aggregation = TokenProbabilityAggregation.Mean)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Estimators.Add(new OpenAILogProbabilityConfidenceEstimator(aggregation));
        return options;
    }
}

/// <summary>Connects the OpenAI SDK to an <see cref="HttpClient"/> whose handler owns retries and timeouts.</summary>
public static class SafeAIOpenAIClientOptionsExtensions
{
    /// <summary>
    /// Sends the SDK's requests through <paramref name="httpClient"/> (for example one with <c>SafeAI.Http</c>'s
    /// <c>AddModelApiResilienceHandler</c>) and turns off the SDK's own retries and network timeout, so retries and
    /// timeouts have one owner and no request is retried by two layers.
    /// </summary>
    /// <param name="options">The OpenAI client options.</param>
    /// <param name="httpClient">The HTTP client.</param>
    /// <returns>The options.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static OpenAI.OpenAIClientOptions UseHttpClient(this OpenAI.OpenAIClientOptions options, HttpClient httpClient)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(httpClient);
        options.Transport = new System.ClientModel.Primitives.HttpClientPipelineTransport(httpClient);
        options.RetryPolicy = new System.ClientModel.Primitives.ClientRetryPolicy(maxRetries: 0);
        options.NetworkTimeout = Timeout.InfiniteTimeSpan;
        return options;
    }
}

using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.Http.Resilience;
using Polly;
using Polly.Timeout;
using SafeAI.Http;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds a resilience handler suited to model APIs (chat completions) to an <see cref="IHttpClientBuilder"/>.</summary>
public static class ModelApiHttpClientBuilderExtensions
{
    /// <summary>
    /// Adds the standard resilience handler of Microsoft.Extensions.Http.Resilience with settings suited to model APIs:
    /// <list type="bullet">
    /// <item><description>Honours <c>Retry-After</c> on 429 and 503 (up to <see cref="ModelApiResilienceOptions.MaxRetryAfter"/>).</description></item>
    /// <item><description>Attempt timeouts long enough for model latency (<see cref="ModelApiResilienceOptions.AttemptTimeout"/>).</description></item>
    /// <item><description>
    /// No blind retry of non-idempotent calls: a chat completion is a <c>POST</c> that costs tokens and may have run even
    /// when the answer never arrived. A <c>POST</c> is retried only when the server certainly did not process it: 429
    /// (rate limited), 503 (unavailable), or a connection that was never established. A 500, 502, 504 or an attempt
    /// timeout on a <c>POST</c> is not retried; idempotent methods (<c>GET</c>, <c>HEAD</c>, <c>OPTIONS</c>, <c>PUT</c>,
    /// <c>DELETE</c>) are retried on those too.
    /// </description></item>
    /// </list>
    /// Who owns retries: this handler does. Turn off the SDK's own retries (for the OpenAI SDK,
    /// <c>OpenAIClientOptions.RetryPolicy = new ClientRetryPolicy(0)</c>; <c>SafeAI.OpenAI</c>'s <c>UseHttpClient</c> does
    /// it) and do not retry in SafeAI's fallback stage, which calls each link once: a failure reaches the fallback only
    /// after this handler gave up, and nothing is retried by two layers.
    /// </summary>
    /// <param name="builder">The HTTP client builder of the provider's client.</param>
    /// <param name="configure">Changes the settings.</param>
    /// <returns>The resilience pipeline builder, for further configuration.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range.</exception>
    /// <example>
    /// <code>
    /// services.AddHttpClient("openai").AddModelApiResilienceHandler(o =&gt; o.MaxRetryAttempts = 3);
    /// </code>
    /// </example>
    public static IHttpStandardResiliencePipelineBuilder AddModelApiResilienceHandler(this IHttpClientBuilder builder, Action<ModelApiResilienceOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var settings = new ModelApiResilienceOptions();
        configure?.Invoke(settings);
        Validate(settings);
        return builder.AddStandardResilienceHandler(options => Apply(settings, options));
    }

    internal static void Apply(ModelApiResilienceOptions settings, HttpStandardResilienceOptions options)
    {
        options.AttemptTimeout.Timeout = settings.AttemptTimeout;
        options.TotalRequestTimeout.Timeout = settings.TotalRequestTimeout;

        // The circuit breaker validates that it samples at least two attempt timeouts.
        var sampling = TimeSpan.FromTicks(Math.Max(settings.AttemptTimeout.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
        options.CircuitBreaker.SamplingDuration = sampling;

        var retry = options.Retry;
        retry.MaxRetryAttempts = settings.MaxRetryAttempts;
        retry.ShouldRetryAfterHeader = true;
        retry.BackoffType = DelayBackoffType.Exponential;
        retry.UseJitter = true;
        retry.Delay = settings.BaseDelay;
        retry.MaxDelay = settings.MaxRetryAfter;
        var maxRetryAfter = settings.MaxRetryAfter;
        retry.ShouldHandle = args => new ValueTask<bool>(ShouldRetry(args.Outcome, args.Context.GetRequestMessage(), maxRetryAfter));
    }

    /// <summary>Decides whether an attempt's outcome may be retried; see <see cref="AddModelApiResilienceHandler"/>.</summary>
    internal static bool ShouldRetry(Outcome<HttpResponseMessage> outcome, HttpRequestMessage? request, TimeSpan maxRetryAfter)
    {
        var method = outcome.Result?.RequestMessage?.Method ?? request?.Method;
        var idempotent = method is not null && (method == HttpMethod.Get || method == HttpMethod.Head || method == HttpMethod.Options ||
            method == HttpMethod.Put || method == HttpMethod.Delete || method == HttpMethod.Trace);

        if (outcome.Result is { } response)
        {
            var status = (int)response.StatusCode;
            if (status is 429 or 503)
            {
                // Not processed: safe to retry for any method, unless the server asks for a longer wait than we accept.
                return RetryAfter(response.Headers.RetryAfter, response) is not { } wait || wait <= maxRetryAfter;
            }

            return idempotent && (status is 408 or 500 or 502 or 504);
        }

        return outcome.Exception switch
        {
            HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError } => true,
            HttpRequestException or TimeoutRejectedException => idempotent,
            _ => false,
        };
    }

    private static TimeSpan? RetryAfter(RetryConditionHeaderValue? header, HttpResponseMessage response)
    {
        if (header?.Delta is { } delta)
        {
            return delta;
        }

        if (header?.Date is { } date && response.Headers.Date is { } now)
        {
            return date - now;
        }

        return null;
    }

    private static void Validate(ModelApiResilienceOptions settings)
    {
        if (settings.MaxRetryAttempts is < 1 or > 10)
        {
            throw new ArgumentOutOfRangeException(nameof(settings), settings.MaxRetryAttempts, "ModelApiResilienceOptions.MaxRetryAttempts must be between 1 and 10 (for no retries, do not add the handler).");
        }

        if (settings.AttemptTimeout <= TimeSpan.Zero || settings.TotalRequestTimeout < settings.AttemptTimeout)
        {
            throw new ArgumentOutOfRangeException(nameof(settings), "ModelApiResilienceOptions.AttemptTimeout must be positive and no longer than TotalRequestTimeout.");
        }

        if (settings.MaxRetryAfter < TimeSpan.Zero || settings.BaseDelay < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(settings), "ModelApiResilienceOptions.MaxRetryAfter and BaseDelay must not be negative.");
        }
    }
}

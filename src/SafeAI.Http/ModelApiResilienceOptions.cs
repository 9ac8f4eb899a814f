namespace SafeAI.Http;

/// <summary>Settings of <see cref="Microsoft.Extensions.DependencyInjection.ModelApiHttpClientBuilderExtensions.AddModelApiResilienceHandler"/>.</summary>
public sealed class ModelApiResilienceOptions
{
    /// <summary>
    /// Gets or sets how many times a request is retried after the first attempt. Between 1 and 10; default: 2. Only requests that were
    /// not processed (or are idempotent) are retried; see the extension's remarks.
    /// </summary>
    public int MaxRetryAttempts { get; set; } = 2;

    /// <summary>
    /// Gets or sets the time budget of one attempt, until the response headers arrive. Default: 100 seconds, because
    /// long answers from large models routinely take tens of seconds (the standard HTTP handler's 10 seconds would cut
    /// them off and retry, paying twice).
    /// </summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(100);

    /// <summary>Gets or sets the time budget of a request with all its retries and waits. Default: 4 minutes.</summary>
    public TimeSpan TotalRequestTimeout { get; set; } = TimeSpan.FromMinutes(4);

    /// <summary>
    /// Gets or sets the longest <c>Retry-After</c> the handler waits for. A 429 or 503 asking for a longer wait is not
    /// retried, so the caller (or SafeAI's fallback stage) can answer now instead. Default: 30 seconds.
    /// </summary>
    public TimeSpan MaxRetryAfter { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets the base delay of the exponential back-off when the server sends no <c>Retry-After</c>. Default: 2 seconds.</summary>
    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromSeconds(2);
}

using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace SafeAI.Monitoring;

/// <summary>Settings of a webhook action.</summary>
public sealed class WebhookOptions
{
    /// <summary>Gets or sets the signing secret; without one the request is not signed.</summary>
    public string? Secret { get; set; }

    /// <summary>Gets or sets how many attempts are made in all (default 4).</summary>
    public int MaxAttempts { get; set; } = 4;

    /// <summary>Gets or sets the wait before the first retry; it doubles with each retry (default 1 second).</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Gets or sets the longest wait between attempts, also the cap on a Retry-After header (default 30 seconds).</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets the time budget of one attempt (default 10 seconds).</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// Posts the alert as JSON to a URL, retried with exponential backoff on network errors, timeouts, 408, 429 and 5xx, and
/// signed with HMAC-SHA256 when a secret is set.
/// </summary>
/// <remarks>
/// <para>Body: <c>{"rule", "event": "fired"|"repeated"|"resolved", "time", "metric", "arm", "value", "baseline", "samples", "statistic", "detail"}</c>.</para>
/// <para>Headers: <c>X-SafeAI-Delivery</c> (the same id on every retry, for de-duplication), <c>X-SafeAI-Timestamp</c>
/// (Unix seconds) and <c>X-SafeAI-Signature: sha256=</c> followed by the lower-case hex HMAC-SHA256, keyed with the
/// secret's UTF-8 bytes, of <c>{timestamp}.{body}</c>. Check it with <see cref="VerifySignature"/>, and reject old timestamps.</para>
/// </remarks>
public sealed class WebhookAlertAction : IAlertAction
{
    /// <summary>The signature header.</summary>
    public const string SignatureHeader = "X-SafeAI-Signature";

    /// <summary>The timestamp header.</summary>
    public const string TimestampHeader = "X-SafeAI-Timestamp";

    /// <summary>The delivery id header.</summary>
    public const string DeliveryHeader = "X-SafeAI-Delivery";

    private readonly Uri _url;
    private readonly HttpClient _http;
    private readonly WebhookOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;

    /// <summary>Initializes a new instance of the <see cref="WebhookAlertAction"/> class.</summary>
    /// <param name="url">An absolute http or https URL.</param>
    /// <param name="httpClient">The client (not disposed by the action).</param>
    /// <param name="options">The settings; defaults when <see langword="null"/>.</param>
    /// <param name="timeProvider">The clock for timestamps and backoff; the system clock when <see langword="null"/>.</param>
    /// <param name="logger">Logs retries; none when <see langword="null"/>.</param>
    /// <exception cref="ArgumentException"><paramref name="url"/> is not an absolute http(s) URL, or a setting is out of range.</exception>
    public WebhookAlertAction(Uri url, HttpClient httpClient, WebhookOptions? options = null, TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(url);
        ArgumentNullException.ThrowIfNull(httpClient);
        if (!url.IsAbsoluteUri || url.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException($"A webhook URL must be absolute http or https (it is '{url}').", nameof(url));
        }

        _options = options ?? new WebhookOptions();
        if (_options.MaxAttempts is < 1 or > 20 || _options.InitialBackoff < TimeSpan.Zero || _options.MaxBackoff < _options.InitialBackoff || _options.AttemptTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("WebhookOptions: MaxAttempts must be 1 to 20, InitialBackoff not negative, MaxBackoff at least InitialBackoff, AttemptTimeout positive.", nameof(options));
        }

        _url = url;
        _http = httpClient;
        _timeProvider = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <inheritdoc />
    public string Kind => "webhook";

    /// <inheritdoc />
    public bool RunsOnResolve => true;

    /// <summary>Computes the signature header value for a body.</summary>
    /// <param name="secret">The secret.</param>
    /// <param name="timestamp">The timestamp header's value.</param>
    /// <param name="body">The body, as sent.</param>
    /// <returns><c>sha256=</c> and the hex HMAC.</returns>
    public static string Sign(string secret, string timestamp, ReadOnlySpan<byte> body)
    {
        ArgumentException.ThrowIfNullOrEmpty(secret);
        ArgumentNullException.ThrowIfNull(timestamp);
        var prefix = Encoding.UTF8.GetBytes(timestamp + ".");
        var message = new byte[prefix.Length + body.Length];
        prefix.CopyTo(message, 0);
        body.CopyTo(message.AsSpan(prefix.Length));
        return "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), message));
    }

    /// <summary>Checks a received signature in constant time.</summary>
    /// <param name="secret">The secret.</param>
    /// <param name="timestamp">The timestamp header's value.</param>
    /// <param name="body">The body, as received.</param>
    /// <param name="signature">The signature header's value.</param>
    /// <returns><see langword="true"/> when it matches.</returns>
    public static bool VerifySignature(string secret, string timestamp, ReadOnlySpan<byte> body, string? signature) =>
        signature is not null && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Sign(secret, timestamp, body)), Encoding.ASCII.GetBytes(signature));

    /// <inheritdoc />
    public async ValueTask<string> ExecuteAsync(AlertNotification notification, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(notification);
        var body = Serialize(notification.Event);
        var delivery = Guid.NewGuid().ToString("N");
        var delay = _options.InitialBackoff;
        for (var attempt = 1; ; attempt++)
        {
            string problem;
            TimeSpan? retryAfter = null;
            using (var request = new HttpRequestMessage(HttpMethod.Post, _url))
            {
                var timestamp = _timeProvider.GetUtcNow().ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
                request.Content = new ByteArrayContent(body);
                request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
                request.Headers.Add(DeliveryHeader, delivery);
                request.Headers.Add(TimestampHeader, timestamp);
                request.Headers.Add("X-SafeAI-Event", notification.Event.Kind.ToString().ToLowerInvariant());
                if (!string.IsNullOrEmpty(_options.Secret))
                {
                    request.Headers.Add(SignatureHeader, Sign(_options.Secret, timestamp, body));
                }

                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(_options.AttemptTimeout);
                try
                {
                    using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
                    var status = (int)response.StatusCode;
                    if (response.IsSuccessStatusCode)
                    {
                        return $"delivered to {_url.GetLeftPart(UriPartial.Path)} (HTTP {status}, attempt {attempt})";
                    }

                    problem = $"HTTP {status}";
                    if (!(status >= 500 || response.StatusCode is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests))
                    {
                        throw new HttpRequestException($"The webhook {_url.GetLeftPart(UriPartial.Path)} refused the alert with HTTP {status}; not retried.", null, response.StatusCode);
                    }

                    retryAfter = response.Headers.RetryAfter?.Delta;
                }
                catch (HttpRequestException ex) when (ex.StatusCode is null)
                {
                    problem = ex.Message;
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    problem = $"no answer within {_options.AttemptTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s";
                }
            }

            if (attempt >= _options.MaxAttempts)
            {
                throw new HttpRequestException($"The webhook {_url.GetLeftPart(UriPartial.Path)} failed {attempt} times; last: {problem}.");
            }

            var wait = retryAfter is { } ra ? (ra > _options.MaxBackoff ? _options.MaxBackoff : ra) : delay;
            MonitoringLog.WebhookRetry(_logger, _url.GetLeftPart(UriPartial.Path), attempt, problem, wait);
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, _timeProvider, cancellationToken).ConfigureAwait(false);
            }

            delay = delay * 2 > _options.MaxBackoff ? _options.MaxBackoff : delay * 2;
        }
    }

    internal static byte[] Serialize(AlertEvent e)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("rule", e.Rule);
            json.WriteString("event", e.Kind.ToString().ToLowerInvariant());
            json.WriteString("time", e.Time.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
            json.WriteString("metric", e.Metric);
            if (e.Arm is not null)
            {
                json.WriteString("arm", e.Arm);
            }

            WriteNumber(json, "value", e.Value);
            WriteNumber(json, "baseline", e.Baseline);
            json.WriteNumber("samples", e.Samples);
            WriteNumber(json, "statistic", e.Statistic);
            json.WriteString("detail", e.Detail);
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    internal static void WriteNumber(Utf8JsonWriter json, string name, double? value)
    {
        if (value is { } v && double.IsFinite(v))
        {
            json.WriteNumber(name, Math.Round(v, 6));
        }
        else
        {
            json.WriteNull(name);
        }
    }
}

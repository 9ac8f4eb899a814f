using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;

namespace SafeAI.AspNetCore;

/// <summary>Writes what SafeAI decided about a call onto the HTTP response.</summary>
public static class SafeAIHttpResponseExtensions
{
    /// <summary>
    /// Applies a SafeAI answer to the HTTP response: sets the <c>AI-Disclosure</c> header from the response's
    /// <see cref="AIDisclosure"/> (or <c>mode=none</c> for a refusal without one), and for a rate-limited call sets status
    /// <c>429</c> and <c>Retry-After</c>. Call it before writing the body.
    /// </summary>
    /// <param name="httpResponse">The HTTP response.</param>
    /// <param name="chatResponse">The answer from a SafeAI-wrapped client.</param>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The HTTP response has already started.</exception>
    public static void ApplySafeAI(this HttpResponse httpResponse, ChatResponse chatResponse)
    {
        ArgumentNullException.ThrowIfNull(httpResponse);
        ArgumentNullException.ThrowIfNull(chatResponse);
        if (httpResponse.HasStarted)
        {
            throw new InvalidOperationException("SafeAI headers must be set before the HTTP response starts.");
        }

        var result = chatResponse.GetSafeAIResult();
        var disclosure = chatResponse.GetAIDisclosure();
        if (disclosure is not null)
        {
            httpResponse.Headers[AIDisclosureHeader.HeaderName] = disclosure.ToHeaderValue();
        }
        else if (result?.IsRejected == true)
        {
            httpResponse.Headers[AIDisclosureHeader.HeaderName] = AIDisclosureHeader.Format(new AIDisclosure { Mode = AIDisclosureMode.None });
        }

        if (result?.Outcome == GuardAction.Limit)
        {
            httpResponse.StatusCode = StatusCodes.Status429TooManyRequests;
            SetRetryAfter(httpResponse, result.RetryAfter);
        }
    }

    /// <summary>Sets the <c>AI-Disclosure</c> header of a streamed answer from its first update (call before writing it).</summary>
    /// <param name="httpResponse">The HTTP response.</param>
    /// <param name="firstUpdate">The stream's first update.</param>
    /// <returns><see langword="true"/> when the update carried a disclosure.</returns>
    public static bool ApplySafeAI(this HttpResponse httpResponse, ChatResponseUpdate firstUpdate)
    {
        ArgumentNullException.ThrowIfNull(httpResponse);
        ArgumentNullException.ThrowIfNull(firstUpdate);
        if (firstUpdate.GetAIDisclosure() is not { } disclosure || httpResponse.HasStarted)
        {
            return false;
        }

        httpResponse.Headers[AIDisclosureHeader.HeaderName] = disclosure.ToHeaderValue();
        return true;
    }

    /// <summary>
    /// Sets the <c>AI-Disclosure</c> header for an answer delivered after human review (a deferred call): a person
    /// approved or edited the AI's answer → <c>mode=ai-originated</c> with <c>reviewed-by</c> and the decision's date;
    /// rejected or expired (the caller gets a non-AI follow-up text) → <c>mode=none</c>; still open → no header.
    /// </summary>
    /// <param name="httpResponse">The HTTP response.</param>
    /// <param name="item">The review item.</param>
    /// <param name="model">The model that wrote the proposed answer, if known.</param>
    /// <param name="provider">The model's provider, if known.</param>
    /// <returns>The disclosure that was set, or <see langword="null"/> while the item is open.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The HTTP response has already started.</exception>
    public static AIDisclosure? ApplySafeAIReview(this HttpResponse httpResponse, SafeAI.Review.ReviewItem item, string? model = null, string? provider = null)
    {
        ArgumentNullException.ThrowIfNull(httpResponse);
        ArgumentNullException.ThrowIfNull(item);
        if (httpResponse.HasStarted)
        {
            throw new InvalidOperationException("SafeAI headers must be set before the HTTP response starts.");
        }

        AIDisclosure? disclosure = item.State switch
        {
            SafeAI.Review.ReviewState.Approved or SafeAI.Review.ReviewState.Edited => new AIDisclosure
            {
                Mode = AIDisclosureMode.AIOriginated,
                Model = model,
                Provider = provider,
                ReviewedBy = item.ReviewerId,
                Date = item.DecidedAt,
            },
            SafeAI.Review.ReviewState.Rejected or SafeAI.Review.ReviewState.Expired => new AIDisclosure { Mode = AIDisclosureMode.None, Date = item.DecidedAt },
            _ => null,
        };
        if (disclosure is not null)
        {
            httpResponse.Headers[AIDisclosureHeader.HeaderName] = disclosure.ToHeaderValue();
        }

        return disclosure;
    }

    internal static void SetRetryAfter(HttpResponse response, TimeSpan? retryAfter)
    {
        if (retryAfter is { } retry)
        {
            response.Headers.RetryAfter = Math.Max(1, (long)Math.Ceiling(retry.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        }
    }
}

using System.Security.Claims;
using Microsoft.AspNetCore.Http;

namespace SafeAI.AspNetCore;

/// <summary>Settings of the consent endpoints and page mapped by <c>MapSafeAIConsent()</c>.</summary>
public sealed class SafeAIConsentEndpointOptions
{
    /// <summary>The smallest accepted <see cref="MaxRequestBodySize"/>, in bytes.</summary>
    public const long MinRequestBodySize = 64;

    /// <summary>The largest accepted <see cref="MaxRequestBodySize"/>, in bytes.</summary>
    public const long MaxAllowedRequestBodySize = 64 * 1024;

    /// <summary>
    /// Gets or sets how the person whose choices are shown and changed (the subject) is read from a request. It must be
    /// the same id the chat puts on its calls as the user id (<c>ChatOptions.WithUser</c>, or the claim
    /// <c>app.UseSafeAI()</c> reads), or the choices never reach the calls. Default: for a signed-in user, the name
    /// identifier claim, then <c>sub</c>; <see langword="null"/> (no subject: <c>401</c>) for anyone else.
    /// </summary>
    public Func<HttpContext, string?> GetSubjectId { get; set; } = DefaultSubjectId;

    /// <summary>Gets or sets a value indicating whether the consent page (HTML, script and style sheet) is served under the prefix. Default <see langword="true"/>.</summary>
    public bool ServePage { get; set; } = true;

    /// <summary>Gets or sets the largest request body accepted, in bytes. Default 4 KiB; between <see cref="MinRequestBodySize"/> and <see cref="MaxAllowedRequestBodySize"/>.</summary>
    public long MaxRequestBodySize { get; set; } = 4 * 1024;

    /// <summary>
    /// Gets or sets the local address the page's "back" link goes to (for example the chat page), or <see langword="null"/>
    /// for no link. It must start with a single <c>/</c>.
    /// </summary>
    public string? ReturnPath { get; set; }

    internal string? GetError()
    {
        if (GetSubjectId is null)
        {
            return "SafeAIConsentEndpointOptions.GetSubjectId must not be null.";
        }

        if (MaxRequestBodySize is < MinRequestBodySize or > MaxAllowedRequestBodySize)
        {
            return $"SafeAIConsentEndpointOptions.MaxRequestBodySize must be between {MinRequestBodySize} and {MaxAllowedRequestBodySize} bytes.";
        }

        if (ReturnPath is not null && (!ReturnPath.StartsWith('/') || ReturnPath.StartsWith("//", StringComparison.Ordinal) || ReturnPath.StartsWith("/\\", StringComparison.Ordinal)))
        {
            return "SafeAIConsentEndpointOptions.ReturnPath must be a local path starting with a single '/'.";
        }

        return null;
    }

    internal static string? DefaultSubjectId(HttpContext http) =>
        http.User.Identity?.IsAuthenticated == true ? http.User.FindFirstValue(ClaimTypes.NameIdentifier) ?? http.User.FindFirstValue("sub") : null;
}

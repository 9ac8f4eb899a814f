using System.Security.Claims;
using Microsoft.AspNetCore.Http;

namespace SafeAI.AspNetCore;

/// <summary>How <c>app.UseSafeAI()</c> turns an HTTP request into a SafeAI call context and maps rejections to HTTP.</summary>
public sealed class SafeAIAspNetCoreOptions
{
    /// <summary>Gets or sets the claim holding the user's stable identifier. Default: <see cref="ClaimTypes.NameIdentifier"/>, then <c>sub</c>.</summary>
    public string UserIdClaim { get; set; } = ClaimTypes.NameIdentifier;

    /// <summary>Gets or sets the claim holding the tenant. Default: <c>tid</c>.</summary>
    public string TenantClaim { get; set; } = "tid";

    /// <summary>Gets or sets the request header that carries the application's conversation id. Default: <c>X-Conversation-Id</c>; <see langword="null"/> to ignore.</summary>
    public string? ConversationHeader { get; set; } = "X-Conversation-Id";

    /// <summary>Gets or sets a value indicating whether the user's locale is taken from <c>Accept-Language</c> (its first language). Default: <see langword="true"/>.</summary>
    public bool LocaleFromAcceptLanguage { get; set; } = true;

    /// <summary>Gets or sets a delegate that changes the call context built for a request (for example to set the risk tier of an endpoint).</summary>
    public Func<HttpContext, SafeAICallContext, SafeAICallContext>? ConfigureCallContext { get; set; }

    /// <summary>
    /// Gets or sets a value indicating whether <see cref="SafeAIRateLimitedException"/> and <see cref="SafeAIBlockedException"/>
    /// thrown by an endpoint become <c>429 Too Many Requests</c> (with <c>Retry-After</c>) and <c>422 Unprocessable Content</c>
    /// problem responses. Default: <see langword="true"/>.
    /// </summary>
    public bool MapRejectionExceptions { get; set; } = true;
}

using System.Security.Claims;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace SafeAI.AspNetCore;

/// <summary>
/// Per request: sets the ambient <see cref="SafeAICallContext"/> from the request (user and tenant from the
/// authenticated principal, conversation from a header, locale from <c>Accept-Language</c>), and maps SafeAI's typed
/// rejection exceptions to HTTP status codes.
/// </summary>
internal sealed class SafeAIMiddleware(RequestDelegate next, IOptions<SafeAIAspNetCoreOptions> options)
{
    private readonly SafeAIAspNetCoreOptions _options = options.Value;

    public async Task InvokeAsync(HttpContext context)
    {
        using var scope = SafeAICallContextAccessor.BeginScope(CreateCallContext(context));
        if (!_options.MapRejectionExceptions)
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (SafeAIRateLimitedException ex) when (!context.Response.HasStarted)
        {
            context.Response.Clear();
            context.Response.StatusCode = StatusCodes.Status429TooManyRequests;
            SafeAIHttpResponseExtensions.SetRetryAfter(context.Response, ex.RetryAfter);
            await WriteProblemAsync(context, "Too many requests", ex.Message, ex.Result).ConfigureAwait(false);
        }
        catch (SafeAIBlockedException ex) when (!context.Response.HasStarted)
        {
            context.Response.Clear();
            context.Response.StatusCode = StatusCodes.Status422UnprocessableEntity;
            await WriteProblemAsync(context, "Request blocked", ex.Message, ex.Result).ConfigureAwait(false);
        }
    }

    internal SafeAICallContext CreateCallContext(HttpContext http)
    {
        var user = http.User;
        string? userId = null;
        string? tenantId = null;
        if (user.Identity?.IsAuthenticated == true)
        {
            userId = user.FindFirstValue(_options.UserIdClaim) ?? user.FindFirstValue("sub");
            tenantId = user.FindFirstValue(_options.TenantClaim);
        }

        string? conversationId = null;
        if (_options.ConversationHeader is { } header && http.Request.Headers.TryGetValue(header, out var conversation) && conversation.Count > 0)
        {
            var value = conversation[0];
            conversationId = string.IsNullOrWhiteSpace(value) || value.Length > 200 ? null : value;
        }

        string? locale = null;
        if (_options.LocaleFromAcceptLanguage)
        {
            var languages = http.Request.GetTypedHeaders().AcceptLanguage;
            if (languages is { Count: > 0 })
            {
                var best = languages.OrderByDescending(static l => l.Quality ?? 1.0).First().Value.Value;
                locale = best is null or "*" ? null : best;
            }
        }

        var callContext = new SafeAICallContext { UserId = userId, TenantId = tenantId, ConversationId = conversationId, Locale = locale };
        return _options.ConfigureCallContext?.Invoke(http, callContext) ?? callContext;
    }

    private static Task WriteProblemAsync(HttpContext context, string title, string detail, SafeAIResult result)
    {
        var verdict = result.DecisiveVerdict;
        var problem = new
        {
            type = "https://safeai.dev/problems/" + (result.Outcome == GuardAction.Limit ? "rate-limited" : "blocked"),
            title,
            status = context.Response.StatusCode,
            detail,
            stage = verdict?.Stage,
            reason = verdict?.Reason,
            retryAfterSeconds = result.RetryAfter is { } retry ? Math.Ceiling(retry.TotalSeconds) : (double?)null,
        };
        return context.Response.WriteAsJsonAsync(problem, options: null, contentType: "application/problem+json", context.RequestAborted);
    }
}

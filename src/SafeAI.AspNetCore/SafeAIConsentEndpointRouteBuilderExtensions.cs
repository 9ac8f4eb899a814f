using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using SafeAI.AspNetCore;
using SafeAI.Consent;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps SafeAI's consent endpoints: a person views and changes their own consent choices.</summary>
public static class SafeAIConsentEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps a person's own consent choices under <paramref name="prefix"/>: <c>GET api/choices</c> (each of the four
    /// purposes of <see cref="ConsentPurposes.All"/> with the person's choice, its default and whether it applies now),
    /// <c>PUT api/choices/{purpose}</c> (or <c>POST</c>) with a body <c>{"granted": true | false}</c> (answers the new
    /// state), and the consent page at the prefix itself. The person is the request's subject
    /// (<see cref="SafeAIConsentEndpointOptions.GetSubjectId"/>), never a value from the body or the route, so nobody
    /// can read or change another person's choices. Changes go through the registered <see cref="ConsentManager"/>:
    /// they apply to the person's next call in this process at once, and each is an audit record when an audit trail
    /// is registered (<c>safe.AddAuditTrail()</c>). Answers <c>400</c> (an unknown purpose, a body without
    /// <c>granted</c>, invalid JSON), <c>401</c> (no subject), <c>413</c>, <c>415</c> and <c>503</c> (the store failed)
    /// as problem responses (<c>application/problem+json</c>) that say what is wrong.
    /// Anyone the subject function identifies may use it; the changing calls accept JSON only, so a plain cross-site
    /// form cannot send them. Chain <c>.RequireAuthorization(...)</c> on the returned group to restrict it further.
    /// </summary>
    /// <param name="endpoints">The endpoint route builder.</param>
    /// <param name="prefix">The route prefix. Default <c>/safeai/consent</c>.</param>
    /// <param name="configure">Changes the settings.</param>
    /// <returns>The route group, to add conventions (e.g. authorization or rate limiting).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="endpoints"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="prefix"/> is null or empty, or a setting is invalid.</exception>
    /// <exception cref="InvalidOperationException">No <see cref="ConsentManager"/> is registered (<c>safe.AddConsent()</c>).</exception>
    public static RouteGroupBuilder MapSafeAIConsent(this IEndpointRouteBuilder endpoints, string prefix = "/safeai/consent", Action<SafeAIConsentEndpointOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        var options = new SafeAIConsentEndpointOptions();
        configure?.Invoke(options);
        if (options.GetError() is { } error)
        {
            throw new ArgumentException(error, nameof(configure));
        }

        var manager = endpoints.ServiceProvider.GetService<ConsentManager>() ?? throw new InvalidOperationException(
            "MapSafeAIConsent() found no consent manager. Register one: services.AddSafeAI(safe => safe.AddConsent()), with a store such as safe.UseSqliteConsentStore().");

        var group = endpoints.MapGroup(prefix);
        var handlers = new ConsentEndpoints(manager, options, prefix.TrimEnd('/'));
        var api = group.MapGroup("/api").DisableCookieRedirect();
        api.MapGet("/choices", handlers.GetAsync).WithName("SafeAI.Consent.Get")
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        // No Accepts<T>() metadata: routing would answer another media type with a bare 415; the handler says what to send.
        api.MapMethods("/choices/{purpose}", [HttpMethods.Put, HttpMethods.Post], handlers.SetAsync).WithName("SafeAI.Consent.Set")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        if (options.ServePage)
        {
            group.MapGet("/", handlers.PageAsync).ExcludeFromDescription();
            group.MapGet("/consent.js", static (HttpContext http) => PageAssets.ServeAsync(http, "consent.js", "text/javascript; charset=utf-8")).ExcludeFromDescription();
            group.MapGet("/consent.css", static (HttpContext http) => PageAssets.ServeAsync(http, "consent.css", "text/css; charset=utf-8")).ExcludeFromDescription();
        }

        return group;
    }
}

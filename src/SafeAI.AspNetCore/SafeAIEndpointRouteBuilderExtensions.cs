using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using SafeAI;
using SafeAI.AspNetCore;
using SafeAI.Feedback;
using SafeAI.Review;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps SafeAI's HTTP endpoints: feedback on answers, the human review queue with its reviewers' page, and the rollout operator view.</summary>
public static class SafeAIEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps <c>POST {pattern}</c>: feedback on an answer, stored in the registered <see cref="IFeedbackStore"/>
    /// (<c>safe.AddFeedback()</c>, or a store package's <c>UseSqliteFeedbackStore()</c> / <c>UsePostgreSqlFeedbackStore()</c>).
    /// The body is <c>{"responseId": "...", "rating": "up" | "down", "comment": "...", "reviewTicketId": "...", "conversationId": "..."}</c>;
    /// the user and tenant come from the signed-in user, never from the body. Answers <c>201</c> with the feedback id,
    /// <c>400</c> for invalid input, <c>413</c> for a body over the limit, <c>503</c> when the store fails.
    /// Anyone who can call the chat may give feedback; chain <c>.RequireAuthorization(...)</c> to restrict it.
    /// </summary>
    /// <param name="endpoints">The endpoint route builder.</param>
    /// <param name="pattern">The route. Default <c>/safeai/feedback</c>.</param>
    /// <param name="configure">Changes the settings.</param>
    /// <returns>The endpoint's convention builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="endpoints"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="pattern"/> is null or empty.</exception>
    /// <exception cref="InvalidOperationException">No <see cref="IFeedbackStore"/> is registered.</exception>
    public static RouteHandlerBuilder MapSafeAIFeedback(this IEndpointRouteBuilder endpoints, string pattern = "/safeai/feedback", Action<SafeAIFeedbackEndpointOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrEmpty(pattern);
        var options = new SafeAIFeedbackEndpointOptions();
        configure?.Invoke(options);
        if (options.MaxRequestBodySize < 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(configure), options.MaxRequestBodySize, "SafeAIFeedbackEndpointOptions.MaxRequestBodySize must be at least 1024 bytes.");
        }

        var store = endpoints.ServiceProvider.GetService<IFeedbackStore>() ?? throw new InvalidOperationException(
            "MapSafeAIFeedback() found no feedback store. Register one: services.AddSafeAI(safe => safe.AddFeedback()) or safe.UseSqliteFeedbackStore().");
        var time = endpoints.ServiceProvider.GetService<TimeProvider>() ?? TimeProvider.System;
        var handler = new FeedbackEndpoint(store, options, time);
        return endpoints.MapPost(pattern, handler.HandleAsync)
            .WithName("SafeAI.Feedback")
            .Accepts<FeedbackRequest>("application/json")
            .Produces(StatusCodes.Status201Created)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
    }

    /// <summary>
    /// Maps the human review queue under <paramref name="prefix"/>: <c>GET api/items</c> (list, by default the open
    /// items), <c>GET api/items/{id}</c>, <c>GET api/me</c> (the reviewer id), <c>POST api/items/{id}/claim</c>, <c>POST api/claim-next</c>,
    /// <c>POST api/items/{id}/decision</c> (approve, edit or reject), and the reviewers' page at the prefix itself.
    /// Everything requires a signed-in user who satisfies the reviewer policy
    /// (<see cref="SafeAIReviewEndpointOptions.PolicyName"/>), which the host defines; until it does, every request is
    /// denied. Under <c>api/</c> a denial is <c>401</c> (not signed in) or <c>403</c> (not a reviewer), never a redirect to a
    /// sign-in page, and every <c>400</c> is a problem response (<c>application/problem+json</c>) saying what is wrong. The reviewer recorded on a decision is the signed-in user, never a value from the body.
    /// </summary>
    /// <param name="endpoints">The endpoint route builder.</param>
    /// <param name="prefix">The route prefix. Default <c>/safeai/reviews</c>.</param>
    /// <param name="configure">Changes the settings.</param>
    /// <returns>The route group, to add conventions (e.g. rate limiting or CORS).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="endpoints"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="prefix"/> is null or empty, or the policy name is empty.</exception>
    /// <exception cref="InvalidOperationException">No <see cref="IReviewQueue"/> is registered (<c>safe.AddHumanReview()</c>).</exception>
    public static RouteGroupBuilder MapSafeAIReviews(this IEndpointRouteBuilder endpoints, string prefix = "/safeai/reviews", Action<SafeAIReviewEndpointOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        var options = new SafeAIReviewEndpointOptions();
        configure?.Invoke(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.PolicyName, "SafeAIReviewEndpointOptions.PolicyName");
        ArgumentNullException.ThrowIfNull(options.GetReviewerId, "SafeAIReviewEndpointOptions.GetReviewerId");
        var queue = endpoints.ServiceProvider.GetService<IReviewQueue>() ?? throw new InvalidOperationException(
            "MapSafeAIReviews() found no review queue. Register one: services.AddSafeAI(safe => safe.AddHumanReview(...)).");

        var group = endpoints.MapGroup(prefix);
        group.RequireAuthorization(ReviewerRequirement.CreatePolicy(options.PolicyName));
        var handlers = new ReviewEndpoints(queue, options, prefix.TrimEnd('/'));

        // The API answers a caller who is not signed in with 401 and one who is not a reviewer with 403, never with a
        // redirect to a sign-in page (cookie authentication redirects only the reviewers' page itself).
        var api = group.MapGroup("/api").DisableCookieRedirect();
        api.MapGet("/me", handlers.Me).WithName("SafeAI.Reviews.Me");
        api.MapGet("/items", handlers.ListAsync).WithName("SafeAI.Reviews.List");
        api.MapGet("/items/{id}", handlers.GetAsync).WithName("SafeAI.Reviews.Get");
        api.MapPost("/items/{id}/claim", handlers.ClaimAsync).WithName("SafeAI.Reviews.Claim");
        api.MapPost("/claim-next", handlers.ClaimNextAsync).WithName("SafeAI.Reviews.ClaimNext");
        api.MapPost("/items/{id}/decision", handlers.DecideAsync).WithName("SafeAI.Reviews.Decide");
        if (options.ServePage)
        {
            group.MapGet("/", handlers.PageAsync).ExcludeFromDescription();
            group.MapGet("/reviews.js", static (HttpContext http) => PageAssets.ServeAsync(http, "reviews.js", "text/javascript; charset=utf-8")).ExcludeFromDescription();
            group.MapGet("/reviews.css", static (HttpContext http) => PageAssets.ServeAsync(http, "reviews.css", "text/css; charset=utf-8")).ExcludeFromDescription();
        }

        return group;
    }

    /// <summary>
    /// Maps the operator view of the registered rollout (<c>safe.AddRollout(...)</c>) under <paramref name="prefix"/>:
    /// <c>GET api/state</c> (status, stage, the AI share, each metric per arm with a 95 % Wilson interval, latency p95 per arm,
    /// the judge's last evaluation and the last 20 decisions) and <c>POST api/stop</c>, <c>api/resume</c>, <c>api/pause</c>,
    /// <c>api/promote</c>, <c>api/abort</c> with a body <c>{"reason": "..."}</c> (required; recorded on the decision with
    /// the operator's id), and the operator page at the prefix itself (with a stop button: the kill switch).
    /// Everything requires a signed-in user who satisfies the operator policy
    /// (<see cref="SafeAIRolloutEndpointOptions.PolicyName"/>), which the host defines; until it does, every request is
    /// denied: <c>401</c> when not signed in, <c>403</c> when not an operator, never a redirect under <c>api/</c>.
    /// A stop applies to this instance's controller at once; with several instances, share decisions through
    /// <c>RedisRolloutSync</c> or <c>SqliteRolloutSync</c> so it reaches every instance.
    /// </summary>
    /// <param name="endpoints">The endpoint route builder.</param>
    /// <param name="prefix">The route prefix. Default <c>/safeai/rollout</c>.</param>
    /// <param name="configure">Changes the settings.</param>
    /// <returns>The route group, to add conventions.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="endpoints"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="prefix"/> is null or empty, or the policy name is empty.</exception>
    /// <exception cref="InvalidOperationException">No <see cref="RolloutController"/> is registered (<c>safe.AddRollout()</c>).</exception>
    public static RouteGroupBuilder MapSafeAIRollout(this IEndpointRouteBuilder endpoints, string prefix = "/safeai/rollout", Action<SafeAIRolloutEndpointOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        var options = new SafeAIRolloutEndpointOptions();
        configure?.Invoke(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.PolicyName, "SafeAIRolloutEndpointOptions.PolicyName");
        ArgumentNullException.ThrowIfNull(options.GetOperatorId, "SafeAIRolloutEndpointOptions.GetOperatorId");
        var controller = endpoints.ServiceProvider.GetService<RolloutController>() ?? throw new InvalidOperationException(
            "MapSafeAIRollout() found no rollout. Register one: services.AddSafeAI(safe => safe.AddRollout(...)).");

        var group = endpoints.MapGroup(prefix);
        group.RequireAuthorization(ReviewerRequirement.CreatePolicy(options.PolicyName));
        var handlers = new RolloutEndpoints(controller, options, prefix.TrimEnd('/'));
        var api = group.MapGroup("/api").DisableCookieRedirect();
        api.MapGet("/state", handlers.State).WithName("SafeAI.Rollout.State");
        api.MapPost("/{command}", handlers.CommandAsync).WithName("SafeAI.Rollout.Command");
        if (options.ServePage)
        {
            group.MapGet("/", handlers.PageAsync).ExcludeFromDescription();
            group.MapGet("/rollout.js", static (HttpContext http) => PageAssets.ServeAsync(http, "rollout.js", "text/javascript; charset=utf-8")).ExcludeFromDescription();
            group.MapGet("/rollout.css", static (HttpContext http) => PageAssets.ServeAsync(http, "rollout.css", "text/css; charset=utf-8")).ExcludeFromDescription();
        }

        return group;
    }
}

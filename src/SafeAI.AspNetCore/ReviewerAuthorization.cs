using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace SafeAI.AspNetCore;

/// <summary>
/// The requirement of the review endpoints: the signed-in user satisfies the host's named reviewer policy. It denies
/// while that policy does not exist, so a host that forgets to configure reviewers exposes nothing.
/// It handles itself (the built-in pass-through handler runs it), so it needs no service registration.
/// </summary>
internal sealed partial class ReviewerRequirement(string policyName) : AuthorizationHandler<ReviewerRequirement>, IAuthorizationRequirement
{
    public string PolicyName { get; } = policyName;

    public static AuthorizationPolicy CreatePolicy(string policyName) =>
        new AuthorizationPolicyBuilder().RequireAuthenticatedUser().AddRequirements(new ReviewerRequirement(policyName)).Build();

    protected override async Task HandleRequirementAsync(AuthorizationHandlerContext context, ReviewerRequirement requirement)
    {
        if (context.User.Identity?.IsAuthenticated != true || context.Resource is not HttpContext http)
        {
            return;
        }

        var services = http.RequestServices;
        var provider = services.GetRequiredService<IAuthorizationPolicyProvider>();
        var policy = await provider.GetPolicyAsync(requirement.PolicyName).ConfigureAwait(false);
        if (policy is null)
        {
            var logger = EndpointLogging.For(services);
            LogPolicyMissing(logger, requirement.PolicyName);
            return;
        }

        var result = await services.GetRequiredService<IAuthorizationService>().AuthorizeAsync(context.User, http, policy).ConfigureAwait(false);
        if (result.Succeeded)
        {
            context.Succeed(requirement);
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning,
        Message = "SafeAI review endpoints denied a signed-in user because no authorization policy named '{PolicyName}' is configured. Add one, e.g. AddAuthorizationBuilder().AddPolicy(\"{PolicyName}\", p => p.RequireRole(\"reviewer\")).")]
    private static partial void LogPolicyMissing(ILogger logger, string policyName);
}

using System.Security.Claims;
using SafeAI;

namespace SafeAI.AspNetCore;

/// <summary>Settings of the review endpoints and the reviewers' page mapped by <c>MapSafeAIReviews()</c>.</summary>
public sealed class SafeAIReviewEndpointOptions
{
    /// <summary>The default name of the authorization policy a reviewer must satisfy.</summary>
    public const string DefaultPolicyName = "SafeAI.Reviewer";

    /// <summary>
    /// Gets or sets the name of the authorization policy a signed-in user must satisfy to list, claim and decide review
    /// items and to open the reviewers' page. Default <see cref="DefaultPolicyName"/>. The host defines it (for example
    /// <c>AddAuthorizationBuilder().AddPolicy("SafeAI.Reviewer", p =&gt; p.RequireRole("reviewer"))</c>); while no
    /// policy of that name exists every request is denied: anonymous callers get <c>401</c>, signed-in ones <c>403</c>.
    /// </summary>
    public string PolicyName { get; set; } = DefaultPolicyName;

    /// <summary>Gets or sets a value indicating whether the reviewers' page (HTML, script and style sheet) is served under the prefix. Default <see langword="true"/>.</summary>
    public bool ServePage { get; set; } = true;

    /// <summary>
    /// Gets or sets how the reviewer's id (recorded on decisions and named in the <c>AI-Disclosure</c> header's
    /// <c>reviewed-by</c>) is read from the signed-in user. Default: the name identifier claim, then <c>sub</c>, then the
    /// identity's name.
    /// </summary>
    public Func<ClaimsPrincipal, string?> GetReviewerId { get; set; } = DefaultReviewerId;

    internal static string? DefaultReviewerId(ClaimsPrincipal user) =>
        user.FindFirstValue(ClaimTypes.NameIdentifier) ?? user.FindFirstValue("sub") ?? user.Identity?.Name;
}

/// <summary>Settings of the feedback endpoint mapped by <c>MapSafeAIFeedback()</c>.</summary>
public sealed class SafeAIFeedbackEndpointOptions
{
    /// <summary>Gets or sets the largest request body accepted, in bytes. Default 64 KiB.</summary>
    public long MaxRequestBodySize { get; set; } = 64 * 1024;

    /// <summary>Gets or sets the claim holding the user's stable identifier. Default: the name identifier claim, then <c>sub</c>.</summary>
    public string UserIdClaim { get; set; } = ClaimTypes.NameIdentifier;

    /// <summary>Gets or sets the claim holding the tenant. Default: <c>tid</c>.</summary>
    public string TenantClaim { get; set; } = "tid";

    /// <summary>
    /// Gets or sets a value indicating whether a thumbs-down is also counted as <see cref="RolloutMetrics.ThumbsDown"/> in
    /// the rollout of the registered chat client's pipeline (in the arm the person, tenant or conversation is in now), so
    /// that the rollout judge sees it. Default <see langword="true"/>; nothing happens when there is no rollout.
    /// </summary>
    public bool CountThumbsDownInRollout { get; set; } = true;
}

/// <summary>Settings of the rollout operator endpoints and page mapped by <c>MapSafeAIRollout()</c>.</summary>
public sealed class SafeAIRolloutEndpointOptions
{
    /// <summary>The default name of the authorization policy an operator must satisfy.</summary>
    public const string DefaultPolicyName = "SafeAI.RolloutOperator";

    /// <summary>
    /// Gets or sets the name of the authorization policy a signed-in user must satisfy to see the rollout and to stop,
    /// resume, pause, promote or abort it. Default <see cref="DefaultPolicyName"/>. The host defines it (for example
    /// <c>AddAuthorizationBuilder().AddPolicy("SafeAI.RolloutOperator", p =&gt; p.RequireRole("operator"))</c>); while no
    /// policy of that name exists every request is denied.
    /// </summary>
    public string PolicyName { get; set; } = DefaultPolicyName;

    /// <summary>Gets or sets a value indicating whether the operator page (HTML, script and style sheet) is served under the prefix. Default <see langword="true"/>.</summary>
    public bool ServePage { get; set; } = true;

    /// <summary>Gets or sets how the operator's id (recorded with each decision) is read from the signed-in user. Default: the name identifier claim, then <c>sub</c>, then the identity's name.</summary>
    public Func<ClaimsPrincipal, string?> GetOperatorId { get; set; } = SafeAIReviewEndpointOptions.DefaultReviewerId;
}

using Microsoft.Extensions.Options;

namespace SafeAI;

/// <summary>What a call's rollout key is taken from: the unit that stays in one arm.</summary>
public enum RolloutKey
{
    /// <summary>The user (<see cref="SafeAICallContext.UserId"/>): a person never flips between arms.</summary>
    User = 0,

    /// <summary>The tenant (<see cref="SafeAICallContext.TenantId"/>): a whole organisation moves together.</summary>
    Tenant = 1,

    /// <summary>The conversation (<see cref="SafeAICallContext.ConversationId"/>).</summary>
    Conversation = 2,
}

/// <summary>Settings of the rollout routing stage (<c>safe.AddRollout(...)</c>), bound from <c>SafeAI:Rollout</c> under dependency injection.</summary>
public sealed class RolloutOptions : AIGuardOptions
{
    /// <summary>The configuration section the options bind from.</summary>
    public const string SectionName = "SafeAI:Rollout";

    /// <summary>
    /// Gets or sets a value indicating whether the kill switch is on: every call goes to the baseline. Bound from
    /// configuration and reloaded on change, so flipping <c>SafeAI:Rollout:KillSwitch</c> takes effect on the next call.
    /// </summary>
    public bool KillSwitch { get; set; }

    /// <summary>Gets or sets what a call's sticky key is taken from. Default: <see cref="RolloutKey.User"/>. Calls without that value go to the baseline, uncounted.</summary>
    public RolloutKey StickyBy { get; set; } = RolloutKey.User;

    /// <summary>
    /// Gets or sets the salt of the bucketing hash (SHA-256 of <c>"{key}\n{salt}"</c>). Keep it for the life of a rollout so
    /// assignments survive restarts; change it for a new experiment so the same people are not always first. Default: the controller's name.
    /// </summary>
    public string? Salt { get; set; }

    /// <summary>Gets the canary group: keys that get the AI arm while the rollout runs (staff, friendly testers), whatever the stage. They are not counted in the experiment.</summary>
    public ISet<string> CanaryGroup { get; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>Gets the deny list: keys that always get the baseline. They are not counted in the experiment.</summary>
    public ISet<string> DenyList { get; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>Gets the tenants in the rollout; empty means every tenant. Calls of other tenants get the baseline, uncounted.</summary>
    public ISet<string> Tenants { get; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>Gets the locales in the rollout (culture names, case-insensitive); empty means every locale.</summary>
    public ISet<string> Locales { get; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Gets the risk tiers kept out of the rollout (for example <see cref="RiskTier.High"/>): their calls get the baseline, uncounted.</summary>
    public ISet<RiskTier> ExcludedRiskTiers { get; } = new HashSet<RiskTier>();

    /// <summary>Gets or sets the baseline arm (code only). Default: a polite decline.</summary>
    public RolloutBaseline? Baseline { get; set; }

    /// <summary>Gets or sets the rollout's plan, used to create the controller when <see cref="Controller"/> is not set.</summary>
    public RolloutPlanOptions Plan { get; set; } = new();

    /// <summary>Gets or sets the controller to route by (code only); shared by every pipeline that should see the same rollout.</summary>
    public RolloutController? Controller { get; set; }
}

/// <summary>Validates <see cref="RolloutOptions"/>.</summary>
internal sealed class RolloutOptionsValidator : IValidateOptions<RolloutOptions>
{
    public ValidateOptionsResult Validate(string? name, RolloutOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        const string prefix = RolloutOptions.SectionName + ":";
        if (!Enum.IsDefined(options.StickyBy))
        {
            failures.Add(prefix + "StickyBy must be User, Tenant or Conversation.");
        }

        if (!Enum.IsDefined(options.FailureMode))
        {
            failures.Add(prefix + "FailureMode must be FailClosed or FailOpen.");
        }

        if (options.Salt is { Length: 0 } || options.Salt is { } s && string.IsNullOrWhiteSpace(s))
        {
            failures.Add(prefix + "Salt must not be blank; leave it unset to use the rollout's name.");
        }

        if (options.Controller is null)
        {
            if (options.Plan is null)
            {
                failures.Add(prefix + "Plan must be set when no Controller is given.");
            }
            else if (options.Plan.Validate() is { Failed: true } plan)
            {
                foreach (var f in plan.Failures)
                {
                    failures.Add(prefix + "Plan: " + f);
                }
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace SafeAI.Review;

/// <summary>
/// Settings of the human review stage (configuration section <c>SafeAI:HumanReview</c>): which answers need a person,
/// whether the call waits for the decision, and the safe default when nobody answers in time.
/// </summary>
public sealed class HumanReviewOptions : AIGuardOptions
{
    /// <summary>The configuration section the options bind to.</summary>
    public const string SectionName = "SafeAI:HumanReview";

    /// <summary>Gets or sets whether a call waits for the decision (<see cref="ReviewMode.Hold"/>, the default) or answers at once with a ticket (<see cref="ReviewMode.Defer"/>).</summary>
    public ReviewMode Mode { get; set; } = ReviewMode.Hold;

    /// <summary>Gets or sets how long a held call waits for a decision. Default 2 minutes. (The stage's time budget; <see cref="AIGuardOptions.Timeout"/> is not used by this stage.)</summary>
    public TimeSpan HoldTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Gets or sets the safe default when a held call gets no decision in time. Default <see cref="ReviewTimeoutAction.FollowUp"/>.</summary>
    public ReviewTimeoutAction TimeoutAction { get; set; } = ReviewTimeoutAction.FollowUp;

    /// <summary>Gets or sets the risk tier at or above which every answer is reviewed; <see langword="null"/> to not trigger on risk. Default <see cref="RiskTier.High"/>.</summary>
    public RiskTier? MinimumRiskTier { get; set; } = RiskTier.High;

    /// <summary>Gets or sets a value indicating whether an <see cref="GuardAction.Escalate"/> verdict of another stage (for example low confidence) triggers review. Default <see langword="true"/>.</summary>
    public bool ReviewEscalations { get; set; } = true;

    /// <summary>Gets or sets the lower bound of the borderline score band (inclusive); review triggers when a stage's score lies in the band. <see langword="null"/> (with <see cref="BorderlineScoreMax"/>) for no band.</summary>
    public double? BorderlineScoreMin { get; set; }

    /// <summary>Gets or sets the upper bound of the borderline score band (inclusive).</summary>
    public double? BorderlineScoreMax { get; set; }

    /// <summary>Gets the stages whose scores the borderline band applies to (for example the content filter's name); empty for every stage that reports a score.</summary>
    public IList<string> BorderlineStages { get; } = [];

    /// <summary>Gets the names of tools with side effects: an answer that calls one of them is reviewed.</summary>
    public IList<string> SideEffectTools { get; } = [];

    /// <summary>Gets or sets a value indicating whether an answer that calls any tool is reviewed. Default <see langword="false"/>.</summary>
    public bool ReviewAllToolCalls { get; set; }

    /// <summary>Gets or sets a predicate over the call and the proposed answer that asks for review when it returns <see langword="true"/>. Not bindable from configuration.</summary>
    public Func<SafeAIContext, ChatResponse, bool>? Predicate { get; set; }

    /// <summary>Gets or sets the answer of a deferred call; <c>{0}</c> is the ticket id.</summary>
    public string PendingMessage { get; set; } = "A person needs to review the answer to this request before you get it. Your reference is {0}; the reviewed answer will follow.";

    /// <summary>Gets or sets the answer of a held call nobody decided in time (with <see cref="ReviewTimeoutAction.FollowUp"/>); <c>{0}</c> is the ticket id.</summary>
    public string FollowUpMessage { get; set; } = "A person needs to review the answer to this request and could not do so yet. They will follow up with you; your reference is {0}.";

    /// <summary>Gets or sets the answer when a reviewer rejected the proposed answer; <c>{0}</c> is the ticket id.</summary>
    public string RejectedMessage { get; set; } = "A reviewer did not approve the answer to this request, so it is not shown. A person will follow up with you; your reference is {0}.";

    /// <summary>Gets the settings of the review queue that dependency injection creates (section <c>SafeAI:HumanReview:Queue</c>).</summary>
    public ReviewQueueOptions Queue { get; } = new();

    /// <summary>Gets a value indicating whether any trigger looks at the answer or at verdicts recorded after the call.</summary>
    internal bool HasResponseTriggers =>
        ReviewEscalations || BorderlineScoreMin is not null || BorderlineScoreMax is not null || SideEffectTools.Count > 0 || ReviewAllToolCalls || Predicate is not null;
}

/// <summary>Validates <see cref="HumanReviewOptions"/>; the messages name the setting.</summary>
internal sealed class HumanReviewOptionsValidator : IValidateOptions<HumanReviewOptions>
{
    public ValidateOptionsResult Validate(string? name, HumanReviewOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        const string P = HumanReviewOptions.SectionName + ":";
        var failures = new List<string>();
        if (options.HoldTimeout <= TimeSpan.Zero)
        {
            failures.Add($"{P}HoldTimeout must be positive.");
        }

        if (!Enum.IsDefined(options.Mode))
        {
            failures.Add($"{P}Mode must be Hold or Defer.");
        }

        if (!Enum.IsDefined(options.TimeoutAction))
        {
            failures.Add($"{P}TimeoutAction must be FollowUp or Release.");
        }

        var min = options.BorderlineScoreMin;
        var max = options.BorderlineScoreMax;
        if ((min is null) != (max is null))
        {
            failures.Add($"{P}BorderlineScoreMin and {P}BorderlineScoreMax must be set together.");
        }
        else if (min is { } lo && max is { } hi && (!double.IsFinite(lo) || !double.IsFinite(hi) || lo > hi))
        {
            failures.Add($"{P}BorderlineScoreMin must be a number no greater than {P}BorderlineScoreMax.");
        }

        foreach (var (setting, text) in new[] { ("PendingMessage", options.PendingMessage), ("FollowUpMessage", options.FollowUpMessage), ("RejectedMessage", options.RejectedMessage) })
        {
            if (string.IsNullOrWhiteSpace(text))
            {
                failures.Add($"{P}{setting} must not be empty.");
            }
        }

        if (options.Queue.GetError(P + "Queue:") is { } queueError)
        {
            failures.Add(queueError);
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

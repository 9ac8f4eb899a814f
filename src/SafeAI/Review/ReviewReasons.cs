namespace SafeAI.Review;

/// <summary>Stable reason codes of the human review stage: verdict reasons and the triggers recorded on review items.</summary>
public static class ReviewReasons
{
    /// <summary>The answer waits for a person (an <see cref="GuardAction.Escalate"/> verdict; Detail holds the ticket id and mode).</summary>
    public const string Pending = "review.pending";

    /// <summary>A reviewer approved the answer (Detail holds the reviewer id).</summary>
    public const string Approved = "review.approved";

    /// <summary>A reviewer edited the answer; the caller gets the edited text (Detail holds the reviewer id).</summary>
    public const string Edited = "review.edited";

    /// <summary>A reviewer rejected the answer; the caller gets a refusal (Detail holds the reviewer id).</summary>
    public const string Rejected = "review.rejected";

    /// <summary>No decision within the hold timeout (or the item expired); the declared safe default was applied.</summary>
    public const string Timeout = "review.timeout";

    /// <summary>Trigger: the call's risk tier is at or above the configured tier.</summary>
    public const string TriggerRiskTier = "trigger.risk_tier";

    /// <summary>Trigger: a stage's score fell in the configured borderline band.</summary>
    public const string TriggerBorderline = "trigger.borderline";

    /// <summary>Trigger: an earlier stage returned an <see cref="GuardAction.Escalate"/> verdict.</summary>
    public const string TriggerEscalated = "trigger.escalated";

    /// <summary>Trigger: the answer calls a tool with side effects.</summary>
    public const string TriggerSideEffect = "trigger.side_effect";

    /// <summary>Trigger: the configured predicate asked for review.</summary>
    public const string TriggerPredicate = "trigger.predicate";

    /// <summary>Trigger: a host submitted the item directly.</summary>
    public const string TriggerManual = "trigger.manual";

    /// <summary>The text a review item holds instead of a message of the conversation (any role but <c>system</c>) when the person declined <c>human-review</c> consent.</summary>
    public const string TextWithheld = "[text withheld: the person declined human review of their messages]";

    /// <summary>The text a review item holds instead of the proposed answer when the person declined <c>human-review</c> consent (see <see cref="ReviewItem.TextWithheld"/>).</summary>
    public const string AnswerWithheld = "[answer withheld: the person declined human review; reject it, or write the answer yourself]";
}

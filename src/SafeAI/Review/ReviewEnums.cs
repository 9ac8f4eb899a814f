namespace SafeAI.Review;

/// <summary>The states of a <see cref="ReviewItem"/>.</summary>
/// <remarks>
/// <code>
/// Pending ─claim─► Claimed ─decide─► Approved | Edited | Rejected
///    │  ◄─release──┘   │
///    └───── decide ─────┘ (a reviewer may decide without claiming first)
/// Pending/Claimed ─timeout─► Escalated (second tier) ─timeout─► Expired
/// </code>
/// Escalated items can be claimed and decided like pending ones. Approved, Edited, Rejected and Expired are final.
/// </remarks>
public enum ReviewState
{
    /// <summary>Waiting for a reviewer of the first tier.</summary>
    Pending = 0,

    /// <summary>A reviewer has claimed the item and is working on it.</summary>
    Claimed = 1,

    /// <summary>A reviewer approved the proposed answer as it is. Final.</summary>
    Approved = 2,

    /// <summary>A reviewer replaced the proposed answer with an edited one. Final.</summary>
    Edited = 3,

    /// <summary>A reviewer rejected the proposed answer. Final.</summary>
    Rejected = 4,

    /// <summary>Nobody decided in time (and no further tier was left). Final.</summary>
    Expired = 5,

    /// <summary>Nobody of the first tier decided in time; the item waits for a second-tier reviewer.</summary>
    Escalated = 6,
}

/// <summary>What a reviewer decided.</summary>
public enum ReviewDecisionKind
{
    /// <summary>Release the proposed answer unchanged.</summary>
    Approve = 0,

    /// <summary>Release an edited answer instead of the proposed one.</summary>
    Edit = 1,

    /// <summary>Do not release the answer.</summary>
    Reject = 2,
}

/// <summary>How the review stage treats a call that needs review.</summary>
public enum ReviewMode
{
    /// <summary>Wait (up to <see cref="HumanReviewOptions.HoldTimeout"/>) for the decision, then answer with the reviewed answer or apply <see cref="HumanReviewOptions.TimeoutAction"/>.</summary>
    Hold = 0,

    /// <summary>Answer at once with a "pending human review" response that carries the ticket id; the decision is delivered later (queue subscription or <see cref="IReviewQueue.GetAsync"/>).</summary>
    Defer = 1,
}

/// <summary>The safe default a held call gets when no reviewer decides within <see cref="HumanReviewOptions.HoldTimeout"/>.</summary>
public enum ReviewTimeoutAction
{
    /// <summary>Answer honestly that a person will follow up (the item stays in the queue). The default.</summary>
    FollowUp = 0,

    /// <summary>Release the unreviewed answer (the item stays in the queue for review after the fact).</summary>
    Release = 1,
}

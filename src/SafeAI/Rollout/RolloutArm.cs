namespace SafeAI;

/// <summary>The two arms of a rollout: the existing solution and the AI system being rolled out.</summary>
public enum RolloutArm
{
    /// <summary>The existing solution (any <c>IChatClient</c>, a delegate, or a polite decline).</summary>
    Baseline = 0,

    /// <summary>The AI system: the rest of the SafeAI pipeline and the model.</summary>
    AI = 1,
}

/// <summary>Names of the rollout arms as they appear on the call context, in verdicts and in telemetry tags.</summary>
public static class RolloutArms
{
    /// <summary>The name of <see cref="RolloutArm.Baseline"/>.</summary>
    public const string Baseline = "baseline";

    /// <summary>The name of <see cref="RolloutArm.AI"/>.</summary>
    public const string AI = "ai";

    /// <summary>Gets the name of an arm.</summary>
    /// <param name="arm">The arm.</param>
    /// <returns><c>baseline</c> or <c>ai</c>; no allocation.</returns>
    public static string GetName(RolloutArm arm) => arm == RolloutArm.AI ? AI : Baseline;
}

/// <summary>Names of the metrics the rollout stage counts per arm from the verdicts SafeAI already produces.</summary>
public static class RolloutMetrics
{
    /// <summary>Calls that failed with an exception no stage turned into an answer.</summary>
    public const string Errors = "errors";

    /// <summary>Calls a fallback answered (a <see cref="GuardAction.Degrade"/> verdict).</summary>
    public const string Fallbacks = "fallbacks";

    /// <summary>Calls a stage blocked or limited (a <see cref="GuardAction.Block"/> or <see cref="GuardAction.Limit"/> verdict).</summary>
    public const string Blocks = "blocks";

    /// <summary>Calls escalated to human review (a <see cref="GuardAction.Escalate"/> verdict).</summary>
    public const string Escalations = "escalations";

    /// <summary>Answers a user gave a thumbs-down (recorded from feedback with <see cref="RolloutController.RecordOutcome(RolloutArm, string, long)"/>).</summary>
    public const string ThumbsDown = "thumbs-down";
}

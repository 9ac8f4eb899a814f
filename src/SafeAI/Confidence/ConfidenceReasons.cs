namespace SafeAI;

/// <summary>Stable reason codes of the confidence stage.</summary>
public static class ConfidenceReasons
{
    /// <summary>The confidence is at or above the threshold.</summary>
    public const string Ok = "confidence.ok";

    /// <summary>The confidence is below the threshold.</summary>
    public const string Low = "confidence.low";

    /// <summary>No estimator had a signal for the answer.</summary>
    public const string Unknown = "confidence.unknown";

    /// <summary>
    /// The key in <see cref="SafeAIContext.Items"/> under which the confidence stage leaves its <see cref="GuardVerdict"/>
    /// when it hands a low-confidence answer to the fallback stage.
    /// </summary>
    public const string FallbackRequestItemKey = "safeai.confidence.fallback";
}

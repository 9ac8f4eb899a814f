namespace SafeAI;

/// <summary>What the confidence stage does with an answer whose confidence is below the threshold.</summary>
public enum LowConfidenceAction
{
    /// <summary>Replace the answer with an honest "I'm not sure" text (<see cref="ConfidenceOptions.HonestUncertaintyMessage"/>). Verdict: <see cref="GuardAction.Modify"/>.</summary>
    HonestUncertainty = 0,

    /// <summary>
    /// Hand the call to the fallback stage, which answers instead. Verdict: <see cref="GuardAction.Degrade"/>
    /// (<c>confidence.low</c>), then the fallback's own. Without a fallback stage, behaves as <see cref="HonestUncertainty"/>.
    /// </summary>
    Fallback = 1,

    /// <summary>Keep the answer and record an <see cref="GuardAction.Escalate"/> verdict for the human review stage.</summary>
    Escalate = 2,
}

/// <summary>What the confidence stage does when no estimator has a signal for an answer.</summary>
public enum UnknownConfidencePolicy
{
    /// <summary>Accept the answer; record an <see cref="GuardAction.Allow"/> verdict with reason <c>confidence.unknown</c>.</summary>
    Accept = 0,

    /// <summary>Treat the answer as below the threshold: the <see cref="ConfidenceOptions.LowConfidenceAction"/> applies, reason <c>confidence.unknown</c>.</summary>
    TreatAsLow = 1,
}

/// <summary>How token probabilities are combined into one confidence score.</summary>
public enum TokenProbabilityAggregation
{
    /// <summary>The arithmetic mean of the token probabilities.</summary>
    Mean = 0,

    /// <summary>The smallest token probability: the answer is as confident as its weakest token.</summary>
    Minimum = 1,

    /// <summary>The geometric mean (exp of the mean log-probability): the per-token probability of the whole sequence.</summary>
    GeometricMean = 2,
}

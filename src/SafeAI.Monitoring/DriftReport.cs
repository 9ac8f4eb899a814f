using SafeAI.Statistics;

namespace SafeAI.Monitoring;

/// <summary>
/// How far a current profile has moved from a reference: PSI of input length, of the script mix, of output length and of
/// confidence, and the Jensen–Shannon divergence of the script mix and of the trigram distribution (language and topic).
/// A score is NaN where either side has no data.
/// </summary>
/// <param name="InputLengthPsi">PSI of input length (log₂ bins).</param>
/// <param name="ScriptPsi">PSI of the script mix of input letters.</param>
/// <param name="ScriptJs">Jensen–Shannon divergence (bits) of the script mix.</param>
/// <param name="TopicJs">Jensen–Shannon divergence (bits) of hashed character trigrams: language and topic.</param>
/// <param name="OutputLengthPsi">PSI of output length.</param>
/// <param name="ConfidencePsi">PSI of confidence estimates (tenths).</param>
/// <param name="ReferenceInputs">Inputs in the reference.</param>
/// <param name="CurrentInputs">Inputs in the current profile.</param>
public sealed record DriftReport(double InputLengthPsi, double ScriptPsi, double ScriptJs, double TopicJs, double OutputLengthPsi, double ConfidencePsi, long ReferenceInputs, long CurrentInputs)
{
    /// <summary>The metric names drift scores are recorded under (alert rules watch them like any recorded value).</summary>
    public static readonly IReadOnlyList<string> MetricNames = ["drift.input.length.psi", "drift.input.script.psi", "drift.input.script.js", "drift.input.topic.js", "drift.output.length.psi", "drift.output.confidence.psi"];

    /// <summary>Compares a current profile with a reference.</summary>
    /// <param name="reference">The reference.</param>
    /// <param name="current">The current profile.</param>
    /// <returns>The report.</returns>
    public static DriftReport Compare(DriftProfile reference, DriftProfile current)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(current);
        return new DriftReport(
            DriftStatistics.PopulationStabilityIndex(reference.Length, current.Length),
            DriftStatistics.PopulationStabilityIndex(reference.Script, current.Script),
            DriftStatistics.JensenShannon(reference.Script, current.Script),
            DriftStatistics.JensenShannon(reference.Ngram, current.Ngram),
            DriftStatistics.PopulationStabilityIndex(reference.OutputLength, current.OutputLength),
            DriftStatistics.PopulationStabilityIndex(reference.Confidence, current.Confidence),
            reference.Inputs,
            current.Inputs);
    }

    internal double this[int index] => index switch
    {
        0 => InputLengthPsi,
        1 => ScriptPsi,
        2 => ScriptJs,
        3 => TopicJs,
        4 => OutputLengthPsi,
        _ => ConfidencePsi,
    };
}

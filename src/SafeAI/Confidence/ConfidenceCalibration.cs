namespace SafeAI;

/// <summary>Picks a confidence threshold from labelled outcomes (scores of past answers and whether each was right).</summary>
public static class ConfidenceCalibration
{
    /// <summary>
    /// Finds the lowest threshold at which the answers kept (score at or above it) are right at least
    /// <paramref name="targetPrecision"/> of the time: the threshold that keeps the most answers while meeting the target.
    /// </summary>
    /// <param name="outcomes">Past answers: their confidence score in [0, 1] and whether they were right.</param>
    /// <param name="targetPrecision">The share of kept answers that must be right, in (0, 1].</param>
    /// <returns>The threshold with the precision and coverage it achieves on the data, or <see langword="null"/> when no threshold meets the target.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="outcomes"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="targetPrecision"/> is not in (0, 1], or a score is not in [0, 1].</exception>
    public static ConfidenceThresholdChoice? ThresholdForPrecision(IEnumerable<(double Score, bool Correct)> outcomes, double targetPrecision)
    {
        ArgumentNullException.ThrowIfNull(outcomes);
        if (!(targetPrecision is > 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(targetPrecision), targetPrecision, "The target precision must be in (0, 1].");
        }

        var sorted = outcomes.ToArray();
        foreach (var (score, _) in sorted)
        {
            if (!(score is >= 0 and <= 1))
            {
                throw new ArgumentOutOfRangeException(nameof(outcomes), score, "Every score must be in [0, 1].");
            }
        }

        // Highest score first; walk down, and consider a cut only between distinct scores (all answers with equal scores go together).
        Array.Sort(sorted, static (a, b) => b.Score.CompareTo(a.Score));
        ConfidenceThresholdChoice? best = null;
        var kept = 0;
        var correct = 0;
        for (var i = 0; i < sorted.Length; i++)
        {
            kept++;
            if (sorted[i].Correct)
            {
                correct++;
            }

            if (i + 1 < sorted.Length && sorted[i + 1].Score == sorted[i].Score)
            {
                continue;
            }

            var precision = correct / (double)kept;
            if (precision >= targetPrecision)
            {
                best = new ConfidenceThresholdChoice(sorted[i].Score, precision, kept / (double)sorted.Length, kept);
            }
        }

        return best;
    }
}

/// <summary>A threshold chosen by <see cref="ConfidenceCalibration.ThresholdForPrecision"/>.</summary>
/// <param name="Threshold">The threshold: keep answers scoring at or above it.</param>
/// <param name="Precision">The share of kept answers that were right in the data.</param>
/// <param name="Coverage">The share of all answers kept.</param>
/// <param name="Kept">The number of answers kept.</param>
public sealed record ConfidenceThresholdChoice(double Threshold, double Precision, double Coverage, int Kept);

namespace SafeAI.Onnx;

/// <summary>
/// When scoring a text's windows may end early: at the first window (in reading order) where some category reaches its
/// stop level. The content filter sets a category's level to its threshold when its action is the most severe one in
/// use, so that no later window can change the decision; every other category has no level (positive infinity).
/// </summary>
internal sealed class WindowStop
{
    private readonly double[] _levels;

    /// <summary>Initializes a new instance of the <see cref="WindowStop"/> class.</summary>
    /// <param name="levels">One level per category of the model, in its order; positive infinity for a category that never stops scoring.</param>
    public WindowStop(double[] levels)
    {
        ArgumentNullException.ThrowIfNull(levels);
        _levels = levels;
    }

    /// <summary>Gets the level of each category (positive infinity: never stops scoring).</summary>
    public IReadOnlyList<double> Levels => _levels;

    /// <summary>Gets a value indicating whether no category can stop scoring.</summary>
    public bool IsNever => Array.TrueForAll(_levels, double.IsPositiveInfinity);

    /// <summary>Returns whether one window's scores (one per category) reach a category's level.</summary>
    public bool IsMet(ReadOnlySpan<float> scores)
    {
        for (var c = 0; c < _levels.Length && c < scores.Length; c++)
        {
            if (scores[c] >= _levels[c])
            {
                return true;
            }
        }

        return false;
    }
}

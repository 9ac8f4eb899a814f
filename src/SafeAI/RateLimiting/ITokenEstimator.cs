namespace SafeAI;

/// <summary>Estimates the number of model tokens in a text before a call, for token budgets.</summary>
/// <remarks>
/// The default, <see cref="CharacterTokenEstimator"/>, counts about four characters per token. The <c>SafeAI.Tokenizers</c>
/// package offers an estimator that runs the model's real tokenizer.
/// </remarks>
public interface ITokenEstimator
{
    /// <summary>Estimates the tokens of <paramref name="text"/>.</summary>
    /// <param name="text">The text.</param>
    /// <returns>The estimate, never negative.</returns>
    int EstimateTokens(string text);
}

/// <summary>A cheap token estimate: one token per four characters, rounded up.</summary>
public sealed class CharacterTokenEstimator : ITokenEstimator
{
    /// <summary>Gets the shared instance.</summary>
    public static CharacterTokenEstimator Instance { get; } = new();

    /// <inheritdoc />
    public int EstimateTokens(string text) => text is null ? 0 : (int)(((long)text.Length + 3) / 4);
}

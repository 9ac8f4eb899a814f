using Microsoft.ML.Tokenizers;

namespace SafeAI.Tokenizers;

/// <summary>
/// Counts model tokens with a real tokenizer (by default OpenAI's tiktoken encoding for the model), for token budgets
/// that must not be overrun by one large request. Thread-safe.
/// </summary>
public sealed class TiktokenTokenEstimator : ITokenEstimator
{
    private readonly Tokenizer _tokenizer;

    /// <summary>Initializes an estimator with the tiktoken encoding of an OpenAI model (for example <c>gpt-4o</c> or <c>gpt-4</c>).</summary>
    /// <param name="modelName">The model name.</param>
    /// <exception cref="ArgumentException"><paramref name="modelName"/> is empty.</exception>
    /// <exception cref="NotSupportedException">The model's encoding is unknown to Microsoft.ML.Tokenizers.</exception>
    public TiktokenTokenEstimator(string modelName = "gpt-4o")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelName);
        _tokenizer = TiktokenTokenizer.CreateForModel(modelName);
    }

    /// <summary>Initializes an estimator with any Microsoft.ML.Tokenizers tokenizer.</summary>
    /// <param name="tokenizer">The tokenizer.</param>
    /// <exception cref="ArgumentNullException"><paramref name="tokenizer"/> is <see langword="null"/>.</exception>
    public TiktokenTokenEstimator(Tokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        _tokenizer = tokenizer;
    }

    /// <inheritdoc />
    public int EstimateTokens(string text) => string.IsNullOrEmpty(text) ? 0 : _tokenizer.CountTokens(text);
}

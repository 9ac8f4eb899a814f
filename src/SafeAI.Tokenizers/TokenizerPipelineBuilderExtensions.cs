using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using SafeAI.Tokenizers;

namespace SafeAI;

/// <summary>Registers a tokenizer-based <see cref="ITokenEstimator"/> for SafeAI's token budgets.</summary>
public static class TokenizerPipelineBuilderExtensions
{
    /// <summary>
    /// Makes the rate-limiting stages estimate input tokens with the tiktoken encoding of <paramref name="modelName"/>
    /// (instead of about four characters a token). Under dependency injection it registers the estimator as the
    /// <see cref="ITokenEstimator"/> service; in code, set <see cref="RateLimitingOptions.TokenEstimator"/> instead.
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="modelName">The OpenAI model name whose encoding to use.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The builder was not created by <c>services.AddSafeAI()</c>.</exception>
    public static SafeAIPipelineBuilder UseTiktokenEstimator(this SafeAIPipelineBuilder builder, string modelName = "gpt-4o")
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(modelName);
        var services = builder.Services ?? throw new InvalidOperationException(
            "UseTiktokenEstimator needs dependency injection (services.AddSafeAI(...)). In code, set RateLimitingOptions.TokenEstimator = new TiktokenTokenEstimator(...).");
        services.TryAddSingleton<ITokenEstimator>(_ => new TiktokenTokenEstimator(modelName));
        return builder;
    }
}

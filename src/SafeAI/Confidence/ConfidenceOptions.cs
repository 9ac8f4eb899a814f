using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace SafeAI;

/// <summary>
/// Settings of the confidence stage, bound from <c>SafeAI:Confidence</c> and reloaded when the configuration changes
/// (estimators and delegates are set in code).
/// </summary>
/// <example>
/// <code>
/// "SafeAI": { "Confidence": { "Threshold": 0.6, "LowConfidenceAction": "Fallback", "UnknownConfidence": "Accept",
///   "HonestUncertaintyMessages": { "de": "Da bin ich mir nicht sicher." } } }
/// </code>
/// </example>
public sealed class ConfidenceOptions : AIGuardOptions, IValidatableObject
{
    /// <summary>The configuration section the stage binds from.</summary>
    public const string SectionName = "SafeAI:Confidence";

    /// <summary>Gets or sets the threshold: answers scoring below it are low-confidence. Default: 0.5.</summary>
    public double Threshold { get; set; } = 0.5;

    /// <summary>Gets or sets what happens to a low-confidence answer. Default: <see cref="LowConfidenceAction.HonestUncertainty"/>.</summary>
    [EnumDataType(typeof(LowConfidenceAction), ErrorMessage = "SafeAI:Confidence:LowConfidenceAction must be HonestUncertainty, Fallback or Escalate.")]
    public LowConfidenceAction LowConfidenceAction { get; set; } = LowConfidenceAction.HonestUncertainty;

    /// <summary>Gets or sets what happens when no estimator has a signal (the provider exposes none). Default: <see cref="UnknownConfidencePolicy.Accept"/>.</summary>
    [EnumDataType(typeof(UnknownConfidencePolicy), ErrorMessage = "SafeAI:Confidence:UnknownConfidence must be Accept or TreatAsLow.")]
    public UnknownConfidencePolicy UnknownConfidence { get; set; } = UnknownConfidencePolicy.Accept;

    /// <summary>Gets or sets the honest answer that replaces a low-confidence one.</summary>
    [Required(AllowEmptyStrings = false, ErrorMessage = "SafeAI:Confidence:HonestUncertaintyMessage must not be empty.")]
    public string HonestUncertaintyMessage { get; set; } = "I'm not sure enough about this to give you a reliable answer. Please check with a person, or rephrase the question.";

    /// <summary>
    /// Gets the honest answer by locale (the call context's <see cref="SafeAICallContext.Locale"/>), for example
    /// <c>de</c> or <c>de-AT</c>; a full tag is tried first, then its language. Keys are case-insensitive.
    /// </summary>
    public IDictionary<string, string> HonestUncertaintyMessages { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Gets the estimators, tried in order: the first with a signal gives the score. Not bound from configuration.
    /// </summary>
    public IList<IConfidenceEstimator> Estimators { get; } = [];

    /// <inheritdoc />
    IEnumerable<ValidationResult> IValidatableObject.Validate(ValidationContext validationContext)
    {
        if (!(Threshold is >= 0 and <= 1))
        {
            yield return new ValidationResult("SafeAI:Confidence:Threshold must be between 0 and 1.", [nameof(Threshold)]);
        }
    }

    /// <summary>Gets the honest answer for a call context.</summary>
    /// <param name="callContext">The call context.</param>
    /// <returns>The text.</returns>
    public string GetHonestUncertaintyMessage(SafeAICallContext? callContext)
    {
        if (HonestUncertaintyMessages.Count > 0 && callContext?.Locale is { Length: > 0 } locale)
        {
            if (HonestUncertaintyMessages.TryGetValue(locale, out var exact))
            {
                return exact;
            }

            var dash = locale.IndexOf('-', StringComparison.Ordinal);
            if (dash > 0 && HonestUncertaintyMessages.TryGetValue(locale[..dash], out var language))
            {
                return language;
            }
        }

        return HonestUncertaintyMessage;
    }
}

/// <summary>Validates <see cref="ConfidenceOptions"/> at start-up.</summary>
internal sealed partial class ConfidenceOptionsValidator : IValidateOptions<ConfidenceOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, ConfidenceOptions options) =>
        ValidationMessages.WithoutRepeatedNames(new Generated().Validate(name, options));

    /// <summary>The validator generated from the data annotations (and <see cref="System.ComponentModel.DataAnnotations.IValidatableObject"/>).</summary>
    [OptionsValidator]
    private sealed partial class Generated : IValidateOptions<ConfidenceOptions>
    {
    }
}

using Microsoft.Extensions.Options;

namespace SafeAI;

/// <summary>Validates <see cref="SafeAIOptions"/> at start-up (source-generated from the data annotations).</summary>
internal sealed partial class SafeAIOptionsValidator : IValidateOptions<SafeAIOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, SafeAIOptions options) =>
        ValidationMessages.WithoutRepeatedNames(new Generated().Validate(name, options));

    /// <summary>The validator generated from the data annotations (and <see cref="System.ComponentModel.DataAnnotations.IValidatableObject"/>).</summary>
    [OptionsValidator]
    private sealed partial class Generated : IValidateOptions<SafeAIOptions>
    {
    }
}

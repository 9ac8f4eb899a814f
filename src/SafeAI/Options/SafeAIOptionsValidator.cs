using Microsoft.Extensions.Options;

namespace SafeAI;

/// <summary>Validates <see cref="SafeAIOptions"/> at start-up (source-generated from the data annotations).</summary>
[OptionsValidator]
internal sealed partial class SafeAIOptionsValidator : IValidateOptions<SafeAIOptions>
{
}

using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace SafeAI;

/// <summary>When the disclosure stage adds a visible notice to answers.</summary>
public enum AIDisclosureNotice
{
    /// <summary>No visible notice; the machine-readable disclosure is still attached.</summary>
    None = 0,

    /// <summary>On the first answer of a conversation (no earlier assistant message in the request). The default.</summary>
    FirstTurn = 1,

    /// <summary>On every answer.</summary>
    EveryAnswer = 2,
}

/// <summary>Settings of the AI disclosure stage, bound from <c>SafeAI:Disclosure</c>.</summary>
public sealed class AIDisclosureOptions : AIGuardOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "SafeAI:Disclosure";

    /// <summary>Gets or sets when a visible notice is added. Default: <see cref="AIDisclosureNotice.FirstTurn"/>.</summary>
    [EnumDataType(typeof(AIDisclosureNotice), ErrorMessage = "SafeAI:Disclosure:Notice must be None, FirstTurn or EveryAnswer.")]
    public AIDisclosureNotice Notice { get; set; } = AIDisclosureNotice.FirstTurn;

    /// <summary>Gets or sets the visible notice's text.</summary>
    [Required(AllowEmptyStrings = false, ErrorMessage = "SafeAI:Disclosure:NoticeText must not be empty.")]
    public string NoticeText { get; set; } = "You're chatting with an AI assistant. Its answers are generated automatically and can be wrong.";

    /// <summary>
    /// Gets the notice's text by culture (<c>de-DE</c>, or a language such as <c>de</c>), chosen by the call context's
    /// locale; <see cref="NoticeText"/> otherwise. Keys are case-insensitive.
    /// </summary>
    public IDictionary<string, string> LocalizedNoticeTexts { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Gets or sets the provider named in the disclosure; by default the inner client's <c>ChatClientMetadata.ProviderName</c>.</summary>
    public string? Provider { get; set; }

    /// <summary>Gets or sets the model named in the disclosure; by default the response's model id.</summary>
    public string? Model { get; set; }
}

/// <summary>Validates <see cref="AIDisclosureOptions"/>.</summary>
internal sealed partial class AIDisclosureOptionsValidator : IValidateOptions<AIDisclosureOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, AIDisclosureOptions options) =>
        ValidationMessages.WithoutRepeatedNames(new Generated().Validate(name, options));

    /// <summary>The validator generated from the data annotations (and <see cref="System.ComponentModel.DataAnnotations.IValidatableObject"/>).</summary>
    [OptionsValidator]
    private sealed partial class Generated : IValidateOptions<AIDisclosureOptions>
    {
    }
}

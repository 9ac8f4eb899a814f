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

    /// <summary>
    /// Gets or sets how long a conversation is remembered after its last turn, for <see cref="AIDisclosureNotice.FirstTurn"/>
    /// with a conversation id (<c>options.WithConversation(id)</c>): a conversation not seen for longer is greeted with the
    /// notice again. Default: 1 day. Between 1 second and 366 days.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "366.00:00:00", ErrorMessage = "SafeAI:Disclosure:ConversationMemoryDuration must be between 1 second and 366 days.")]
    public TimeSpan ConversationMemoryDuration { get; set; } = TimeSpan.FromDays(1);

    /// <summary>
    /// Gets or sets the most conversations remembered in process (the least recently seen are forgotten first). When an
    /// <c>IDistributedCache</c> is registered, it holds the same facts for every instance of the app, with the same expiry.
    /// Default: 100,000 (a few MB). Between 1 and 10,000,000.
    /// </summary>
    [Range(1, 10_000_000, ErrorMessage = "SafeAI:Disclosure:MaxRememberedConversations must be between 1 and 10,000,000.")]
    public int MaxRememberedConversations { get; set; } = 100_000;
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

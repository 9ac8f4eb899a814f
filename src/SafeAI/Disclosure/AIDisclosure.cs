using Microsoft.Extensions.AI;

namespace SafeAI;

/// <summary>
/// Machine-readable disclosure of how an answer was produced: the mode, the model and provider, who reviewed it and
/// when it was produced. The disclosure stage attaches it to every response (<see cref="AIDisclosureExtensions.GetAIDisclosure(ChatResponse)"/>),
/// and <see cref="ToHeaderValue"/> writes it as the <c>AI-Disclosure</c> HTTP header.
/// </summary>
public sealed record AIDisclosure
{
    /// <summary>The key under which the disclosure is stored in <c>AdditionalProperties</c> of responses and updates.</summary>
    public const string PropertyKey = "safeai.disclosure";

    /// <summary>
    /// The <see cref="SafeAIContext.Items"/> key a stage sets to an <see cref="AIDisclosureMode"/> to state how the answer
    /// was produced, for example <see cref="AIDisclosureMode.None"/> when a non-AI fallback answered.
    /// </summary>
    public const string ModeItemKey = "safeai.disclosure.mode";

    /// <summary>The <see cref="SafeAIContext.Items"/> key a stage sets to the identity (string) of the person who reviewed the answer.</summary>
    public const string ReviewedByItemKey = "safeai.disclosure.reviewed-by";

    /// <summary>Gets how much of the answer a machine produced.</summary>
    public AIDisclosureMode Mode { get; init; }

    /// <summary>Gets the model that produced the answer, when known.</summary>
    public string? Model { get; init; }

    /// <summary>Gets the provider of the model, when known.</summary>
    public string? Provider { get; init; }

    /// <summary>Gets who reviewed the answer, when a person did.</summary>
    public string? ReviewedBy { get; init; }

    /// <summary>Gets when the answer was produced (to the second, the resolution of the header's date).</summary>
    public DateTimeOffset? Date { get; init; }

    /// <summary>Gets the draft's token for a mode (<c>machine-generated</c>, <c>ai-originated</c>, <c>ai-modified</c>, <c>none</c>).</summary>
    /// <param name="mode">The mode.</param>
    /// <returns>The token.</returns>
    public static string GetModeToken(AIDisclosureMode mode) => mode switch
    {
        AIDisclosureMode.MachineGenerated => "machine-generated",
        AIDisclosureMode.AIOriginated => "ai-originated",
        AIDisclosureMode.AIModified => "ai-modified",
        AIDisclosureMode.None => "none",
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown disclosure mode."),
    };

    /// <summary>Writes the disclosure as the value of an <c>AI-Disclosure</c> header: an RFC 9651 Dictionary.</summary>
    /// <returns>For example <c>mode=machine-generated, model="gpt-4o", provider="OpenAI", date=@1745286896</c>.</returns>
    public string ToHeaderValue() => AIDisclosureHeader.Format(this);
}

/// <summary>Reads the <see cref="AIDisclosure"/> the disclosure stage attached.</summary>
public static class AIDisclosureExtensions
{
    /// <summary>
    /// Gets the disclosure of a response. For a response assembled from a stream (<c>ToChatResponse</c>), the disclosure
    /// may sit on the first message rather than the response; both places are read.
    /// </summary>
    /// <param name="response">The response.</param>
    /// <returns>The disclosure, or <see langword="null"/> when the pipeline has no disclosure stage.</returns>
    public static AIDisclosure? GetAIDisclosure(this ChatResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (response.AdditionalProperties?.TryGetValue(AIDisclosure.PropertyKey, out var value) == true && value is AIDisclosure disclosure)
        {
            return disclosure;
        }

        foreach (var message in response.Messages)
        {
            if (message.AdditionalProperties?.TryGetValue(AIDisclosure.PropertyKey, out var fromMessage) == true && fromMessage is AIDisclosure found)
            {
                return found;
            }
        }

        return null;
    }

    /// <summary>Gets the disclosure carried by a streaming update (the first update of a disclosed stream carries it).</summary>
    /// <param name="update">The update.</param>
    /// <returns>The disclosure, or <see langword="null"/>.</returns>
    public static AIDisclosure? GetAIDisclosure(this ChatResponseUpdate update)
    {
        ArgumentNullException.ThrowIfNull(update);
        return update.AdditionalProperties?.TryGetValue(AIDisclosure.PropertyKey, out var value) == true ? value as AIDisclosure : null;
    }
}

namespace SafeAI.Onnx;

/// <summary>
/// The content filter's one taxonomy. Every model's outputs map onto these names (a model may add its own); reason
/// codes are <c>content.&lt;category&gt;</c>, for example <c>content.hate</c>.
/// </summary>
/// <remarks>
/// Mapping to other taxonomies (see the README for the full table):
/// <list type="table">
/// <listheader><term>SafeAI</term><description>OpenAI moderation / Azure AI Content Safety / Llama Guard 3</description></listheader>
/// <item><term><see cref="Hate"/></term><description>hate, hate/threatening / Hate / S10 Hate</description></item>
/// <item><term><see cref="Harassment"/></term><description>harassment, harassment/threatening / Hate (its bullying and intimidation harms) / none</description></item>
/// <item><term><see cref="Sexual"/></term><description>sexual / Sexual / S12 Sexual Content, S3 Sex-Related Crimes</description></item>
/// <item><term><see cref="SexualMinors"/></term><description>sexual/minors / Sexual (content involving minors) / S4 Child Sexual Exploitation</description></item>
/// <item><term><see cref="Violence"/></term><description>violence, violence/graphic, illicit/violent / Violence / S1 Violent Crimes, S9 Indiscriminate Weapons</description></item>
/// <item><term><see cref="SelfHarm"/></term><description>self-harm, self-harm/intent, self-harm/instructions / SelfHarm / S11 Suicide and Self-Harm</description></item>
/// <item><term><see cref="Illicit"/></term><description>illicit / none / S2 Non-Violent Crimes</description></item>
/// <item><term><see cref="PromptInjection"/></term><description>none / Prompt Shields (user prompt and document attacks) / none (Meta ships Prompt Guard separately)</description></item>
/// </list>
/// Llama Guard S5 Defamation, S6 Specialized Advice, S7 Privacy, S8 Intellectual Property, S13 Elections and S14 Code
/// Interpreter Abuse have no SafeAI category of their own; a model that scores them reports them under its own names
/// (reason <c>content.&lt;name&gt;</c>).
/// </remarks>
public static class ContentCategories
{
    /// <summary>Hateful content about a protected group.</summary>
    public const string Hate = "hate";

    /// <summary>Harassment, insults and threats aimed at a person.</summary>
    public const string Harassment = "harassment";

    /// <summary>Sexual content.</summary>
    public const string Sexual = "sexual";

    /// <summary>Sexual content involving minors.</summary>
    public const string SexualMinors = "sexual_minors";

    /// <summary>Violence, threats of violence, weapons.</summary>
    public const string Violence = "violence";

    /// <summary>Suicide and self-harm.</summary>
    public const string SelfHarm = "self_harm";

    /// <summary>Advice or requests for illegal acts.</summary>
    public const string Illicit = "illicit";

    /// <summary>Prompt injection and jailbreak attempts, including indirect injection in tool results.</summary>
    public const string PromptInjection = "prompt_injection";

    /// <summary>Reason code when the text is longer than <see cref="ContentFilterOptions.MaxWindows"/> windows and <see cref="ContentFilterOptions.OversizeAction"/> acts on it.</summary>
    public const string TooLongReason = "content.too_long";

    /// <summary>Gets the built-in category names.</summary>
    public static IReadOnlyList<string> All { get; } = [Hate, Harassment, Sexual, SexualMinors, Violence, SelfHarm, Illicit, PromptInjection];

    /// <summary>Gets the reason code of a category: <c>content.&lt;category&gt;</c>.</summary>
    /// <param name="category">The category name.</param>
    /// <returns>The reason code.</returns>
    /// <exception cref="ArgumentException"><paramref name="category"/> is null or empty.</exception>
    public static string GetReason(string category)
    {
        ArgumentException.ThrowIfNullOrEmpty(category);
        return category switch
        {
            Hate => "content.hate",
            Harassment => "content.harassment",
            Sexual => "content.sexual",
            SexualMinors => "content.sexual_minors",
            Violence => "content.violence",
            SelfHarm => "content.self_harm",
            Illicit => "content.illicit",
            PromptInjection => "content.prompt_injection",
            _ => "content." + category,
        };
    }
}

using Microsoft.Extensions.AI;

namespace SafeAI;

/// <summary>
/// Sets the <see cref="SafeAICallContext"/> of one call on its <see cref="ChatOptions"/>.
/// The context is stored in <see cref="ChatOptions.AdditionalProperties"/> under <see cref="PropertyKey"/>;
/// SafeAI removes nothing from the options and never mutates the caller's options itself.
/// </summary>
/// <example>
/// <code>
/// var options = new ChatOptions().WithUser("u-42").WithTenant("contoso").WithRiskTier(RiskTier.High);
/// var answer = await client.GetResponseAsync(messages, options);
/// </code>
/// </example>
public static class SafeAIChatOptionsExtensions
{
    /// <summary>The <see cref="ChatOptions.AdditionalProperties"/> key under which the call context is stored.</summary>
    public const string PropertyKey = "safeai.context";

    /// <summary>Gets the call context stored on the options.</summary>
    /// <param name="options">The options; may be <see langword="null"/>.</param>
    /// <returns>The context, or <see langword="null"/> when none was set.</returns>
    public static SafeAICallContext? GetSafeAIContext(this ChatOptions? options) =>
        options?.AdditionalProperties is { } props && props.TryGetValue(PropertyKey, out var value) ? value as SafeAICallContext : null;

    /// <summary>Stores a call context on the options, replacing any earlier one.</summary>
    /// <param name="options">The options.</param>
    /// <param name="context">The context.</param>
    /// <returns>The same options, for chaining.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static ChatOptions WithSafeAIContext(this ChatOptions options, SafeAICallContext context)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(context);
        (options.AdditionalProperties ??= [])[PropertyKey] = context;
        return options;
    }

    /// <summary>Sets the end user's stable identifier.</summary>
    /// <param name="options">The options.</param>
    /// <param name="userId">The user identifier.</param>
    /// <returns>The same options, for chaining.</returns>
    /// <exception cref="ArgumentException"><paramref name="userId"/> is null or empty.</exception>
    public static ChatOptions WithUser(this ChatOptions options, string userId)
    {
        ArgumentException.ThrowIfNullOrEmpty(userId);
        return options.Update(c => c with { UserId = userId });
    }

    /// <summary>Sets the tenant.</summary>
    /// <param name="options">The options.</param>
    /// <param name="tenantId">The tenant identifier.</param>
    /// <returns>The same options, for chaining.</returns>
    /// <exception cref="ArgumentException"><paramref name="tenantId"/> is null or empty.</exception>
    public static ChatOptions WithTenant(this ChatOptions options, string tenantId)
    {
        ArgumentException.ThrowIfNullOrEmpty(tenantId);
        return options.Update(c => c with { TenantId = tenantId });
    }

    /// <summary>Sets the identifier of the API key or client application.</summary>
    /// <param name="options">The options.</param>
    /// <param name="apiKeyId">The API key identifier (never the key itself).</param>
    /// <returns>The same options, for chaining.</returns>
    /// <exception cref="ArgumentException"><paramref name="apiKeyId"/> is null or empty.</exception>
    public static ChatOptions WithApiKeyId(this ChatOptions options, string apiKeyId)
    {
        ArgumentException.ThrowIfNullOrEmpty(apiKeyId);
        return options.Update(c => c with { ApiKeyId = apiKeyId });
    }

    /// <summary>Sets the application's conversation identifier (not the provider's <see cref="ChatOptions.ConversationId"/>).</summary>
    /// <param name="options">The options.</param>
    /// <param name="conversationId">The conversation identifier.</param>
    /// <returns>The same options, for chaining.</returns>
    /// <exception cref="ArgumentException"><paramref name="conversationId"/> is null or empty.</exception>
    public static ChatOptions WithConversation(this ChatOptions options, string conversationId)
    {
        ArgumentException.ThrowIfNullOrEmpty(conversationId);
        return options.Update(c => c with { ConversationId = conversationId });
    }

    /// <summary>Sets the risk tier.</summary>
    /// <param name="options">The options.</param>
    /// <param name="riskTier">The risk tier.</param>
    /// <returns>The same options, for chaining.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="riskTier"/> is not a defined value.</exception>
    public static ChatOptions WithRiskTier(this ChatOptions options, RiskTier riskTier)
    {
        if (!Enum.IsDefined(riskTier))
        {
            throw new ArgumentOutOfRangeException(nameof(riskTier), riskTier, "Unknown risk tier.");
        }

        return options.Update(c => c with { RiskTier = riskTier });
    }

    /// <summary>Sets the user's locale (a culture name such as <c>fr-FR</c>).</summary>
    /// <param name="options">The options.</param>
    /// <param name="locale">The culture name.</param>
    /// <returns>The same options, for chaining.</returns>
    /// <exception cref="ArgumentException"><paramref name="locale"/> is null or empty.</exception>
    public static ChatOptions WithLocale(this ChatOptions options, string locale)
    {
        ArgumentException.ThrowIfNullOrEmpty(locale);
        return options.Update(c => c with { Locale = locale });
    }

    private static ChatOptions Update(this ChatOptions options, Func<SafeAICallContext, SafeAICallContext> change)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.WithSafeAIContext(change(options.GetSafeAIContext() ?? SafeAICallContext.Empty));
    }
}

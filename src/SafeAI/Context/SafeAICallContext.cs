namespace SafeAI;

/// <summary>
/// Who a call is for and what is at stake: user, tenant, conversation, risk tier, locale, consent and rollout arm.
/// Set it per call with the <see cref="SafeAIChatOptionsExtensions"/> methods on <c>ChatOptions</c>, or for a whole
/// scope (such as an HTTP request) with <see cref="SafeAICallContextAccessor"/>.
/// </summary>
/// <remarks>Instances are immutable; use <c>with</c> expressions to derive a changed copy.</remarks>
public sealed record SafeAICallContext
{
    /// <summary>Gets a context with nothing set.</summary>
    public static SafeAICallContext Empty { get; } = new();

    /// <summary>Gets the end user's stable identifier (not a display name or e-mail address).</summary>
    public string? UserId { get; init; }

    /// <summary>Gets the tenant (customer organisation) the call belongs to.</summary>
    public string? TenantId { get; init; }

    /// <summary>Gets the identifier of the API key or client application that made the call.</summary>
    public string? ApiKeyId { get; init; }

    /// <summary>Gets the application's conversation identifier.</summary>
    public string? ConversationId { get; init; }

    /// <summary>Gets how much is at stake in the call.</summary>
    public RiskTier RiskTier { get; init; }

    /// <summary>Gets the user's locale as a culture name (for example <c>de-DE</c>), used for localised notices.</summary>
    public string? Locale { get; init; }

    /// <summary>Gets the consents the user has given (for example <c>ai-interaction</c>, <c>data-retention</c>). Compared ordinally, case-insensitive.</summary>
    public IReadOnlySet<string>? Consents { get; init; }

    /// <summary>
    /// Gets the purposes the user declined or withdrew (for example <c>improve-model</c>); see
    /// <see cref="Consent.ConsentPurposes"/>. A declined purpose wins over the same purpose in <see cref="Consents"/>.
    /// Compared ordinally, case-insensitive.
    /// </summary>
    public IReadOnlySet<string>? DeclinedConsents { get; init; }

    /// <summary>Gets the rollout arm the call was assigned to (for example <c>canary</c> or <c>control</c>).</summary>
    public string? RolloutArm { get; init; }

    /// <summary>Gets a value indicating whether the user gave the named consent.</summary>
    /// <param name="consent">The consent name.</param>
    /// <returns><see langword="true"/> when the consent is present.</returns>
    public bool HasConsent(string consent)
    {
        ArgumentNullException.ThrowIfNull(consent);
        if (Consents is null)
        {
            return false;
        }

        return Contains(Consents, consent);
    }

    /// <summary>Gets a value indicating whether the user declined or withdrew the named consent.</summary>
    /// <param name="consent">The consent name.</param>
    /// <returns><see langword="true"/> when the consent is among <see cref="DeclinedConsents"/>.</returns>
    public bool HasDeclined(string consent)
    {
        ArgumentNullException.ThrowIfNull(consent);
        return DeclinedConsents is not null && Contains(DeclinedConsents, consent);
    }

    /// <summary>
    /// Returns a context where every value not set here is taken from <paramref name="fallback"/>.
    /// Returns this instance when nothing needs filling.
    /// </summary>
    /// <param name="fallback">The context to fill gaps from, typically the ambient one.</param>
    /// <returns>The merged context.</returns>
    public SafeAICallContext MergeWith(SafeAICallContext? fallback)
    {
        if (fallback is null || ReferenceEquals(fallback, this) || ReferenceEquals(fallback, Empty))
        {
            return this;
        }

        if (UserId is not null && TenantId is not null && ApiKeyId is not null && ConversationId is not null &&
            RiskTier != RiskTier.Unspecified && Locale is not null && Consents is not null && DeclinedConsents is not null && RolloutArm is not null)
        {
            return this;
        }

        return new SafeAICallContext
        {
            UserId = UserId ?? fallback.UserId,
            TenantId = TenantId ?? fallback.TenantId,
            ApiKeyId = ApiKeyId ?? fallback.ApiKeyId,
            ConversationId = ConversationId ?? fallback.ConversationId,
            RiskTier = RiskTier != RiskTier.Unspecified ? RiskTier : fallback.RiskTier,
            Locale = Locale ?? fallback.Locale,
            Consents = Consents ?? fallback.Consents,
            DeclinedConsents = DeclinedConsents ?? fallback.DeclinedConsents,
            RolloutArm = RolloutArm ?? fallback.RolloutArm,
        };
    }

    private static bool Contains(IReadOnlySet<string> set, string value)
    {
        if (set.Contains(value))
        {
            return true;
        }

        foreach (var c in set)
        {
            if (string.Equals(c, value, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}

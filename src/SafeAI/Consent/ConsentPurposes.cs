namespace SafeAI.Consent;

/// <summary>
/// The purposes a person can consent to or decline, and the one rule every consumer that stores text applies:
/// <see cref="IsPermitted(SafeAICallContext?, string)"/>.
/// </summary>
/// <remarks>
/// <para>
/// <see cref="StoreText"/> is opt-in: text is kept only when the person said yes. The other purposes are opt-out (the
/// model the issue asks for: disclose the use, offer an opt-out): permitted unless the person declined. A consumer
/// of a purpose SafeAI does not know treats it as opt-in.
/// </para>
/// <para>
/// Consumers: the audit trail (<see cref="StoreText"/>), feedback stores (<see cref="ImproveModel"/>: the comment is
/// the dataset's text), the review queue (<see cref="HumanReview"/>: the request text reviewers see), monitoring samples
/// (<see cref="Analytics"/>: call <c>ConsentPurposes.IsPermitted(context, ConsentPurposes.Analytics)</c> before keeping a
/// sample's text) and mirrored or shadow traffic (<see cref="ImproveModel"/>).
/// </para>
/// </remarks>
public static class ConsentPurposes
{
    /// <summary>Conversation data may be used to improve the model (feedback datasets, mirrored or shadow traffic). Opt-out.</summary>
    public const string ImproveModel = "improve-model";

    /// <summary>Message text may be stored in clear in the audit trail. Opt-in.</summary>
    public const string StoreText = "store-text";

    /// <summary>A person may read the conversation to review an answer (the review queue's stored request text). Opt-out.</summary>
    public const string HumanReview = "human-review";

    /// <summary>Conversation text may be sampled for monitoring and analytics. Opt-out.</summary>
    public const string Analytics = "analytics";

    /// <summary>Gets the purposes SafeAI knows, in a stable order.</summary>
    public static IReadOnlyList<string> All { get; } = [ImproveModel, StoreText, HumanReview, Analytics];

    /// <summary>Gets a value indicating whether SafeAI knows the purpose.</summary>
    /// <param name="purpose">The purpose.</param>
    /// <returns><see langword="true"/> for one of <see cref="All"/> (ordinal, case-insensitive).</returns>
    public static bool IsKnown(string? purpose)
    {
        foreach (var p in All)
        {
            if (string.Equals(p, purpose, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Gets a value indicating whether a purpose is opt-in (permitted only after a yes).</summary>
    /// <param name="purpose">The purpose.</param>
    /// <returns><see langword="true"/> for <see cref="StoreText"/> and purposes SafeAI does not know.</returns>
    public static bool IsOptIn(string purpose) =>
        string.Equals(purpose, StoreText, StringComparison.OrdinalIgnoreCase) || !IsKnown(purpose);

    /// <summary>
    /// Gets a value indicating whether the person of a call permits a purpose: not when they declined it
    /// (<see cref="SafeAICallContext.DeclinedConsents"/>), yes when they gave it (<see cref="SafeAICallContext.Consents"/>),
    /// otherwise the purpose's default (opt-in purposes no, opt-out purposes yes).
    /// </summary>
    /// <param name="context">The call context; <see langword="null"/> for an unknown person.</param>
    /// <param name="purpose">The purpose.</param>
    /// <returns>Whether the purpose is permitted.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="purpose"/> is <see langword="null"/>.</exception>
    public static bool IsPermitted(SafeAICallContext? context, string purpose)
    {
        ArgumentNullException.ThrowIfNull(purpose);
        if (context is not null)
        {
            if (context.HasDeclined(purpose))
            {
                return false;
            }

            if (context.HasConsent(purpose))
            {
                return true;
            }
        }

        return !IsOptIn(purpose);
    }
}

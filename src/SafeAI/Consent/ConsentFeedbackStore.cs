using SafeAI.Feedback;

namespace SafeAI.Consent;

/// <summary>
/// A feedback store that honours the <see cref="ConsentPurposes.ImproveModel"/> opt-out: feedback comments are the text
/// of feedback datasets, so an entry of a person who declined <c>improve-model</c> is stored with its rating but without
/// its comment. <c>safe.AddConsent()</c> wraps the registered feedback store in one; wrap it yourself without
/// dependency injection.
/// </summary>
/// <remarks>Thread-safe when the inner store is. Entries without a user id keep their comment (no person to ask).</remarks>
/// <param name="inner">The store entries go to.</param>
/// <param name="consent">Where the person's choices come from.</param>
public sealed class ConsentFeedbackStore(IFeedbackStore inner, ConsentManager consent) : IFeedbackStore
{
    private readonly IFeedbackStore _inner = inner ?? throw new ArgumentNullException(nameof(inner));
    private readonly ConsentManager _consent = consent ?? throw new ArgumentNullException(nameof(consent));

    /// <summary>Gets the store entries go to.</summary>
    public IFeedbackStore Inner => _inner;

    /// <inheritdoc />
    public async ValueTask AddAsync(FeedbackEntry entry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (entry.Comment is not null && entry.UserId is { } user &&
            !await _consent.IsPermittedAsync(user, ConsentPurposes.ImproveModel, cancellationToken).ConfigureAwait(false))
        {
            entry = entry with { Comment = null };
        }

        await _inner.AddAsync(entry, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask<FeedbackEntry?> GetAsync(string id, CancellationToken cancellationToken = default) => _inner.GetAsync(id, cancellationToken);

    /// <inheritdoc />
    public ValueTask<FeedbackPage> ListAsync(FeedbackQuery query, CancellationToken cancellationToken = default) => _inner.ListAsync(query, cancellationToken);
}

namespace SafeAI.Consent;

/// <summary>One person's choice for one purpose.</summary>
/// <param name="Purpose">The purpose (see <see cref="ConsentPurposes"/>).</param>
/// <param name="Granted">Whether the person gave (true) or declined (false) the consent.</param>
/// <param name="ChangedAt">When the person made the choice.</param>
public sealed record ConsentChoice(string Purpose, bool Granted, DateTimeOffset ChangedAt);

/// <summary>
/// Where people's consent choices live. SafeAI ships an in-memory store (tests and demos), SQLite
/// (<c>SafeAI.Sqlite</c>) and PostgreSQL (<c>SafeAI.PostgreSql</c>). Use it through <see cref="ConsentManager"/>, which
/// records every change in the audit trail.
/// </summary>
/// <remarks>Implementations must be thread-safe; a change is durable when its task completes.</remarks>
public interface IConsentStore
{
    /// <summary>Gets a person's choices, one per purpose they decided on.</summary>
    /// <param name="userId">The person.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The choices (empty when the person never decided).</returns>
    /// <exception cref="ArgumentException"><paramref name="userId"/> is null or empty.</exception>
    ValueTask<IReadOnlyList<ConsentChoice>> GetAsync(string userId, CancellationToken cancellationToken = default);

    /// <summary>Stores a person's choice for one purpose, replacing an earlier one.</summary>
    /// <param name="userId">The person.</param>
    /// <param name="choice">The choice.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>A task that completes when the choice is stored durably.</returns>
    /// <exception cref="ArgumentException"><paramref name="userId"/> is null or empty.</exception>
    ValueTask SetAsync(string userId, ConsentChoice choice, CancellationToken cancellationToken = default);
}

/// <summary>A consent store in memory, for tests and demos: lost when the process ends. Thread-safe.</summary>
public sealed class InMemoryConsentStore : IConsentStore
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string User, string Purpose), ConsentChoice> _choices = new();

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<ConsentChoice>> GetAsync(string userId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(userId);
        IReadOnlyList<ConsentChoice> list = [.. _choices.Where(p => string.Equals(p.Key.User, userId, StringComparison.Ordinal)).Select(static p => p.Value).OrderBy(static c => c.Purpose, StringComparer.Ordinal)];
        return new ValueTask<IReadOnlyList<ConsentChoice>>(list);
    }

    /// <inheritdoc />
    public ValueTask SetAsync(string userId, ConsentChoice choice, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(userId);
        ArgumentNullException.ThrowIfNull(choice);
        _choices[(userId, choice.Purpose)] = choice;
        return ValueTask.CompletedTask;
    }
}

/// <summary>A consent store failed (unreachable, corrupt).</summary>
public sealed class ConsentStoreException : Exception
{
    /// <summary>Initializes a new instance of the <see cref="ConsentStoreException"/> class.</summary>
    public ConsentStoreException()
    {
    }

    /// <summary>Initializes a new instance of the <see cref="ConsentStoreException"/> class.</summary>
    /// <param name="message">The message.</param>
    public ConsentStoreException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="ConsentStoreException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public ConsentStoreException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

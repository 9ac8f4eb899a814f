namespace SafeAI.Audit;

/// <summary>
/// One audit event before it is sealed into the chain: everything of an <see cref="AuditRecord"/> except the chain fields.
/// <see cref="AuditTrail"/> creates entries on its writer thread; stores receive them in
/// <see cref="IAuditStore.AppendAsync"/> and seal them with <see cref="AuditSealer.Seal"/> inside their transaction.
/// </summary>
public sealed record AuditEntry
{
    /// <summary>Gets the record id (unique, time-ordered).</summary>
    public required string Id { get; init; }

    /// <summary>Gets when the event happened.</summary>
    public DateTimeOffset Timestamp { get; init; }

    /// <summary>Gets the kind; see <see cref="AuditRecordKinds"/>.</summary>
    public required string Kind { get; init; }

    /// <summary>Gets the person the record is about, if any.</summary>
    public string? Subject { get; init; }

    /// <summary>Gets the details as canonical JSON (an object). Empty for a checkpoint, whose body the sealer writes.</summary>
    public string Body { get; init; } = "{}";

    /// <summary>Gets the keyed hash of the input text, if any.</summary>
    public string? InputHash { get; init; }

    /// <summary>Gets the keyed hash of the output text, if any.</summary>
    public string? OutputHash { get; init; }

    /// <summary>Gets the input text to store (only with the person's <c>store-text</c> consent).</summary>
    public string? InputText { get; init; }

    /// <summary>Gets the output text to store (only with the person's <c>store-text</c> consent).</summary>
    public string? OutputText { get; init; }
}

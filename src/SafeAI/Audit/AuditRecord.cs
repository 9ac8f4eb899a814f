namespace SafeAI.Audit;

/// <summary>The kinds of audit records SafeAI writes (<see cref="AuditRecord.Kind"/>).</summary>
public static class AuditRecordKinds
{
    /// <summary>One call through the pipeline: ids, arm, verdicts, model, disclosure, configuration version.</summary>
    public const string Call = "call";

    /// <summary>An operator's action: a reviewer's decision, a rollout decision, a kill-switch change, or an app-defined action.</summary>
    public const string Operator = "operator";

    /// <summary>A change of a person's consent.</summary>
    public const string Consent = "consent";

    /// <summary>A signed checkpoint: the hash of the record before it, signed with the app's checkpoint key.</summary>
    public const string Checkpoint = "checkpoint";

    /// <summary>A retention purge: records before a sequence number were deleted; the record anchors the first kept one.</summary>
    public const string Purge = "purge";

    /// <summary>The erasure of one subject's stored text (the records stay; their text hashes still verify).</summary>
    public const string Erasure = "erasure";
}

/// <summary>
/// One sealed record of the audit trail, as a store holds it. The chain fields (<see cref="Sequence"/>,
/// <see cref="PreviousHash"/>, <see cref="Hash"/>) are set by <see cref="AuditSealer.Seal"/> when the record is appended.
/// </summary>
/// <remarks>
/// <see cref="Hash"/> is the SHA-256 of the record's canonical bytes (<see cref="AuditChain.GetCanonicalBytes"/>), which
/// cover every field except <see cref="InputText"/>, <see cref="OutputText"/> and <see cref="Hash"/> itself; the texts are
/// covered through their keyed hashes (<see cref="InputHash"/>, <see cref="OutputHash"/>), so a text can be erased while
/// the chain still verifies.
/// </remarks>
public sealed record AuditRecord
{
    /// <summary>Gets the position in the chain: 1 for the first record, one higher for each record after it.</summary>
    public long Sequence { get; init; }

    /// <summary>Gets the record id (unique, time-ordered).</summary>
    public required string Id { get; init; }

    /// <summary>Gets when the event happened (millisecond resolution, UTC).</summary>
    public DateTimeOffset Timestamp { get; init; }

    /// <summary>Gets the kind; see <see cref="AuditRecordKinds"/>.</summary>
    public required string Kind { get; init; }

    /// <summary>Gets the person the record is about (the call's user id, the person whose consent changed), if any.</summary>
    public string? Subject { get; init; }

    /// <summary>Gets the record's details as canonical JSON (an object; never message text).</summary>
    public required string Body { get; init; }

    /// <summary>Gets the keyed hash (HMAC-SHA256 with the app's text key, lower-case hex) of the call's input text, if any.</summary>
    public string? InputHash { get; init; }

    /// <summary>Gets the keyed hash of the call's output text, if any.</summary>
    public string? OutputHash { get; init; }

    /// <summary>Gets the input text, kept only when the person consented to <c>store-text</c> and not erased since.</summary>
    public string? InputText { get; init; }

    /// <summary>Gets the output text, kept only when the person consented to <c>store-text</c> and not erased since.</summary>
    public string? OutputText { get; init; }

    /// <summary>Gets the <see cref="Hash"/> of the record before this one (64 zeros for the first record of a chain).</summary>
    public string PreviousHash { get; init; } = AuditChain.GenesisHash;

    /// <summary>Gets the SHA-256 of this record's canonical bytes, lower-case hex.</summary>
    public string Hash { get; init; } = string.Empty;
}

/// <summary>The last record of a chain: what the next record links to.</summary>
/// <param name="Sequence">The last sequence number (0 for an empty chain).</param>
/// <param name="Hash">The last record's hash (<see cref="AuditChain.GenesisHash"/> for an empty chain).</param>
public readonly record struct AuditHead(long Sequence, string Hash)
{
    /// <summary>Gets the head of an empty chain.</summary>
    public static AuditHead Empty { get; } = new(0, AuditChain.GenesisHash);
}

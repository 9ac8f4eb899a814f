using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace SafeAI.Audit;

/// <summary>
/// The hash chain of the audit trail: canonical bytes of a record, its SHA-256, checkpoint signatures, and the
/// verification of a whole chain. Stateless and thread-safe.
/// </summary>
/// <remarks>
/// <para>
/// Canonical bytes (version 1): the UTF-8 line <c>safeai-audit/1</c>, then for each of sequence, id, timestamp (Unix
/// milliseconds), kind, subject, body, input hash, output hash and previous hash, in this order, one line
/// <c>{byte length}:{value}</c>, or <c>-</c> for a missing value. The length prefix makes the encoding unambiguous
/// whatever the values hold. The clear texts are not part of the canonical bytes: their keyed hashes are.
/// </para>
/// <para>
/// A checkpoint record's body is <c>{"through":N,"anchor":"hash of record N","key":"key id","signature":"base64"}</c>,
/// the signature being HMAC-SHA256 over the UTF-8 text <c>safeai-audit-checkpoint/1\n{N}\n{anchor}</c> with the app's
/// checkpoint key. Anyone can recompute SHA-256, so a chain rewritten from some record on would verify without keys;
/// the signed checkpoints are what pins it: a rewrite before the last checkpoint breaks that checkpoint's signature.
/// </para>
/// </remarks>
public static class AuditChain
{
    /// <summary>The previous hash of the first record of a chain: 64 zeros.</summary>
    public const string GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000";

    private const string CheckpointDomain = "safeai-audit-checkpoint/1\n";

    /// <summary>Gets the canonical bytes of a record (everything but the clear texts and the record's own hash).</summary>
    /// <param name="record">The record.</param>
    /// <returns>The bytes the record's hash is computed over.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="record"/> is <see langword="null"/>.</exception>
    public static byte[] GetCanonicalBytes(AuditRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var buffer = new ArrayBufferWriter<byte>(256 + (record.Body.Length * 2));
        Write(buffer, "safeai-audit/1\n");
        Field(buffer, record.Sequence.ToString(CultureInfo.InvariantCulture));
        Field(buffer, record.Id);
        Field(buffer, record.Timestamp.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture));
        Field(buffer, record.Kind);
        Field(buffer, record.Subject);
        Field(buffer, record.Body);
        Field(buffer, record.InputHash);
        Field(buffer, record.OutputHash);
        Field(buffer, record.PreviousHash);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Computes a record's hash: the SHA-256 of its canonical bytes, lower-case hex.</summary>
    /// <param name="record">The record.</param>
    /// <returns>The hash.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="record"/> is <see langword="null"/>.</exception>
    public static string ComputeHash(AuditRecord record) => Convert.ToHexStringLower(SHA256.HashData(GetCanonicalBytes(record)));

    /// <summary>Computes the keyed hash of a text: HMAC-SHA256 with the app's text key over the UTF-8 text, lower-case hex.</summary>
    /// <param name="key">The text key.</param>
    /// <param name="text">The text.</param>
    /// <returns>The hash.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static string ComputeTextHash(byte[] key, string text)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(text);
        return Convert.ToHexStringLower(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(text)));
    }

    /// <summary>Signs a checkpoint: HMAC-SHA256 over <c>safeai-audit-checkpoint/1\n{through}\n{anchor}</c>, base64.</summary>
    /// <param name="key">The checkpoint key.</param>
    /// <param name="through">The sequence number of the anchored record.</param>
    /// <param name="anchor">The anchored record's hash.</param>
    /// <returns>The signature.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static string SignCheckpoint(byte[] key, long through, string anchor)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(anchor);
        var message = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{CheckpointDomain}{through}\n{anchor}"));
        return Convert.ToBase64String(HMACSHA256.HashData(key, message));
    }

    /// <summary>
    /// Verifies a chain read in sequence order: every record's hash, the links between records, the sequence numbers,
    /// purge anchors, checkpoint bodies and (with keys) checkpoint signatures and stored texts. Stops at the first problem.
    /// </summary>
    /// <param name="records">The records, in ascending <see cref="AuditRecord.Sequence"/>.</param>
    /// <param name="options">The keys to check signatures and texts with; <see langword="null"/> for none.</param>
    /// <param name="cancellationToken">Cancels the verification.</param>
    /// <returns>The result.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="records"/> is <see langword="null"/>.</exception>
    public static async ValueTask<AuditVerification> VerifyAsync(IAsyncEnumerable<AuditRecord> records, AuditVerifyOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(records);
        options ??= new AuditVerifyOptions();
        var state = new VerifyState();
        await foreach (var record in records.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            if (state.Check(record, options) is { } broken)
            {
                return broken;
            }
        }

        return state.Finish();
    }

    internal static string? TryReadString(JsonElement body, string name) =>
        body.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    internal static long? TryReadInt64(JsonElement body, string name) =>
        body.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var n) ? n : null;

    private static void Field(ArrayBufferWriter<byte> buffer, string? value)
    {
        if (value is null)
        {
            Write(buffer, "-\n");
            return;
        }

        Write(buffer, Encoding.UTF8.GetByteCount(value).ToString(CultureInfo.InvariantCulture));
        Write(buffer, ":");
        Write(buffer, value);
        Write(buffer, "\n");
    }

    private static void Write(ArrayBufferWriter<byte> buffer, string text)
    {
        var span = buffer.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
        buffer.Advance(Encoding.UTF8.GetBytes(text, span));
    }

    private sealed class VerifyState
    {
        private long _count;
        private long _expected = -1;
        private string _previous = GenesisHash;
        private long _firstSequence;
        private string? _firstId;
        private string? _firstPrevious;
        private bool _anchored = true;
        private long _checkpoints;
        private long _signed;
        private long _lastSigned;
        private long _textsChecked;
        private long _lastSequence;

        public AuditVerification? Check(AuditRecord record, AuditVerifyOptions options)
        {
            if (_expected < 0)
            {
                _firstSequence = record.Sequence;
                _firstId = record.Id;
                _firstPrevious = record.PreviousHash;
                if (record.Sequence == 1)
                {
                    if (!string.Equals(record.PreviousHash, GenesisHash, StringComparison.Ordinal))
                    {
                        return Broken(record, "the first record does not start the chain (its previous-record hash is not the genesis value)");
                    }
                }
                else
                {
                    // Records before it were purged (or removed): a purge record later in the chain must account for them.
                    _anchored = false;
                }
            }
            else
            {
                if (record.Sequence > _expected)
                {
                    return Broken(record, string.Create(CultureInfo.InvariantCulture, $"sequence {record.Sequence} follows {_expected - 1}: {record.Sequence - _expected} record(s) before it were removed"));
                }

                if (record.Sequence < _expected)
                {
                    return Broken(record, string.Create(CultureInfo.InvariantCulture, $"sequence {record.Sequence} comes after {_expected - 1}: records are out of order or duplicated"));
                }

                if (!string.Equals(record.PreviousHash, _previous, StringComparison.Ordinal))
                {
                    return Broken(record, string.Create(CultureInfo.InvariantCulture, $"its previous-record hash does not match record {_expected - 1}: a record before it was changed, inserted, removed or reordered"));
                }
            }

            if (!string.Equals(ComputeHash(record), record.Hash, StringComparison.Ordinal))
            {
                return Broken(record, "its content does not match its hash: the record was changed (or moved from another position)");
            }

            if (options.TextKey is { } textKey)
            {
                if (record.InputText is { } input)
                {
                    if (!string.Equals(ComputeTextHash(textKey, input), record.InputHash, StringComparison.Ordinal))
                    {
                        return Broken(record, "its stored input text does not match its keyed hash: the text was changed");
                    }

                    _textsChecked++;
                }

                if (record.OutputText is { } output)
                {
                    if (!string.Equals(ComputeTextHash(textKey, output), record.OutputHash, StringComparison.Ordinal))
                    {
                        return Broken(record, "its stored output text does not match its keyed hash: the text was changed");
                    }

                    _textsChecked++;
                }
            }

            if (record.Kind == AuditRecordKinds.Checkpoint && CheckCheckpoint(record, options) is { } checkpointProblem)
            {
                return Broken(record, checkpointProblem);
            }

            if (record.Kind == AuditRecordKinds.Purge && !_anchored && IsAnchor(record))
            {
                _anchored = true;
            }

            _count++;
            _previous = record.Hash;
            _expected = record.Sequence + 1;
            _lastSequence = record.Sequence;
            return null;
        }

        public AuditVerification Finish()
        {
            if (!_anchored)
            {
                return new AuditVerification
                {
                    IsIntact = false,
                    Count = _count,
                    BrokenId = _firstId,
                    BrokenSequence = _firstSequence,
                    Problem = string.Create(CultureInfo.InvariantCulture, $"records before sequence {_firstSequence} are missing and no purge record in the chain accounts for them"),
                    Checkpoints = _checkpoints,
                    SignedCheckpoints = _signed,
                };
            }

            return new AuditVerification
            {
                IsIntact = true,
                Count = _count,
                FirstSequence = _count == 0 ? 0 : _firstSequence,
                LastSequence = _lastSequence,
                Checkpoints = _checkpoints,
                SignedCheckpoints = _signed,
                UnsignedTail = _count == 0 ? 0 : _lastSequence - Math.Max(_lastSigned, _firstSequence - 1),
                TextsChecked = _textsChecked,
            };
        }

        private bool IsAnchor(AuditRecord record)
        {
            try
            {
                using var body = JsonDocument.Parse(record.Body);
                return TryReadInt64(body.RootElement, "before") == _firstSequence &&
                    string.Equals(TryReadString(body.RootElement, "anchor"), _firstPrevious, StringComparison.Ordinal);
            }
            catch (JsonException)
            {
                return false;
            }
        }

        private string? CheckCheckpoint(AuditRecord record, AuditVerifyOptions options)
        {
            string? anchor;
            long? through;
            string? keyId;
            string? signature;
            try
            {
                using var body = JsonDocument.Parse(record.Body);
                anchor = TryReadString(body.RootElement, "anchor");
                through = TryReadInt64(body.RootElement, "through");
                keyId = TryReadString(body.RootElement, "key");
                signature = TryReadString(body.RootElement, "signature");
            }
            catch (JsonException)
            {
                return "its checkpoint body is not valid JSON";
            }

            if (through != record.Sequence - 1 || !string.Equals(anchor, record.PreviousHash, StringComparison.Ordinal))
            {
                return "its checkpoint does not anchor the record before it";
            }

            _checkpoints++;
            if (options.CheckpointKeys.Count == 0)
            {
                return null;
            }

            if (keyId is null || signature is null || !options.CheckpointKeys.TryGetValue(keyId, out var key))
            {
                return $"its checkpoint is signed with key '{keyId}', which was not given";
            }

            var expected = SignCheckpoint(key, through.Value, anchor!);
            if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(signature)))
            {
                return "its checkpoint signature is invalid: the chain up to it was rewritten, or the key is wrong";
            }

            _signed++;
            _lastSigned = record.Sequence;
            return null;
        }

        private AuditVerification Broken(AuditRecord record, string problem) => new()
        {
            IsIntact = false,
            Count = _count,
            BrokenId = record.Id,
            BrokenSequence = record.Sequence,
            Problem = problem,
            Checkpoints = _checkpoints,
            SignedCheckpoints = _signed,
        };
    }
}

/// <summary>The keys <see cref="AuditChain.VerifyAsync"/> checks signatures and stored texts with.</summary>
public sealed class AuditVerifyOptions
{
    /// <summary>Gets the checkpoint keys by key id. When empty, checkpoint signatures are not checked (only their anchors).</summary>
    public IDictionary<string, byte[]> CheckpointKeys { get; } = new Dictionary<string, byte[]>(StringComparer.Ordinal);

    /// <summary>Gets or sets the text key. When set, every stored text is checked against its keyed hash.</summary>
    public byte[]? TextKey { get; set; }
}

/// <summary>The result of <see cref="AuditChain.VerifyAsync"/>.</summary>
public sealed record AuditVerification
{
    /// <summary>Gets a value indicating whether the whole chain verified.</summary>
    public bool IsIntact { get; init; }

    /// <summary>Gets the number of records that verified (before the first broken one).</summary>
    public long Count { get; init; }

    /// <summary>Gets the first sequence number of an intact chain (above 1 after a purge).</summary>
    public long FirstSequence { get; init; }

    /// <summary>Gets the last sequence number of an intact chain.</summary>
    public long LastSequence { get; init; }

    /// <summary>Gets the id of the first broken record.</summary>
    public string? BrokenId { get; init; }

    /// <summary>Gets the sequence number of the first broken record.</summary>
    public long? BrokenSequence { get; init; }

    /// <summary>Gets why the first broken record is broken, in plain words.</summary>
    public string? Problem { get; init; }

    /// <summary>Gets the number of checkpoints whose anchors verified.</summary>
    public long Checkpoints { get; init; }

    /// <summary>Gets the number of checkpoints whose signatures verified (0 when no key was given).</summary>
    public long SignedCheckpoints { get; init; }

    /// <summary>Gets the number of records after the last verified signature: a rewrite of these could go unnoticed.</summary>
    public long UnsignedTail { get; init; }

    /// <summary>Gets the number of stored texts checked against their keyed hashes (0 when no text key was given).</summary>
    public long TextsChecked { get; init; }
}

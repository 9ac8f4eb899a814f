using System.Globalization;
using System.Text;
using System.Text.Json;

namespace SafeAI.Audit;

/// <summary>
/// Seals entries into the chain: gives each its sequence number and previous hash, computes its hash, fills the body of
/// checkpoint entries and adds a signed checkpoint after every <see cref="CheckpointInterval"/>-th record. Stores call
/// <see cref="Seal"/> inside the transaction that reads the chain's head and inserts the records, so that the chain
/// follows the order of insertion even with several writers.
/// </summary>
/// <remarks>Immutable and thread-safe.</remarks>
public sealed class AuditSealer
{
    private readonly byte[]? _key;

    /// <summary>Initializes a new instance of the <see cref="AuditSealer"/> class.</summary>
    /// <param name="signingKey">The checkpoint key; <see langword="null"/> writes unsigned checkpoints (anchors only).</param>
    /// <param name="keyId">The key's id, written into each checkpoint so that keys can be rotated.</param>
    /// <param name="checkpointInterval">A checkpoint follows every record whose sequence number is a multiple of this; 0 for none but explicit ones.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="checkpointInterval"/> is negative.</exception>
    public AuditSealer(byte[]? signingKey, string keyId = "default", int checkpointInterval = 1000)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(checkpointInterval);
        ArgumentException.ThrowIfNullOrEmpty(keyId);
        _key = signingKey is null ? null : (byte[])signingKey.Clone();
        KeyId = keyId;
        CheckpointInterval = checkpointInterval;
    }

    /// <summary>Gets a sealer without a key or automatic checkpoints.</summary>
    public static AuditSealer WithoutKey { get; } = new(null, "none", 0);

    /// <summary>Gets the key id written into checkpoints.</summary>
    public string KeyId { get; }

    /// <summary>Gets the interval of automatic checkpoints (0 for none).</summary>
    public int CheckpointInterval { get; }

    /// <summary>Gets a value indicating whether checkpoints are signed.</summary>
    public bool IsSigning => _key is not null;

    /// <summary>Seals entries after the chain's current head.</summary>
    /// <param name="head">The last record of the chain as the store holds it now.</param>
    /// <param name="entries">The entries, in the order they were recorded.</param>
    /// <returns>The records to insert, in sequence order (entries plus automatic checkpoints).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="entries"/> is <see langword="null"/>.</exception>
    public IReadOnlyList<AuditRecord> Seal(AuditHead head, IReadOnlyList<AuditEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var records = new List<AuditRecord>(entries.Count + 1);
        var sequence = head.Sequence;
        var previous = head.Hash ?? AuditChain.GenesisHash;
        foreach (var entry in entries)
        {
            var record = Link(entry, sequence + 1, previous);
            records.Add(record);
            sequence = record.Sequence;
            previous = record.Hash;
            if (CheckpointInterval > 0 && record.Kind != AuditRecordKinds.Checkpoint && sequence % CheckpointInterval == 0)
            {
                var checkpoint = Link(
                    new AuditEntry { Id = Guid.CreateVersion7(entry.Timestamp).ToString("N"), Timestamp = entry.Timestamp, Kind = AuditRecordKinds.Checkpoint },
                    sequence + 1,
                    previous);
                records.Add(checkpoint);
                sequence = checkpoint.Sequence;
                previous = checkpoint.Hash;
            }
        }

        return records;
    }

    private AuditRecord Link(AuditEntry entry, long sequence, string previous)
    {
        var body = entry.Kind == AuditRecordKinds.Checkpoint ? CheckpointBody(sequence - 1, previous) : entry.Body;
        var record = new AuditRecord
        {
            Sequence = sequence,
            Id = entry.Id,
            Timestamp = DateTimeOffset.FromUnixTimeMilliseconds(entry.Timestamp.ToUnixTimeMilliseconds()),
            Kind = entry.Kind,
            Subject = entry.Subject,
            Body = body,
            InputHash = entry.InputHash,
            OutputHash = entry.OutputHash,
            InputText = entry.InputText,
            OutputText = entry.OutputText,
            PreviousHash = previous,
        };
        return record with { Hash = AuditChain.ComputeHash(record) };
    }

    private string CheckpointBody(long through, string anchor)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("through", through);
            json.WriteString("anchor", anchor);
            if (_key is not null)
            {
                json.WriteString("key", KeyId);
                json.WriteString("signature", AuditChain.SignCheckpoint(_key, through, anchor));
            }

            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    internal static string Format(long value) => value.ToString(CultureInfo.InvariantCulture);
}

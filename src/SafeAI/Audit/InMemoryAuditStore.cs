using System.Runtime.CompilerServices;
using System.Text.Json;

namespace SafeAI.Audit;

/// <summary>An audit store in memory, for tests and demos: lost when the process ends. Thread-safe.</summary>
public sealed class InMemoryAuditStore : IAuditStore
{
    private readonly Lock _gate = new();
    private readonly List<AuditRecord> _records = [];

    /// <summary>Gets the number of records held.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _records.Count;
            }
        }
    }

    /// <inheritdoc />
    public ValueTask<AuditHead> AppendAsync(IReadOnlyList<AuditEntry> entries, AuditSealer sealer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(sealer);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var sealed_ = sealer.Seal(HeadLocked(), entries);
            _records.AddRange(sealed_);
            return new ValueTask<AuditHead>(HeadLocked());
        }
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<AuditRecord> ReadAsync(AuditQuery? query = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        AuditRecord[] snapshot;
        lock (_gate)
        {
            snapshot = [.. _records];
        }

        await Task.CompletedTask.ConfigureAwait(false);
        foreach (var record in snapshot)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (Matches(record, query))
            {
                yield return record;
            }
        }
    }

    /// <inheritdoc />
    public ValueTask<AuditHead> GetHeadAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return new ValueTask<AuditHead>(HeadLocked());
        }
    }

    /// <inheritdoc />
    public ValueTask<int> EraseTextAsync(string subject, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(subject);
        var changed = 0;
        lock (_gate)
        {
            for (var i = 0; i < _records.Count; i++)
            {
                var r = _records[i];
                if (string.Equals(r.Subject, subject, StringComparison.Ordinal) && (r.InputText is not null || r.OutputText is not null))
                {
                    _records[i] = r with { InputText = null, OutputText = null };
                    changed++;
                }
            }
        }

        return new ValueTask<int>(changed);
    }

    /// <inheritdoc />
    public ValueTask<long> DeleteBeforeAsync(long sequence, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (!_records.Exists(r => IsPurgeOf(r, sequence)))
            {
                throw new AuditStoreException($"No purge record anchors sequence {sequence}: append one first (AuditTrail.PurgeAsync).");
            }

            var removed = _records.RemoveAll(r => r.Sequence < sequence);
            return new ValueTask<long>(removed);
        }
    }

    /// <summary>Replaces a record as a tamperer with direct access would (tests of verification).</summary>
    internal void Tamper(int index, Func<AuditRecord, AuditRecord?> change)
    {
        lock (_gate)
        {
            if (change(_records[index]) is { } changed)
            {
                _records[index] = changed;
            }
            else
            {
                _records.RemoveAt(index);
            }
        }
    }

    internal static bool Matches(AuditRecord record, AuditQuery? query) =>
        query is null ||
        ((query.FromSequence is not { } from || record.Sequence >= from) &&
         (query.From is not { } start || record.Timestamp >= start) &&
         (query.To is not { } end || record.Timestamp < end) &&
         (query.Subject is not { } subject || string.Equals(record.Subject, subject, StringComparison.Ordinal)) &&
         (query.Kind is not { } kind || string.Equals(record.Kind, kind, StringComparison.Ordinal)));

    internal static bool IsPurgeOf(AuditRecord record, long sequence)
    {
        if (record.Kind != AuditRecordKinds.Purge)
        {
            return false;
        }

        try
        {
            using var body = JsonDocument.Parse(record.Body);
            return AuditChain.TryReadInt64(body.RootElement, "before") == sequence;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private AuditHead HeadLocked() => _records.Count == 0 ? AuditHead.Empty : new AuditHead(_records[^1].Sequence, _records[^1].Hash);
}

using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SafeAI.Consent;
using SafeAI.Review;

namespace SafeAI.Audit;

/// <summary>
/// The tamper-evident audit trail: records one entry per call (through the audit stage, <c>safe.AddAuditTrail()</c>)
/// and one per operator action, consent change, purge or erasure, and writes them off the hot path: callers put records
/// on a bounded queue, one background writer appends them to the <see cref="IAuditStore"/> in batches, and the store
/// seals them into the hash chain in insertion order.
/// </summary>
/// <remarks>
/// <para>
/// A record is <em>acknowledged</em> when <see cref="FlushAsync"/> (or the append of its batch) returned: it then
/// survives a crash. Records still in the queue when the process dies are lost; <see cref="FlushAsync"/> is how a caller
/// that must not lose one waits for it.
/// </para>
/// <para>
/// When the queue is full, <see cref="AuditTrailOptions.FullMode"/> applies: <see cref="AuditQueueFullMode.Block"/>
/// makes the call wait, <see cref="AuditQueueFullMode.DropAndCount"/> drops the record, counts it
/// (<see cref="DroppedCount"/>, counter <c>safeai.audit.dropped</c>) and logs an error. A store that fails is retried
/// with backoff (each failure logged and counted), so while it is away the queue fills and the policy applies.
/// </para>
/// <para>Thread-safe. Dispose it to write what is queued (within <see cref="AuditTrailOptions.ShutdownTimeout"/>) and stop the writer.</para>
/// </remarks>
public sealed class AuditTrail : IAsyncDisposable, IDisposable
{
    private const long DropLogIntervalMs = 10_000;

    private readonly IAuditStore _store;
    private readonly AuditTrailOptions _options;
    private readonly AuditSealer _sealer;
    private readonly byte[]? _textKey;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Channel<PendingAudit> _channel;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _writer;
    private readonly Counter<long> _writtenCounter;
    private readonly Counter<long> _droppedCounter;
    private readonly Counter<long> _failureCounter;
    private long _dropped;
    private long _written;
    private long _failures;
    private long _lastDropLog = long.MinValue;
    private int _disposed;

    // The queue: an unbounded single-reader channel (its reader takes items without a lock, so a busy writer never holds
    // up callers) bounded by this count of reserved places; callers waiting for room (FullMode Block, and records that
    // are never dropped) wait on _room, which the writer completes whenever it takes items off.
    private int _queued;
    private TaskCompletionSource? _room;

    /// <summary>Initializes a new instance of the <see cref="AuditTrail"/> class and starts its writer.</summary>
    /// <param name="store">The store.</param>
    /// <param name="options">The settings; <see langword="null"/> for the defaults.</param>
    /// <param name="timeProvider">The time source; <see langword="null"/> for <see cref="TimeProvider.System"/>.</param>
    /// <param name="logger">The logger; <see langword="null"/> for none.</param>
    /// <param name="meterFactory">Creates the <c>SafeAI</c> meter; <see langword="null"/> for the shared one.</param>
    /// <exception cref="ArgumentNullException"><paramref name="store"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it.</exception>
    public AuditTrail(IAuditStore store, AuditTrailOptions? options = null, TimeProvider? timeProvider = null, ILogger? logger = null, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _options = options ?? new AuditTrailOptions();
        if (_options.GetError() is { } error)
        {
            throw new ArgumentException(error, nameof(options));
        }

        _store = store;
        _sealer = new AuditSealer(AuditTrailOptions.DecodeKey(_options.SigningKey), _options.SigningKeyId, _options.CheckpointInterval);
        _textKey = AuditTrailOptions.DecodeKey(_options.TextKey);
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _channel = Channel.CreateUnbounded<PendingAudit>(new UnboundedChannelOptions
        {
            SingleReader = true,
            SingleWriter = false,
            AllowSynchronousContinuations = false,
        });

        var meter = meterFactory?.Create(new MeterOptions(SafeAIDiagnostics.MeterName)) ?? SafeAITelemetry.Shared.Meter;
        _writtenCounter = meter.CreateCounter<long>("safeai.audit.records", "{record}", "Audit records appended to the store.");
        _droppedCounter = meter.CreateCounter<long>("safeai.audit.dropped", "{record}", "Audit records dropped because the queue was full (FullMode DropAndCount) or the trail was closed.");
        _failureCounter = meter.CreateCounter<long>("safeai.audit.write_failures", "{batch}", "Failed attempts to append a batch of audit records.");
        _ = meter.CreateObservableGauge("safeai.audit.queue_length", () => (long)QueueLength, "{record}", "Audit records waiting for the writer.");
        _writer = Task.Run(WriteLoopAsync);
    }

    /// <summary>Gets the store.</summary>
    public IAuditStore Store => _store;

    /// <summary>Gets the settings.</summary>
    public AuditTrailOptions Options => _options;

    /// <summary>Gets the number of records dropped because the queue was full or the trail was closed.</summary>
    public long DroppedCount => Interlocked.Read(ref _dropped);

    /// <summary>Gets the number of records appended to the store (automatic checkpoints not counted).</summary>
    public long WrittenCount => Interlocked.Read(ref _written);

    /// <summary>Gets the number of failed attempts to append a batch.</summary>
    public long WriteFailureCount => Interlocked.Read(ref _failures);

    /// <summary>Gets the number of records waiting for the writer.</summary>
    /// <remarks>A caller that finds the queue full counts itself in and straight out again, so the raw count may pass the capacity for a moment; the records waiting never do.</remarks>
    public int QueueLength => Math.Clamp(Volatile.Read(ref _queued), 0, _options.QueueCapacity);

    /// <summary>Gets a value indicating whether texts are hashed (a text key is configured).</summary>
    internal bool RecordsText => _textKey is not null;

    /// <summary>Records an operator's action (a reviewer's decision, a rollout decision, a configuration change).</summary>
    /// <param name="actor">Who acted (an operator id, or <c>rollout-judge</c> for automatic decisions).</param>
    /// <param name="action">What was done, a stable code such as <c>review.approved</c> or <c>rollout.abort</c>.</param>
    /// <param name="subject">The person the action is about, if any.</param>
    /// <param name="details">Details (numbers, reasons; never message text).</param>
    /// <param name="cancellationToken">Cancels a wait for room in the queue.</param>
    /// <returns>A task that completes when the record is queued (use <see cref="FlushAsync"/> to wait until it is stored).</returns>
    /// <exception cref="ArgumentException"><paramref name="actor"/> or <paramref name="action"/> is null or empty.</exception>
    public ValueTask RecordOperatorActionAsync(string actor, string action, string? subject = null, IReadOnlyDictionary<string, object?>? details = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(actor);
        ArgumentException.ThrowIfNullOrEmpty(action);
        var now = _time.GetUtcNow();
        var body = Json(w =>
        {
            w.WriteString("actor", actor);
            w.WriteString("action", action);
            WriteDetails(w, details);
        });
        return EnqueueAsync(new PendingEntry(new AuditEntry { Id = NewId(now), Timestamp = now, Kind = AuditRecordKinds.Operator, Subject = subject, Body = body }), cancellationToken);
    }

    /// <summary>Records a change of a person's consent.</summary>
    /// <param name="subject">The person.</param>
    /// <param name="purpose">The purpose (see <see cref="ConsentPurposes"/>).</param>
    /// <param name="granted">Whether the person gave (true) or declined (false) the consent.</param>
    /// <param name="actor">Who made the change (the person, an operator); <see langword="null"/> for the person.</param>
    /// <param name="cancellationToken">Cancels a wait for room in the queue.</param>
    /// <returns>A task that completes when the record is queued.</returns>
    /// <exception cref="ArgumentException"><paramref name="subject"/> or <paramref name="purpose"/> is null or empty.</exception>
    public ValueTask RecordConsentChangeAsync(string subject, string purpose, bool granted, string? actor = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(subject);
        ArgumentException.ThrowIfNullOrEmpty(purpose);
        var now = _time.GetUtcNow();
        var body = Json(w =>
        {
            w.WriteString("purpose", purpose);
            w.WriteBoolean("granted", granted);
            if (actor is not null)
            {
                w.WriteString("actor", actor);
            }
        });
        return EnqueueAsync(new PendingEntry(new AuditEntry { Id = NewId(now), Timestamp = now, Kind = AuditRecordKinds.Consent, Subject = subject, Body = body }), cancellationToken);
    }

    /// <summary>Waits until every record queued before this call is appended to the store (acknowledged).</summary>
    /// <param name="cancellationToken">Cancels the wait (the records stay queued).</param>
    /// <returns>A task that completes when the records are stored.</returns>
    /// <exception cref="ObjectDisposedException">The trail was disposed.</exception>
    public async ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var marker = new FlushMarker();
        try
        {
            await _channel.Writer.WriteAsync(marker, cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException ex)
        {
            throw new ObjectDisposedException("The audit trail is closed.", ex);
        }

        await marker.Done.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Appends a checkpoint (signed when a signing key is configured) and waits until it is stored.</summary>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>A task that completes when the checkpoint is stored.</returns>
    public async ValueTask CheckpointAsync(CancellationToken cancellationToken = default)
    {
        var now = _time.GetUtcNow();
        await EnqueueAsync(new PendingEntry(new AuditEntry { Id = NewId(now), Timestamp = now, Kind = AuditRecordKinds.Checkpoint, Body = string.Empty }), cancellationToken).ConfigureAwait(false);
        await FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Retention: deletes every record older than <paramref name="before"/>, leaving a chain that still verifies. A purge
    /// record is appended first; it holds the first kept record's sequence number and previous hash (the anchor), so
    /// verification knows the missing records were purged, not removed.
    /// </summary>
    /// <param name="before">Records with an earlier timestamp are deleted.</param>
    /// <param name="cancellationToken">Cancels the purge.</param>
    /// <returns>The number of records deleted.</returns>
    /// <exception cref="AuditStoreException">The store failed.</exception>
    public async ValueTask<long> PurgeAsync(DateTimeOffset before, CancellationToken cancellationToken = default)
    {
        await FlushAsync(cancellationToken).ConfigureAwait(false);
        AuditRecord? firstKept = null;
        AuditRecord? previous = null;
        await foreach (var record in _store.ReadAsync(null, cancellationToken).ConfigureAwait(false))
        {
            if (record.Timestamp >= before)
            {
                firstKept = record;
                break;
            }

            previous = record;
        }

        if (previous is null || firstKept is null)
        {
            // Nothing older than the cut-off, or every record is: the newest record always stays to carry the chain.
            return 0;
        }

        var now = _time.GetUtcNow();
        var body = Json(w =>
        {
            w.WriteNumber("before", firstKept.Sequence);
            w.WriteString("anchor", firstKept.PreviousHash);
            w.WriteString("cutoff", before.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
        });
        await EnqueueAsync(new PendingEntry(new AuditEntry { Id = NewId(now), Timestamp = now, Kind = AuditRecordKinds.Purge, Body = body }), cancellationToken).ConfigureAwait(false);
        await FlushAsync(cancellationToken).ConfigureAwait(false);
        var deleted = await _store.DeleteBeforeAsync(firstKept.Sequence, cancellationToken).ConfigureAwait(false);
        AuditLog.Purged(_logger, deleted, firstKept.Sequence);
        return deleted;
    }

    /// <summary>
    /// Erases one person's stored texts (a right-to-erasure request) and records the erasure. The records and their keyed
    /// text hashes stay, so the chain still verifies; without the text key the hashes do not reveal the text.
    /// </summary>
    /// <param name="subject">The person.</param>
    /// <param name="actor">Who asked for the erasure.</param>
    /// <param name="cancellationToken">Cancels the erasure.</param>
    /// <returns>The number of records whose text was removed.</returns>
    /// <exception cref="ArgumentException"><paramref name="subject"/> is null or empty.</exception>
    /// <exception cref="AuditStoreException">The store failed.</exception>
    public async ValueTask<int> EraseSubjectTextAsync(string subject, string? actor = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(subject);
        await FlushAsync(cancellationToken).ConfigureAwait(false);
        var erased = await _store.EraseTextAsync(subject, cancellationToken).ConfigureAwait(false);
        var now = _time.GetUtcNow();
        var body = Json(w =>
        {
            w.WriteNumber("records", erased);
            if (actor is not null)
            {
                w.WriteString("actor", actor);
            }
        });
        await EnqueueAsync(new PendingEntry(new AuditEntry { Id = NewId(now), Timestamp = now, Kind = AuditRecordKinds.Erasure, Subject = subject, Body = body }), cancellationToken).ConfigureAwait(false);
        await FlushAsync(cancellationToken).ConfigureAwait(false);
        AuditLog.Erased(_logger, erased);
        return erased;
    }

    /// <summary>Records every decision of a rollout controller (automatic ones with the numbers behind them) as an operator record.</summary>
    /// <param name="controller">The controller.</param>
    /// <returns>Disposing it stops recording.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="controller"/> is <see langword="null"/>.</exception>
    public IDisposable Attach(RolloutController controller)
    {
        ArgumentNullException.ThrowIfNull(controller);
        EventHandler<RolloutDecision> handler = (_, decision) => RecordRolloutDecision(controller.Name, decision);
        controller.DecisionMade += handler;
        return new Detach(() => controller.DecisionMade -= handler);
    }

    /// <summary>Records the final state of every review item changed through a queue (approved, edited, rejected, expired) as an operator record.</summary>
    /// <param name="queue">The queue.</param>
    /// <returns>Disposing it stops recording.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="queue"/> is <see langword="null"/>.</exception>
    public IDisposable Attach(IReviewQueue queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        return queue.Subscribe(async (item, ct) =>
        {
            if (!item.IsFinal)
            {
                return;
            }

            var details = new Dictionary<string, object?>(StringComparer.Ordinal)
            {
                ["ticket"] = item.Id,
                ["state"] = item.State.ToString().ToLowerInvariant(),
                ["tier"] = item.Tier,
                ["has_comment"] = item.Comment is not null,
            };
            await RecordOperatorActionAsync(item.ReviewerId ?? "review-timeout", "review." + item.State.ToString().ToLowerInvariant(), item.UserId, details, ct).ConfigureAwait(false);
        });
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _channel.Writer.TryComplete();
        SignalRoom();
        try
        {
            // Real time: the shutdown budget is about the process stopping, whatever clock the records are dated by.
            await _writer.WaitAsync(_options.ShutdownTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            await _stopping.CancelAsync().ConfigureAwait(false);
            var lost = QueueLength;
            AuditLog.ShutdownLost(_logger, lost, _options.ShutdownTimeout);
            CountDropped(lost);
            try
            {
                await _writer.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }

        _stopping.Dispose();
    }

    /// <inheritdoc />
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>Queues a call record. Returns a completed task unless the queue is full and the policy is to block.</summary>
    internal ValueTask EnqueueCall(PendingCall call, CancellationToken cancellationToken) => EnqueueAsync(call, cancellationToken);

    /// <summary>
    /// Queues a call record where the caller cannot wait (a stream that ended, a fault): under Block a full queue makes a
    /// background task wait for room instead.
    /// </summary>
    internal void EnqueueCallDetached(PendingCall call)
    {
        var pending = EnqueueAsync(call, CancellationToken.None);
        if (!pending.IsCompletedSuccessfully)
        {
            _ = pending.AsTask();
        }
    }

    /// <summary>Queues an operator record from a callback that cannot wait (a configuration change notification).</summary>
    internal void EnqueueOperatorDetached(string actor, string action)
    {
        var pending = RecordOperatorActionAsync(actor, action);
        if (!pending.IsCompletedSuccessfully)
        {
            _ = pending.AsTask();
        }
    }

    /// <summary>Computes a text's keyed hash (writer thread).</summary>
    internal string? HashText(string? text) => text is null || _textKey is null ? null : AuditChain.ComputeTextHash(_textKey, text);

    private static string NewId(DateTimeOffset at) => Guid.CreateVersion7(at).ToString("N");

    private ValueTask EnqueueAsync(PendingAudit item, CancellationToken cancellationToken)
    {
        if (TryReserve())
        {
            Write(item);
            return ValueTask.CompletedTask;
        }

        if (Volatile.Read(ref _disposed) != 0)
        {
            Dropped("the audit trail is closed");
            return ValueTask.CompletedTask;
        }

        if (_options.FullMode == AuditQueueFullMode.DropAndCount && item is not PendingEntry)
        {
            Dropped("the queue is full");
            return ValueTask.CompletedTask;
        }

        // Block (and operator, consent, purge and erasure records, which are never dropped for a full queue).
        return WaitToEnqueueAsync(item, cancellationToken);
    }

    private async ValueTask WaitToEnqueueAsync(PendingAudit item, CancellationToken cancellationToken)
    {
        while (true)
        {
            // Take the signal before trying, so room made after a failed try always completes the signal awaited.
            var room = Volatile.Read(ref _room);
            if (room is null)
            {
                var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                room = Interlocked.CompareExchange(ref _room, created, null) ?? created;
            }

            if (TryReserve())
            {
                Write(item);
                return;
            }

            if (Volatile.Read(ref _disposed) != 0)
            {
                Dropped("the audit trail is closed");
                return;
            }

            try
            {
                await room.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                Dropped("the caller cancelled while waiting for room in the queue");
                throw;
            }
        }
    }

    private bool TryReserve()
    {
        if (Interlocked.Increment(ref _queued) <= _options.QueueCapacity)
        {
            return true;
        }

        Interlocked.Decrement(ref _queued);
        return false;
    }

    /// <summary>Writes an item whose place is reserved; a closed trail gives the place back and counts the drop.</summary>
    private void Write(PendingAudit item)
    {
        if (!_channel.Writer.TryWrite(item))
        {
            Interlocked.Decrement(ref _queued);
            Dropped("the audit trail is closed");
        }
    }

    /// <summary>The writer took items off the queue: gives their places back and wakes callers waiting for room.</summary>
    private void Release(int count)
    {
        if (count > 0)
        {
            Interlocked.Add(ref _queued, -count);
            SignalRoom();
        }
    }

    private void SignalRoom()
    {
        if (Volatile.Read(ref _room) is not null)
        {
            Interlocked.Exchange(ref _room, null)?.TrySetResult();
        }
    }

    private void Dropped(string why)
    {
        var total = CountDropped(1);
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastDropLog);
        if (now - last >= DropLogIntervalMs && Interlocked.CompareExchange(ref _lastDropLog, now, last) == last)
        {
            AuditLog.RecordsDropped(_logger, why, total);
        }
    }

    private long CountDropped(long count)
    {
        if (count <= 0)
        {
            return Interlocked.Read(ref _dropped);
        }

        _droppedCounter.Add(count);
        return Interlocked.Add(ref _dropped, count);
    }

    private async Task WriteLoopAsync()
    {
        var reader = _channel.Reader;
        var batch = new List<AuditEntry>(_options.BatchSize);
        var markers = new List<FlushMarker>();
        var stopping = _stopping.Token;
        try
        {
            while (await reader.WaitToReadAsync(stopping).ConfigureAwait(false))
            {
                batch.Clear();
                markers.Clear();
                var taken = 0;
                while (batch.Count < _options.BatchSize && reader.TryRead(out var item))
                {
                    taken += item is FlushMarker ? 0 : 1;
                    switch (item)
                    {
                        case FlushMarker marker:
                            markers.Add(marker);
                            break;
                        case PendingCall call:
                            batch.Add(ToEntry(call));
                            break;
                        case PendingEntry entry:
                            batch.Add(entry.Entry);
                            break;
                    }
                }

                Release(taken);
                if (batch.Count > 0)
                {
                    await AppendWithRetryAsync(batch, stopping).ConfigureAwait(false);
                }

                foreach (var marker in markers)
                {
                    marker.Done.TrySetResult();
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            CountDropped(batch.Count);
            foreach (var marker in markers)
            {
                marker.Done.TrySetException(new AuditStoreException("The audit trail was closed before these records could be stored."));
            }
        }
        finally
        {
            while (reader.TryRead(out var left))
            {
                if (left is not FlushMarker)
                {
                    Release(1);
                }

                if (left is FlushMarker marker)
                {
                    marker.Done.TrySetException(new AuditStoreException("The audit trail was closed before these records could be stored."));
                }
            }
        }
    }

    private async Task AppendWithRetryAsync(List<AuditEntry> batch, CancellationToken stopping)
    {
        var delay = TimeSpan.FromMilliseconds(50);
        while (true)
        {
            try
            {
                await _store.AppendAsync(batch, _sealer, stopping).ConfigureAwait(false);
                Interlocked.Add(ref _written, batch.Count);
                _writtenCounter.Add(batch.Count);
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stopping.IsCancellationRequested)
            {
                Interlocked.Increment(ref _failures);
                _failureCounter.Add(1);
                AuditLog.AppendFailed(_logger, batch.Count, delay, ex);
                await Task.Delay(delay, _time, stopping).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.MaxRetryDelay.Ticks));
            }
        }
    }

    private AuditEntry ToEntry(PendingCall call)
    {
        var storeText = call.StoreText && _textKey is not null;
        var body = Json(w =>
        {
            if (call.CallId is not null)
            {
                w.WriteString("call", call.CallId);
            }

            WriteIfSet(w, "tenant", call.TenantId);
            WriteIfSet(w, "conversation", call.ConversationId);
            WriteIfSet(w, "arm", call.Arm);
            w.WriteString("outcome", GuardVerdict.GetActionName(call.Outcome));
            w.WriteBoolean("streaming", call.Streaming);
            if (call.Faulted is not null)
            {
                w.WriteString("fault", call.Faulted);
            }

            w.WriteStartArray("verdicts");
            foreach (var v in call.Verdicts)
            {
                w.WriteStartObject();
                w.WriteString("stage", v.Stage);
                w.WriteString("action", GuardVerdict.GetActionName(v.Action));
                w.WriteString("reason", v.Reason);
                if (v.Score is { } score)
                {
                    w.WriteNumber("score", Math.Round(score, 6));
                }

                if (v.Threshold is { } threshold)
                {
                    w.WriteNumber("threshold", Math.Round(threshold, 6));
                }

                WriteIfSet(w, "detail", v.Detail);
                w.WriteNumber("ms", Math.Round(v.Elapsed.TotalMilliseconds, 3));
                w.WriteEndObject();
            }

            w.WriteEndArray();
            WriteIfSet(w, "model", call.Model);
            WriteIfSet(w, "provider", call.Provider);
            WriteIfSet(w, "disclosure", call.Disclosure);
            WriteIfSet(w, "config", _options.ConfigurationVersion);
            w.WriteString("text", _textKey is null ? "none" : storeText ? "stored" : "hashed");
        });

        return new AuditEntry
        {
            Id = NewId(call.Time),
            Timestamp = call.Time,
            Kind = AuditRecordKinds.Call,
            Subject = call.UserId,
            Body = body,
            InputHash = HashText(call.Input),
            OutputHash = HashText(call.Output),
            InputText = storeText ? call.Input : null,
            OutputText = storeText ? call.Output : null,
        };
    }

    private void RecordRolloutDecision(string rollout, RolloutDecision decision)
    {
        var details = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["rollout"] = rollout,
            ["reason"] = decision.Reason,
            ["automatic"] = decision.IsAutomatic,
            ["stage_percent"] = decision.StagePercent,
            ["percent_after"] = decision.PercentAfter,
            ["status"] = decision.Status.ToString().ToLowerInvariant(),
            ["baseline_samples"] = decision.BaselineSamples,
            ["ai_samples"] = decision.AISamples,
        };
        if (decision.SampleRatio is { } srm)
        {
            details["srm_p_value"] = srm.PValue;
        }

        foreach (var metric in decision.Metrics)
        {
            details["metric." + metric.Metric] = string.Create(
                CultureInfo.InvariantCulture,
                $"baseline {metric.BaselineEvents}/{metric.BaselineSamples}, ai {metric.AIEvents}/{metric.AISamples}, difference {metric.Difference:0.#####} [{metric.Lower:0.#####}, {metric.Upper:0.#####}]");
        }

        // An event handler cannot await: the record is queued (operator records are never dropped; a full queue makes this wait).
        var pending = RecordOperatorActionAsync(decision.IsAutomatic ? "rollout-judge" : "operator", "rollout." + decision.Kind.ToString().ToLowerInvariant(), null, details);
        if (!pending.IsCompletedSuccessfully)
        {
            pending.AsTask().GetAwaiter().GetResult();
        }
    }

    private static void WriteIfSet(Utf8JsonWriter w, string name, string? value)
    {
        if (value is not null)
        {
            w.WriteString(name, value);
        }
    }

    private static void WriteDetails(Utf8JsonWriter w, IReadOnlyDictionary<string, object?>? details)
    {
        if (details is null || details.Count == 0)
        {
            return;
        }

        w.WriteStartObject("details");
        foreach (var (key, value) in details.OrderBy(static p => p.Key, StringComparer.Ordinal))
        {
            switch (value)
            {
                case null:
                    w.WriteNull(key);
                    break;
                case bool b:
                    w.WriteBoolean(key, b);
                    break;
                case int i:
                    w.WriteNumber(key, i);
                    break;
                case long l:
                    w.WriteNumber(key, l);
                    break;
                case double d when double.IsFinite(d):
                    w.WriteNumber(key, d);
                    break;
                case IFormattable f:
                    w.WriteString(key, f.ToString(null, CultureInfo.InvariantCulture));
                    break;
                default:
                    w.WriteString(key, value.ToString());
                    break;
            }
        }

        w.WriteEndObject();
    }

    private static string Json(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            write(json);
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private sealed class Detach(Action undo) : IDisposable
    {
        private Action? _undo = undo;

        public void Dispose() => Interlocked.Exchange(ref _undo, null)?.Invoke();
    }
}

internal abstract class PendingAudit;

internal sealed class PendingEntry(AuditEntry entry) : PendingAudit
{
    public AuditEntry Entry { get; } = entry;
}

internal sealed class FlushMarker : PendingAudit
{
    public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>What the audit stage captures of one call on the caller's thread: references and values only, no formatting.</summary>
internal sealed class PendingCall : PendingAudit
{
    public DateTimeOffset Time;
    public string? CallId;
    public string? UserId;
    public string? TenantId;
    public string? ConversationId;
    public string? Arm;
    public GuardVerdict[] Verdicts = [];
    public GuardAction Outcome;
    public string? Model;
    public string? Provider;
    public string? Disclosure;
    public bool Streaming;
    public string? Faulted;
    public string? Input;
    public string? Output;
    public bool StoreText;
}

internal static partial class AuditLog
{
    [LoggerMessage(EventId = 1801, Level = LogLevel.Error, Message = "SafeAI audit trail: {Count} record(s) could not be appended; retrying in {Delay}. While the store is away the queue fills and its full-mode policy applies.")]
    public static partial void AppendFailed(ILogger logger, int count, TimeSpan delay, Exception exception);

    [LoggerMessage(EventId = 1802, Level = LogLevel.Error, Message = "SafeAI audit trail dropped a record: {Why}. {Total} record(s) dropped so far (FullMode DropAndCount; counter safeai.audit.dropped).")]
    public static partial void RecordsDropped(ILogger logger, string why, long total);

    [LoggerMessage(EventId = 1803, Level = LogLevel.Error, Message = "SafeAI audit trail closed with {Count} record(s) still queued after waiting {Timeout}: they are lost.")]
    public static partial void ShutdownLost(ILogger logger, int count, TimeSpan timeout);

    [LoggerMessage(EventId = 1804, Level = LogLevel.Information, Message = "SafeAI audit trail purged {Count} record(s); the chain now starts at sequence {First}.")]
    public static partial void Purged(ILogger logger, long count, long first);

    [LoggerMessage(EventId = 1805, Level = LogLevel.Information, Message = "SafeAI audit trail erased the stored text of {Count} record(s) of one subject.")]
    public static partial void Erased(ILogger logger, int count);
}

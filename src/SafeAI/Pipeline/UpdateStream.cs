using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using Microsoft.Extensions.AI;

namespace SafeAI;

/// <summary>
/// The base of SafeAI's own stream-watching stages: one object that is both the stream and its only enumerator, and
/// that forwards the source's updates through <see cref="OnUpdate"/> with a synchronous fast path. A compiler-made
/// async iterator costs about 25 ns per update even when its source completes at once; this costs a few, so each stage
/// that watches a stream adds little per chunk.
/// </summary>
/// <remarks>
/// <para>
/// Hooks, all called on the reading thread, one at a time: <see cref="StartAsync"/> (once, at the first read; by
/// default reads the first update), <see cref="OnUpdate"/> (each update; returns what to yield, or
/// <see langword="null"/> to end the source there), <see cref="OnCompletedAsync"/> (once, when the source ended and
/// the stream was not stopped), <see cref="OnFault"/> (an exception from the source: rethrow, or end with a replacement),
/// <see cref="OnDisposeAsync"/> (once, after the source was disposed). <see cref="Enqueue"/> adds updates to yield after
/// the current one; <see cref="Stop"/> ends the stream once queued updates are out, without <see cref="OnCompletedAsync"/>.
/// </para>
/// <para>Read once: a second enumeration gets <see cref="CreateFresh"/>'s stream, or throws.</para>
/// </remarks>
internal abstract class UpdateStream : IAsyncEnumerable<ChatResponseUpdate>, IAsyncEnumerator<ChatResponseUpdate>
{
    private const int Reading = 0;
    private const int Done = 1;

    private readonly CancellationToken _token;
    private IAsyncEnumerable<ChatResponseUpdate>? _source;
    private IAsyncEnumerator<ChatResponseUpdate>? _inner;
    private IAsyncEnumerator<ChatResponseUpdate>? _reading;
    private CancellationToken _readToken;
    private ChatResponseUpdate? _current;
    private ChatResponseUpdate? _next;
    private Queue<ChatResponseUpdate>? _queue;
    private int _enumerated;
    private int _state;
    private bool _started;
    private bool _disposed;
    private bool _passThrough;

    /// <summary>Initializes a new instance of the <see cref="UpdateStream"/> class.</summary>
    /// <param name="source">The stream to forward; <see langword="null"/> when <see cref="StartAsync"/> sets it with <see cref="SetSource"/>.</param>
    /// <param name="token">The token the source is read with when the reader passes none.</param>
    protected UpdateStream(IAsyncEnumerable<ChatResponseUpdate>? source, CancellationToken token)
    {
        _source = source;
        _token = token;
        _readToken = token;
    }

    /// <inheritdoc />
    public ChatResponseUpdate Current => _current!;

    /// <summary>Gets the token the source is read with: the reader's, when it passed one that can be cancelled, else the one given at construction.</summary>
    protected CancellationToken ReadToken => _readToken;

    /// <summary>Gets the source's enumerator, opening it on first use.</summary>
    protected IAsyncEnumerator<ChatResponseUpdate> Source =>
        _inner ??= (_source ?? throw new InvalidOperationException("The stream has no source.")).GetAsyncEnumerator(_readToken);

    /// <inheritdoc />
    public IAsyncEnumerator<ChatResponseUpdate> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _enumerated, 1) != 0)
        {
            return (CreateFresh() ?? throw new InvalidOperationException("This SafeAI stream has already been read; streams of a stage are read once."))
                .GetAsyncEnumerator(cancellationToken);
        }

        _readToken = SelectReadToken(cancellationToken);
        return this;
    }

    /// <inheritdoc />
    public ValueTask<bool> MoveNextAsync()
    {
        if (TryDequeue())
        {
            return new ValueTask<bool>(true);
        }

        if (_state != Reading)
        {
            return new ValueTask<bool>(false);
        }

        if (!_started)
        {
            _started = true;
            return StartAsync();
        }

        return ReadNextAsync();
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _state = Done;
        try
        {
            if (_inner is not null)
            {
                await _inner.DisposeAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            await OnDisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Starts the stream at its first read. By default reads the first update; override to do work first (then call <see cref="ReadNextAsync"/>).</summary>
    /// <returns>Whether there is an update to read in <see cref="Current"/>.</returns>
    protected virtual ValueTask<bool> StartAsync() => ReadNextAsync();

    /// <summary>Sees one update of the source.</summary>
    /// <param name="update">The update.</param>
    /// <returns>The update to yield now (usually <paramref name="update"/>), or <see langword="null"/> to yield nothing and end the source here.</returns>
    protected virtual ChatResponseUpdate? OnUpdate(ChatResponseUpdate update) => update;

    /// <summary>Runs once when the source has ended (and <see cref="Stop"/> was not called); may <see cref="Enqueue"/> final updates.</summary>
    /// <returns>A task that completes when done.</returns>
    protected virtual ValueTask OnCompletedAsync() => default;

    /// <summary>Decides about an exception from the source.</summary>
    /// <param name="exception">The exception.</param>
    /// <param name="replacement">An update to yield instead, after which the stream ends; <see langword="null"/> to end at once.</param>
    /// <returns><see langword="true"/> when handled; <see langword="false"/> to let the exception reach the reader.</returns>
    protected virtual bool OnFault(Exception exception, out ChatResponseUpdate? replacement)
    {
        replacement = null;
        return false;
    }

    /// <summary>Runs once after the source was disposed (also when it was never read).</summary>
    /// <returns>A task that completes when done.</returns>
    protected virtual ValueTask OnDisposeAsync() => default;

    /// <summary>Returns a new stream for a second enumeration, or <see langword="null"/> when the stream can be read only once.</summary>
    /// <returns>The stream, or <see langword="null"/>.</returns>
    protected virtual UpdateStream? CreateFresh() => null;

    /// <summary>Chooses the token the source is read with from the reader's token.</summary>
    /// <param name="readerToken">The token the reader passed to <see cref="GetAsyncEnumerator"/>.</param>
    /// <returns>The token.</returns>
    protected virtual CancellationToken SelectReadToken(CancellationToken readerToken) => readerToken.CanBeCanceled ? readerToken : _token;

    /// <summary>Sets the source when it was not known at construction (call from <see cref="StartAsync"/>).</summary>
    /// <param name="source">The source.</param>
    protected void SetSource(IAsyncEnumerable<ChatResponseUpdate> source) => _source = source;

    /// <summary>Disposes the source early (before <see cref="DisposeAsync"/>), for work that must follow the source's own clean-up.</summary>
    /// <returns>A task that completes when the source is disposed.</returns>
    protected ValueTask DisposeSourceAsync()
    {
        var inner = _inner;
        _inner = null;
        _reading = null;
        _source = null;
        return inner is null ? default : inner.DisposeAsync();
    }

    /// <summary>Adds an update to yield after the current one (and after updates queued earlier).</summary>
    /// <param name="update">The update.</param>
    protected void Enqueue(ChatResponseUpdate update)
    {
        if (_next is null && (_queue is null || _queue.Count == 0))
        {
            _next = update;
        }
        else
        {
            (_queue ??= new Queue<ChatResponseUpdate>()).Enqueue(update);
        }
    }

    /// <summary>Ends the stream once the queued updates are out; <see cref="OnCompletedAsync"/> does not run.</summary>
    protected void Stop() => _state = Done;

    /// <summary>Sets <see cref="Current"/> to the next queued update, if any.</summary>
    /// <returns><see langword="true"/> when an update was queued.</returns>
    protected bool TryDequeue()
    {
        if (_next is not { } next)
        {
            return false;
        }

        _current = next;
        _next = _queue is { Count: > 0 } queue ? queue.Dequeue() : null;
        return true;
    }

    /// <summary>Reads the next update of the source, synchronously when the source has it ready.</summary>
    /// <returns>Whether there is an update to read in <see cref="Current"/>.</returns>
    protected ValueTask<bool> ReadNextAsync()
    {
        var reading = _reading ??= Source;
        ValueTask<bool> moving;
        try
        {
            moving = reading.MoveNextAsync();
        }
        catch (Exception ex)
        {
            return new ValueTask<bool>(Fault(ex));
        }

        if (moving.IsCompletedSuccessfully)
        {
            return moving.Result ? Accept(reading.Current) : EndOfSourceAsync();
        }

        return AwaitReadAsync(moving);
    }

    /// <summary>
    /// Declares that from now on this stream only passes updates through: no more work per update, at the end or on a
    /// fault. Once its queued updates are out, the stream reading this one reads this one's source directly, so the
    /// layer costs nothing per update (it is still disposed in order).
    /// </summary>
    protected void PassThrough() => _passThrough = true;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> AwaitReadAsync(ValueTask<bool> moving)
    {
        bool more;
        try
        {
            more = await moving.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            return Fault(ex);
        }

        return more ? await Accept(_reading!.Current).ConfigureAwait(false) : await EndOfSourceAsync().ConfigureAwait(false);
    }

    private ValueTask<bool> Accept(ChatResponseUpdate update)
    {
        if (_reading is UpdateStream { _passThrough: true, _next: null, _state: Reading, _started: true } layer)
        {
            // The layer below has nothing more to do: read what it reads from now on.
            _reading = layer._reading ?? layer.Source;
        }

        if (OnUpdate(update) is { } yielded)
        {
            _current = yielded;
            return new ValueTask<bool>(true);
        }

        if (_state == Done)
        {
            return new ValueTask<bool>(TryDequeue());
        }

        return EndOfSourceAsync();
    }

    private ValueTask<bool> EndOfSourceAsync()
    {
        if (_state == Done)
        {
            return new ValueTask<bool>(TryDequeue());
        }

        _state = Done;
        var completing = OnCompletedAsync();
        if (completing.IsCompletedSuccessfully)
        {
            return new ValueTask<bool>(TryDequeue());
        }

        return AwaitCompletionAsync(completing);
    }

    private async ValueTask<bool> AwaitCompletionAsync(ValueTask completing)
    {
        await completing.ConfigureAwait(false);
        return TryDequeue();
    }

    private bool Fault(Exception exception)
    {
        _state = Done;
        if (!OnFault(exception, out var replacement))
        {
            ExceptionDispatchInfo.Capture(exception).Throw();
        }

        if (replacement is null)
        {
            return TryDequeue();
        }

        _current = replacement;
        return true;
    }
}

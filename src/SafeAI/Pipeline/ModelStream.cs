using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;

namespace SafeAI;

/// <summary>
/// The model's stream as the stages see it: each read (the first chunk and every one after it) waits at most
/// <see cref="SafeAIOptions.ModelTimeout"/> and never past the cancellation of the read token, whether or not the
/// model honours its token. A read given up on is detached: observed and logged when it ends, after which the model's
/// enumerator is disposed.
/// </summary>
internal sealed class ModelStream : IAsyncEnumerable<ChatResponseUpdate>, IAsyncEnumerator<ChatResponseUpdate>
{
    private readonly IAsyncEnumerable<ChatResponseUpdate> _source;
    private readonly CancellationToken _callToken;
    private readonly TimeSpan _timeout;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private IAsyncEnumerator<ChatResponseUpdate>? _inner;
    private CancellationToken _token;
    private Task<bool>? _abandoned;
    private int _enumerated;

    public ModelStream(IAsyncEnumerable<ChatResponseUpdate> source, TimeSpan timeout, TimeProvider timeProvider, ILogger logger, CancellationToken callToken)
    {
        _source = source;
        _callToken = callToken;
        _timeout = timeout;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    public ChatResponseUpdate Current => _inner!.Current;

    public IAsyncEnumerator<ChatResponseUpdate> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _enumerated, 1) != 0)
        {
            return new ModelStream(_source, _timeout, _timeProvider, _logger, _callToken).GetAsyncEnumerator(cancellationToken);
        }

        _token = cancellationToken.CanBeCanceled ? cancellationToken : _callToken;
        _inner = _source.GetAsyncEnumerator(_token);
        return this;
    }

    public ValueTask<bool> MoveNextAsync()
    {
        if (_abandoned is not null)
        {
            throw new InvalidOperationException("The model's stream was abandoned after a read that did not end in time.");
        }

        var moving = _inner!.MoveNextAsync();
        return moving.IsCompleted ? moving : AwaitAsync(moving.AsTask());
    }

    public ValueTask DisposeAsync()
    {
        if (_inner is not { } inner)
        {
            return default;
        }

        if (_abandoned is { } pending)
        {
            // An async iterator cannot be disposed while a read is running: dispose it once that read ends.
            AbandonedCalls.Detach(pending, inner, _logger);
            return default;
        }

        return inner.DisposeAsync();
    }

    private async ValueTask<bool> AwaitAsync(Task<bool> read)
    {
        try
        {
            return await read.WaitAsync(_timeout, _timeProvider, _token).ConfigureAwait(false);
        }
        catch (TimeoutException ex) when (!IsFrom(read, ex))
        {
            _abandoned = read;
            Log.ModelAbandoned(_logger, _timeout);
            throw new SafeAIModelTimeoutException(_timeout, streaming: true);
        }
        catch (OperationCanceledException ex) when (!read.IsCanceled && !IsFrom(read, ex))
        {
            // Cancelled (the caller, or a fallback timeout) while the model had not reacted yet: stop waiting for it.
            _abandoned = read;
            throw;
        }
    }

    private static bool IsFrom(Task task, Exception exception) =>
        task.IsFaulted && task.Exception!.InnerExceptions.Contains(exception);
}

using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace SafeAI.Onnx;

/// <summary>
/// Gathers the windows of concurrent requests into one model run: the first request waits up to the batch window for
/// others, or until the batch is full. One background loop runs the batches.
/// </summary>
internal sealed class MicroBatcher : IDisposable
{
    private readonly OnnxContentModel _model;
    private readonly int _maxBatchSize;
    private readonly TimeSpan _window;
    private readonly TimeProvider _timeProvider;
    private readonly Channel<Request> _channel = Channel.CreateUnbounded<Request>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _loop;

    public MicroBatcher(OnnxContentModel model, int maxBatchSize, TimeSpan window, TimeProvider timeProvider)
    {
        _model = model;
        _maxBatchSize = maxBatchSize;
        _window = window;
        _timeProvider = timeProvider;
        _loop = Task.Run(RunAsync);
    }

    public ValueTask<float[]> ScoreAsync(IReadOnlyList<int[]> windows, CancellationToken cancellationToken)
    {
        var request = new Request(windows, cancellationToken);
        ObjectDisposedException.ThrowIf(!_channel.Writer.TryWrite(request), _model);

        return new ValueTask<float[]>(request.Completion.Task);
    }

    public void Dispose()
    {
        _channel.Writer.TryComplete();
        _stopping.Cancel();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // The loop ends by cancellation.
        }

        while (_channel.Reader.TryRead(out var request))
        {
            request.Completion.TrySetException(new ObjectDisposedException(nameof(ContentModel)));
        }

        _stopping.Dispose();
    }

    private async Task RunAsync()
    {
        var batch = new List<Request>();
        var windows = new List<int[]>();
        var reader = _channel.Reader;
        try
        {
            while (await reader.WaitToReadAsync(_stopping.Token).ConfigureAwait(false))
            {
                batch.Clear();
                windows.Clear();
                var started = _timeProvider.GetTimestamp();
                while (windows.Count < _maxBatchSize)
                {
                    if (reader.TryRead(out var request))
                    {
                        if (request.CancellationToken.IsCancellationRequested)
                        {
                            request.Completion.TrySetCanceled(request.CancellationToken);
                            continue;
                        }

                        batch.Add(request);
                        windows.AddRange(request.Windows);
                        continue;
                    }

                    var left = _window - _timeProvider.GetElapsedTime(started);
                    if (left <= TimeSpan.Zero || batch.Count == 0)
                    {
                        break;
                    }

                    using var wait = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
                    wait.CancelAfter(left);
                    try
                    {
                        if (!await reader.WaitToReadAsync(wait.Token).ConfigureAwait(false))
                        {
                            break;
                        }
                    }
                    catch (OperationCanceledException) when (!_stopping.IsCancellationRequested)
                    {
                        break;
                    }
                }

                if (batch.Count > 0)
                {
                    Execute(batch, windows);
                }
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            foreach (var request in batch)
            {
                request.Completion.TrySetException(new ObjectDisposedException(nameof(ContentModel)));
            }
        }
    }

    private void Execute(List<Request> batch, List<int[]> windows)
    {
        // The run is stopped (RunOptions.Terminate) only when every caller in the batch has given up.
        using var allCancelled = new CancellationTokenSource();
        var waiting = new StrongBox<int>(batch.Count);
        var registrations = new CancellationTokenRegistration[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            registrations[i] = batch[i].CancellationToken.UnsafeRegister(
                static s =>
                {
                    var (count, source) = ((StrongBox<int>, CancellationTokenSource))s!;
                    if (Interlocked.Decrement(ref count.Value) == 0)
                    {
                        source.Cancel();
                    }
                },
                (waiting, allCancelled));
        }

        float[] scores;
        try
        {
            scores = _model.ScoreNow(windows, allCancelled.Token);
        }
        catch (Exception ex)
        {
            foreach (var request in batch)
            {
                request.Completion.TrySetException(ex);
            }

            return;
        }
        finally
        {
            foreach (var registration in registrations)
            {
                registration.Dispose();
            }
        }

        var perWindow = scores.Length / windows.Count;
        var offset = 0;
        foreach (var request in batch)
        {
            var length = request.Windows.Count * perWindow;
            request.Completion.TrySetResult(scores.AsSpan(offset, length).ToArray());
            request.Registration.Dispose();
            offset += length;
        }
    }

    private sealed class Request
    {
        public Request(IReadOnlyList<int[]> windows, CancellationToken cancellationToken)
        {
            Windows = windows;
            CancellationToken = cancellationToken;
            if (cancellationToken.CanBeCanceled)
            {
                Registration = cancellationToken.UnsafeRegister(static s => ((Request)s!).Completion.TrySetCanceled(((Request)s!).CancellationToken), this);
            }
        }

        public IReadOnlyList<int[]> Windows { get; }

        public CancellationTokenRegistration Registration { get; }

        public CancellationToken CancellationToken { get; }

        public TaskCompletionSource<float[]> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

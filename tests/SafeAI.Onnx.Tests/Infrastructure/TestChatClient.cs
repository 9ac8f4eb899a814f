using System.Runtime.CompilerServices;

namespace SafeAI.Onnx.Tests.Infrastructure;

/// <summary>A callback-driven fake inner client for unit tests of SafeAI's own logic.</summary>
public sealed class TestChatClient : IChatClient
{
    private int _calls;

    public Func<IEnumerable<ChatMessage>, ChatOptions?, CancellationToken, Task<ChatResponse>>? GetResponseAsyncCallback { get; set; }

    public Func<IEnumerable<ChatMessage>, ChatOptions?, CancellationToken, IAsyncEnumerable<ChatResponseUpdate>>? GetStreamingResponseAsyncCallback { get; set; }

    public int Calls => Volatile.Read(ref _calls);

    public List<IEnumerable<ChatMessage>> ReceivedMessages { get; } = [];

    public static TestChatClient Answering(string text) => new()
    {
        GetResponseAsyncCallback = (_, _, _) => Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, text)) { ModelId = "test-model" }),
        GetStreamingResponseAsyncCallback = (_, _, ct) => Chunks(ct, text.Split(' ').Select((w, i) => i == 0 ? w : " " + w).ToArray()),
    };

    public static TestChatClient Streaming(params string[] chunks) => new()
    {
        GetResponseAsyncCallback = (_, _, _) => Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, string.Concat(chunks)))),
        GetStreamingResponseAsyncCallback = (_, _, ct) => Chunks(ct, chunks),
    };

    public static async IAsyncEnumerable<ChatResponseUpdate> Chunks([EnumeratorCancellation] CancellationToken cancellationToken, params string[] chunks)
    {
        foreach (var chunk in chunks)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await Task.Yield();
            yield return new ChatResponseUpdate(ChatRole.Assistant, chunk) { ResponseId = "r1", MessageId = "m1" };
        }
    }

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _calls);
        lock (ReceivedMessages)
        {
            ReceivedMessages.Add(messages);
        }

        return GetResponseAsyncCallback!(messages, options, cancellationToken);
    }

    public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _calls);
        lock (ReceivedMessages)
        {
            ReceivedMessages.Add(messages);
        }

        return GetStreamingResponseAsyncCallback!(messages, options, cancellationToken);
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose()
    {
    }
}

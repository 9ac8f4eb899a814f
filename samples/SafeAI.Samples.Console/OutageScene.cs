using System.Net;
using Microsoft.Extensions.AI;

namespace SafeAI.Samples.ConsoleApp;

/// <summary>
/// An outage, offline and deterministic: the primary model answers 503, the backup model is down too, and the FAQ
/// responder (a simpler, non-AI system) answers instead. A human hand-off is the last link.
/// </summary>
internal static class OutageScene
{
    public static async Task RunAsync()
    {
        using var primary = new DownChatClient("primary-model", HttpStatusCode.ServiceUnavailable);
        using var backup = new DownChatClient("backup-model", HttpStatusCode.TooManyRequests);
        using var chat = primary.AsBuilder()
            .UseSafeAI(safe => safe.AddFallback(o => o
                .Add(ChatFallback.FromClient(backup, "backup-model"))
                .Add(ChatFallback.FromClient(FaqChatClient.CreateDemo()))
                .Add(ChatFallback.HumanHandoff("Our assistant is unavailable. A person will answer you by e-mail within one working day."))))
            .Build();

        const string question = "How do I reset my password?";
        Transcript.User(question);
        var response = await chat.GetResponseAsync(question);
        Transcript.Assistant(response.Text);
        Transcript.Note($"primary called {primary.Calls}x, backup called {backup.Calls}x (each once: retries belong to the HTTP layer)");
        Transcript.Result(response.GetSafeAIResult());

        Transcript.User(question + " (streamed)");
        Console.Write("    assistant > ");
        SafeAIResult? result = null;
        await foreach (var update in chat.GetStreamingResponseAsync(question))
        {
            Console.Write(update.Text);
            result = update.GetSafeAIResult() ?? result;
        }

        Console.WriteLine();
        Transcript.Note("the model failed before its first chunk, so the fallback answered the stream");
        Transcript.Result(result);
    }

    /// <summary>A model endpoint that is down: every call fails as the HTTP layer reports it after giving up.</summary>
    private sealed class DownChatClient(string name, HttpStatusCode status) : IChatClient
    {
        private int _calls;

        public int Calls => _calls;

        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _calls);
            return Task.FromException<ChatResponse>(new HttpRequestException($"{name}: {(int)status} {status}", null, status));
        }

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _calls);
            throw new HttpRequestException($"{name}: {(int)status} {status}", null, status);
        }

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }
}

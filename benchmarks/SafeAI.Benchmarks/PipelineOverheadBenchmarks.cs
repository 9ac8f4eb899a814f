using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.AI;

namespace SafeAI.Benchmarks;

/// <summary>
/// The pipeline's own overhead per non-streaming call, against the bare inner client as baseline:
/// an empty pipeline, six no-op stages, and six input checks that each record an Allow verdict.
/// </summary>
[MemoryDiagnoser]
public class PipelineOverheadBenchmarks
{
    private static readonly List<ChatMessage> Messages = [new(ChatRole.User, "What are your opening hours?")];

    private IChatClient _bare = null!;
    private IChatClient _empty = null!;
    private IChatClient _sixNoOp = null!;
    private IChatClient _sixChecks = null!;

    [GlobalSetup]
    public void Setup()
    {
        _bare = new InstantChatClient();
        _empty = new InstantChatClient().AsBuilder().UseSafeAI(_ => { }).Build();
        _sixNoOp = new InstantChatClient().AsBuilder().UseSafeAI(safe =>
        {
            for (var i = 0; i < 6; i++)
            {
                safe.Add(new NoOpGuard($"noop-{i}"));
            }
        }).Build();
        _sixChecks = new InstantChatClient().AsBuilder().UseSafeAI(safe =>
        {
            for (var i = 0; i < 6; i++)
            {
                safe.Add(new AllowCheck($"check-{i}"));
            }
        }).Build();
    }

    [Benchmark(Baseline = true, Description = "Bare inner client")]
    public Task<ChatResponse> Bare() => _bare.GetResponseAsync(Messages);

    [Benchmark(Description = "SafeAI, empty pipeline")]
    public Task<ChatResponse> Empty() => _empty.GetResponseAsync(Messages);

    [Benchmark(Description = "SafeAI, 6 no-op stages")]
    public Task<ChatResponse> SixNoOpStages() => _sixNoOp.GetResponseAsync(Messages);

    [Benchmark(Description = "SafeAI, 6 allow checks (6 verdicts)")]
    public Task<ChatResponse> SixAllowChecks() => _sixChecks.GetResponseAsync(Messages);
}

/// <summary>
/// The pipeline's overhead per streaming call and per chunk: streams of 1 and 256 chunks; the per-chunk cost is the
/// difference divided by 255 (long streams, so that the per-stream cost's noise hardly touches the per-chunk figure).
/// </summary>
[MemoryDiagnoser]
public class StreamingOverheadBenchmarks
{
    private static readonly List<ChatMessage> Messages = [new(ChatRole.User, "What are your opening hours?")];

    private IChatClient _bare = null!;
    private IChatClient _empty = null!;
    private IChatClient _sixNoOp = null!;

    [Params(1, 256)]
    public int Chunks { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _bare = new InstantChatClient(Chunks);
        _empty = new InstantChatClient(Chunks).AsBuilder().UseSafeAI(_ => { }).Build();
        _sixNoOp = new InstantChatClient(Chunks).AsBuilder().UseSafeAI(safe =>
        {
            for (var i = 0; i < 6; i++)
            {
                safe.Add(new NoOpGuard($"noop-{i}"));
            }
        }).Build();
    }

    [Benchmark(Baseline = true, Description = "Bare inner client")]
    public Task<int> Bare() => Consume(_bare);

    [Benchmark(Description = "SafeAI, empty pipeline")]
    public Task<int> Empty() => Consume(_empty);

    [Benchmark(Description = "SafeAI, 6 no-op stages")]
    public Task<int> SixNoOpStages() => Consume(_sixNoOp);

    private static async Task<int> Consume(IChatClient client)
    {
        var n = 0;
        await foreach (var update in client.GetStreamingResponseAsync(Messages))
        {
            n += update.Contents.Count;
        }

        return n;
    }
}

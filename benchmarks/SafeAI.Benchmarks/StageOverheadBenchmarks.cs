using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.AI;
using SafeAI.Review;

namespace SafeAI.Benchmarks;

/// <summary>One stage of the default pipeline alone (or none), on its success path, built per <see cref="Stage"/>.</summary>
public abstract class SingleStageBenchmarks
{
    protected static readonly List<ChatMessage> Messages = BenchmarkInputs.Conversation;

    protected static readonly ChatOptions Options = BenchmarkInputs.LowRiskUser;

    private ReviewQueue _queue = null!;

    [Params("none (bare client)", "empty pipeline", "rate limit", "confidence", "human review (no trigger)", "disclosure", "fallback")]
    public string Stage { get; set; } = "";

    protected IChatClient Client { get; private set; } = null!;

    protected virtual int Chunks => 16;

    [GlobalSetup]
    public void Setup()
    {
        _queue = new ReviewQueue(new InMemoryReviewStore());
        Client = Create(Stage, new InstantChatClient(Chunks), _queue);
    }

    [GlobalCleanup]
    public void Cleanup() => _queue.Dispose();

    private static IChatClient Create(string stage, IChatClient inner, ReviewQueue queue) =>
        stage switch
        {
            "none (bare client)" => inner,
            "empty pipeline" => inner.AsBuilder().UseSafeAI(_ => { }).Build(),
            "rate limit" => inner.AsBuilder().UseSafeAI(safe => safe.AddRateLimiting(o =>
            {
                o.PartitionBy = RateLimitPartition.User;
                o.Algorithm = RateLimitAlgorithm.TokenBucket;
                o.PermitLimit = 1_000_000_000;
                o.TokensPerPeriod = 1_000_000_000;
                o.ReplenishmentPeriod = TimeSpan.FromSeconds(1);
            })).Build(),
            "confidence" => inner.AsBuilder().UseSafeAI(safe => safe.AddConfidence(o =>
                o.Estimators.Add(new DelegateConfidenceEstimator("fixed", static (_, _, _) => new ValueTask<double?>(0.9))))).Build(),
            "human review (no trigger)" => inner.AsBuilder().UseSafeAI(safe => safe.AddHumanReview(queue, o => o.ReviewEscalations = false)).Build(),
            "disclosure" => inner.AsBuilder().UseSafeAI(safe => safe.AddAIDisclosure()).Build(),
            "fallback" => inner.AsBuilder().UseSafeAI(safe => safe.AddFallback(o => o.Fallbacks.Add(ChatFallback.Static("unavailable")))).Build(),
            _ => throw new InvalidOperationException(stage),
        };
}

/// <summary>Each stage of the default pipeline alone, on its success path, against the bare inner client.</summary>
[MemoryDiagnoser]
public class StageOverheadBenchmarks : SingleStageBenchmarks
{
    [Benchmark]
    public Task<ChatResponse> Call() => Client.GetResponseAsync(Messages, Options);
}

/// <summary>Each stage of the default pipeline alone on a stream of 1 and 256 chunks; per chunk = (Mean[256] - Mean[1]) / 255, less the same for the bare client.</summary>
[MemoryDiagnoser]
public class StageStreamingOverheadBenchmarks : SingleStageBenchmarks
{
    [Params(1, 256)]
    public int ChunkCount { get; set; }

    protected override int Chunks => ChunkCount;

    [Benchmark]
    public async Task<int> Stream()
    {
        var n = 0;
        await foreach (var update in Client.GetStreamingResponseAsync(Messages, Options))
        {
            n += update.Contents.Count;
        }

        return n;
    }
}

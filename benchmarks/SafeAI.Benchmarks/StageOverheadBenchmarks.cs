using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.AI;
using SafeAI.Review;

namespace SafeAI.Benchmarks;

/// <summary>Each stage of the default pipeline alone, on its success path, against the bare inner client.</summary>
[MemoryDiagnoser]
public class StageOverheadBenchmarks
{
    private static readonly List<ChatMessage> Messages =
    [
        new(ChatRole.User, "Hi"),
        new(ChatRole.Assistant, "Hello! How can I help?"),
        new(ChatRole.User, "What are your opening hours?"),
    ];

    private static readonly ChatOptions Options = new ChatOptions().WithUser("u-42").WithRiskTier(RiskTier.Low);

    private IChatClient _client = null!;
    private ReviewQueue _queue = null!;

    [Params("none (bare client)", "empty pipeline", "rate limit", "confidence", "human review (no trigger)", "disclosure", "fallback")]
    public string Stage { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        _queue = new ReviewQueue(new InMemoryReviewStore());
        _client = Create(Stage, new InstantChatClient(), _queue);
    }

    internal static IChatClient Create(string stage, IChatClient inner, ReviewQueue queue) =>
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

    [GlobalCleanup]
    public void Cleanup() => _queue.Dispose();

    [Benchmark]
    public Task<ChatResponse> Call() => _client.GetResponseAsync(Messages, Options);
}

/// <summary>Each stage of the default pipeline alone on a stream of 1 and 32 chunks; per chunk = (Mean[32] - Mean[1]) / 31, less the same for the bare client.</summary>
[MemoryDiagnoser]
public class StageStreamingOverheadBenchmarks
{
    private static readonly List<ChatMessage> Messages =
    [
        new(ChatRole.User, "Hi"),
        new(ChatRole.Assistant, "Hello! How can I help?"),
        new(ChatRole.User, "What are your opening hours?"),
    ];

    private static readonly ChatOptions Options = new ChatOptions().WithUser("u-42").WithRiskTier(RiskTier.Low);

    private IChatClient _client = null!;
    private ReviewQueue _queue = null!;

    [Params("none (bare client)", "empty pipeline", "rate limit", "confidence", "human review (no trigger)", "disclosure", "fallback")]
    public string Stage { get; set; } = "";

    [Params(1, 32)]
    public int Chunks { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _queue = new ReviewQueue(new InMemoryReviewStore());
        _client = StageOverheadBenchmarks.Create(Stage, new InstantChatClient(Chunks), _queue);
    }

    [GlobalCleanup]
    public void Cleanup() => _queue.Dispose();

    [Benchmark]
    public async Task<int> Stream()
    {
        var n = 0;
        await foreach (var update in _client.GetStreamingResponseAsync(Messages, Options))
        {
            n += update.Contents.Count;
        }

        return n;
    }
}

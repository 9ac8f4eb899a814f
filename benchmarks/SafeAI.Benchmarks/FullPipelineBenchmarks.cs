using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.AI;
using Polly;
using Polly.CircuitBreaker;
using Polly.Fallback;
using SafeAI.Review;

namespace SafeAI.Benchmarks;

/// <summary>
/// The full default pipeline without the content filter — rate limit, confidence, a review policy check that does not
/// escalate, disclosure, and fallback on the success path — against the bare inner client, next to the same amount of
/// work built from Microsoft.Extensions.AI's own middleware and from a Polly pipeline.
/// </summary>
[MemoryDiagnoser]
public class FullPipelineBenchmarks
{
    private static readonly List<ChatMessage> Messages = BenchmarkInputs.Conversation;

    private static readonly ChatOptions Options = BenchmarkInputs.LowRiskUser;

    private IChatClient _bare = null!;
    private IChatClient _safeAI = null!;
    private IChatClient _safeAIRecordAll = null!;
    private IChatClient _extensionsAI = null!;
    private ResiliencePipeline<ChatResponse> _polly = null!;
    private ReviewQueue _queue = null!;

    [GlobalSetup]
    public void Setup()
    {
        _bare = new InstantChatClient();
        _queue = new ReviewQueue(new InMemoryReviewStore());
        _safeAI = CreateFullPipeline(new InstantChatClient(), _queue);
        _safeAIRecordAll = CreateFullPipeline(new InstantChatClient(), _queue, recordAllowVerdicts: true);

        // Microsoft.Extensions.AI's own middleware doing comparable trivial work in five layers.
        _extensionsAI = new InstantChatClient().AsBuilder()
            .Use(static (messages, options, inner, ct) => inner.GetResponseAsync(messages, options, ct), null)
            .Use(static (messages, options, inner, ct) => inner.GetResponseAsync(messages, options, ct), null)
            .Use(static (messages, options, inner, ct) => inner.GetResponseAsync(messages, options, ct), null)
            .Use(static (messages, options, inner, ct) => inner.GetResponseAsync(messages, options, ct), null)
            .Use(static (messages, options, inner, ct) => inner.GetResponseAsync(messages, options, ct), null)
            .Build();

        // Polly v8: fallback + circuit breaker + timeout around the call.
        _polly = new ResiliencePipelineBuilder<ChatResponse>()
            .AddFallback(new FallbackStrategyOptions<ChatResponse>
            {
                FallbackAction = static _ => Outcome.FromResultAsValueTask(new ChatResponse(new ChatMessage(ChatRole.Assistant, "fallback"))),
            })
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions<ChatResponse>())
            .AddTimeout(TimeSpan.FromSeconds(30))
            .Build();
    }

    [GlobalCleanup]
    public void Cleanup() => _queue.Dispose();

    internal static IChatClient CreateFullPipeline(IChatClient inner, IReviewQueue queue, bool recordAllowVerdicts = false) =>
        inner.AsBuilder().UseSafeAI(safe => safe
            .Configure(o => o.RecordAllowVerdicts = recordAllowVerdicts)
            .AddAIDisclosure()
            .AddRateLimiting(o =>
            {
                o.PartitionBy = RateLimitPartition.User;
                o.Algorithm = RateLimitAlgorithm.TokenBucket;
                o.PermitLimit = 1_000_000_000;
                o.TokensPerPeriod = 1_000_000_000;
                o.ReplenishmentPeriod = TimeSpan.FromSeconds(1);
            })
            .AddHumanReview(queue, o => o.ReviewEscalations = false)
            .AddFallback(o => o.Fallbacks.Add(ChatFallback.Static("Our assistant is unavailable right now.")))
            .AddConfidence(o => o.Estimators.Add(new DelegateConfidenceEstimator("fixed", static (_, _, _) => new ValueTask<double?>(0.9))))).Build();

    [Benchmark(Baseline = true, Description = "Bare inner client")]
    public Task<ChatResponse> Bare() => _bare.GetResponseAsync(Messages, Options);

    [Benchmark(Description = "SafeAI full default pipeline (5 stages)")]
    public Task<ChatResponse> SafeAIFull() => _safeAI.GetResponseAsync(Messages, Options);

    [Benchmark(Description = "SafeAI full pipeline, RecordAllowVerdicts on")]
    public Task<ChatResponse> SafeAIFullRecordAll() => _safeAIRecordAll.GetResponseAsync(Messages, Options);

    [Benchmark(Description = "Anchor: M.E.AI, 5 middleware layers")]
    public Task<ChatResponse> ExtensionsAIMiddleware() => _extensionsAI.GetResponseAsync(Messages, Options);

    [Benchmark(Description = "Anchor: Polly fallback+breaker+timeout")]
    public ValueTask<ChatResponse> PollyPipeline() =>
        _polly.ExecuteAsync(static (client, ct) => new ValueTask<ChatResponse>(client.GetResponseAsync(Messages, Options, ct)), _bare, CancellationToken.None);
}

/// <summary>The full default pipeline on a stream of 1 and 256 chunks; per chunk = (Mean[256] - Mean[1]) / 255 against the same for the baseline.</summary>
[MemoryDiagnoser]
public class FullPipelineStreamingBenchmarks
{
    private static readonly List<ChatMessage> Messages = BenchmarkInputs.Conversation;

    private static readonly ChatOptions Options = BenchmarkInputs.LowRiskUser;

    private IChatClient _bare = null!;
    private IChatClient _safeAI = null!;
    private ReviewQueue _queue = null!;

    [Params(1, 256)]
    public int Chunks { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _bare = new InstantChatClient(Chunks);
        _queue = new ReviewQueue(new InMemoryReviewStore());
        _safeAI = FullPipelineBenchmarks.CreateFullPipeline(new InstantChatClient(Chunks), _queue);
    }

    [GlobalCleanup]
    public void Cleanup() => _queue.Dispose();

    [Benchmark(Baseline = true, Description = "Bare inner client")]
    public Task<int> Bare() => Consume(_bare);

    [Benchmark(Description = "SafeAI full default pipeline (5 stages)")]
    public Task<int> SafeAIFull() => Consume(_safeAI);

    private static async Task<int> Consume(IChatClient client)
    {
        var n = 0;
        await foreach (var update in client.GetStreamingResponseAsync(Messages, Options))
        {
            n += update.Contents.Count;
        }

        return n;
    }
}

/// <summary>Throughput of the full default pipeline with 1 and 2 concurrent callers (this machine has 2 cores).</summary>
[MemoryDiagnoser]
public class FullPipelineThroughputBenchmarks
{
    private const int CallsPerInvoke = 1_000;

    private static readonly List<ChatMessage> Messages = [new(ChatRole.User, "Hi"), new(ChatRole.Assistant, "Hello!"), new(ChatRole.User, "Hours?")];

    private IChatClient _bare = null!;
    private IChatClient _safeAI = null!;
    private ReviewQueue _queue = null!;

    [Params(1, 2)]
    public int Callers { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _bare = new InstantChatClient();
        _queue = new ReviewQueue(new InMemoryReviewStore());
        _safeAI = FullPipelineBenchmarks.CreateFullPipeline(new InstantChatClient(), _queue);
    }

    [GlobalCleanup]
    public void Cleanup() => _queue.Dispose();

    [Benchmark(Baseline = true, OperationsPerInvoke = CallsPerInvoke, Description = "Bare inner client")]
    public Task Bare() => RunAsync(_bare);

    [Benchmark(OperationsPerInvoke = CallsPerInvoke, Description = "SafeAI full default pipeline")]
    public Task SafeAIFull() => RunAsync(_safeAI);

    private Task RunAsync(IChatClient client)
    {
        var perCaller = CallsPerInvoke / Callers;
        var tasks = new Task[Callers];
        for (var c = 0; c < Callers; c++)
        {
            var user = $"u-{c}";
            tasks[c] = Task.Run(async () =>
            {
                var options = new ChatOptions().WithUser(user).WithRiskTier(RiskTier.Low);
                for (var i = 0; i < perCaller; i++)
                {
                    await client.GetResponseAsync(Messages, options);
                }
            });
        }

        return Task.WhenAll(tasks);
    }
}

using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.AI;
using SafeAI.Review;

namespace SafeAI.Benchmarks;

/// <summary>
/// What the human review stage costs: on a call no trigger fires for (the common case), and on a deferred high-risk
/// call that stores a review item (in memory) and answers with a ticket.
/// </summary>
[MemoryDiagnoser]
public class HumanReviewBenchmarks
{
    private static readonly ChatMessage[] Messages = [new(ChatRole.User, "What are your opening hours?")];
    private static readonly ChatOptions LowRisk = new ChatOptions().WithRiskTier(RiskTier.Low);
    private static readonly ChatOptions HighRisk = new ChatOptions().WithRiskTier(RiskTier.High);

    private IChatClient _bare = null!;
    private IChatClient _reviewed = null!;
    private IChatClient _deferred = null!;
    private ReviewQueue _queue = null!;
    private ReviewQueue _deferQueue = null!;

    [GlobalSetup]
    public void Setup()
    {
        _bare = new FixedChatClient();
        _queue = new ReviewQueue(new InMemoryReviewStore(), new ReviewQueueOptions { SweepInterval = Timeout.InfiniteTimeSpan });
        _deferQueue = new ReviewQueue(new InMemoryReviewStore(), new ReviewQueueOptions { SweepInterval = Timeout.InfiniteTimeSpan });
        _reviewed = _bare.AsBuilder().UseSafeAI(safe => safe.AddHumanReview(_queue)).Build();
        _deferred = _bare.AsBuilder().UseSafeAI(safe => safe.AddHumanReview(_deferQueue, o => o.Mode = ReviewMode.Defer)).Build();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _queue.Dispose();
        _deferQueue.Dispose();
    }

    [Benchmark(Baseline = true)]
    public Task<ChatResponse> BareClient() => _bare.GetResponseAsync(Messages, LowRisk);

    [Benchmark]
    public Task<ChatResponse> Review_NoTrigger() => _reviewed.GetResponseAsync(Messages, LowRisk);

    [Benchmark]
    public Task<ChatResponse> Review_HighRiskDeferred() => _deferred.GetResponseAsync(Messages, HighRisk);

    private sealed class FixedChatClient : IChatClient
    {
        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "We are open 9 to 5.")));

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }
}

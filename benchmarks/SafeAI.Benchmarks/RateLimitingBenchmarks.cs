using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.AI;

namespace SafeAI.Benchmarks;

/// <summary>
/// The rate-limiting stage's overhead on an admitted call (in-process store): the bare inner client is the baseline,
/// an empty SafeAI pipeline isolates the pipeline's own cost, and each limiter variant adds the stage.
/// </summary>
[MemoryDiagnoser]
public class RateLimitingBenchmarks
{
    private static readonly ChatMessage[] Messages = [new(ChatRole.User, "What are your opening hours?")];

    private IChatClient _inner = null!;
    private IChatClient _empty = null!;
    private IChatClient _passThrough = null!;
    private IChatClient _fixedWindowPerUser = null!;
    private IChatClient _tokenBucketGlobal = null!;
    private IChatClient _concurrencyPerUser = null!;
    private ChatOptions _options = null!;

    [GlobalSetup]
    public void Setup()
    {
        _inner = new InlineChatClient();
        _options = new ChatOptions().WithUser("user-42");
        _empty = _inner.AsBuilder().UseSafeAI(static _ => { }).Build();
        _passThrough = _inner.AsBuilder().UseSafeAI(static safe => safe.Add(new NoOpStage())).Build();
        _fixedWindowPerUser = _inner.AsBuilder().UseSafeAI(static safe => safe.AddRateLimiting(static o =>
        {
            o.PermitLimit = int.MaxValue;
            o.Window = TimeSpan.FromDays(1);
        })).Build();
        _tokenBucketGlobal = _inner.AsBuilder().UseSafeAI(static safe => safe.AddRateLimiting(static o =>
        {
            o.PartitionBy = RateLimitPartition.Global;
            o.Algorithm = RateLimitAlgorithm.TokenBucket;
            o.PermitLimit = int.MaxValue;
            o.TokensPerPeriod = int.MaxValue;
            o.ReplenishmentPeriod = TimeSpan.FromMilliseconds(1);
        })).Build();
        _concurrencyPerUser = _inner.AsBuilder().UseSafeAI(static safe => safe.AddRateLimiting(static o =>
        {
            o.Algorithm = RateLimitAlgorithm.Concurrency;
            o.PermitLimit = 1_000;
        })).Build();
    }

    [Benchmark(Baseline = true)]
    public Task<ChatResponse> BareInnerClient() => _inner.GetResponseAsync(Messages, _options);

    [Benchmark]
    public Task<ChatResponse> EmptyPipeline() => _empty.GetResponseAsync(Messages, _options);

    /// <summary>One stage that only calls the next: the stage overhead is measured against this.</summary>
    [Benchmark]
    public Task<ChatResponse> OneNoOpStage() => _passThrough.GetResponseAsync(Messages, _options);

    [Benchmark]
    public Task<ChatResponse> FixedWindowPerUser() => _fixedWindowPerUser.GetResponseAsync(Messages, _options);

    [Benchmark]
    public Task<ChatResponse> TokenBucketGlobal() => _tokenBucketGlobal.GetResponseAsync(Messages, _options);

    [Benchmark]
    public Task<ChatResponse> ConcurrencyPerUser() => _concurrencyPerUser.GetResponseAsync(Messages, _options);

    /// <summary>A stage that does nothing but run the rest of the pipeline.</summary>
    private sealed class NoOpStage : IAIGuard
    {
        public string Name => "pass";

        public int Order => GuardOrder.RateLimiting;

        public ValueTask<ChatResponse> InvokeAsync(SafeAIContext context, GuardNext next) => next.GetResponseAsync(context);

        public ValueTask<IAsyncEnumerable<ChatResponseUpdate>> InvokeStreamingAsync(SafeAIContext context, GuardNext next) => next.GetStreamingResponseAsync(context);
    }

    /// <summary>A fake model: a fresh response per call from a completed task.</summary>
    private sealed class InlineChatClient : IChatClient
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

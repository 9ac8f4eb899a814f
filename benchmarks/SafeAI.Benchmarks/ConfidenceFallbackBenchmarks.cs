using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.AI;

namespace SafeAI.Benchmarks;

/// <summary>
/// Overhead of the confidence and fallback stages on the success path: the model answers, the confidence is above the
/// threshold, no fallback trigger fires. Baseline: the bare inner client. The pass-through rows separate the pipeline's
/// own cost (context, result) and the cost of recording one verdict from the two stages' cost. Run with
/// <c>dotnet run -c Release --project benchmarks/SafeAI.Benchmarks -- --filter *ConfidenceFallback*</c>.
/// </summary>
[MemoryDiagnoser]
public class ConfidenceFallbackBenchmarks
{
    private static readonly ChatMessage[] Messages = [new(ChatRole.User, "What are your opening hours?")];

    private FakeModelClient _inner = null!;
    private IChatClient _noopStage = null!;
    private IChatClient _verdictStage = null!;
    private IChatClient _confidence = null!;
    private IChatClient _fallback = null!;
    private IChatClient _both = null!;
    private IChatClient _bothWithTimeouts = null!;

    [GlobalSetup]
    public void Setup()
    {
        _inner = new FakeModelClient();
        var estimator = new DelegateConfidenceEstimator("fixed", static (_, _, _) => new ValueTask<double?>(0.9));
        _noopStage = _inner.AsBuilder().UseSafeAI(safe => safe.Add(new PassThroughStage())).Build();
        _verdictStage = _inner.AsBuilder().UseSafeAI(safe => safe.Add(new PassThroughStage(recordVerdict: true))).Build();
        _confidence = _inner.AsBuilder().UseSafeAI(safe => safe.AddConfidence(o => o.Estimators.Add(estimator))).Build();
        _fallback = _inner.AsBuilder().UseSafeAI(safe => safe.AddFallback(o => o.Add(ChatFallback.Static("Backup answer.")))).Build();
        _both = _inner.AsBuilder().UseSafeAI(safe => safe
            .AddConfidence(o => { o.Estimators.Add(estimator); o.LowConfidenceAction = LowConfidenceAction.Fallback; })
            .AddFallback(o => o.Add(ChatFallback.Static("Backup answer.")))).Build();
        _bothWithTimeouts = _inner.AsBuilder().UseSafeAI(safe => safe
            .AddConfidence(o => { o.Estimators.Add(estimator); o.LowConfidenceAction = LowConfidenceAction.Fallback; })
            .AddFallback(o =>
            {
                o.AttemptTimeout = TimeSpan.FromSeconds(30);
                o.TotalTimeout = TimeSpan.FromSeconds(60);
                o.Add(ChatFallback.Static("Backup answer."));
            })).Build();
    }

    [Benchmark(Baseline = true, Description = "Bare inner client")]
    public Task<ChatResponse> Bare() => _inner.GetResponseAsync(Messages);

    [Benchmark(Description = "SafeAI, one pass-through stage")]
    public Task<ChatResponse> OnePassThroughStage() => _noopStage.GetResponseAsync(Messages);

    [Benchmark(Description = "SafeAI, one stage recording a verdict")]
    public Task<ChatResponse> OneVerdictStage() => _verdictStage.GetResponseAsync(Messages);

    [Benchmark(Description = "Confidence")]
    public Task<ChatResponse> Confidence() => _confidence.GetResponseAsync(Messages);

    [Benchmark(Description = "Fallback")]
    public Task<ChatResponse> Fallback() => _fallback.GetResponseAsync(Messages);

    [Benchmark(Description = "Confidence + fallback")]
    public Task<ChatResponse> ConfidenceAndFallback() => _both.GetResponseAsync(Messages);

    [Benchmark(Description = "Confidence + fallback with timeouts")]
    public Task<ChatResponse> ConfidenceAndFallbackWithTimeouts() => _bothWithTimeouts.GetResponseAsync(Messages);

    /// <summary>A model that answers at once with a fresh response per call.</summary>
    private sealed class FakeModelClient : IChatClient
    {
        private readonly ChatMessage _answer = new(ChatRole.Assistant, "We're open 9 to 5.");

        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            Task.FromResult(new ChatResponse(_answer));

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }

    /// <summary>A stage that only calls the next one (optionally recording an Allow verdict): the pipeline's own cost, for reference.</summary>
    private sealed class PassThroughStage(bool recordVerdict = false) : IAIGuard
    {
        private readonly GuardVerdict _allow = GuardVerdict.Allow("noop");

        public string Name => "noop";

        public ValueTask<ChatResponse> InvokeAsync(SafeAIContext context, GuardNext next)
        {
            if (recordVerdict)
            {
                context.AddVerdict(_allow);
            }

            return next.GetResponseAsync(context);
        }

        public ValueTask<IAsyncEnumerable<ChatResponseUpdate>> InvokeStreamingAsync(SafeAIContext context, GuardNext next) => next.GetStreamingResponseAsync(context);
    }
}

using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.AI;
using SafeAI.Monitoring;

namespace SafeAI.Benchmarks;

/// <summary>
/// What monitoring costs per call. "record a call" is the metrics recorder alone on the system clock (a clock read and
/// five interlocked adds into the current bucket): the budget is 100 ns. "record, time given" leaves out the
/// clock read. The pipeline cases put the monitoring stage into an otherwise empty pipeline, against the empty pipeline
/// (Ratio): the stage's whole overhead, timing and verdict scan included.
/// </summary>
[MemoryDiagnoser]
public class MonitoringBenchmarks
{
    private static readonly List<ChatMessage> Messages = BenchmarkInputs.Conversation;
    private readonly CallObservation _call = new() { Outcome = GuardAction.Allow, Latency = TimeSpan.FromMilliseconds(230), Arm = "ai" };
    private MetricsRecorder _recorder = null!;
    private IChatClient _empty = null!;
    private IChatClient _monitored = null!;
    private DateTimeOffset _at;

    [GlobalSetup]
    public void Setup()
    {
        _recorder = new MetricsRecorder();
        _at = DateTimeOffset.UtcNow;
        var inner = new InstantChatClient(16);
        _empty = inner.AsBuilder().UseSafeAI(_ => { }).Build();
        _monitored = inner.AsBuilder().UseSafeAI(safe => safe.AddMonitoring(_recorder)).Build();
    }

    [Benchmark(Description = "record a call")]
    public void RecordCall() => _recorder.RecordCall(_call);

    [Benchmark(Description = "record, time given")]
    public void RecordCallAt() => _recorder.RecordCall(_call, _at);

    [Benchmark(Baseline = true, Description = "empty pipeline")]
    public Task<ChatResponse> EmptyPipeline() => _empty.GetResponseAsync(Messages);

    [Benchmark(Description = "pipeline with monitoring")]
    public Task<ChatResponse> MonitoredPipeline() => _monitored.GetResponseAsync(Messages);
}

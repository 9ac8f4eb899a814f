using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.AI;
using SafeAI.Audit;
using SafeAI.Sqlite;

namespace SafeAI.Benchmarks;

/// <summary>
/// The audit stage's cost on the caller's thread while the writer keeps up, as it does at 10,000 calls a second (the
/// writer sustains about 70,000 records a second into SQLite, <see cref="AuditTrailBenchmarks"/>). An iteration is one
/// burst of <see cref="Burst"/> calls into a real SQLite-backed trail (FullMode Block; the queue never fills), reported
/// per call, then, outside the measurement, a flush that waits until the writer has stored them. The writer runs on the other core during the burst,
/// as it does in a server. A benchmark loop without the pause measures the writer instead: records pile up in the queue,
/// survive into older GC generations and the pauses land on the caller (<see cref="AuditTrailBenchmarks"/>).
/// The stage's own cost = Mean − Mean of "one no-op stage"; the target is 300 ns or less.
/// </summary>
[MemoryDiagnoser]
[InvocationCount(1, 1)]
[WarmupCount(20)]
[IterationCount(100)]
public class AuditCallerBenchmarks
{
    /// <summary>Calls per iteration.</summary>
    public const int Burst = 2048;

    private static readonly List<ChatMessage> Messages = BenchmarkInputs.Conversation;
    private static readonly ChatOptions Options = new ChatOptions().WithSafeAIContext(new SafeAICallContext { UserId = "u-42", ConversationId = "c-1" });
    private string? _directory;
    private AuditTrail? _trail;

    [Params("one no-op stage", "audit, writer keeps up")]
    public string Case { get; set; } = "";

    private IChatClient Client { get; set; } = null!;

    [GlobalSetup]
    public void Setup()
    {
        var inner = new InstantChatClient(16);
        if (Case == "one no-op stage")
        {
            Client = inner.AsBuilder().UseSafeAI(static safe => safe.Add(new NoOpGuard("no-op"))).Build();
            WarmUp();
            return;
        }

        _directory = Directory.CreateTempSubdirectory("safeai-audit-caller-").FullName;
        var store = SqliteStores.CreateAuditStore(new SqliteAuditStoreOptions { DataSource = Path.Combine(_directory, "audit.db") });
        _trail = new AuditTrail(store, new AuditTrailOptions { FullMode = AuditQueueFullMode.Block, QueueCapacity = 10_000, BatchSize = 512 });
        var trail = _trail;
        Client = inner.AsBuilder().UseSafeAI(safe => safe.AddAuditTrail(trail)).Build();
        WarmUp();
    }

    /// <summary>
    /// Iterations are short and one invocation each, too few for the runtime's tiered JIT to promote the pipeline's code
    /// by itself (it waits for a quiet 100 ms): run calls for a while first, with pauses, so both cases measure
    /// optimized code.
    /// </summary>
    private void WarmUp()
    {
        for (var round = 0; round < 3; round++)
        {
            var until = System.Diagnostics.Stopwatch.StartNew();
            while (until.ElapsedMilliseconds < 400)
            {
                for (var i = 0; i < Burst; i++)
                {
                    Client.GetResponseAsync(Messages, Options).GetAwaiter().GetResult();
                }

                WaitForWriter();
            }

            Thread.Sleep(300);
        }
    }

    [IterationCleanup]
    public void WaitForWriter() => _trail?.FlushAsync().AsTask().GetAwaiter().GetResult();

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_trail is null)
        {
            return;
        }

        _trail.FlushAsync().AsTask().GetAwaiter().GetResult();
        Console.WriteLine($"// audit trail: {_trail.WrittenCount} record(s) written, {_trail.DroppedCount} dropped, {_trail.WriteFailureCount} failed batch(es)");
        _trail.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_directory!, recursive: true);
    }

    [Benchmark(OperationsPerInvoke = Burst)]
    public async Task Call()
    {
        for (var i = 0; i < Burst; i++)
        {
            _ = await Client.GetResponseAsync(Messages, Options).ConfigureAwait(false);
        }
    }
}

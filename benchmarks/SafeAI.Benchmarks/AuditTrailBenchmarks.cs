using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.AI;
using SafeAI.Audit;
using SafeAI.Sqlite;

namespace SafeAI.Benchmarks;

/// <summary>
/// The audit stage's cost on the caller's thread, against the empty pipeline: the records go to a real SQLite file
/// through the trail's bounded queue and background writer, with FullMode Block, so a writer that cannot keep up with
/// the benchmark's rate shows as slower calls, not as dropped records (the cleanup prints written and dropped counts).
/// The audit stage's own cost = Mean − Mean of "one no-op stage" (a pipeline with any stage pays the context and the
/// stage call, which the empty pipeline skips); the target is 300 ns or less.
/// </summary>
[MemoryDiagnoser]
public class AuditTrailBenchmarks
{
    private static readonly List<ChatMessage> Messages = BenchmarkInputs.Conversation;
    private static readonly ChatOptions Options = new ChatOptions().WithSafeAIContext(new SafeAICallContext { UserId = "u-42", ConversationId = "c-1" });
    private string? _directory;
    private AuditTrail? _trail;

    [Params("empty pipeline", "one no-op stage", "audit, no text key", "audit, text hashed", "audit, caller only")]
    public string Case { get; set; } = "";

    private IChatClient Client { get; set; } = null!;

    [GlobalSetup]
    public void Setup()
    {
        var inner = new InstantChatClient(16);
        if (Case == "empty pipeline")
        {
            Client = inner.AsBuilder().UseSafeAI(_ => { }).Build();
            return;
        }

        if (Case == "one no-op stage")
        {
            Client = inner.AsBuilder().UseSafeAI(static safe => safe.Add(new NoOpGuard("no-op"))).Build();
            return;
        }

        _directory = Directory.CreateTempSubdirectory("safeai-audit-bench-").FullName;
        var store = SqliteStores.CreateAuditStore(new SqliteAuditStoreOptions { DataSource = Path.Combine(_directory, "audit.db") });
        _trail = new AuditTrail(store, new AuditTrailOptions
        {
            // "caller only": a full queue drops and counts instead of waiting for the writer, so the figure is the cost on
            // the caller's thread (building and enqueueing the record, or counting the drop), not the SQLite writer's rate.
            FullMode = Case == "audit, caller only" ? AuditQueueFullMode.DropAndCount : AuditQueueFullMode.Block,
            QueueCapacity = 100_000,
            BatchSize = 2_000,
            TextKey = Case == "audit, text hashed" ? Convert.ToBase64String(new byte[32]) : null,
        });
        var trail = _trail;
        Client = inner.AsBuilder().UseSafeAI(safe => safe.AddAuditTrail(trail)).Build();
    }

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

    [Benchmark]
    public Task<ChatResponse> Call() => Client.GetResponseAsync(Messages, Options);
}

using System.Diagnostics;

namespace SafeAI.Sqlite.Tests;

public sealed class SqliteRolloutSyncTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("safeai-rollout-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string File => Path.Combine(_dir, "rollout.db");

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Stop_OnOneOfThreeInstances_ReachesTheOthersWithinAPollInterval()
    {
        var controllers = Enumerable.Range(0, 3).Select(_ => new RolloutController(new RolloutPlanOptions(), name: "assistant")).ToList();
        var syncs = new List<SqliteRolloutSync>();
        foreach (var c in controllers)
        {
            syncs.Add(await SqliteRolloutSync.StartAsync(File, c, TimeSpan.FromMilliseconds(50), cancellationToken: Ct));
        }

        try
        {
            controllers[0].Stop("drill");
            var clock = Stopwatch.StartNew();
            while (controllers.Any(c => c.CurrentPercent != 0) && clock.Elapsed < TimeSpan.FromSeconds(5))
            {
                await Task.Delay(5, Ct);
            }

            Assert.All(controllers, c => Assert.Equal(RolloutStatus.Stopped, c.Status));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"took {clock.Elapsed.TotalMilliseconds} ms");

            // A process that starts later (or restarts) reads the stop from the file.
            var late = new RolloutController(new RolloutPlanOptions(), name: "assistant");
            syncs.Add(await SqliteRolloutSync.StartAsync(File, late, cancellationToken: Ct));
            Assert.Equal(RolloutStatus.Stopped, late.Status);
        }
        finally
        {
            foreach (var s in syncs)
            {
                await s.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task EvaluateAsync_CountsOfTwoInstances_JudgedTogetherExactlyOnce()
    {
        var plan = new RolloutPlanOptions();
        plan.Guardrails.Add(new RolloutGuardrail("bad"));
        var a = new RolloutController(plan, name: "assistant");
        var b = new RolloutController(plan, name: "assistant");
        await using var syncA = await SqliteRolloutSync.StartAsync(File, a, cancellationToken: Ct);
        await using var syncB = await SqliteRolloutSync.StartAsync(File, b, cancellationToken: Ct);
        foreach (var c in new[] { a, b })
        {
            c.RecordExposure(RolloutArm.AI, 150);
            c.RecordExposure(RolloutArm.Baseline, 2850);
            c.RecordOutcome(RolloutArm.AI, "bad", 30);
            c.RecordOutcome(RolloutArm.Baseline, "bad", 140);
        }

        await syncB.FlushCountsAsync(Ct);
        await syncB.FlushCountsAsync(Ct);
        var decision = await syncA.EvaluateAsync(Ct);

        Assert.Equal(300, decision.AISamples);
        Assert.Equal(5700, decision.BaselineSamples);
        Assert.Equal(RolloutDecisionKind.Abort, decision.Kind);
    }
}

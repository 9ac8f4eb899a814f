using System.Diagnostics;
using StackExchange.Redis;

namespace SafeAI.Redis.Tests;

public class RedisRolloutSyncTests(RedisFixture fixture) : IClassFixture<RedisFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Stop_OnOneOfThreeInstances_ReachesTheOtherTwoWithinOneSecond()
    {
        var server = fixture.Require();
        var name = "stop-" + Guid.NewGuid().ToString("N");
        var connections = new List<ConnectionMultiplexer>();
        var syncs = new List<RedisRolloutSync>();
        var controllers = new List<RolloutController>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var connection = await ConnectionMultiplexer.ConnectAsync(server.Configuration);
                connections.Add(connection);
                var controller = new RolloutController(new RolloutPlanOptions(), name: name);
                controllers.Add(controller);
                syncs.Add(await RedisRolloutSync.StartAsync(connection, controller, cancellationToken: Ct));
            }

            Assert.All(controllers, c => Assert.Equal(5, c.CurrentPercent));
            var clock = Stopwatch.StartNew();
            controllers[0].Stop("incident drill");
            while (controllers.Any(c => c.CurrentPercent != 0) && clock.Elapsed < TimeSpan.FromSeconds(5))
            {
                await Task.Delay(1, Ct);
            }

            var elapsed = clock.Elapsed;
            TestContext.Current.TestOutputHelper?.WriteLine($"stop reached all three instances in {elapsed.TotalMilliseconds:0.0} ms");
            Assert.All(controllers, c => Assert.Equal(RolloutStatus.Stopped, c.Status));
            Assert.True(elapsed < TimeSpan.FromSeconds(1), $"took {elapsed.TotalMilliseconds} ms");

            // An instance that starts after the stop reads it from the stored state.
            var late = new RolloutController(new RolloutPlanOptions(), name: name);
            var lateConnection = await ConnectionMultiplexer.ConnectAsync(server.Configuration);
            connections.Add(lateConnection);
            syncs.Add(await RedisRolloutSync.StartAsync(lateConnection, late, cancellationToken: Ct));
            Assert.Equal(RolloutStatus.Stopped, late.Status);
            Assert.Equal(0, late.CurrentPercent);

            // Releasing the switch elsewhere releases it everywhere.
            controllers[2].Resume("drill over");
            clock.Restart();
            while (controllers.Append(late).Any(c => c.CurrentPercent != 5) && clock.Elapsed < TimeSpan.FromSeconds(5))
            {
                await Task.Delay(1, Ct);
            }

            Assert.All(controllers.Append(late), c => Assert.Equal(RolloutStatus.Running, c.Status));
        }
        finally
        {
            foreach (var s in syncs)
            {
                await s.DisposeAsync();
            }

            foreach (var c in connections)
            {
                await c.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task StartAsync_StoredOlderVersion_DoesNotOverrideANewerLocalState()
    {
        var server = fixture.Require();
        var name = "cas-" + Guid.NewGuid().ToString("N");
        await using var connection = await ConnectionMultiplexer.ConnectAsync(server.Configuration);
        var a = new RolloutController(new RolloutPlanOptions(), name: name);
        await using (await RedisRolloutSync.StartAsync(connection, a, cancellationToken: Ct))
        {
            a.Promote("to 10 %");
            await WaitAsync(() => connection.GetDatabase().HashGet($"safeai:rollout:{name}:state", "version") == 1);
        }

        var b = new RolloutController(new RolloutPlanOptions(), name: name);
        b.Promote("1");
        b.Promote("2"); // version 2, stage 25 %
        await using (await RedisRolloutSync.StartAsync(connection, b, cancellationToken: Ct))
        {
            Assert.Equal(25, b.CurrentPercent);
        }
    }

    [Fact]
    public async Task EvaluateAsync_CountsFromThreeInstances_JudgedExactlyOnceAndTheAbortReachesAll()
    {
        var server = fixture.Require();
        var name = "counts-" + Guid.NewGuid().ToString("N");
        var connections = new List<ConnectionMultiplexer>();
        var syncs = new List<RedisRolloutSync>();
        var controllers = new List<RolloutController>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var connection = await ConnectionMultiplexer.ConnectAsync(server.Configuration);
                connections.Add(connection);
                var plan = new RolloutPlanOptions(); // an arm needs 200 calls before a guardrail may abort: one instance has 100
                plan.Guardrails.Add(new RolloutGuardrail("bad"));
                var controller = new RolloutController(plan, name: name);
                controllers.Add(controller);
                syncs.Add(await RedisRolloutSync.StartAsync(connection, controller, cancellationToken: Ct));
            }

            // Each instance alone sees too little to judge; together they show the AI arm at 20 % bad vs 5 %.
            foreach (var c in controllers)
            {
                c.RecordExposure(RolloutArm.AI, 100);
                c.RecordExposure(RolloutArm.Baseline, 1900);
                c.RecordOutcome(RolloutArm.AI, "bad", 20);
                c.RecordOutcome(RolloutArm.Baseline, "bad", 95);
            }

            Assert.Equal(RolloutDecisionKind.Continue, controllers[1].Evaluate().Kind);
            await syncs[1].FlushCountsAsync(Ct);
            await syncs[1].FlushCountsAsync(Ct); // nothing new: must not count twice
            await syncs[2].FlushCountsAsync(Ct);
            var decision = await syncs[0].EvaluateAsync(Ct);

            Assert.Equal(300, decision.AISamples);
            Assert.Equal(5700, decision.BaselineSamples);
            Assert.Equal(RolloutDecisionKind.Abort, decision.Kind);
            var clock = Stopwatch.StartNew();
            while (controllers.Any(c => c.Status != RolloutStatus.Aborted) && clock.Elapsed < TimeSpan.FromSeconds(5))
            {
                await Task.Delay(1, Ct);
            }

            Assert.All(controllers, c => Assert.Equal(0, c.CurrentPercent));
        }
        finally
        {
            foreach (var s in syncs)
            {
                await s.DisposeAsync();
            }

            foreach (var c in connections)
            {
                await c.DisposeAsync();
            }
        }
    }

    private static async Task WaitAsync(Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition() && clock.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(5, Ct);
        }

        Assert.True(condition());
    }
}

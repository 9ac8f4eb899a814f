using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace SafeAI.Redis.Tests;

public class RedisRateLimitStoreTests(RedisFixture fixture) : IClassFixture<RedisFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>
    /// An app instance over <paramref name="store"/>. These tests count admissions exactly, so no call may time out: the
    /// store timeout is far above a loaded CI machine's cold connect (an abandoned acquire's script still runs in Redis
    /// once the connection is up, and would take a permit no call used). Tests of the timeout set their own.
    /// </summary>
    private static IChatClient Instance(RedisRateLimitStore store, Action<RateLimitingOptions> configure, IChatClient? inner = null) =>
        (inner ?? new CountingClient()).AsBuilder().UseSafeAI(safe => safe.AddRateLimiting(o =>
        {
            o.Store = store;
            o.StoreTimeout = TimeSpan.FromSeconds(10);
            configure(o);
        })).Build();

    private RedisRateLimitStore NewStore(string prefix) =>
        new(new RedisRateLimitStoreOptions { Configuration = fixture.Require().Configuration, KeyPrefix = prefix });

    [Theory]
    [InlineData(RateLimitAlgorithm.FixedWindow)]
    [InlineData(RateLimitAlgorithm.SlidingWindow)]
    [InlineData(RateLimitAlgorithm.TokenBucket)]
    public async Task TwoAppInstances_ShareOneBudgetExactly(RateLimitAlgorithm algorithm)
    {
        var prefix = "t:" + Guid.NewGuid().ToString("N");
        await using var storeA = NewStore(prefix);
        await using var storeB = NewStore(prefix); // a second app instance: its own connection
        var modelA = new CountingClient();
        var modelB = new CountingClient();
        void Limits(RateLimitingOptions o)
        {
            o.Algorithm = algorithm;
            o.PermitLimit = 50;
            o.Window = TimeSpan.FromMinutes(5);
            o.ReplenishmentPeriod = TimeSpan.FromMinutes(5);
        }

        using var appA = Instance(storeA, Limits, modelA);
        using var appB = Instance(storeB, Limits, modelB);

        var limited = 0;
        await Parallel.ForAsync(0, 400, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = Ct }, async (i, ct) =>
        {
            var app = i % 2 == 0 ? appA : appB;
            var response = await app.GetResponseAsync("hi", new ChatOptions().WithUser("shared-user"), ct);
            if (response.GetSafeAIResult()!.Outcome == GuardAction.Limit)
            {
                Interlocked.Increment(ref limited);
            }
        });

        Assert.Equal(50, modelA.Calls + modelB.Calls);
        Assert.True(modelA.Calls > 0 && modelB.Calls > 0, "both instances admitted calls");
        Assert.Equal(350, limited);

        var other = await appB.GetResponseAsync("hi", new ChatOptions().WithUser("other-user"), Ct);
        Assert.Equal(GuardAction.Allow, other.GetSafeAIResult()!.Outcome);
    }

    [Fact]
    public async Task FixedWindow_Limited_CarriesRetryAfterFromRedis()
    {
        await using var store = NewStore("t:" + Guid.NewGuid().ToString("N"));
        using var app = Instance(store, o => { o.PermitLimit = 1; o.Window = TimeSpan.FromSeconds(30); });

        await app.GetResponseAsync("hi", new ChatOptions().WithUser("u"), Ct);
        var limited = await app.GetResponseAsync("hi", new ChatOptions().WithUser("u"), Ct);

        var verdict = limited.GetSafeAIResult()!.DecisiveVerdict!.Value;
        Assert.Equal(RateLimitReasons.User, verdict.Reason);
        Assert.InRange(verdict.RetryAfter!.Value, TimeSpan.FromSeconds(25), TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task FixedWindow_WindowEnds_PermitsReturn()
    {
        await using var store = NewStore("t:" + Guid.NewGuid().ToString("N"));
        // The window opens at the first call's script; the third call must still fall inside it, so it is long enough for
        // two round trips on a loaded CI machine (it was 300 ms).
        using var app = Instance(store, o => { o.PermitLimit = 2; o.Window = TimeSpan.FromSeconds(2); });
        var user = new ChatOptions().WithUser("u");

        await app.GetResponseAsync("hi", user, Ct);
        await app.GetResponseAsync("hi", user, Ct);
        var limited = (await app.GetResponseAsync("hi", user, Ct)).GetSafeAIResult()!.DecisiveVerdict!.Value;
        Assert.Equal(GuardAction.Limit, limited.Action);
        Assert.InRange(limited.RetryAfter!.Value, TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(2));
        await Task.Delay(limited.RetryAfter.Value + TimeSpan.FromMilliseconds(50), Ct);
        Assert.Equal(GuardAction.Allow, (await app.GetResponseAsync("hi", user, Ct)).GetSafeAIResult()!.Outcome);
    }

    [Fact]
    public async Task Concurrency_TwoInstances_ShareInFlightLimitAndReleasePermits()
    {
        var prefix = "t:" + Guid.NewGuid().ToString("N");
        await using var storeA = NewStore(prefix);
        await using var storeB = NewStore(prefix);
        var gate = new TaskCompletionSource<ChatResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        var slow = new CountingClient { Respond = () => gate.Task };
        using var appA = Instance(storeA, o => { o.Algorithm = RateLimitAlgorithm.Concurrency; o.PermitLimit = 1; }, slow);
        using var appB = Instance(storeB, o => { o.Algorithm = RateLimitAlgorithm.Concurrency; o.PermitLimit = 1; });
        var user = new ChatOptions().WithUser("u");

        var inFlight = appA.GetResponseAsync("hi", user, Ct);
        await WaitUntilAsync(() => slow.Calls == 1);
        Assert.Equal(GuardAction.Limit, (await appB.GetResponseAsync("hi", user, Ct)).GetSafeAIResult()!.Outcome);

        gate.SetResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "done")));
        await inFlight;

        // The permit is returned to Redis in the background right after the call.
        GuardAction outcome = GuardAction.Limit;
        var deadline = Stopwatch.StartNew();
        while (outcome == GuardAction.Limit && deadline.Elapsed < TimeSpan.FromSeconds(5))
        {
            outcome = (await appB.GetResponseAsync("hi", user, Ct)).GetSafeAIResult()!.Outcome;
        }

        Assert.Equal(GuardAction.Allow, outcome);
    }

    [Fact]
    public async Task TokenBudget_TwoInstances_ChargeOneBudget()
    {
        var prefix = "t:" + Guid.NewGuid().ToString("N");
        await using var storeA = NewStore(prefix);
        await using var storeB = NewStore(prefix);
        var model = new CountingClient { Respond = () => Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok")) { Usage = new UsageDetails { TotalTokenCount = 400 } }) };
        void Limits(RateLimitingOptions o)
        {
            o.PermitLimit = 100;
            o.TokenLimit = 1_000;
            o.TokenWindow = TimeSpan.FromMinutes(5);
            o.EstimatedOutputTokens = 100; // a call reserves about 101 tokens
        }

        using var appA = Instance(storeA, Limits, model);
        using var appB = Instance(storeB, Limits, model);
        var user = new ChatOptions().WithUser("u");

        await appA.GetResponseAsync("hi", user, Ct); // 400
        await appB.GetResponseAsync("hi", user, Ct); // 800
        await appA.GetResponseAsync("hi", user, Ct); // 1,200: the third call fit its estimate, its real size is charged after
        var limited = await appB.GetResponseAsync("hi", user, Ct);

        var verdict = limited.GetSafeAIResult()!.DecisiveVerdict!.Value;
        Assert.Equal(RateLimitReasons.Tokens, verdict.Reason);
        Assert.NotNull(verdict.RetryAfter);
        Assert.Equal(3, model.Calls);
    }

    [Fact]
    public async Task TokenBudget_TenThousandConcurrentCallsOnTwoInstances_NeverOverspendByMoreThanOneReservation()
    {
        var prefix = "t:" + Guid.NewGuid().ToString("N");
        await using var storeA = NewStore(prefix);
        await using var storeB = NewStore(prefix);
        var gate = new TaskCompletionSource<ChatResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        long spent = 0;
        var model = new CountingClient
        {
            Respond = async () =>
            {
                var response = await gate.Task;
                Interlocked.Add(ref spent, 10);
                return response;
            },
        };
        void Limits(RateLimitingOptions o)
        {
            o.PermitLimit = int.MaxValue;
            o.TokenLimit = 1_000;
            o.TokenWindow = TimeSpan.FromMinutes(5);
            o.StoreTimeout = TimeSpan.FromSeconds(30);
        }

        using var appA = Instance(storeA, Limits, model);
        using var appB = Instance(storeB, Limits, model);

        // "hi" is estimated at 1 token and the answer may use 9 more (MaxOutputTokens): 10 tokens reserved a call.
        var options = new ChatOptions { MaxOutputTokens = 9 }.WithUser("u");
        var calls = Enumerable.Range(0, 10_000).Select(i => Task.Run(() => (i % 2 == 0 ? appA : appB).GetResponseAsync("hi", options, Ct), Ct)).ToArray();
        while (model.Calls + calls.Count(c => c.IsCompleted) < calls.Length)
        {
            await Task.Delay(10, Ct);
        }

        gate.SetResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok")) { Usage = new UsageDetails { TotalTokenCount = 10 } });
        var responses = await Task.WhenAll(calls);

        var admitted = responses.Count(r => r.GetSafeAIResult()!.Outcome != GuardAction.Limit);
        Assert.Equal(model.Calls, admitted);
        Assert.True(Interlocked.Read(ref spent) <= 1_000 + 10, $"{admitted} calls admitted spent {spent} tokens of a 1,000 budget");
        Assert.True(admitted >= 90, $"only {admitted} calls admitted");
    }

    [Theory]
    [InlineData(GuardFailureMode.FailClosed, GuardAction.Limit, 0)]
    [InlineData(GuardFailureMode.FailOpen, GuardAction.Allow, 1)]
    public async Task StoppedRedis_AppliesDeclaredPolicyWithinBoundedTime(GuardFailureMode mode, GuardAction expected, int modelCalls)
    {
        var executable = RedisServer.FindExecutable();
        if (executable is null)
        {
            Assert.Skip(RedisServer.InstallHint);
        }

        var server = await RedisServer.StartAsync(executable);
        await using var store = new RedisRateLimitStore(new RedisRateLimitStoreOptions { Configuration = server.Configuration, KeyPrefix = "t:" + Guid.NewGuid().ToString("N") });
        await WarmUpAsync(store);
        var model = new CountingClient();
        using var app = model.AsBuilder().UseSafeAI(safe => safe.AddRateLimiting(o =>
        {
            o.Store = store;
            o.FailureMode = mode;
            o.StoreTimeout = TimeSpan.FromMilliseconds(300);
        })).Build();
        var user = new ChatOptions().WithUser("u");
        Assert.Equal(GuardAction.Allow, (await app.GetResponseAsync("hi", user, Ct)).GetSafeAIResult()!.Outcome);

        await server.DisposeAsync(); // Redis goes away
        var watch = Stopwatch.StartNew();
        var response = await app.GetResponseAsync("hi", user, Ct);
        watch.Stop();

        var verdict = response.GetSafeAIResult()!.Verdicts.Single(v => v.Stage == "rate-limit");
        Assert.Equal(expected, verdict.Action);
        Assert.Equal(RateLimitReasons.StoreUnavailable, verdict.Reason);
        Assert.Equal("redis", verdict.Detail);
        Assert.Equal(1 + modelCalls, model.Calls);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"took {watch.Elapsed}");
    }

    [Fact]
    public async Task UnreachableRedis_FromTheStart_NeverHangs()
    {
        await using var store = new RedisRateLimitStore(new RedisRateLimitStoreOptions { Configuration = $"127.0.0.1:{RedisServer.FreePort()}", ConnectTimeout = TimeSpan.FromSeconds(5) });
        using var app = new CountingClient().AsBuilder().UseSafeAI(safe => safe.AddRateLimiting(o =>
        {
            o.Store = store;
            o.StoreTimeout = TimeSpan.FromMilliseconds(200);
        })).Build();

        var watch = Stopwatch.StartNew();
        for (var i = 0; i < 3; i++)
        {
            var response = await app.GetResponseAsync("hi", new ChatOptions().WithUser("u"), Ct);
            Assert.Equal(RateLimitReasons.StoreUnavailable, response.GetSafeAIResult()!.DecisiveVerdict!.Value.Reason);
        }

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"took {watch.Elapsed}");
    }

    [Fact]
    public async Task UseRedisRateLimitStore_DependencyInjection_BindsConfigurationAndShares()
    {
        var server = fixture.Require();
        var prefix = "t:" + Guid.NewGuid().ToString("N");
        ServiceProvider App(CountingClient model)
        {
            var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["SafeAI:RateLimiting:PermitLimit"] = "3",

                // Not the default 250 ms: a cold connect on a loaded CI machine can take longer, and the abandoned acquire's
                // script still runs once connected, taking a permit that no call used.
                ["SafeAI:RateLimiting:StoreTimeout"] = "00:00:10",
                ["SafeAI:RateLimiting:Redis:Configuration"] = server.Configuration,
                ["SafeAI:RateLimiting:Redis:KeyPrefix"] = prefix,
            }).Build();
            var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration);
            services.AddSafeAI(safe => safe.AddRateLimiting().UseRedisRateLimitStore());
            services.AddChatClient(model).UseSafeAI();
            return services.BuildServiceProvider();
        }

        var modelA = new CountingClient();
        var modelB = new CountingClient();
        await using var a = App(modelA);
        await using var b = App(modelB);
        for (var i = 0; i < 5; i++)
        {
            await a.GetRequiredService<IChatClient>().GetResponseAsync("hi", new ChatOptions().WithUser("u"), Ct);
            await b.GetRequiredService<IChatClient>().GetResponseAsync("hi", new ChatOptions().WithUser("u"), Ct);
        }

        Assert.Equal(3, modelA.Calls + modelB.Calls);
    }

    [Fact]
    public async Task TokenBucket_RefillsByRedisClock()
    {
        await using var store = NewStore("t:" + Guid.NewGuid().ToString("N"));
        using var app = Instance(store, o =>
        {
            o.Algorithm = RateLimitAlgorithm.TokenBucket;
            o.PermitLimit = 2;
            o.TokensPerPeriod = 1;

            // Long enough that no token comes back between the calls that expect none (the third, and the last) on a
            // loaded CI machine: 400 ms was two or three slow round trips.
            o.ReplenishmentPeriod = TimeSpan.FromSeconds(2);
        });
        var user = new ChatOptions().WithUser("u");

        await app.GetResponseAsync("hi", user, Ct);
        await app.GetResponseAsync("hi", user, Ct);
        var limited = (await app.GetResponseAsync("hi", user, Ct)).GetSafeAIResult()!.DecisiveVerdict!.Value;
        Assert.Equal(GuardAction.Limit, limited.Action);
        Assert.InRange(limited.RetryAfter!.Value, TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(2));

        await Task.Delay(limited.RetryAfter.Value + TimeSpan.FromMilliseconds(50), Ct);
        Assert.Equal(GuardAction.Allow, (await app.GetResponseAsync("hi", user, Ct)).GetSafeAIResult()!.Outcome);
        Assert.Equal(GuardAction.Limit, (await app.GetResponseAsync("hi", user, Ct)).GetSafeAIResult()!.Outcome);
    }

    [Fact]
    public async Task SlidingWindow_OldRequestsLeaveTheWindow()
    {
        await using var store = NewStore("t:" + Guid.NewGuid().ToString("N"));
        using var app = Instance(store, o =>
        {
            o.Algorithm = RateLimitAlgorithm.SlidingWindow;
            o.PermitLimit = 2;

            // Segments follow the Redis clock: the first call leaves the window two to three segments later, and the third
            // call must come before that, which 200 ms segments did not leave room for on a loaded CI machine.
            o.Window = TimeSpan.FromSeconds(3);
            o.SegmentsPerWindow = 3;
        });
        var user = new ChatOptions().WithUser("u");

        await app.GetResponseAsync("hi", user, Ct);
        await app.GetResponseAsync("hi", user, Ct);
        var limited = (await app.GetResponseAsync("hi", user, Ct)).GetSafeAIResult()!.DecisiveVerdict!.Value;
        Assert.Equal(RateLimitReasons.User, limited.Reason);
        Assert.InRange(limited.RetryAfter!.Value, TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(3));

        await Task.Delay(limited.RetryAfter.Value + TimeSpan.FromMilliseconds(50), Ct);
        Assert.Equal(GuardAction.Allow, (await app.GetResponseAsync("hi", user, Ct)).GetSafeAIResult()!.Outcome);
    }

    [Fact]
    public async Task SlowRedis_BoundedWaitThenPolicy()
    {
        var server = fixture.Require();
        await using var store = NewStore("t:" + Guid.NewGuid().ToString("N"));
        await WarmUpAsync(store);

        using var app = new CountingClient().AsBuilder().UseSafeAI(safe => safe.AddRateLimiting(o =>
        {
            o.Store = store;
            o.StoreTimeout = TimeSpan.FromMilliseconds(200);
        })).Build();
        var user = new ChatOptions().WithUser("u");
        Assert.Equal(GuardAction.Allow, (await app.GetResponseAsync("hi", user, Ct)).GetSafeAIResult()!.Outcome);

        // Redis stops answering for 1.5 s. (The admin connection is closed only after the pause: closing it waits too.)
        await using var admin = await ConnectionMultiplexer.ConnectAsync(server.Configuration + ",allowAdmin=true");
        _ = await admin.GetDatabase().ExecuteAsync("CLIENT", "PAUSE", "1500", "ALL");

        var watch = Stopwatch.StartNew();
        var response = await app.GetResponseAsync("hi", user, Ct);
        watch.Stop();

        Assert.Equal(RateLimitReasons.StoreUnavailable, response.GetSafeAIResult()!.DecisiveVerdict!.Value.Reason);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"took {watch.Elapsed}");
        await Task.Delay(1_600, Ct); // let the pause end before other tests use the server
    }

    [Fact]
    public async Task Concurrency_AcquireGaveUpWhileRedisPaused_PermitsReturnedWithinASecond()
    {
        var server = fixture.Require();
        var prefix = "t:" + Guid.NewGuid().ToString("N");
        await using var store = NewStore(prefix);
        await WarmUpAsync(store, RateLimitAlgorithm.Concurrency);
        var gate = new TaskCompletionSource<ChatResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        var holding = false;
        var model = new CountingClient { Respond = () => Volatile.Read(ref holding) ? gate.Task : Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok"))) };
        void Limits(RateLimitingOptions o)
        {
            o.Algorithm = RateLimitAlgorithm.Concurrency;
            o.PermitLimit = 10;
        }

        using var app = Instance(store, o => { Limits(o); o.StoreTimeout = TimeSpan.FromMilliseconds(200); }, model);
        var user = new ChatOptions().WithUser("u");
        Assert.Equal(GuardAction.Allow, (await app.GetResponseAsync("hi", user, Ct)).GetSafeAIResult()!.Outcome);

        // Redis stalls: every acquire gives up after 200 ms, but its script runs once the pause ends.
        await using var admin = await ConnectionMultiplexer.ConnectAsync(server.Configuration + ",allowAdmin=true");
        _ = await admin.GetDatabase().ExecuteAsync("CLIENT", "PAUSE", "800", "ALL");
        var burst = await Task.WhenAll(Enumerable.Range(0, 30).Select(_ => app.GetResponseAsync("hi", user, Ct)));
        Assert.All(burst, r => Assert.Equal(RateLimitReasons.StoreUnavailable, r.GetSafeAIResult()!.DecisiveVerdict!.Value.Reason));

        // One second after the pause ended, no permit is held.
        await Task.Delay(1_800, Ct);
        long held = 0;
        foreach (var key in (RedisResult[])(await admin.GetDatabase().ExecuteAsync("KEYS", prefix + "*"))!)
        {
            held += await admin.GetDatabase().SortedSetLengthAsync((string)key!);
        }

        Assert.Equal(0, held);

        // All ten slots are free again: ten calls held in flight are admitted, the eleventh is limited. They go through a
        // second instance of the same stage over the same store (the same Redis key) with time to spare: ten concurrent
        // acquires within 200 ms each is a bet on the CI machine's load, and what is checked here is Redis's state.
        using var patient = Instance(store, Limits, model);
        Volatile.Write(ref holding, true);
        var before = model.Calls;
        var inFlight = Enumerable.Range(0, 10).Select(_ => patient.GetResponseAsync("hi", user, Ct)).ToArray();
        await WaitUntilAsync(() => model.Calls == before + 10);
        var eleventh = (await patient.GetResponseAsync("hi", user, Ct)).GetSafeAIResult()!.DecisiveVerdict!.Value;
        Assert.Equal((GuardAction.Limit, RateLimitReasons.User), (eleventh.Action, eleventh.Reason));
        gate.SetResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "done")));
        Assert.All(await Task.WhenAll(inFlight), r => Assert.Equal(GuardAction.Allow, r.GetSafeAIResult()!.Outcome));
    }

    /// <summary>
    /// Connects the store and loads its scripts with time to spare, through a pipeline of its own (another user). Tests
    /// of a short <see cref="RateLimitingOptions.StoreTimeout"/> call this first: on a loaded CI machine the first call's
    /// connect alone can take longer than 200 ms, and that call would then (correctly) be limited as StoreUnavailable.
    /// </summary>
    private static async Task WarmUpAsync(RedisRateLimitStore store, RateLimitAlgorithm algorithm = RateLimitAlgorithm.FixedWindow)
    {
        using var warm = Instance(store, o => o.Algorithm = algorithm);
        var response = await warm.GetResponseAsync("hi", new ChatOptions().WithUser("warm-up"), Ct);
        Assert.Equal(GuardAction.Allow, response.GetSafeAIResult()!.Outcome);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var watch = Stopwatch.StartNew();
        while (!condition() && watch.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(10, Ct);
        }

        Assert.True(condition());
    }

    private sealed class CountingClient : IChatClient
    {
        private int _calls;

        public Func<Task<ChatResponse>> Respond { get; set; } = static () => Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok")));

        public int Calls => Volatile.Read(ref _calls);

        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _calls);
            return Respond();
        }

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }
}

using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using SafeAI.Monitoring;
using SafeAI.Monitoring.Tests;
using StackExchange.Redis;

namespace SafeAI.Redis.Tests;

/// <summary>The store contract (<see cref="MetricsStoreContract"/>) and what is Redis's own: expiry, a server that goes away and comes back, registration, a shared connection.</summary>
public sealed class RedisMetricsStoreTests(RedisFixture fixture) : MetricsStoreContract, IClassFixture<RedisFixture>, IAsyncDisposable
{
    private readonly string _prefix = "m" + Guid.NewGuid().ToString("N")[..12];
    private readonly List<IAsyncDisposable> _disposables = [];
    private readonly FakeTimeProvider _clock = new(Start.AddMinutes(5));

    public async ValueTask DisposeAsync()
    {
        foreach (var d in _disposables)
        {
            await d.DisposeAsync();
        }
    }

    protected override IMetricsStore NewStore() => NewRedisStore();

    protected override SafeAIPipelineBuilder UseStore(SafeAIPipelineBuilder safe) => safe.UseRedisMetricsStore(o =>
    {
        o.Configuration = fixture.Require().Configuration;
        o.KeyPrefix = _prefix;
    });

    private RedisMetricsStore NewRedisStore(string? configuration = null, TimeSpan? retention = null, string? prefix = null)
    {
        var store = new RedisMetricsStore(
            new RedisMetricsStoreOptions
            {
                Configuration = configuration ?? fixture.Require().Configuration,
                KeyPrefix = prefix ?? _prefix,
                Retention = retention ?? TimeSpan.FromDays(8),
                CommandTimeout = TimeSpan.FromSeconds(2),
                ConnectTimeout = TimeSpan.FromSeconds(2),
            },
            _clock);
        _disposables.Add(store);
        return store;
    }

    [Fact]
    public async Task Write_NamesWithTheFieldSeparatorOrNull_ClearErrorsAndNothingWritten()
    {
        var store = NewRedisStore();

        var nul = await Assert.ThrowsAsync<ArgumentException>(async () => await store.WriteAsync("web-1", [new MetricPoint(Start, "ai", "calls", 1), new MetricPoint(Start, "a\0i", "calls", 1)], Ct));
        Assert.Contains("U+0000", nul.Message, StringComparison.Ordinal);
        var missing = await Assert.ThrowsAsync<ArgumentException>(async () => await store.WriteAsync("web-1", [new MetricPoint(Start, "ai", "calls", 1), default], Ct));
        Assert.Contains("cannot be null", missing.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentException>(async () => await store.ReadAsync(Start, Start.AddMinutes(1), "we\0b", Ct));

        Assert.Empty(await store.ReadAsync(Start, Start.AddMinutes(1), cancellationToken: Ct));
    }

    [Fact]
    public async Task Retention_BucketsExpireAfterTheirStart_AndTheIndexForgetsThem()
    {
        var server = fixture.Require();
        var store = NewRedisStore(retention: TimeSpan.FromHours(1)); // the clock stands at Start + 5 min
        await store.WriteAsync("web-1", [new MetricPoint(Start, "ai", "calls", 3), new MetricPoint(Start.AddHours(-2), "ai", "calls", 7)], Ct);
        await using var connection = await ConnectionMultiplexer.ConnectAsync(server.Configuration);
        var db = connection.GetDatabase();

        var ttl = await db.KeyTimeToLiveAsync(store.BucketKey(Start.UtcTicks));
        Assert.NotNull(ttl);
        Assert.InRange(ttl.Value, TimeSpan.FromMinutes(54), TimeSpan.FromMinutes(55)); // an hour after the bucket's start
        Assert.False(await db.KeyExistsAsync(store.BucketKey(Start.AddHours(-2).UtcTicks))); // already past its retention: not written
        Assert.Equal([new MetricPoint(Start, "ai", "calls", 3)], await store.ReadAsync(Start.AddHours(-3), Start.AddHours(1), cancellationToken: Ct));

        _clock.Advance(TimeSpan.FromHours(2));
        await store.WriteAsync("web-1", [new MetricPoint(_clock.GetUtcNow(), "ai", "calls", 1)], Ct);

        Assert.Null(await db.SortedSetScoreAsync(store.IndexKey, Start.UtcTicks.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Equal(1, await db.SortedSetLengthAsync(store.IndexKey));
        Assert.NotNull(await db.KeyTimeToLiveAsync(store.IndexKey));
    }

    [Fact]
    public async Task ServerGoesAway_FailsWithClearErrorWithoutHanging_AndWhenItComesBackTheNextFlushCatchesUp()
    {
        var executable = RedisServer.FindExecutable();
        if (executable is null)
        {
            Assert.Skip(RedisServer.InstallHint);
        }

        var server = await RedisServer.StartAsync(executable);
        var port = server.Port;
        var store = NewRedisStore(server.Configuration);
        await store.WriteAsync("web-1", [new MetricPoint(Start, "ai", "calls", 1)], Ct);
        await server.DisposeAsync(); // Redis goes away
        var recorder = new MetricsRecorder(null, new FakeTimeProvider(Start));
        for (var i = 0; i < 3; i++)
        {
            recorder.RecordCall(new CallObservation { Outcome = GuardAction.Allow, Arm = "ai" });
        }

        var persistence = new MetricsPersistence(recorder, store, "web-1");

        var sw = Stopwatch.StartNew();
        var write = await Assert.ThrowsAsync<MetricsStoreException>(async () => await store.WriteAsync("web-1", [new MetricPoint(Start, "ai", "calls", 2)], Ct));
        var read = await Assert.ThrowsAsync<MetricsStoreException>(async () => await store.ReadAsync(Start, Start.AddMinutes(1), cancellationToken: Ct));
        var ping = await Assert.ThrowsAsync<MetricsStoreException>(async () => await store.PingAsync(Ct));
        var flush = await Assert.ThrowsAsync<MetricsStoreException>(() => persistence.FlushAsync(Ct));
        var elapsed = sw.Elapsed;

        Assert.Contains($"The Redis metrics store 127.0.0.1:{port} (keys {{{_prefix}}}:*) could not write metrics", write.Message, StringComparison.Ordinal);
        Assert.Contains("could not read metrics", read.Message, StringComparison.Ordinal);
        Assert.Contains("could not reach its metrics", ping.Message, StringComparison.Ordinal);
        Assert.Same(flush, persistence.LastFailure);
        Assert.True(elapsed < TimeSpan.FromSeconds(20), $"took {elapsed}");

        // Redis comes back on its port (empty: it kept nothing on disk). The store reconnects, and the persistence
        // sends the buckets it could not write.
        await using var back = await RedisServer.StartAsync(executable, port);
        for (var wait = Stopwatch.StartNew(); ; await Task.Delay(250, Ct))
        {
            try
            {
                await persistence.FlushAsync(Ct);
                break;
            }
            catch (MetricsStoreException) when (wait.Elapsed < TimeSpan.FromSeconds(20))
            {
            }
        }

        var points = await store.ReadAsync(Start, Start.AddMinutes(1), "web-1", Ct);
        Assert.Equal(3, points.Single(static p => p.Metric == "calls").Value);
    }

    [Fact]
    public async Task UseRedisMetricsStore_ReplacesTheRegisteredStore_BindsConfiguration_AndInvalidOptionsFailOnResolve()
    {
        var server = fixture.Require();
        var services = new ServiceCollection();
        services.AddSingleton<Microsoft.Extensions.Configuration.IConfiguration>(new Microsoft.Extensions.Configuration.ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["SafeAI:Monitoring:Redis:Configuration"] = server.Configuration, ["SafeAI:Monitoring:Redis:Retention"] = "2.00:00:00" })
            .Build());
        services.AddSafeAIMonitoringSqlite(Path.Combine(Path.GetTempPath(), $"safeai-unused-{Guid.NewGuid():N}.db"));
        services.AddSafeAI(safe => safe
            .AddMonitoring()
            .UseRedisMetricsStore(o => o.KeyPrefix = _prefix));
        await using var sp = services.BuildServiceProvider();

        var store = Assert.IsType<RedisMetricsStore>(sp.GetRequiredService<IMetricsStore>());

        Assert.Equal(TimeSpan.FromDays(2), store.Retention);
        await store.PingAsync(Ct);

        var bad = new ServiceCollection();
        bad.AddSafeAI(safe => safe.UseRedisMetricsStore(o => o.KeyPrefix = "app:{metrics}"));
        await using var badProvider = bad.BuildServiceProvider();
        var ex = Assert.Throws<OptionsValidationException>(() => badProvider.GetRequiredService<IMetricsStore>());
        Assert.Contains("SafeAI:Monitoring:Redis:KeyPrefix", ex.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => new SafeAIPipelineBuilder().UseRedisMetricsStore());
    }

    [Fact]
    public async Task ASharedConnection_IsUsedAndNotClosedByTheStore_AndAnotherPrefixIsAnotherStore()
    {
        var server = fixture.Require();
        await using var connection = await ConnectionMultiplexer.ConnectAsync(server.Configuration);
        await using (var store = new RedisMetricsStore(connection, _prefix, TimeSpan.FromDays(1), _clock))
        {
            await store.WriteAsync("web-1", [new MetricPoint(Start, "ai", "calls", 2)], Ct);
            Assert.Equal(2, (await store.ReadAsync(Start, Start.AddMinutes(1), "web-1", Ct)).Single().Value);
            await using var other = new RedisMetricsStore(connection, _prefix + "-other", TimeSpan.FromDays(1), _clock);
            Assert.Empty(await other.ReadAsync(Start, Start.AddMinutes(1), cancellationToken: Ct)); // another prefix, another store
        }

        Assert.True(connection.IsConnected);
        Assert.Throws<ArgumentNullException>(() => new RedisMetricsStore((IConnectionMultiplexer)null!));
        Assert.Throws<ArgumentException>(() => new RedisMetricsStore(connection, "a{b}"));
    }

    [Theory]
    [InlineData("Configuration", "", "SafeAI:Monitoring:Redis:Configuration is required")]
    [InlineData("Configuration", "localhost:6379,nonsense=1", "SafeAI:Monitoring:Redis:Configuration is not a valid")]
    [InlineData("KeyPrefix", " ", "SafeAI:Monitoring:Redis:KeyPrefix must be non-empty")]
    [InlineData("KeyPrefix", "a}", "without braces")]
    [InlineData("Retention", "00:30:00", "SafeAI:Monitoring:Redis:Retention must be between")]
    [InlineData("Retention", "401.00:00:00", "SafeAI:Monitoring:Redis:Retention must be between")]
    [InlineData("ConnectTimeout", "00:00:00", "SafeAI:Monitoring:Redis:ConnectTimeout must be above zero")]
    [InlineData("CommandTimeout", "00:10:00", "SafeAI:Monitoring:Redis:CommandTimeout must be above zero")]
    public void Options_Invalid_ErrorNamesSetting(string setting, string value, string expected)
    {
        var options = new RedisMetricsStoreOptions();
        switch (setting)
        {
            case "Configuration": options.Configuration = value; break;
            case "KeyPrefix": options.KeyPrefix = value; break;
            case "Retention": options.Retention = TimeSpan.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "ConnectTimeout": options.ConnectTimeout = TimeSpan.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            default: options.CommandTimeout = TimeSpan.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
        }

        var ex = Assert.Throws<ArgumentException>(() => new RedisMetricsStore(options));

        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentNullException>(() => new RedisMetricsStore((RedisMetricsStoreOptions)null!));
    }
}

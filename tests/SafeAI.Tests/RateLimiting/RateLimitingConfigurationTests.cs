using System.Threading.RateLimiting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using static SafeAI.Tests.RateLimiting.RateLimitingTestHelpers;

namespace SafeAI.Tests.RateLimiting;

public class RateLimitingConfigurationTests
{
    private static (ServiceProvider Services, IConfigurationRoot Configuration) CreateServices(Dictionary<string, string?> settings, Action<IServiceCollection>? more = null)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddSingleton<TimeProvider>(new FakeTimeProvider());
        services.AddSafeAI(safe => safe.Configure(o => o.RecordAllowVerdicts = true).AddRateLimiting(o => o.PermitLimit = 100));
        services.AddChatClient(TestChatClient.Answering("ok")).UseSafeAI();
        more?.Invoke(services);
        return (services.BuildServiceProvider(), configuration);
    }

    [Fact]
    public async Task AddRateLimiting_BoundFromConfiguration_ConfigurationOverridesCodeDefaults()
    {
        var (services, _) = CreateServices(new() { ["SafeAI:RateLimiting:PermitLimit"] = "1", ["SafeAI:RateLimiting:PartitionBy"] = "Tenant" });
        using var _ = services;
        var client = services.GetRequiredService<IChatClient>();

        await client.GetResponseAsync("hi", new ChatOptions().WithTenant("t"), Ct);
        var limited = await client.GetResponseAsync("hi", new ChatOptions().WithTenant("t"), Ct);

        Assert.Equal(RateLimitReasons.Tenant, limited.RateVerdict().Reason);
    }

    [Fact]
    public async Task AddRateLimiting_ConfigurationReloaded_NewLimitsApply()
    {
        var (services, configuration) = CreateServices(new() { ["SafeAI:RateLimiting:PermitLimit"] = "1" });
        using var _ = services;
        var client = services.GetRequiredService<IChatClient>();
        await client.AskAsync("u");
        Assert.Equal(GuardAction.Limit, (await client.AskAsync("u")).RateVerdict().Action);

        configuration["SafeAI:RateLimiting:PermitLimit"] = "3";
        configuration.Reload();

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(GuardAction.Allow, (await client.AskAsync("u")).RateVerdict().Action);
        }

        Assert.Equal(GuardAction.Limit, (await client.AskAsync("u")).RateVerdict().Action);
    }

    [Fact]
    public async Task AddRateLimiting_InvalidReload_KeepsPreviousLimits()
    {
        var (services, configuration) = CreateServices(new() { ["SafeAI:RateLimiting:PermitLimit"] = "1" });
        using var _ = services;
        var client = services.GetRequiredService<IChatClient>();
        await client.AskAsync("u");

        configuration["SafeAI:RateLimiting:PermitLimit"] = "0";
        configuration.Reload();

        Assert.Equal(GuardAction.Limit, (await client.AskAsync("u")).RateVerdict().Action);
    }

    [Fact]
    public void AddRateLimiting_InvalidConfigurationAtStart_ValidationNamesSetting()
    {
        var (services, _) = CreateServices(new() { ["SafeAI:RateLimiting:Window"] = "00:00:00" });
        using var _ = services;

        var ex = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptionsMonitor<RateLimitingOptions>>().CurrentValue);
        Assert.Contains("SafeAI:RateLimiting:Window must be between 1 ms and 366 days.", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RegisteredStore_IsUsedUnderDependencyInjection()
    {
        var store = new FailingStore();
        var (services, _) = CreateServices(new() { ["SafeAI:RateLimiting:FailureMode"] = "FailClosed" }, s => s.AddSingleton<RateLimitStore>(store));
        using var _ = services;

        var response = await services.GetRequiredService<IChatClient>().AskAsync("u");

        Assert.Equal(RateLimitReasons.StoreUnavailable, response.RateVerdict().Reason);
        Assert.Equal(GuardAction.Limit, response.RateVerdict().Action);
        Assert.Equal(1, store.Attempts);
    }

    [Theory]
    [InlineData(GuardFailureMode.FailClosed, GuardAction.Limit, 0)]
    [InlineData(GuardFailureMode.FailOpen, GuardAction.Allow, 1)]
    public async Task GetResponseAsync_StoreUnavailable_AppliesDeclaredPolicy(GuardFailureMode mode, GuardAction expected, int modelCalls)
    {
        var inner = TestChatClient.Answering("ok");
        using var client = Build(inner, new FakeTimeProvider(), o => { o.Store = new FailingStore(); o.FailureMode = mode; });

        var response = await client.AskAsync("u");

        Assert.Equal(expected, response.RateVerdict().Action);
        Assert.Equal(RateLimitReasons.StoreUnavailable, response.RateVerdict().Reason);
        Assert.Equal(modelCalls, inner.Calls);
    }

    private sealed class FailingStore : RateLimitStore
    {
        public int Attempts;

        public override string Name => "failing";

        public override PartitionedRateLimiter<string> CreateLimiter(string stageName, RateLimitingOptions options, TimeProvider timeProvider) => new Limiter(this);

        public override TokenBudget CreateTokenBudget(string stageName, RateLimitingOptions options, TimeProvider timeProvider) => throw new NotSupportedException();

        private sealed class Limiter(FailingStore store) : PartitionedRateLimiter<string>
        {
            public override RateLimiterStatistics? GetStatistics(string resource) => null;

            protected override RateLimitLease AttemptAcquireCore(string resource, int permitCount) => throw new NotSupportedException();

            protected override async ValueTask<RateLimitLease> AcquireAsyncCore(string resource, int permitCount, CancellationToken cancellationToken)
            {
                Interlocked.Increment(ref store.Attempts);
                await Task.Yield();
                throw new RateLimitStoreUnavailableException("store down");
            }
        }
    }
}

public class RateLimitingMalformedConfigurationTests
{
    [Fact]
    public async Task AddRateLimiting_MalformedValueReloaded_KeepsPreviousLimits()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["SafeAI:RateLimiting:PermitLimit"] = "1" }).Build();
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration);
        services.AddSafeAI(safe => safe.AddRateLimiting());
        services.AddChatClient(TestChatClient.Answering("ok")).UseSafeAI();
        await using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<IChatClient>();
        await client.AskAsync("u");

        configuration["SafeAI:RateLimiting:Window"] = "not a time span";
        configuration.Reload();

        Assert.Equal(GuardAction.Limit, (await client.AskAsync("u")).RateVerdict().Action);
    }
}

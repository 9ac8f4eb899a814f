using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace SafeAI.Tests;

public class DependencyInjectionTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static IConfiguration Config(params (string Key, string? Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => KeyValuePair.Create(v.Key, v.Value))).Build();

    [Fact]
    public async Task AddSafeAI_WithAddChatClientUseSafeAI_WrapsClientWithRegisteredPipeline()
    {
        var services = new ServiceCollection();
        services.AddSafeAI(safe => safe.AddInputCheck("kw", (ctx, _) =>
            ValueTask.FromResult(ctx.GetInputText().Contains("forbidden", StringComparison.Ordinal) ? GuardVerdict.Block("kw", "kw.hit") : GuardVerdict.Allow("kw"))));
        services.AddChatClient(TestChatClient.Answering("fine")).UseSafeAI();
        await using var provider = services.BuildServiceProvider();

        var client = provider.GetRequiredService<IChatClient>();
        var ok = await client.GetResponseAsync("hello", cancellationToken: Ct);
        var blocked = await client.GetResponseAsync("forbidden words", cancellationToken: Ct);

        Assert.Equal("fine", ok.Text);
        Assert.Equal(GuardAction.Block, blocked.GetSafeAIResult()!.Outcome);
        Assert.Same(provider.GetRequiredService<SafeAIPipeline>(), client.GetService<SafeAIPipeline>());
    }

    [Fact]
    public async Task AddSafeAI_CalledTwice_AddsToTheSamePipeline()
    {
        var services = new ServiceCollection();
        services.AddSafeAI(safe => safe.AddInputLengthLimit(100));
        services.AddSafeAI().Add(new PassThroughGuard("second"));
        await using var provider = services.BuildServiceProvider();

        var stages = provider.GetRequiredService<SafeAIPipeline>().Stages.Select(s => s.Name);

        Assert.Equal([InputLengthGuard.DefaultName, "second"], stages);
    }

    [Fact]
    public async Task AddSafeAI_GuardTypeFromServices_CreatedWithDependencies()
    {
        var services = new ServiceCollection();
        services.AddSingleton(new List<string>());
        services.AddSafeAI(safe => safe.Add<ServiceBackedGuard>());
        services.AddChatClient(TestChatClient.Answering("x")).UseSafeAI();
        await using var provider = services.BuildServiceProvider();

        await provider.GetRequiredService<IChatClient>().GetResponseAsync("hi", cancellationToken: Ct);

        Assert.Equal(["called"], provider.GetRequiredService<List<string>>());
    }

    [Fact]
    public async Task AddSafeAI_ConfigurationSection_BindsOptions()
    {
        var services = new ServiceCollection();
        services.AddSingleton(Config(
            ("SafeAI:OnRejected", "ThrowException"),
            ("SafeAI:BlockedMessage", "No."),
            ("SafeAI:DefaultCheckTimeout", "00:00:00.250"),
            ("SafeAI:RejectionMessages:content.hate", "Not like that.")));
        services.AddSafeAI();
        await using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<SafeAIPipeline>().Options;

        Assert.Equal(RejectionBehavior.ThrowException, options.OnRejected);
        Assert.Equal("No.", options.BlockedMessage);
        Assert.Equal(TimeSpan.FromMilliseconds(250), options.DefaultCheckTimeout);
        Assert.Equal("Not like that.", options.RejectionMessages["content.hate"]);
        Assert.True(options.RejectionMessages.ContainsKey(GuardReasons.InputTooLong));
    }

    [Theory]
    [InlineData("SafeAI:BlockedMessage", "", "SafeAI:BlockedMessage must not be empty.")]
    [InlineData("SafeAI:DefaultCheckTimeout", "00:00:00", "SafeAI:DefaultCheckTimeout must be between 1 ms and 1 day")]
    [InlineData("SafeAI:RateLimitedMessage", "wait {1} s", "SafeAI:RateLimitedMessage is not a valid format string")]
    public async Task AddSafeAI_InvalidSetting_HostStartFailsNamingTheSetting(string key, string value, string expected)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection([KeyValuePair.Create(key, (string?)value)]);
        builder.Services.AddSingleton<IConfiguration>(builder.Configuration);
        builder.Services.AddSafeAI();
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(Ct));

        Assert.True(ex.Message.Contains(expected, StringComparison.Ordinal), ex.Message);
    }

    [Theory]
    [InlineData("SafeAI:BlockedMessage", "", "SafeAI:BlockedMessage must not be empty.")]
    [InlineData("SafeAI:DefaultCheckTimeout", "00:00:00", "SafeAI:DefaultCheckTimeout must be between 1 ms and 1 day (it is 00:00:00).")]
    [InlineData("SafeAI:RateLimitedMessage", "wait {1} s", "SafeAI:RateLimitedMessage is not a valid format string")]
    [InlineData("SafeAI:Disclosure:NoticeText", "", "SafeAI:Disclosure:NoticeText must not be empty.")]
    [InlineData("SafeAI:RateLimiting:PermitLimit", "0", "SafeAI:RateLimiting:PermitLimit must be at least 1.")]
    public async Task AddSafeAI_InvalidSetting_MessageNamesTheSettingOnce(string key, string value, string expected)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection([KeyValuePair.Create(key, (string?)value)]);
        builder.Services.AddSingleton<IConfiguration>(builder.Configuration);
        builder.Services.AddSafeAI(safe => safe.AddAIDisclosure().AddRateLimiting());
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(Ct));

        var failure = Assert.Single(ex.Failures);
        Assert.StartsWith(expected, failure, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_InCodeInvalidTimeout_MessageNamesTheSettingOnce()
    {
        var builder = new SafeAIPipelineBuilder().Configure(o => o.DefaultCheckTimeout = TimeSpan.Zero);

        var ex = Assert.Throws<OptionsValidationException>(() => builder.Build());

        Assert.Equal("SafeAI:DefaultCheckTimeout must be between 1 ms and 1 day (it is 00:00:00).", Assert.Single(ex.Failures));
    }

    [Fact]
    public void Build_InCodeInvalidSetting_ThrowsNamingTheSetting()
    {
        var builder = new SafeAIPipelineBuilder().Configure(o => o.BlockedMessage = " ");

        var ex = Assert.Throws<OptionsValidationException>(() => builder.Build());

        Assert.Contains("SafeAI:BlockedMessage", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddSafeAI_ConfigurationReload_PipelineSeesNewSettingsAndKeepsOldOnInvalid()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection([KeyValuePair.Create("SafeAI:BlockedMessage", (string?)"first")]).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(config);
        services.AddSafeAI();
        await using var provider = services.BuildServiceProvider();
        var pipeline = provider.GetRequiredService<SafeAIPipeline>();
        Assert.Equal("first", pipeline.Options.BlockedMessage);

        config["SafeAI:BlockedMessage"] = "second";
        config.Reload();
        Assert.Equal("second", pipeline.Options.BlockedMessage);

        // An invalid reload is rejected (the options monitor itself reports the validation failure): the pipeline keeps the last valid settings.
        config["SafeAI:BlockedMessage"] = "";
        var reload = Record.Exception(config.Reload);
        Assert.Contains("SafeAI:BlockedMessage", reload?.ToString() ?? string.Empty, StringComparison.Ordinal);
        Assert.Equal("second", pipeline.Options.BlockedMessage);
    }

    [Fact]
    public async Task UseSafeAI_NothingRegisteredAndNoConfigure_ThrowsClearError()
    {
        var services = new ServiceCollection();
        services.AddChatClient(TestChatClient.Answering("x")).UseSafeAI();
        await using var provider = services.BuildServiceProvider();

        var ex = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<IChatClient>());

        Assert.Contains("AddSafeAI", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UseSafeAI_InCodeUnderDI_UsesRegisteredOptions()
    {
        var services = new ServiceCollection();
        services.AddSafeAI(safe => safe.Configure(o => o.BlockedMessage = "from DI"));
        services.AddChatClient(TestChatClient.Answering("x")).UseSafeAI(safe => safe.AddInputCheck("b", (_, _) => ValueTask.FromResult(GuardVerdict.Block("b", "x.y"))));
        await using var provider = services.BuildServiceProvider();

        var response = await provider.GetRequiredService<IChatClient>().GetResponseAsync("hi", cancellationToken: Ct);

        Assert.Equal("from DI", response.Text);
    }

    [Fact]
    public async Task AddSafeAIOptions_StageOptions_BoundFromSubsection()
    {
        var services = new ServiceCollection();
        services.AddSingleton(Config(("SafeAI:MyStage:FailureMode", "FailOpen"), ("SafeAI:MyStage:Timeout", "00:00:02")));
        services.AddSafeAIOptions<AIGuardOptions>("SafeAI:MyStage");
        await using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<AIGuardOptions>>().Value;

        Assert.Equal(GuardFailureMode.FailOpen, options.FailureMode);
        Assert.Equal(TimeSpan.FromSeconds(2), options.Timeout);
    }

    private sealed class ServiceBackedGuard(List<string> log) : InputGuard("service-backed")
    {
        protected override ValueTask<GuardVerdict> CheckAsync(SafeAIContext context, CancellationToken cancellationToken)
        {
            log.Add("called");
            return ValueTask.FromResult(Allow());
        }
    }
}

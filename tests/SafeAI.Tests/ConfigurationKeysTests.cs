using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;

namespace SafeAI.Tests;

/// <summary>Typos and wrong shapes under the <c>SafeAI</c> configuration section fail at start-up; code/configuration disagreements are logged.</summary>
public class ConfigurationKeysTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("SafeAI:RateLimting:PermitLimit", "5", "SafeAI:RateLimting is not a setting SafeAI knows. Did you mean RateLimiting?")]
    [InlineData("SafeAI:RateLimiting:PermitLmit", "5", "SafeAI:RateLimiting:PermitLmit is not a setting SafeAI knows. Did you mean PermitLimit?")]
    [InlineData("SafeAI:BlockedMesage", "No.", "SafeAI:BlockedMesage is not a setting SafeAI knows. Did you mean BlockedMessage?")]
    [InlineData("SafeAI:Disclosure:Notise", "EveryAnswer", "SafeAI:Disclosure:Notise is not a setting SafeAI knows. Did you mean Notice?")]
    [InlineData("SafeAI:Fallback:MaxAttempts", "2", "SafeAI:Fallback is not a setting SafeAI knows.")]
    [InlineData("SafeAI:Frobnicate", "1", "SafeAI:Frobnicate is not a setting SafeAI knows. Valid keys of SafeAI: ")]
    public async Task Start_UnknownKey_FailsNamingTheKeyAndTheClosestValidOne(string key, string value, string expected)
    {
        using var host = Build((key, value));

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(Ct));

        var failure = Assert.Single(ex.Failures);
        Assert.StartsWith(expected, failure, StringComparison.Ordinal);
        Assert.EndsWith("Set SafeAI:AllowUnknownConfigurationKeys to true to accept keys this version does not know.", failure, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("SafeAI:RateLimiting", "20", "SafeAI:RateLimiting must be a section of settings, not a single value (it is '20').")]
    [InlineData("SafeAI:RateLimiting:PermitLimit:Value", "3", "SafeAI:RateLimiting:PermitLimit must be a single value, not a section.")]
    [InlineData("SafeAI:RejectionMessages", "No.", "SafeAI:RejectionMessages must be a section of named entries, not a single value (it is 'No.').")]
    [InlineData("SafeAI:RateLimiting:PartitionKeySelector", "ctx => ctx.UserId", "SafeAI:RateLimiting:PartitionKeySelector can be set only in code, not in configuration.")]
    public async Task Start_ValueOfTheWrongShape_FailsNamingTheKey(string key, string value, string expected)
    {
        using var host = Build((key, value), ("SafeAI:AllowUnknownConfigurationKeys", "true"));

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(Ct));

        Assert.Contains(expected, ex.Failures);
    }

    [Fact]
    public async Task Start_SafeAISectionIsAValue_FailsNamingIt()
    {
        using var host = Build(("SafeAI", "yes"));

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(Ct));

        Assert.Equal("SafeAI must be a section of settings, not a single value (it is 'yes').", Assert.Single(ex.Failures));
    }

    [Fact]
    public async Task Start_EveryKeyKnown_StartsWithTheSettingsBound()
    {
        using var host = Build(
            ("SafeAI:BlockedMessage", "No."),
            ("SafeAI:rejectionmessages:content.hate", "Not like that."),
            ("SafeAI:RateLimiting:PermitLimit", "7"),
            ("SafeAI:RateLimiting:Window", "00:01:00"),
            ("SafeAI:Disclosure:LocalizedNoticeTexts:de", "Sie chatten mit einer KI."),
            ("SafeAI:Disclosure:ConversationMemoryDuration", "02:00:00"));

        await host.StartAsync(Ct);

        Assert.Equal(7, host.Services.GetRequiredService<IOptions<RateLimitingOptions>>().Value.PermitLimit);
        Assert.Equal("No.", host.Services.GetRequiredService<SafeAIPipeline>().Options.BlockedMessage);
        await host.StopAsync(Ct);
    }

    [Fact]
    public async Task Start_UnknownKeysAllowed_StartsAndLogsEachKeyAtWarning()
    {
        using var host = Build(("SafeAI:AllowUnknownConfigurationKeys", "true"), ("SafeAI:Sentiment:Threshold", "0.3"));

        await host.StartAsync(Ct);

        var warning = Assert.Single(host.Services.GetFakeLogCollector().GetSnapshot(), r => r.Level == LogLevel.Warning);
        Assert.Contains("SafeAI:Sentiment is not a setting SafeAI knows.", warning.Message, StringComparison.Ordinal);
        await host.StopAsync(Ct);
    }

    [Fact]
    public async Task Start_CodeAndConfigurationDisagree_LogsOnceAtInformationWhichSourceWon()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection([KeyValuePair.Create("SafeAI:RateLimiting:PermitLimit", (string?)"20")]).Build();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddConfiguration(config);
        builder.Services.AddSingleton<IConfiguration>(builder.Configuration);
        builder.Logging.AddFakeLogging();
        builder.Services.AddSafeAI(safe => safe.AddRateLimiting(o => (o.PermitLimit, o.PartitionBy) = (2, RateLimitPartition.Global)));
        using var host = builder.Build();

        await host.StartAsync(Ct);
        config["SafeAI:BlockedMessage"] = "changed";
        config.Reload();
        _ = host.Services.GetRequiredService<IOptionsMonitor<SafeAIOptions>>().CurrentValue;

        var record = Assert.Single(host.Services.GetFakeLogCollector().GetSnapshot(), r => r.Level == LogLevel.Information && r.Message.Contains("SafeAI setting", StringComparison.Ordinal));
        Assert.StartsWith("SafeAI setting SafeAI:RateLimiting:PermitLimit is 2 in code and 20 in configuration (", record.Message, StringComparison.Ordinal);
        Assert.EndsWith("); the effective value is 20, from configuration.", record.Message, StringComparison.Ordinal);
        Assert.Equal(20, host.Services.GetRequiredService<IOptions<RateLimitingOptions>>().Value.PermitLimit);
        await host.StopAsync(Ct);
    }

    private static IHost Build(params (string Key, string? Value)[] values)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(values.Select(v => KeyValuePair.Create(v.Key, v.Value)));
        builder.Services.AddSingleton<IConfiguration>(builder.Configuration);
        builder.Logging.AddFakeLogging();
        builder.Services.AddSafeAI(safe => safe.AddRateLimiting(o => o.PartitionBy = RateLimitPartition.Global).AddAIDisclosure());
        return builder.Build();
    }
}

using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace SafeAI.Monitoring.Tests;

/// <summary>The SafeAI health checks behind MapSafeAIHealth on a real Kestrel host on 127.0.0.1.</summary>
public sealed class HealthTests
{
    [Fact]
    public async Task MapSafeAIHealth_ReportsDegradedForKillSwitchFiringAlertAndUnreachableStore()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 1, 5, 9, 0, 0, TimeSpan.Zero));
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddSingleton<TimeProvider>(clock);
        builder.Services.AddSafeAI(safe => safe.AddMonitoring(m => m.AddRule(new AlertRuleOptions { Name = "block-high", Metric = "block.rate", Above = 0.1, MinSamples = 20 })));
        builder.Services.AddHealthChecks().AddSafeAIChecks();
        await using var app = builder.Build();
        app.MapSafeAIHealth();
        await app.StartAsync(TestContext.Current.CancellationToken);
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()) };

            var healthy = await GetAsync(http);
            Assert.Equal("Healthy", healthy.GetProperty("status").GetString());
            Assert.Equal(["safeai-kill-switch", "safeai-alerts", "safeai-metrics-store"], healthy.GetProperty("checks").EnumerateArray().Select(static c => c.GetProperty("name").GetString()));

            await app.Services.GetRequiredService<IKillSwitch>().TurnOnAsync("incident 42", TestContext.Current.CancellationToken);
            var contained = await GetAsync(http);
            Assert.Equal("Degraded", contained.GetProperty("status").GetString());
            var killSwitch = contained.GetProperty("checks")[0];
            Assert.Equal("Degraded", killSwitch.GetProperty("status").GetString());
            Assert.Equal("incident 42", killSwitch.GetProperty("data").GetProperty("reason").GetString());
            await app.Services.GetRequiredService<IKillSwitch>().TurnOffAsync("resolved", TestContext.Current.CancellationToken);

            var recorder = app.Services.GetRequiredService<MetricsRecorder>();
            for (var i = 0; i < 50; i++)
            {
                recorder.RecordCall(new CallObservation { Outcome = GuardAction.Block });
            }

            clock.Advance(TimeSpan.FromMinutes(1));
            _ = await app.Services.GetRequiredService<AlertEngine>().EvaluateAsync(TestContext.Current.CancellationToken);
            var alerting = await GetAsync(http);
            Assert.Equal("Degraded", alerting.GetProperty("status").GetString());
            var alerts = alerting.GetProperty("checks")[1];
            Assert.Equal(["block-high"], alerts.GetProperty("data").GetProperty("firing").EnumerateArray().Select(static e => e.GetString()));
            Assert.Contains("block-high", alerts.GetProperty("description").GetString(), StringComparison.Ordinal);
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task MetricsStoreCheck_Unreachable_IsDegradedWithTheStoresError()
    {
        var check = new MetricsStoreHealthCheck(new SqliteMetricsStore("/nonexistent-dir/metrics.db"));

        var result = await check.CheckHealthAsync(new Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckContext(), TestContext.Current.CancellationToken);

        Assert.Equal(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Degraded, result.Status);
        Assert.Contains("/nonexistent-dir/metrics.db", result.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void MapSafeAIHealth_WithoutHealthChecks_FailsWithTheFix()
    {
        var builder = WebApplication.CreateSlimBuilder();
        using var app = builder.Build();

        var ex = Assert.Throws<InvalidOperationException>(() => app.MapSafeAIHealth());

        Assert.Contains("AddHealthChecks().AddSafeAIChecks()", ex.Message, StringComparison.Ordinal);
    }

    private static async Task<JsonElement> GetAsync(HttpClient http)
    {
        using var response = await http.GetAsync("/health/safeai", TestContext.Current.CancellationToken);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement.Clone();
    }
}

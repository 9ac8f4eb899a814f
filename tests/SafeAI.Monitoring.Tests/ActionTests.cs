using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace SafeAI.Monitoring.Tests;

public sealed class ActionTests
{
    private const string Secret = "test-secret-1234";

    [Fact]
    public async Task Webhook_ServerFailsTwice_RetriesWithBackoffAndEverySendIsSigned()
    {
        var status = new Queue<int>([503, 500, 200]);
        await using var server = new WebhookServer(_ => status.Dequeue());
        using var http = new HttpClient();
        var action = new WebhookAlertAction(server.Url, http, new WebhookOptions { Secret = Secret, InitialBackoff = TimeSpan.FromMilliseconds(20) });
        var notification = Notification();

        var detail = await action.ExecuteAsync(notification, TestContext.Current.CancellationToken);

        Assert.Contains("attempt 3", detail, StringComparison.Ordinal);
        Assert.Equal(3, server.Requests.Count);
        Assert.Single(server.Requests.Select(static r => r.Headers[WebhookAlertAction.DeliveryHeader]).Distinct());
        foreach (var request in server.Requests)
        {
            // Checked with the framework's HMAC directly, not through the action's own helper.
            var expected = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(Secret), Encoding.UTF8.GetBytes(request.Headers[WebhookAlertAction.TimestampHeader] + "." + request.Body)));
            Assert.Equal(expected, request.Headers[WebhookAlertAction.SignatureHeader]);
            Assert.True(WebhookAlertAction.VerifySignature(Secret, request.Headers[WebhookAlertAction.TimestampHeader]!, Encoding.UTF8.GetBytes(request.Body), request.Headers[WebhookAlertAction.SignatureHeader]));
            Assert.False(WebhookAlertAction.VerifySignature("other-secret", request.Headers[WebhookAlertAction.TimestampHeader]!, Encoding.UTF8.GetBytes(request.Body), request.Headers[WebhookAlertAction.SignatureHeader]));
            Assert.StartsWith("application/json", request.ContentType, StringComparison.Ordinal);
        }

        using var body = JsonDocument.Parse(server.Requests[^1].Body);
        Assert.Equal("block-high", body.RootElement.GetProperty("rule").GetString());
        Assert.Equal("fired", body.RootElement.GetProperty("event").GetString());
        Assert.Equal(0.12, body.RootElement.GetProperty("value").GetDouble());
        Assert.Equal(0.05, body.RootElement.GetProperty("baseline").GetDouble());
        Assert.Equal(1000, body.RootElement.GetProperty("samples").GetInt64());
    }

    [Fact]
    public async Task Webhook_ClientError_IsNotRetriedAndFails()
    {
        await using var server = new WebhookServer(_ => 400);
        using var http = new HttpClient();
        var action = new WebhookAlertAction(server.Url, http, new WebhookOptions { InitialBackoff = TimeSpan.FromMilliseconds(10) });

        var ex = await Assert.ThrowsAsync<HttpRequestException>(async () => await action.ExecuteAsync(Notification(), TestContext.Current.CancellationToken));

        Assert.Contains("HTTP 400", ex.Message, StringComparison.Ordinal);
        Assert.Single(server.Requests);
        Assert.Null(server.Requests[0].Headers[WebhookAlertAction.SignatureHeader]);
    }

    [Fact]
    public async Task Webhook_NobodyListening_GivesUpAfterMaxAttempts()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        using var http = new HttpClient();
        var action = new WebhookAlertAction(new Uri($"http://127.0.0.1:{port}/hook"), http, new WebhookOptions { MaxAttempts = 3, InitialBackoff = TimeSpan.FromMilliseconds(10) });

        var ex = await Assert.ThrowsAsync<HttpRequestException>(async () => await action.ExecuteAsync(Notification(), TestContext.Current.CancellationToken));

        Assert.Contains("failed 3 times", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Containment_RuleFromConfigurationFires_KillSwitchOnAndTheNextCallGoesToTheFallback()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 1, 5, 9, 0, 0, TimeSpan.Zero));
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["SafeAI:Monitoring:Rules:0:name"] = "block-spike",
            ["SafeAI:Monitoring:Rules:0:metric"] = "block.rate",
            ["SafeAI:Monitoring:Rules:0:above"] = "0.2",
            ["SafeAI:Monitoring:Rules:0:window"] = "00:05:00",
            ["SafeAI:Monitoring:Rules:0:min_samples"] = "20",
            ["SafeAI:Monitoring:Rules:0:actions:0:type"] = "kill-switch",
            ["SafeAI:Monitoring:Rules:0:actions:1:type"] = "log",
        }).Build();
        var modelCalls = 0;
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddSingleton<TimeProvider>(clock);
        services.AddLogging();
        services.AddSafeAI(safe => safe
            .AddInputCheck("words", static (context, _) => new ValueTask<GuardVerdict>(
                context.Messages.Any(static m => m.Text.Contains("attack", StringComparison.Ordinal)) ? GuardVerdict.Block("words", "words.attack") : GuardVerdict.Allow("words")))
            .AddFallback(static o => o.Add(ChatFallback.Static("The assistant is paused; here is the FAQ.")))
            .AddMonitoring());
        services.AddChatClient(new DelegateChatClient(() => Interlocked.Increment(ref modelCalls))).UseSafeAI();
        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
        var client = provider.GetRequiredService<IChatClient>();
        var engine = provider.GetRequiredService<AlertEngine>();
        var killSwitch = provider.GetRequiredService<KillSwitch>();

        var before = await client.GetResponseAsync("What are your opening hours?", cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal("model answer", before.Text);
        for (var i = 0; i < 40; i++)
        {
            _ = await client.GetResponseAsync("attack the system", cancellationToken: TestContext.Current.CancellationToken);
        }

        clock.Advance(TimeSpan.FromMinutes(1));
        var events = await engine.EvaluateAsync(TestContext.Current.CancellationToken);

        Assert.Equal(AlertEventKind.Fired, events[0].Kind);
        var contained = Assert.Single(events, static e => e.Action == "kill-switch");
        Assert.Equal(AlertEventKind.ActionSucceeded, contained.Kind);
        Assert.True(killSwitch.IsOn);
        Assert.Contains("block-spike", killSwitch.Reason, StringComparison.Ordinal);

        var callsBefore = modelCalls;
        var after = await client.GetResponseAsync("What are your opening hours?", cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal("The assistant is paused; here is the FAQ.", after.Text);
        Assert.Equal(callsBefore, modelCalls);
        var result = after.GetSafeAIResult();
        Assert.NotNull(result);
        Assert.Equal(GuardAction.Degrade, result.Outcome);
        Assert.Equal(FallbackReasons.KillSwitch, result.DecisiveVerdict!.Value.Reason);

        await killSwitch.TurnOffAsync("incident closed", TestContext.Current.CancellationToken);
        var released = await client.GetResponseAsync("What are your opening hours?", cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal("model answer", released.Text);
    }

    [Fact]
    public async Task Containment_RolloutStop_SendsTheAIArmToTheBaseline()
    {
        var plan = new RolloutPlanOptions();
        plan.Stages.Add(new RolloutStage(50, 0.1));
        plan.Stages.Add(new RolloutStage(100, 0));
        var controller = new RolloutController(plan, name: "r");
        var action = new RolloutAlertAction(controller, abort: false);

        var detail = await action.ExecuteAsync(Notification(), TestContext.Current.CancellationToken);

        Assert.Equal(RolloutStatus.Stopped, controller.Status);
        Assert.Equal(0, controller.CurrentPercent);
        Assert.Contains("stop", detail, StringComparison.Ordinal);
        Assert.Contains("block-high", controller.GetHistory()[^1].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Containment_Tighten_RaisesTheConfidenceThresholdOfTheRunningPipeline()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        services.AddSafeAI(safe => safe.AddMonitoring());
        services.AddOptions<ConfidenceOptions>().Configure(static o => o.Threshold = 0.5);
        await using var provider = services.BuildServiceProvider();
        var monitor = provider.GetRequiredService<Microsoft.Extensions.Options.IOptionsMonitor<ConfidenceOptions>>();
        Assert.Equal(0.5, monitor.CurrentValue.Threshold);
        var action = new TightenThresholdAlertAction(provider.GetRequiredService<ThresholdOverrides>(), "confidence", 0.8);

        await action.ExecuteAsync(Notification(), TestContext.Current.CancellationToken);

        Assert.Equal(0.8, monitor.CurrentValue.Threshold);
    }

    private static AlertNotification Notification()
    {
        var rule = new AlertRule(new AlertRuleOptions { Name = "block-high", Metric = "block.rate", Above = 0.05 });
        var e = new AlertEvent(AlertEventKind.Fired, rule.Name, new DateTimeOffset(2026, 1, 5, 9, 0, 0, TimeSpan.Zero), rule.Metric, 0.12, 0.05, 1000, 0.1, null, "12 % of 1000 calls blocked");
        return new AlertNotification(rule, e);
    }

    private sealed class DelegateChatClient(Action onCall) : IChatClient
    {
        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            onCall();
            return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "model answer")));
        }

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }

    /// <summary>A real HTTP listener on 127.0.0.1 that records each request and answers with the status the callback picks.</summary>
    private sealed class WebhookServer : IAsyncDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Task _loop;

        public WebhookServer(Func<int, int> status)
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            var port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            Url = new Uri($"http://127.0.0.1:{port}/hooks/safeai/");
            _listener.Prefixes.Add(Url.ToString());
            _listener.Start();
            _loop = Task.Run(async () =>
            {
                while (_listener.IsListening)
                {
                    HttpListenerContext context;
                    try
                    {
                        context = await _listener.GetContextAsync();
                    }
                    catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException)
                    {
                        return;
                    }

                    using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
                    var body = await reader.ReadToEndAsync();
                    int code;
                    lock (Requests)
                    {
                        Requests.Add((context.Request.Headers, body, context.Request.ContentType ?? string.Empty));
                        code = status(Requests.Count);
                    }

                    context.Response.StatusCode = code;
                    context.Response.Close();
                }
            });
        }

        public Uri Url { get; }

        public List<(System.Collections.Specialized.NameValueCollection Headers, string Body, string ContentType)> Requests { get; } = [];

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            _listener.Close();
            await _loop;
        }
    }
}

using System.ClientModel;
using System.Diagnostics;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using OpenAI;

namespace SafeAI.Http.Tests;

public class ModelApiResilienceHandlerTests
{
    private const string Completion = """
        {"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-test",
         "choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the model"},"finish_reason":"stop"}],
         "usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}
        """;

    private static ServiceProvider CreateServices(Action<SafeAI.Http.ModelApiResilienceOptions>? configure = null)
    {
        var services = new ServiceCollection();
        services.AddHttpClient("model").AddModelApiResilienceHandler(o =>
        {
            o.BaseDelay = TimeSpan.FromMilliseconds(10);
            configure?.Invoke(o);
        });
        return services.BuildServiceProvider();
    }

    private static HttpClient Client(ServiceProvider services) => services.GetRequiredService<IHttpClientFactory>().CreateClient("model");

    [Fact]
    public async Task Post429WithRetryAfter_WaitsThenRetries()
    {
        await using var server = new LoopbackServer((i, _) => i == 0 ? (429, "{}", "1") : (200, "{}", null));
        await using var services = CreateServices();
        var stopwatch = Stopwatch.StartNew();

        using var response = await Client(services).PostAsync(server.BaseAddress, new StringContent("{}"), TestContext.Current.CancellationToken);

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal(2, server.RequestCount);
        Assert.True(stopwatch.Elapsed >= TimeSpan.FromMilliseconds(900), $"waited only {stopwatch.Elapsed}");
    }

    [Fact]
    public async Task Post429WithRetryAfterAboveLimit_NotRetried()
    {
        await using var server = new LoopbackServer((_, _) => (429, "{}", "120"));
        await using var services = CreateServices();

        using var response = await Client(services).PostAsync(server.BaseAddress, new StringContent("{}"), TestContext.Current.CancellationToken);

        Assert.Equal(429, (int)response.StatusCode);
        Assert.Equal(1, server.RequestCount);
    }

    [Theory]
    [InlineData(500)]
    [InlineData(502)]
    [InlineData(504)]
    public async Task Post5xxMaybeProcessed_NotRetried(int status)
    {
        await using var server = new LoopbackServer((_, _) => (status, "{}", null));
        await using var services = CreateServices();

        using var response = await Client(services).PostAsync(server.BaseAddress, new StringContent("{}"), TestContext.Current.CancellationToken);

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal(1, server.RequestCount);
    }

    [Fact]
    public async Task Post503_RetriedBecauseNotProcessed()
    {
        await using var server = new LoopbackServer((i, _) => i == 0 ? (503, "{}", "0") : (200, "{}", null));
        await using var services = CreateServices();

        using var response = await Client(services).PostAsync(server.BaseAddress, new StringContent("{}"), TestContext.Current.CancellationToken);

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal(2, server.RequestCount);
    }

    [Fact]
    public async Task Get500_RetriedBecauseIdempotent()
    {
        await using var server = new LoopbackServer((i, _) => i == 0 ? (500, "{}", null) : (200, "{}", null));
        await using var services = CreateServices();

        using var response = await Client(services).GetAsync(server.BaseAddress, TestContext.Current.CancellationToken);

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal(2, server.RequestCount);
    }

    [Fact]
    public async Task PersistentFailure_GivesUpAfterMaxRetries()
    {
        await using var server = new LoopbackServer((_, _) => (429, "{}", "0"));
        await using var services = CreateServices(o => o.MaxRetryAttempts = 2);

        using var response = await Client(services).PostAsync(server.BaseAddress, new StringContent("{}"), TestContext.Current.CancellationToken);

        Assert.Equal(429, (int)response.StatusCode);
        Assert.Equal(3, server.RequestCount);
    }

    [Fact]
    public async Task PostConnectionRefused_RetriedBecauseNeverSent()
    {
        var closedPort = LoopbackServer.FreePort();
        var attempts = 0;
        var services = new ServiceCollection();
        var builder = services.AddHttpClient("refused");
        builder.AddModelApiResilienceHandler(o => { o.MaxRetryAttempts = 1; o.BaseDelay = TimeSpan.FromMilliseconds(10); });
        builder.AddHttpMessageHandler(() => new CountingHandler(() => Interlocked.Increment(ref attempts)));
        await using var provider = services.BuildServiceProvider();
        using var client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("refused");

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.PostAsync(new Uri($"http://127.0.0.1:{closedPort}/"), new StringContent("{}"), TestContext.Current.CancellationToken));

        Assert.Equal(2, attempts);
    }

    [Fact]
    public void AddModelApiResilienceHandler_InvalidSettings_Throws()
    {
        var services = new ServiceCollection();
        Assert.Throws<ArgumentOutOfRangeException>(() => services.AddHttpClient("x").AddModelApiResilienceHandler(o => o.MaxRetryAttempts = 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => services.AddHttpClient("y").AddModelApiResilienceHandler(o => o.TotalRequestTimeout = TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public async Task OpenAISdkOverResilientClient_500IsTriedOnceAcrossAllLayers_AndFallbackAnswers()
    {
        await using var server = new LoopbackServer((_, _) => (500, """{"error":{"message":"upstream exploded","type":"server_error"}}""", null));
        await using var services = CreateServices();
        var openAI = new OpenAIClient(new ApiKeyCredential("k"), new OpenAIClientOptions { Endpoint = server.BaseAddress }.UseHttpClient(Client(services)));
        using var chat = openAI.GetChatClient("gpt-test").AsIChatClient().AsBuilder()
            .UseSafeAI(safe => safe.AddFallback(o => o.Add(ChatFallback.FromClient(FaqChatClient.CreateDemo()))))
            .Build();

        var response = await chat.GetResponseAsync("What are your opening hours?", cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(1, server.RequestCount);
        Assert.Contains("Monday to Friday", response.Text, StringComparison.Ordinal);
        Assert.True(response.GetSafeAIResult()!.TryGetVerdict("fallback", out var verdict));
        Assert.Equal(FallbackReasons.ServerError, verdict.Reason);
    }

    [Fact]
    public async Task OpenAISdkOverResilientClient_429ThenSuccess_ModelAnswers()
    {
        await using var server = new LoopbackServer((i, _) => i == 0 ? (429, """{"error":{"message":"slow down","type":"rate_limit"}}""", "1") : (200, Completion, null));
        await using var services = CreateServices();
        var openAI = new OpenAIClient(new ApiKeyCredential("k"), new OpenAIClientOptions { Endpoint = server.BaseAddress }.UseHttpClient(Client(services)));
        using var chat = openAI.GetChatClient("gpt-test").AsIChatClient();

        var response = await chat.GetResponseAsync("hi", cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal("Hello from the model", response.Text);
        Assert.Equal(2, server.RequestCount);
    }

    private sealed class CountingHandler(Action onSend) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            onSend();
            return base.SendAsync(request, cancellationToken);
        }
    }
}

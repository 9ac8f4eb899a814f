using System.Net;
using System.Net.Http.Json;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace SafeAI.AspNetCore.Tests;

/// <summary>Runs a real Kestrel host on 127.0.0.1 with SafeAI and talks to it over HTTP.</summary>
public sealed class SafeAIMiddlewareTests : IAsyncLifetime
{
    private WebApplication _app = null!;
    private HttpClient _http = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddAuthentication("Test").AddScheme<AuthenticationSchemeOptions, HeaderAuthHandler>("Test", null);
        builder.Services.AddAuthorization();
        builder.Services.AddSafeAI(safe => safe
            .AddAIDisclosure(o => o.Notice = AIDisclosureNotice.None)
            .AddInputCheck("burst-limit", (ctx, _) => ValueTask.FromResult(ctx.GetInputText() == "burst"
                ? GuardVerdict.Limit("burst-limit", "rate.user", TimeSpan.FromSeconds(12))
                : GuardVerdict.Allow("burst-limit"))));
        builder.Services.AddChatClient(FaqChatClient.CreateDemo()).UseSafeAI();
        builder.Services.AddKeyedChatClient("throwing", FaqChatClient.CreateDemo()).UseSafeAI(safe => safe
            .Configure(o => o.OnRejected = RejectionBehavior.ThrowException)
            .AddInputCheck("burst-limit", (ctx, _) => ValueTask.FromResult(ctx.GetInputText() == "burst"
                ? GuardVerdict.Limit("burst-limit", "rate.user", TimeSpan.FromSeconds(3))
                : ctx.GetInputText() == "forbidden" ? GuardVerdict.Block("burst-limit", "content.test") : GuardVerdict.Allow("burst-limit"))));

        _app = builder.Build();
        _app.UseAuthentication();
        _app.UseSafeAI(o => o.ConfigureCallContext = (http, ctx) => http.Request.Path.StartsWithSegments("/loans") ? ctx with { RiskTier = RiskTier.High } : ctx);

        _app.MapPost("/chat", async (ChatRequest request, IChatClient chat, HttpResponse http, CancellationToken ct) =>
        {
            var response = await chat.GetResponseAsync(request.Message, cancellationToken: ct);
            http.ApplySafeAI(response);
            return new { answer = response.Text, outcome = GuardVerdict.GetActionName(response.GetSafeAIResult()!.Outcome) };
        });
        _app.MapPost("/chat-throwing", async (ChatRequest request, [FromKeyedServices("throwing")] IChatClient chat, CancellationToken ct) =>
            (await chat.GetResponseAsync(request.Message, cancellationToken: ct)).Text);
        _app.MapGet("/whoami", () => SafeAICallContextAccessor.Current);
        _app.MapGet("/loans/whoami", () => SafeAICallContextAccessor.Current);

        await _app.StartAsync(Ct);
        var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        _http = new HttpClient { BaseAddress = new Uri(address) };
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
    }

    [Fact]
    public async Task Chat_ModelAnswer_AIDisclosureHeaderMachineGenerated()
    {
        using var response = await _http.PostAsJsonAsync("/chat", new ChatRequest("What are your opening hours?"), Ct);

        response.EnsureSuccessStatusCode();
        var header = response.Headers.GetValues(AIDisclosureHeader.HeaderName).Single();
        Assert.StartsWith("mode=machine-generated, model=\"safeai-faq\"", header, StringComparison.Ordinal);
        Assert.True(AIDisclosureHeader.TryParse(header, out var parsed));
        Assert.NotNull(parsed!.Date);
    }

    [Fact]
    public async Task Chat_RateLimitedInResponseMode_429WithRetryAfterAndModeNone()
    {
        using var response = await _http.PostAsJsonAsync("/chat", new ChatRequest("burst"), Ct);

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(12), response.Headers.RetryAfter!.Delta);
        Assert.Equal("mode=none", response.Headers.GetValues(AIDisclosureHeader.HeaderName).Single().Split(',')[0]);
        var body = await response.Content.ReadFromJsonAsync<ChatReply>(Ct);
        Assert.Contains("12 seconds", body!.Answer, StringComparison.Ordinal);
        Assert.Equal("limit", body.Outcome);
    }

    [Fact]
    public async Task ChatThrowing_RateLimitedException_MappedTo429ProblemWithRetryAfter()
    {
        using var response = await _http.PostAsJsonAsync("/chat-throwing", new ChatRequest("burst"), Ct);

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(3), response.Headers.RetryAfter!.Delta);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        var problem = await response.Content.ReadAsStringAsync(Ct);
        Assert.Contains("\"reason\":\"rate.user\"", problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ChatThrowing_BlockedException_MappedTo422Problem()
    {
        using var response = await _http.PostAsJsonAsync("/chat-throwing", new ChatRequest("forbidden"), Ct);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Contains("content.test", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task WhoAmI_AuthenticatedUser_CallContextFromClaimsHeadersAndAcceptLanguage()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/loans/whoami");
        request.Headers.Add("X-Test-User", "u-42");
        request.Headers.Add("X-Test-Tenant", "northwind");
        request.Headers.Add("X-Conversation-Id", "conv-7");
        request.Headers.Add("Accept-Language", "de-DE;q=0.9, fr-FR;q=0.5");

        using var response = await _http.SendAsync(request, Ct);
        var ctx = await response.Content.ReadFromJsonAsync<SafeAICallContext>(Ct);

        Assert.Equal("u-42", ctx!.UserId);
        Assert.Equal("northwind", ctx.TenantId);
        Assert.Equal("conv-7", ctx.ConversationId);
        Assert.Equal("de-DE", ctx.Locale);
        Assert.Equal(RiskTier.High, ctx.RiskTier);
    }

    [Fact]
    public async Task WhoAmI_Anonymous_NoUserButContextPresent()
    {
        using var response = await _http.GetAsync("/whoami", Ct);
        var ctx = await response.Content.ReadFromJsonAsync<SafeAICallContext>(Ct);

        Assert.Null(ctx!.UserId);
        Assert.Equal(RiskTier.Unspecified, ctx.RiskTier);
    }

    private sealed record ChatRequest(string Message);

    private sealed record ChatReply(string Answer, string Outcome);

    /// <summary>Authenticates from test headers: stands in for a real identity provider in these tests of our own logic.</summary>
    private sealed class HeaderAuthHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        protected override Task<AuthenticateResult> HandleAuthenticateAsync()
        {
            if (!Request.Headers.TryGetValue("X-Test-User", out var user))
            {
                return Task.FromResult(AuthenticateResult.NoResult());
            }

            var claims = new List<Claim> { new(ClaimTypes.NameIdentifier, user.ToString()) };
            if (Request.Headers.TryGetValue("X-Test-Tenant", out var tenant))
            {
                claims.Add(new Claim("tid", tenant.ToString()));
            }

            var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, "Test"));
            return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, "Test")));
        }
    }
}

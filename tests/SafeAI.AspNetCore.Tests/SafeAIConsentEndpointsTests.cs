using System.Net;
using System.Net.Http.Json;
using System.Security.Claims;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SafeAI.Audit;
using SafeAI.Consent;

namespace SafeAI.AspNetCore.Tests;

/// <summary>The consent endpoints (<c>MapSafeAIConsent</c>) on a real Kestrel host, with the default subject: the signed-in user.</summary>
public sealed class SafeAIConsentEndpointsTests : IAsyncDisposable
{
    private readonly List<WebApplication> _apps = [];
    private readonly List<HttpClient> _clients = [];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask DisposeAsync()
    {
        _clients.ForEach(static c => c.Dispose());
        foreach (var app in _apps)
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
        }
    }

    private async Task<(WebApplication App, HttpClient Http)> StartAsync(IConsentStore? store = null, Action<SafeAIConsentEndpointOptions>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddAuthentication("Test").AddScheme<AuthenticationSchemeOptions, UserHeaderHandler>("Test", null);
        builder.Services.AddAuthorization();
        if (store is not null)
        {
            builder.Services.AddSingleton(store);
        }

        builder.Services.AddSafeAI(safe => safe.AddAuditTrail().AddConsent());
        builder.Services.AddChatClient(FaqChatClient.CreateDemo()).UseSafeAI();
        var app = builder.Build();
        _apps.Add(app);
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapSafeAIConsent(configure: configure);
        await app.StartAsync(Ct);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var http = new HttpClient { BaseAddress = new Uri(address) };
        _clients.Add(http);
        return (app, http);
    }

    private static HttpRequestMessage As(string? user, HttpMethod method, string url, object? body = null)
    {
        var request = new HttpRequestMessage(method, url);
        if (user is not null)
        {
            request.Headers.Add("X-Test-User", user);
        }

        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        return request;
    }

    [Fact]
    public async Task Put_SignedInUser_ChangesOnlyTheirOwnChoice_RecordedInTheAuditTrail()
    {
        var (app, http) = await StartAsync();

        // A user id in the body is ignored: the subject is always the signed-in user.
        using var put = await http.SendAsync(As("alice", HttpMethod.Put, "/safeai/consent/api/choices/Analytics", new { granted = false, userId = "bob" }), Ct);

        put.EnsureSuccessStatusCode();
        var changed = (await put.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("changed");
        Assert.Equal(ConsentPurposes.Analytics, changed.GetProperty("purpose").GetString());
        Assert.Equal("declined", changed.GetProperty("choice").GetString());
        var manager = app.Services.GetRequiredService<ConsentManager>();
        Assert.False(await manager.IsPermittedAsync("alice", ConsentPurposes.Analytics, Ct));
        Assert.True(await manager.IsPermittedAsync("bob", ConsentPurposes.Analytics, Ct));

        using var bob = await http.SendAsync(As("bob", HttpMethod.Get, "/safeai/consent/api/choices"), Ct);
        var bobs = (await bob.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("purposes").EnumerateArray();
        Assert.All(bobs, static p => Assert.Equal(JsonValueKind.Null, p.GetProperty("choice").ValueKind));

        var trail = app.Services.GetRequiredService<AuditTrail>();
        var records = new List<AuditRecord>();
        await foreach (var record in trail.Store.ReadAsync(new AuditQuery { Kind = AuditRecordKinds.Consent }, Ct))
        {
            records.Add(record);
        }

        var only = Assert.Single(records);
        Assert.Equal("alice", only.Subject);
        Assert.Contains("\"purpose\":\"analytics\"", only.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Api_NotSignedIn_401ProblemNotARedirect()
    {
        var (_, http) = await StartAsync();

        using var get = await http.SendAsync(As(null, HttpMethod.Get, "/safeai/consent/api/choices"), Ct);
        using var put = await http.SendAsync(As(null, HttpMethod.Put, "/safeai/consent/api/choices/analytics", new { granted = true }), Ct);

        foreach (var response in new[] { get, put })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal("No subject", (await response.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("title").GetString());
        }
    }

    [Fact]
    public async Task Api_StoreFails_503WithoutLeakingDetails()
    {
        var (_, http) = await StartAsync(new FailingConsentStore());

        using var get = await http.SendAsync(As("alice", HttpMethod.Get, "/safeai/consent/api/choices"), Ct);
        using var put = await http.SendAsync(As("alice", HttpMethod.Put, "/safeai/consent/api/choices/analytics", new { granted = true }), Ct);

        foreach (var response in new[] { get, put })
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            var body = await response.Content.ReadAsStringAsync(Ct);
            Assert.Contains("Nothing was changed", body, StringComparison.Ordinal);
            Assert.DoesNotContain("secret-host", body, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Page_ServedWithStrictContentSecurityPolicy_AndTheBackLink()
    {
        var (_, http) = await StartAsync(configure: static o => o.ReturnPath = "/chat?x=1&y=2");

        using var page = await http.GetAsync("/safeai/consent/", Ct);

        page.EnsureSuccessStatusCode();
        Assert.StartsWith("default-src 'none'", page.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        var html = await page.Content.ReadAsStringAsync(Ct);
        Assert.Contains("<script src=\"/safeai/consent/consent.js\"></script>", html, StringComparison.Ordinal);
        Assert.Contains("<a href=\"/chat?x=1&amp;y=2\">Back</a>", html, StringComparison.Ordinal);
        using var script = await http.GetAsync("/safeai/consent/consent.js", Ct);
        Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public void MapSafeAIConsent_NoManagerOrInvalidSettings_ClearErrorAtStartup()
    {
        var bare = WebApplication.CreateSlimBuilder().Build();
        _apps.Add(bare);
        Assert.Contains("AddConsent()", Assert.Throws<InvalidOperationException>(() => bare.MapSafeAIConsent()).Message, StringComparison.Ordinal);

        var builder = WebApplication.CreateSlimBuilder();
        builder.Services.AddSafeAI(safe => safe.AddConsent());
        var app = builder.Build();
        _apps.Add(app);
        Assert.Contains("MaxRequestBodySize", Assert.Throws<ArgumentException>(() => app.MapSafeAIConsent(configure: static o => o.MaxRequestBodySize = 10)).Message, StringComparison.Ordinal);
        Assert.Contains("ReturnPath", Assert.Throws<ArgumentException>(() => app.MapSafeAIConsent(configure: static o => o.ReturnPath = "//elsewhere.example")).Message, StringComparison.Ordinal);
        Assert.Contains("GetSubjectId", Assert.Throws<ArgumentException>(() => app.MapSafeAIConsent(configure: static o => o.GetSubjectId = null!)).Message, StringComparison.Ordinal);
    }

    private sealed class FailingConsentStore : IConsentStore
    {
        public ValueTask<IReadOnlyList<ConsentChoice>> GetAsync(string userId, CancellationToken cancellationToken = default) =>
            throw new ConsentStoreException("The consent store 'secret-host' could not be read: connection refused");

        public ValueTask SetAsync(string userId, ConsentChoice choice, CancellationToken cancellationToken = default) =>
            throw new ConsentStoreException("The consent store 'secret-host' could not be written: connection refused");
    }

    private sealed class UserHeaderHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        protected override Task<AuthenticateResult> HandleAuthenticateAsync()
        {
            if (!Request.Headers.TryGetValue("X-Test-User", out var user))
            {
                return Task.FromResult(AuthenticateResult.NoResult());
            }

            var principal = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, user.ToString())], "Test"));
            return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, "Test")));
        }
    }
}

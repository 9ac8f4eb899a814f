using System.Net;
using System.Net.Http.Json;
using System.Security.Claims;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SafeAI.Feedback;
using SafeAI.Review;

namespace SafeAI.AspNetCore.Tests;

/// <summary>The feedback and review endpoints on a real Kestrel host on 127.0.0.1.</summary>
public sealed class SafeAIEndpointsTests : IAsyncDisposable
{
    private readonly List<WebApplication> _apps = [];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask DisposeAsync()
    {
        foreach (var app in _apps)
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
        }
    }

    private async Task<(WebApplication App, HttpClient Http)> StartAsync(bool reviewerPolicy = true, IFeedbackStore? feedbackStore = null, bool cookies = false)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        if (cookies)
        {
            builder.Services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme).AddCookie(o => o.LoginPath = "/login");
        }
        else
        {
            builder.Services.AddAuthentication("Test").AddScheme<AuthenticationSchemeOptions, HeaderAuthHandler>("Test", null);
        }

        var authorization = builder.Services.AddAuthorizationBuilder();
        if (reviewerPolicy)
        {
            authorization.AddPolicy(SafeAIReviewEndpointOptions.DefaultPolicyName, p => p.RequireRole("reviewer"));
        }

        if (feedbackStore is not null)
        {
            builder.Services.AddSingleton(feedbackStore);
        }

        builder.Services.AddSafeAI(safe => safe
            .AddAIDisclosure()
            .AddHumanReview(o => o.Mode = ReviewMode.Defer)
            .AddFeedback());
        builder.Services.AddChatClient(FaqChatClient.CreateDemo()).UseSafeAI();

        var app = builder.Build();
        _apps.Add(app);
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseSafeAI(o => o.ConfigureCallContext = (http, ctx) => http.Request.Path.StartsWithSegments("/loans") ? ctx with { RiskTier = RiskTier.High } : ctx);
        app.MapPost("/loans/chat", async (AskRequest request, IChatClient chat, CancellationToken ct) =>
        {
            var response = await chat.GetResponseAsync(request.Message, cancellationToken: ct);
            return new { responseId = response.ResponseId, ticket = response.GetReviewOutcome()?.TicketId, text = response.Text };
        });
        app.MapSafeAIFeedback();
        app.MapSafeAIReviews();
        await app.StartAsync(Ct);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return (app, new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri(address) });
    }

    private static HttpRequestMessage As(HttpMethod method, string url, string? user, string? role = null, object? body = null)
    {
        var request = new HttpRequestMessage(method, url);
        if (user is not null)
        {
            request.Headers.Add("X-Test-User", user);
        }

        if (role is not null)
        {
            request.Headers.Add("X-Test-Role", role);
        }

        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        return request;
    }

    private static async Task<string> AskLoanQuestionAsync(HttpClient http)
    {
        using var response = await http.PostAsJsonAsync("/loans/chat", new AskRequest("Am I eligible for a loan?"), Ct);
        response.EnsureSuccessStatusCode();
        var json = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Contains("A person needs to review", json.GetProperty("text").GetString(), StringComparison.Ordinal);
        return json.GetProperty("ticket").GetString()!;
    }

    [Theory]
    [InlineData("/safeai/reviews/api/items", "GET")]
    [InlineData("/safeai/reviews/api/me", "GET")]
    [InlineData("/safeai/reviews/", "GET")]
    [InlineData("/safeai/reviews/reviews.js", "GET")]
    [InlineData("/safeai/reviews/api/claim-next", "POST")]
    public async Task Reviews_AnonymousOrNotReviewer_Denied(string url, string method)
    {
        var (_, http) = await StartAsync();
        using var anonymous = await http.SendAsync(As(new HttpMethod(method), url, null), Ct);
        using var customer = await http.SendAsync(As(new HttpMethod(method), url, "customer-1", "customer"), Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, customer.StatusCode);
    }

    [Theory]
    [InlineData("/safeai/reviews/api/items", "GET")]
    [InlineData("/safeai/reviews/api/items/some-id", "GET")]
    [InlineData("/safeai/reviews/api/claim-next", "POST")]
    public async Task Reviews_AnonymousApiCallUnderCookieAuthentication_401NotARedirect(string url, string method)
    {
        var (_, http) = await StartAsync(cookies: true);

        using var api = await http.SendAsync(As(new HttpMethod(method), url, null), Ct);
        using var page = await http.SendAsync(As(HttpMethod.Get, "/safeai/reviews/", null), Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, api.StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, page.StatusCode);
        Assert.StartsWith("/login", page.Headers.Location!.PathAndQuery, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("GET", "/safeai/reviews/api/items?pageSize=ten", "pageSize must be a whole number.")]
    [InlineData("POST", "/safeai/reviews/api/claim-next?tier=high", "tier must be a whole number.")]
    public async Task Reviews_QueryValueNotANumber_400ProblemNamingIt(string method, string url, string expected)
    {
        var (_, http) = await StartAsync();

        using var response = await http.SendAsync(As(new HttpMethod(method), url, "rita", "reviewer"), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(expected, (await response.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData("{\"responseId\":\"r\",\"rating\":\"up\",\"comment\":\"broken \\ud800 text\"}")]
    [InlineData("{\"responseId\":\"r\",\"rating\":\"up\",\"comment\":[1]}")]
    [InlineData("{\"responseId\":\"r\",")]
    public async Task Feedback_MalformedJsonOrInvalidString_400Problem(string body)
    {
        var store = new InMemoryFeedbackStore();
        var (_, http) = await StartAsync(feedbackStore: store);

        using var response = await http.PostAsync("/safeai/feedback", new StringContent(body, Encoding.UTF8, "application/json"), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("not valid JSON", (await response.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Empty((await store.ListAsync(new FeedbackQuery(), Ct)).Items);
    }

    [Fact]
    public async Task Reviews_HostConfiguredNoReviewerPolicy_DeniesEvenReviewers()
    {
        var (_, http) = await StartAsync(reviewerPolicy: false);
        var ticket = await AskLoanQuestionAsync(http);

        using var list = await http.SendAsync(As(HttpMethod.Get, "/safeai/reviews/api/items", "rita", "reviewer"), Ct);
        using var decide = await http.SendAsync(As(HttpMethod.Post, $"/safeai/reviews/api/items/{ticket}/decision", "rita", "reviewer", new { version = 1, decision = "approve" }), Ct);

        Assert.Equal(HttpStatusCode.Forbidden, list.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, decide.StatusCode);
    }

    [Fact]
    public async Task Reviews_ReviewerListsClaimsAndApproves_DecisionRecordedWithSignedInReviewer()
    {
        var (app, http) = await StartAsync();
        var ticket = await AskLoanQuestionAsync(http);

        using var list = await http.SendAsync(As(HttpMethod.Get, "/safeai/reviews/api/items", "rita", "reviewer"), Ct);
        var items = (await list.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("items");
        var item = Assert.Single(items.EnumerateArray());
        Assert.Equal(ticket, item.GetProperty("id").GetString());
        Assert.Equal("pending", item.GetProperty("state").GetString());
        Assert.Equal("Am I eligible for a loan?", item.GetProperty("request")[0].GetProperty("text").GetString());
        Assert.Contains("15,000 EUR", item.GetProperty("proposedAnswer").GetString(), StringComparison.Ordinal);

        using var stale = await http.SendAsync(As(HttpMethod.Post, $"/safeai/reviews/api/items/{ticket}/claim", "rita", "reviewer", new { version = 7 }), Ct);
        Assert.Equal(HttpStatusCode.Conflict, stale.StatusCode);
        using var claim = await http.SendAsync(As(HttpMethod.Post, $"/safeai/reviews/api/items/{ticket}/claim", "rita", "reviewer", new { version = 1 }), Ct);
        var claimed = await claim.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Equal(("claimed", "rita", 2L), (claimed.GetProperty("state").GetString(), claimed.GetProperty("claimedBy").GetString(), claimed.GetProperty("version").GetInt64()));

        using var otherReviewer = await http.SendAsync(As(HttpMethod.Post, $"/safeai/reviews/api/items/{ticket}/decision", "bob", "reviewer", new { version = 2, decision = "approve" }), Ct);
        Assert.Equal(HttpStatusCode.Conflict, otherReviewer.StatusCode);

        // The reviewer in the body is ignored: the signed-in user decides.
        using var approve = await http.SendAsync(As(HttpMethod.Post, $"/safeai/reviews/api/items/{ticket}/decision", "rita", "reviewer",
            new { version = 2, decision = "approve", comment = "matches policy", reviewerId = "mallory" }), Ct);
        Assert.Equal(HttpStatusCode.OK, approve.StatusCode);
        var stored = await app.Services.GetRequiredService<IReviewQueue>().GetAsync(ticket, Ct);
        Assert.Equal((ReviewState.Approved, "rita", "matches policy"), (stored!.State, stored.ReviewerId, stored.Comment));

        using var again = await http.SendAsync(As(HttpMethod.Post, $"/safeai/reviews/api/items/{ticket}/decision", "rita", "reviewer", new { version = 3, decision = "reject" }), Ct);
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        using var decided = await http.SendAsync(As(HttpMethod.Get, "/safeai/reviews/api/items?state=decided", "rita", "reviewer"), Ct);
        Assert.Single((await decided.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("items").EnumerateArray());
        using var me = await http.SendAsync(As(HttpMethod.Get, "/safeai/reviews/api/me", "rita", "reviewer"), Ct);
        Assert.Equal("rita", (await me.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("reviewerId").GetString());
    }

    [Fact]
    public async Task Reviews_ReviewerEditsViaClaimNext_EditedAnswerStored()
    {
        var (app, http) = await StartAsync();
        var ticket = await AskLoanQuestionAsync(http);

        using var next = await http.SendAsync(As(HttpMethod.Post, "/safeai/reviews/api/claim-next", "rita", "reviewer"), Ct);
        Assert.Equal(ticket, (await next.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("id").GetString());
        using var none = await http.SendAsync(As(HttpMethod.Post, "/safeai/reviews/api/claim-next", "bob", "reviewer"), Ct);
        Assert.Equal(HttpStatusCode.NoContent, none.StatusCode);

        using var edit = await http.SendAsync(As(HttpMethod.Post, $"/safeai/reviews/api/items/{ticket}/decision", "rita", "reviewer",
            new { version = 2, decision = "edit", editedAnswer = "Please book an appointment; we check eligibility in person." }), Ct);
        Assert.Equal(HttpStatusCode.OK, edit.StatusCode);
        var stored = await app.Services.GetRequiredService<IReviewQueue>().GetAsync(ticket, Ct);
        Assert.Equal((ReviewState.Edited, "Please book an appointment; we check eligibility in person."), (stored!.State, stored.FinalAnswer));
    }

    [Theory]
    [InlineData("{\"version\":1,\"decision\":\"maybe\"}", "application/json", HttpStatusCode.BadRequest, "decision must be")]
    [InlineData("{\"version\":1,\"decision\":\"edit\"}", "application/json", HttpStatusCode.BadRequest, "editedAnswer is required")]
    [InlineData("{\"decision\":\"approve\"}", "application/json", HttpStatusCode.BadRequest, "version")]
    [InlineData("{\"version\":1,", "application/json", HttpStatusCode.BadRequest, "not valid JSON")]
    [InlineData("version=1&decision=approve", "application/x-www-form-urlencoded", HttpStatusCode.UnsupportedMediaType, "application/json")]
    public async Task Reviews_BadDecisionInput_ClearProblemAndItemUnchanged(string body, string contentType, HttpStatusCode expected, string detail)
    {
        var (app, http) = await StartAsync();
        var ticket = await AskLoanQuestionAsync(http);
        var request = As(HttpMethod.Post, $"/safeai/reviews/api/items/{ticket}/decision", "rita", "reviewer");
        request.Content = new StringContent(body, Encoding.UTF8, contentType);

        using var response = await http.SendAsync(request, Ct);

        Assert.Equal(expected, response.StatusCode);
        Assert.Contains(detail, await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(ReviewState.Pending, (await app.Services.GetRequiredService<IReviewQueue>().GetAsync(ticket, Ct))!.State);
        using var missing = await http.SendAsync(As(HttpMethod.Post, "/safeai/reviews/api/items/nope/decision", "rita", "reviewer", new { version = 1, decision = "approve" }), Ct);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task ReviewersPage_Reviewer_ServedWithStrictContentSecurityPolicy()
    {
        var (_, http) = await StartAsync();

        using var page = await http.SendAsync(As(HttpMethod.Get, "/safeai/reviews/", "rita", "reviewer"), Ct);
        using var script = await http.SendAsync(As(HttpMethod.Get, "/safeai/reviews/reviews.js", "rita", "reviewer"), Ct);

        var html = await page.Content.ReadAsStringAsync(Ct);
        Assert.Equal("text/html", page.Content.Headers.ContentType!.MediaType);
        Assert.Contains("<h1>Human review queue</h1>", html, StringComparison.Ordinal);
        Assert.Contains("src=\"/safeai/reviews/reviews.js\"", html, StringComparison.Ordinal);
        Assert.Contains("script-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.Contains("textContent", await script.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Feedback_SignedInUser_StoredWithUserFromClaimsNotBody()
    {
        var store = new InMemoryFeedbackStore();
        var (_, http) = await StartAsync(feedbackStore: store);
        var request = As(HttpMethod.Post, "/safeai/feedback", "u-42", body: new { responseId = "resp-1", rating = "down", comment = "The fee is wrong.", userId = "someone-else", reviewTicketId = "t-9" });
        request.Headers.Add("X-Test-Tenant", "northwind");
        request.Headers.Add("X-Conversation-Id", "conv-3");

        using var response = await http.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("id").GetString()!;
        var entry = await store.GetAsync(id, Ct);
        Assert.Equal(("resp-1", FeedbackRating.Down, "The fee is wrong.", "u-42", "northwind", "conv-3", "t-9"),
            (entry!.ResponseId, entry.Rating, entry.Comment, entry.UserId, entry.TenantId, entry.ConversationId, entry.ReviewTicketId));
    }

    [Theory]
    [InlineData("{\"responseId\":\"r\",\"rating\":\"sideways\"}", HttpStatusCode.BadRequest, "rating must be")]
    [InlineData("{\"rating\":\"up\"}", HttpStatusCode.BadRequest, "ResponseId must not be empty")]
    [InlineData("{\"responseId\":\"r\",\"rating\":\"up\",\"comment\":\"LONG\"}", HttpStatusCode.BadRequest, "at most 4000 characters")]
    [InlineData("{\"responseId\":\"r\",\"rating\":\"up\",\"comment\":\"HUGE\"}", HttpStatusCode.RequestEntityTooLarge, "at most 65536 bytes")]
    [InlineData("null", HttpStatusCode.BadRequest, "JSON object")]
    public async Task Feedback_BadInput_ClearProblemAndNothingStored(string body, HttpStatusCode expected, string detail)
    {
        var store = new InMemoryFeedbackStore();
        var (_, http) = await StartAsync(feedbackStore: store);
        body = body.Replace("LONG", new string('x', 4001), StringComparison.Ordinal).Replace("HUGE", new string('x', 70_000), StringComparison.Ordinal);

        using var response = await http.PostAsync("/safeai/feedback", new StringContent(body, Encoding.UTF8, "application/json"), Ct);

        Assert.Equal(expected, response.StatusCode);
        Assert.Contains(detail, await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Empty((await store.ListAsync(new FeedbackQuery(), Ct)).Items);
    }

    [Fact]
    public async Task Feedback_StoreFails_503WithoutLeakingDetails()
    {
        var (_, http) = await StartAsync(feedbackStore: new FailingFeedbackStore());

        using var response = await http.PostAsJsonAsync("/safeai/feedback", new { responseId = "r", rating = "up" }, Ct);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.Contains("could not be stored", text, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-host", text, StringComparison.Ordinal);
    }

    [Fact]
    public void MapEndpoints_NothingRegistered_ClearErrorAtStartup()
    {
        var builder = WebApplication.CreateSlimBuilder();
        var app = builder.Build();
        _apps.Add(app);

        Assert.Contains("AddFeedback()", Assert.Throws<InvalidOperationException>(() => app.MapSafeAIFeedback()).Message, StringComparison.Ordinal);
        Assert.Contains("AddHumanReview", Assert.Throws<InvalidOperationException>(() => app.MapSafeAIReviews()).Message, StringComparison.Ordinal);
        Assert.Contains("AddRollout", Assert.Throws<InvalidOperationException>(() => app.MapSafeAIRollout()).Message, StringComparison.Ordinal);
    }

    private sealed record AskRequest(string Message);

    private sealed class FailingFeedbackStore : IFeedbackStore
    {
        public ValueTask AddAsync(FeedbackEntry entry, CancellationToken cancellationToken = default) =>
            throw new FeedbackStoreException("The SQLite feedback store 'secret-host' could not add feedback: disk I/O error");

        public ValueTask<FeedbackEntry?> GetAsync(string id, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<FeedbackPage> ListAsync(FeedbackQuery query, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    }

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
            if (Request.Headers.TryGetValue("X-Test-Role", out var role))
            {
                claims.Add(new Claim(ClaimTypes.Role, role.ToString()));
            }

            if (Request.Headers.TryGetValue("X-Test-Tenant", out var tenant))
            {
                claims.Add(new Claim("tid", tenant.ToString()));
            }

            var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, "Test"));
            return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, "Test")));
        }
    }
}

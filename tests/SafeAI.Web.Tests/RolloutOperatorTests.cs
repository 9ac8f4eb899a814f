using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using SafeAI.Samples.Web;

namespace SafeAI.Web.Tests;

/// <summary>The web sample's gradual rollout (FAQ responder as the baseline) and its operator view, over HTTP on the real host.</summary>
public sealed partial class RolloutOperatorTests : IAsyncLifetime
{
    private SampleHost _host = null!;
    private HttpClient _anonymous = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _host = await SampleHost.StartAsync(Ct, "--Sample:AssistantSharePercent=50");
        _anonymous = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = _host.Address };
    }

    public async ValueTask DisposeAsync()
    {
        _anonymous.Dispose();
        await _host.DisposeAsync();
    }

    [Fact]
    public async Task Chat_HalfStage_ConversationsSplitStickyAndBaselineIsNotLabelledAI()
    {
        var arms = new Dictionary<string, string>();
        for (var i = 0; i < 40; i++)
        {
            var (conversation, arm, disclosure) = await AskAsync("What are your opening hours?", null);
            arms[conversation] = arm;
            Assert.Equal(arm == "baseline" ? "none" : "machine-generated", disclosure);
        }

        var ai = arms.Values.Count(static a => a == "ai");
        Assert.InRange(ai, 8, 32); // 50 % of 40: far outside this range is p < 0.0001
        Assert.Contains("baseline", arms.Values);

        // Sticky: a conversation keeps its arm on every later message.
        foreach (var (conversation, arm) in arms.Take(10))
        {
            Assert.Equal(arm, (await AskAsync("How do I reset my password?", conversation)).Arm);
        }
    }

    [Fact]
    public async Task OperatorApi_Anonymous401_NonOperator403()
    {
        using var anonymous = await _anonymous.GetAsync("/rollout/api/state", Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal("application/problem+json", anonymous.Content.Headers.ContentType?.MediaType);

        using var stop = await _anonymous.PostAsJsonAsync("/rollout/api/stop", new { reason = "not allowed" }, Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, stop.StatusCode);

        using var page = await _anonymous.GetAsync("/rollout/", Ct);
        Assert.Equal(HttpStatusCode.Redirect, page.StatusCode);
    }

    [Fact]
    public async Task OperatorStop_NextCallOfAnAIConversationGoesToBaseline_ResumeBringsItBack()
    {
        using var op = await SignInAsync();
        var aiConversation = await FindConversationInArmAsync("ai");

        using var missingReason = await op.PostAsJsonAsync("/rollout/api/stop", new { reason = " " }, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, missingReason.StatusCode);
        Assert.Contains("reason is required", await missingReason.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        using var unknown = await op.PostAsJsonAsync("/rollout/api/explode", new { reason = "x" }, Ct);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);

        using var stop = await op.PostAsJsonAsync("/rollout/api/stop", new { reason = "incident drill" }, Ct);
        stop.EnsureSuccessStatusCode();
        var stopped = await stop.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Equal("stop", stopped.GetProperty("decision").GetProperty("kind").GetString());
        Assert.Equal("stopped", stopped.GetProperty("state").GetProperty("status").GetString());
        Assert.Equal(0, stopped.GetProperty("state").GetProperty("aiPercent").GetDouble());

        var (_, armAfterStop, disclosure) = await AskAsync("What are your opening hours?", aiConversation);
        Assert.Equal("baseline", armAfterStop);
        Assert.Equal("none", disclosure);

        var state = await op.GetFromJsonAsync<JsonElement>("/rollout/api/state", Ct);
        var last = state.GetProperty("history")[0];
        Assert.Equal("stop", last.GetProperty("kind").GetString());
        Assert.Equal("incident drill (by " + SampleApp.DemoReviewerId + ")", last.GetProperty("reason").GetString());

        using var resume = await op.PostAsJsonAsync("/rollout/api/resume", new { reason = "drill over" }, Ct);
        resume.EnsureSuccessStatusCode();
        Assert.Equal("ai", (await AskAsync("What are your opening hours?", aiConversation)).Arm);
    }

    [Fact]
    public async Task State_CountsCallsPerArmAndThumbsDownFromFeedback()
    {
        using var op = await SignInAsync();
        var baselineConversation = await FindConversationInArmAsync("baseline");
        var before = ThumbsDown(await op.GetFromJsonAsync<JsonElement>("/rollout/api/state", Ct), "baseline");

        using var answer = await _anonymous.PostAsJsonAsync("/api/chat", new { message = "What are your opening hours?", conversationId = baselineConversation }, Ct);
        var responseId = (await answer.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("responseId").GetString();
        using var feedback = await _anonymous.PostAsJsonAsync("/api/feedback", new { responseId, rating = "down", conversationId = baselineConversation }, Ct);
        Assert.Equal(HttpStatusCode.Created, feedback.StatusCode);

        var state = await op.GetFromJsonAsync<JsonElement>("/rollout/api/state", Ct);
        Assert.Equal(50, state.GetProperty("stagePercent").GetDouble());
        Assert.Equal("running", state.GetProperty("status").GetString());
        var after = ThumbsDown(state, "baseline");
        Assert.Equal(before.Events + 1, after.Events);
        Assert.True(after.Samples > 0);
        var thumbs = state.GetProperty("metrics").EnumerateArray().Single(static m => m.GetProperty("metric").GetString() == RolloutMetrics.ThumbsDown);
        var baseline = thumbs.GetProperty("baseline");
        Assert.InRange(baseline.GetProperty("rate").GetDouble(), baseline.GetProperty("lower").GetDouble(), baseline.GetProperty("upper").GetDouble());
    }

    private static (long Samples, long Events) ThumbsDown(JsonElement state, string arm)
    {
        var metric = state.GetProperty("metrics").EnumerateArray().Single(static m => m.GetProperty("metric").GetString() == RolloutMetrics.ThumbsDown);
        return (metric.GetProperty(arm).GetProperty("samples").GetInt64(), metric.GetProperty(arm).GetProperty("events").GetInt64());
    }

    private async Task<string> FindConversationInArmAsync(string arm)
    {
        for (var i = 0; i < 60; i++)
        {
            var (conversation, got, _) = await AskAsync("What are your opening hours?", null);
            if (got == arm)
            {
                return conversation;
            }
        }

        throw new InvalidOperationException($"no conversation landed in the {arm} arm in 60 tries at 50 %");
    }

    private async Task<(string Conversation, string Arm, string Disclosure)> AskAsync(string message, string? conversation)
    {
        using var response = await _anonymous.PostAsJsonAsync("/api/chat", new { message, conversationId = conversation }, Ct);
        response.EnsureSuccessStatusCode();
        var body = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        return (body.GetProperty("conversationId").GetString()!, body.GetProperty("arm").GetString()!, body.GetProperty("disclosure").GetProperty("mode").GetString()!);
    }

    // Signs in as the demo account (reviewer and operator) through the sample's real sign-in form.
    private async Task<HttpClient> SignInAsync()
    {
        var client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = new CookieContainer() }) { BaseAddress = _host.Address };
        var form = await client.GetStringAsync("/login", Ct);
        var token = AntiforgeryField().Match(form);
        Assert.True(token.Success, "the sign-in form has an antiforgery field");
        using var signIn = await client.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            [token.Groups["name"].Value] = WebUtility.HtmlDecode(token.Groups["value"].Value),
            ["username"] = SampleApp.DemoReviewerUser,
            ["password"] = SampleApp.DemoReviewerPassword,
            ["returnUrl"] = "/rollout/",
        }), Ct);
        Assert.Equal(HttpStatusCode.Redirect, signIn.StatusCode);
        Assert.Equal("/rollout/", signIn.Headers.Location!.OriginalString);
        return client;
    }

    [GeneratedRegex("<input type=\"hidden\" name=\"(?<name>[^\"]+)\" value=\"(?<value>[^\"]*)\">")]
    private static partial Regex AntiforgeryField();
}

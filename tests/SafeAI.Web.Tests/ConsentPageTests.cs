using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using SafeAI.Audit;
using SafeAI.Consent;
using SafeAI.Review;
using SafeAI.Samples.Web;

namespace SafeAI.Web.Tests;

/// <summary>
/// The web sample's consent page API (<c>MapSafeAIConsent</c> at <c>/consent/</c>) over HTTP on the real host: a visitor
/// sees and changes their own choices, bad input gets a problem response, every change is an audit record, and the next
/// chat message of a visitor who said no is not stored where the choice says.
/// </summary>
public sealed class ConsentPageTests : IAsyncLifetime
{
    private readonly List<HttpClient> _clients = [];
    private SampleHost _host = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _host = await SampleHost.StartAsync(Ct);

    public async ValueTask DisposeAsync()
    {
        _clients.ForEach(static c => c.Dispose());
        await _host.DisposeAsync();
    }

    [Fact]
    public async Task GetChoices_NewVisitor_FourPurposesWithTheirDefaults()
    {
        var (http, _) = await NewVisitorAsync();

        var json = await http.GetFromJsonAsync<JsonElement>("/consent/api/choices", Ct);

        var purposes = json.GetProperty("purposes").EnumerateArray().ToDictionary(static p => p.GetProperty("purpose").GetString()!);
        Assert.Equal(ConsentPurposes.All, purposes.Keys.ToArray());
        Assert.All(purposes.Values, static p => Assert.Equal(JsonValueKind.Null, p.GetProperty("choice").ValueKind));
        Assert.False(purposes[ConsentPurposes.StoreText].GetProperty("permitted").GetBoolean());
        Assert.Equal("opt-in", purposes[ConsentPurposes.StoreText].GetProperty("default").GetString());
        Assert.True(purposes[ConsentPurposes.HumanReview].GetProperty("permitted").GetBoolean());
        Assert.Equal("opt-out", purposes[ConsentPurposes.HumanReview].GetProperty("default").GetString());
        Assert.All(purposes.Values, static p => Assert.False(string.IsNullOrEmpty(p.GetProperty("title").GetString())));
    }

    [Fact]
    public async Task PutChoice_Declined_PersistedInTheStoreAndRecordedInTheAuditTrail()
    {
        var (http, visitor) = await NewVisitorAsync();

        using var put = await http.PutAsJsonAsync("/consent/api/choices/improve-model", new { granted = false }, Ct);

        put.EnsureSuccessStatusCode();
        var changed = (await put.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("changed");
        Assert.Equal("declined", changed.GetProperty("choice").GetString());
        Assert.False(changed.GetProperty("permitted").GetBoolean());

        // Read back through the API and straight from the store, as another instance would.
        var again = await http.GetFromJsonAsync<JsonElement>("/consent/api/choices", Ct);
        var improve = again.GetProperty("purposes").EnumerateArray().Single(static p => p.GetProperty("purpose").GetString() == ConsentPurposes.ImproveModel);
        Assert.Equal("declined", improve.GetProperty("choice").GetString());
        var stored = await _host.App.Services.GetRequiredService<IConsentStore>().GetAsync(visitor, Ct);
        Assert.False(Assert.Single(stored).Granted);

        // POST works the same (for clients without PUT), and each change is one audit record of the visitor.
        using var post = await http.PostAsJsonAsync("/consent/api/choices/improve-model", new { granted = true }, Ct);
        post.EnsureSuccessStatusCode();
        var records = await AuditRecordsAsync(visitor, AuditRecordKinds.Consent);
        Assert.Equal(2, records.Count);
        Assert.Contains("\"granted\":false", records[0].Body, StringComparison.Ordinal);
        Assert.Contains("\"granted\":true", records[1].Body, StringComparison.Ordinal);
        Assert.True((await AuditChain.VerifyAsync(Trail.Store.ReadAsync(null, Ct), null, Ct)).IsIntact);
    }

    [Fact]
    public async Task PutChoice_BadInput_ProblemResponsesThatSayWhatIsWrong()
    {
        var (http, visitor) = await NewVisitorAsync();

        using var unknown = await http.PutAsJsonAsync("/consent/api/choices/marketing", new { granted = true }, Ct);
        await AssertProblemAsync(unknown, HttpStatusCode.BadRequest, "Known purposes: improve-model, store-text, human-review, analytics");

        using var missing = await http.PutAsJsonAsync("/consent/api/choices/analytics", new { }, Ct);
        await AssertProblemAsync(missing, HttpStatusCode.BadRequest, "granted is required");

        using var wrongType = await http.PutAsync("/consent/api/choices/analytics", new StringContent("{\"granted\": \"maybe\"}", Encoding.UTF8, "application/json"), Ct);
        await AssertProblemAsync(wrongType, HttpStatusCode.BadRequest, "not valid JSON");

        using var form = await http.PutAsync("/consent/api/choices/analytics", new FormUrlEncodedContent([new("granted", "false")]), Ct);
        await AssertProblemAsync(form, HttpStatusCode.UnsupportedMediaType, "application/json");

        using var tooLarge = await http.PutAsync("/consent/api/choices/analytics", new StringContent("{\"granted\": false, \"x\": \"" + new string('a', 8000) + "\"}", Encoding.UTF8, "application/json"), Ct);
        await AssertProblemAsync(tooLarge, HttpStatusCode.RequestEntityTooLarge, "at most");

        // A caller nobody identified (never opened a page: no visitor cookie) has no choices to read or change.
        using var stranger = new HttpClient(new HttpClientHandler { UseCookies = false }) { BaseAddress = _host.Address };
        using var get = await stranger.GetAsync("/consent/api/choices", Ct);
        await AssertProblemAsync(get, HttpStatusCode.Unauthorized, "Nobody is identified");
        using var put = await stranger.PutAsJsonAsync("/consent/api/choices/analytics", new { granted = false }, Ct);
        await AssertProblemAsync(put, HttpStatusCode.Unauthorized, "Nobody is identified");

        // Nothing was changed by any of it.
        Assert.Empty(await _host.App.Services.GetRequiredService<IConsentStore>().GetAsync(visitor, Ct));
        Assert.Empty(await AuditRecordsAsync(visitor, AuditRecordKinds.Consent));
    }

    [Fact]
    public async Task Chat_AfterStoreTextDeclined_NextMessageTextIsNotInTheDatabase()
    {
        var (http, visitor) = await NewVisitorAsync();
        using (var yes = await http.PutAsJsonAsync("/consent/api/choices/store-text", new { granted = true }, Ct))
        {
            yes.EnsureSuccessStatusCode();
        }

        var conversation = await ChatAsync(http, "What are your opening hours? KEEP-1f2e", null);
        await Trail.FlushAsync(Ct);
        Assert.True(DataHolds("KEEP-1f2e"), "with store-text given, the audit trail keeps the words: the check can fail");
        var kept = Assert.Single(await AuditRecordsAsync(visitor, AuditRecordKinds.Call));
        Assert.Contains("KEEP-1f2e", kept.InputText, StringComparison.Ordinal);

        using (var no = await http.PutAsJsonAsync("/consent/api/choices/store-text", new { granted = false }, Ct))
        {
            no.EnsureSuccessStatusCode();
        }

        await ChatAsync(http, "What are your opening hours? DROP-9a8b", conversation);
        await Trail.FlushAsync(Ct);

        Assert.False(DataHolds("DROP-9a8b"), "the visitor said no to store-text, yet their next message is in the sample's data files");
        var calls = await AuditRecordsAsync(visitor, AuditRecordKinds.Call);
        Assert.Equal(2, calls.Count);
        Assert.Null(calls[1].InputText);
        Assert.Null(calls[1].OutputText);
        Assert.NotNull(calls[1].InputHash); // the record is there, with a keyed fingerprint instead of the words
    }

    [Fact]
    public async Task Chat_AfterHumanReviewDeclined_ReviewItemHoldsNeitherTheQuestionNorTheProposedAnswer()
    {
        var (http, visitor) = await NewVisitorAsync();
        using (var no = await http.PutAsJsonAsync("/consent/api/choices/human-review", new { granted = false }, Ct))
        {
            no.EnsureSuccessStatusCode();
        }

        using var response = await http.PostAsJsonAsync("/api/chat", new { message = "Am I eligible for a loan? WITHHELD-3c4d" }, Ct);
        response.EnsureSuccessStatusCode();
        var json = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Equal("pending-review", json.GetProperty("status").GetString());
        var ticket = json.GetProperty("review").GetProperty("ticketId").GetString()!;

        var item = (await _host.App.Services.GetRequiredService<IReviewQueue>().GetAsync(ticket, Ct))!;
        Assert.Equal(visitor, item.UserId);
        Assert.True(item.TextWithheld);
        Assert.Equal(ReviewReasons.AnswerWithheld, item.ProposedAnswer);
        Assert.False(DataHolds("WITHHELD-3c4d"), "the visitor declined human review, yet their question is in the sample's data files");
        Assert.False(DataHolds("15,000 EUR"), "the visitor declined human review, yet the proposed answer is in the sample's data files");
    }

    private AuditTrail Trail => _host.App.Services.GetRequiredService<AuditTrail>();

    // A visitor who opened the chat page: the page gives them the visitor cookie, which the client keeps.
    private async Task<(HttpClient Http, string Visitor)> NewVisitorAsync()
    {
        var cookies = new CookieContainer();
        var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = cookies }) { BaseAddress = _host.Address };
        _clients.Add(http);
        using var page = await http.GetAsync("/", Ct);
        page.EnsureSuccessStatusCode();
        var visitor = cookies.GetCookies(_host.Address)[SampleApp.VisitorCookie]?.Value;
        Assert.Matches("^[0-9a-f]{32}$", visitor);
        return (http, visitor!);
    }

    private static async Task<string> ChatAsync(HttpClient http, string message, string? conversation)
    {
        using var response = await http.PostAsJsonAsync("/api/chat", new { message, conversationId = conversation }, Ct);
        response.EnsureSuccessStatusCode();
        var json = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Equal("answered", json.GetProperty("status").GetString());
        return json.GetProperty("conversationId").GetString()!;
    }

    private async Task<List<AuditRecord>> AuditRecordsAsync(string subject, string kind)
    {
        await Trail.FlushAsync(Ct);
        var records = new List<AuditRecord>();
        await foreach (var record in Trail.Store.ReadAsync(new AuditQuery { Subject = subject, Kind = kind }, Ct))
        {
            records.Add(record);
        }

        return records;
    }

    // Whether any file of the sample's data folder (the SQLite database and its write-ahead log) holds the text.
    private bool DataHolds(string text)
    {
        SqliteConnection.ClearAllPools();
        var bytes = Encoding.UTF8.GetBytes(text);
        foreach (var file in Directory.GetFiles(_host.DataDirectory))
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var memory = new MemoryStream();
            stream.CopyTo(memory);
            if (memory.GetBuffer().AsSpan(0, (int)memory.Length).IndexOf(bytes) >= 0)
            {
                return true;
            }
        }

        return false;
    }

    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string detail)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        Assert.Contains(detail, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }
}

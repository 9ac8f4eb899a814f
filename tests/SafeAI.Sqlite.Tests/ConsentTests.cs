using System.Text;
using Microsoft.Data.Sqlite;
using SafeAI.Audit;
using SafeAI.Consent;
using SafeAI.Feedback;
using SafeAI.Review;

namespace SafeAI.Sqlite.Tests;

/// <summary>
/// One test per consent purpose: a person who declined it has no text in the stores that purpose governs, while a person
/// who did not decline it (the control) does — real SQLite files, read back as raw bytes (database and write-ahead log).
/// </summary>
public sealed class ConsentTests : IAsyncDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("safeai-consent-").FullName;
    private readonly AuditTrail _audit;
    private readonly ConsentManager _consent;
    private readonly ReviewQueue _queue;
    private readonly IFeedbackStore _feedback;
    private readonly IChatClient _client;

    public ConsentTests()
    {
        _audit = new AuditTrail(
            SqliteStores.CreateAuditStore(new SqliteAuditStoreOptions { DataSource = Path.Combine(_dir, "audit.db") }),
            new AuditTrailOptions { TextKey = Convert.ToBase64String(new byte[32]) });
        _consent = new ConsentManager(SqliteStores.CreateConsentStore(new SqliteConsentStoreOptions { DataSource = Path.Combine(_dir, "consent.db") }), _audit);
        _queue = new ReviewQueue(SqliteStores.CreateReviewStore(new SqliteReviewStoreOptions { DataSource = Path.Combine(_dir, "review.db") }), new ReviewQueueOptions { SweepInterval = Timeout.InfiniteTimeSpan });
        _feedback = new ConsentFeedbackStore(SqliteStores.CreateFeedbackStore(new SqliteFeedbackStoreOptions { DataSource = Path.Combine(_dir, "feedback.db") }), _consent);
        var pipeline = new SafeAIPipelineBuilder()
            .AddConsent(_consent)
            .AddAuditTrail(_audit)
            .AddHumanReview(_queue, static o => o.Mode = ReviewMode.Defer)
            .Add(new MonitoringSampler(Path.Combine(_dir, "monitoring.db")))
            .Build();
        _client = new SafeAIChatClient(new AnswerClient(), pipeline);
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask DisposeAsync()
    {
        await _audit.DisposeAsync();
        _queue.Dispose();
        SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>A person's call (high risk, so it goes to review) and their feedback comment, both carrying <paramref name="marker"/>.</summary>
    private async Task ActAsync(string user, string marker)
    {
        var response = await _client.GetResponseAsync(
            [new ChatMessage(ChatRole.User, "my question " + marker)],
            new ChatOptions().WithUser(user).WithRiskTier(RiskTier.High),
            Ct);
        await _feedback.AddAsync(FeedbackEntry.Create(response.ResponseId ?? "r", FeedbackRating.Down, "my comment " + marker) with { UserId = user }, Ct);
        await _audit.FlushAsync(Ct);
    }

    private bool FileHolds(string database, string text)
    {
        SqliteConnection.ClearAllPools();
        var bytes = Encoding.UTF8.GetBytes(text);
        foreach (var file in Directory.GetFiles(_dir, database + "*"))
        {
            if (File.ReadAllBytes(file).AsSpan().IndexOf(bytes) >= 0)
            {
                return true;
            }
        }

        return false;
    }

    private async Task DeclineAndCheckAsync(string purpose, string database)
    {
        await _consent.SetAsync("control", ConsentPurposes.StoreText, granted: true, cancellationToken: Ct);
        await _consent.SetAsync("opted-out", ConsentPurposes.StoreText, granted: true, cancellationToken: Ct);
        await _consent.SetAsync("opted-out", purpose, granted: false, cancellationToken: Ct);
        await ActAsync("control", "CONTROL-7f3a");
        await ActAsync("opted-out", "OPTEDOUT-9c1e");

        Assert.True(FileHolds(database, "CONTROL-7f3a"), $"the control person's text should be in {database}: the check can fail");
        Assert.False(FileHolds(database, "OPTEDOUT-9c1e"), $"the person who declined {purpose} has text in {database}");
    }

    [Fact]
    public Task StoreTextDeclined_TextAbsentFromTheAuditTrail() => DeclineAndCheckAsync(ConsentPurposes.StoreText, "audit.db");

    [Fact]
    public Task HumanReviewDeclined_TextAbsentFromTheReviewQueue() => DeclineAndCheckAsync(ConsentPurposes.HumanReview, "review.db");

    [Fact]
    public Task ImproveModelDeclined_CommentAbsentFromTheFeedbackDataset() => DeclineAndCheckAsync(ConsentPurposes.ImproveModel, "feedback.db");

    [Fact]
    public Task AnalyticsDeclined_TextAbsentFromMonitoringSamples() => DeclineAndCheckAsync(ConsentPurposes.Analytics, "monitoring.db");

    [Fact]
    public async Task EveryPurposeDeclined_TextAbsentFromEveryStore()
    {
        foreach (var purpose in ConsentPurposes.All)
        {
            await _consent.SetAsync("private", purpose, granted: false, cancellationToken: Ct);
        }

        await ActAsync("private", "PRIVATE-55d0");
        foreach (var database in new[] { "audit.db", "review.db", "feedback.db", "monitoring.db", "consent.db" })
        {
            Assert.False(FileHolds(database, "PRIVATE-55d0"), database);
        }

        // The records are still there, without the words: the review item, the rating and the keyed hash.
        var item = Assert.Single((await _queue.ListAsync(null, Ct)).Items);
        Assert.Equal(ReviewReasons.TextWithheld, Assert.Single(item.Request).Text);
        var record = await FirstAsync(_audit.Store.ReadAsync(new AuditQuery { Subject = "private", Kind = AuditRecordKinds.Call }, Ct));
        Assert.NotNull(record.InputHash);
        Assert.Null(record.InputText);
    }

    [Fact]
    public async Task HumanReviewDeclined_AnswerQuotingThePerson_NotStored_ReviewerMayRejectOrWriteButNotApprove()
    {
        // The model's answer repeats the person's words, and an earlier answer in the history does too: for a person who
        // declined human review none of it may reach the review queue, while the control person's item keeps it all.
        var pipeline = new SafeAIPipelineBuilder()
            .AddConsent(_consent)
            .AddHumanReview(_queue, static o => o.Mode = ReviewMode.Defer)
            .Build();
        using var client = new SafeAIChatClient(new EchoClient(), pipeline);
        await _consent.SetAsync("opted-out", ConsentPurposes.HumanReview, granted: false, cancellationToken: Ct);

        async Task<ReviewItem> AskAsync(string user, string marker)
        {
            var response = await client.GetResponseAsync(
                [
                    new ChatMessage(ChatRole.System, "You are the bank's assistant."),
                    new ChatMessage(ChatRole.User, "my account is " + marker),
                    new ChatMessage(ChatRole.Assistant, "noted, account " + marker),
                    new ChatMessage(ChatRole.User, "can I borrow against " + marker + "?"),
                ],
                new ChatOptions().WithUser(user).WithRiskTier(RiskTier.High),
                Ct);
            var ticket = Assert.IsType<ReviewOutcome>(response.GetReviewOutcome()).TicketId;
            return (await _queue.GetAsync(ticket, Ct))!;
        }

        var control = await AskAsync("control", "CONTROL-41aa");
        var item = await AskAsync("opted-out", "OPTEDOUT-77be");

        Assert.True(FileHolds("review.db", "CONTROL-41aa"), "the control person's text should be in review.db: the check can fail");
        Assert.False(FileHolds("review.db", "OPTEDOUT-77be"), "the person who declined human review has text in review.db");
        Assert.False(control.TextWithheld);
        Assert.Contains("CONTROL-41aa", control.ProposedAnswer, StringComparison.Ordinal);

        // What a reviewer can still act on: the triggers, the risk tier, the ids and the app's own system message.
        Assert.True(item.TextWithheld);
        Assert.Equal(ReviewReasons.AnswerWithheld, item.ProposedAnswer);
        Assert.Equal(["system", "user", "assistant", "user"], item.Request.Select(static m => m.Role));
        Assert.Equal("You are the bank's assistant.", item.Request[0].Text);
        Assert.All(item.Request.Skip(1), static m => Assert.Equal(ReviewReasons.TextWithheld, m.Text));
        Assert.Contains(ReviewReasons.TriggerRiskTier, item.Triggers);
        Assert.Equal(RiskTier.High, item.RiskTier);

        // An answer nobody may read cannot be approved; the reviewer writes one instead (or rejects it).
        var refused = await Assert.ThrowsAsync<ReviewConflictException>(async () => await _queue.DecideAsync(item.Id, item.Version, ReviewDecision.Approve("rev-1"), Ct));
        Assert.Contains("cannot be approved", refused.Message, StringComparison.Ordinal);
        var edited = await _queue.DecideAsync(item.Id, item.Version, ReviewDecision.Edit("rev-1", "Please call us on 0800 000 0000 about borrowing."), Ct);
        Assert.Equal(ReviewState.Edited, edited.State);
        Assert.Equal("Please call us on 0800 000 0000 about borrowing.", edited.FinalAnswer);
        Assert.True((await _queue.GetAsync(item.Id, Ct))!.TextWithheld);
    }

    [Fact]
    public async Task ConsentChanges_AreAuditRecords_AndTheChainVerifies()
    {
        await _consent.SetAsync("u-1", ConsentPurposes.ImproveModel, granted: false, actor: "u-1", cancellationToken: Ct);
        await _consent.SetAsync("u-1", ConsentPurposes.ImproveModel, granted: true, actor: "support-7", cancellationToken: Ct);

        var records = new List<AuditRecord>();
        await foreach (var r in _audit.Store.ReadAsync(new AuditQuery { Kind = AuditRecordKinds.Consent }, Ct))
        {
            records.Add(r);
        }

        Assert.Equal(2, records.Count);
        Assert.Contains("\"granted\":false", records[0].Body, StringComparison.Ordinal);
        Assert.Contains("\"actor\":\"support-7\"", records[1].Body, StringComparison.Ordinal);
        Assert.All(records, static r => Assert.Equal("u-1", r.Subject));
        Assert.True((await AuditChain.VerifyAsync(_audit.Store.ReadAsync(null, Ct), null, Ct)).IsIntact);
        Assert.True(await _consent.IsPermittedAsync("u-1", ConsentPurposes.ImproveModel, Ct));
        await Assert.ThrowsAsync<ArgumentException>(async () => await _consent.SetAsync("u-1", "marketing", true, cancellationToken: Ct));
    }

    [Fact]
    public async Task ConsentStoreUnreachable_CallGoesOn_WithEveryPurposeDeclined()
    {
        var broken = new ConsentManager(SqliteStores.CreateConsentStore(new SqliteConsentStoreOptions { DataSource = Path.Combine(_dir, "missing", "consent.db") }));
        var pipeline = new SafeAIPipelineBuilder().AddConsent(broken).AddAuditTrail(_audit).Build();
        using var client = new SafeAIChatClient(new AnswerClient(), pipeline);
        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "UNREACHABLE-1b2c")], new ChatOptions().WithUser("someone"), Ct);
        Assert.Equal("the answer", response.Text);
        await _audit.FlushAsync(Ct);
        Assert.False(FileHolds("audit.db", "UNREACHABLE-1b2c"));
    }

    private static async Task<T> FirstAsync<T>(IAsyncEnumerable<T> items)
    {
        await foreach (var item in items)
        {
            return item;
        }

        throw new InvalidOperationException("empty");
    }

    /// <summary>
    /// How a monitoring consumer keeps text samples: only where <see cref="ConsentPurposes.IsPermitted"/> allows
    /// <c>analytics</c> (the contract the monitoring package will use), here into its own SQLite file.
    /// </summary>
    private sealed class MonitoringSampler(string path) : OutputGuard("monitoring-sampler")
    {
        protected override async ValueTask<GuardVerdict> CheckAsync(SafeAIContext context, OutputSegment output, CancellationToken cancellationToken)
        {
            if (ConsentPurposes.IsPermitted(context.CallContext, ConsentPurposes.Analytics))
            {
                using var connection = new SqliteConnection($"Data Source={path}");
                await connection.OpenAsync(cancellationToken);
                using var command = connection.CreateCommand();
                command.CommandText = "CREATE TABLE IF NOT EXISTS samples (input TEXT); INSERT INTO samples (input) VALUES ($t)";
                command.Parameters.AddWithValue("$t", context.Messages.Last().Text);
                await command.ExecuteNonQueryAsync(cancellationToken);
            }

            return GuardVerdict.Allow(Name);
        }
    }

    /// <summary>Answers with the person's last message quoted, as models often do.</summary>
    private sealed class EchoClient : IChatClient
    {
        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "About \"" + messages.Last(static m => m.Role == ChatRole.User).Text + "\": yes.")) { ResponseId = Guid.NewGuid().ToString("N") });

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }

    private sealed class AnswerClient : IChatClient
    {
        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "the answer")) { ResponseId = Guid.NewGuid().ToString("N") });

        public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            await Task.Yield();
            yield return new ChatResponseUpdate(ChatRole.Assistant, "the answer");
        }

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }
}

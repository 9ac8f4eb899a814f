using System.Diagnostics;
using Npgsql;
using SafeAI.Feedback;
using SafeAI.Review;

namespace SafeAI.PostgreSql.Tests;

public sealed class PostgreSqlFeedbackStoreTests(PostgresFixture fixture) : IClassFixture<PostgresFixture>, IAsyncDisposable
{
    private readonly string _schema = "f" + Guid.NewGuid().ToString("N")[..12];
    private readonly List<IAsyncDisposable> _disposables = [];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask DisposeAsync()
    {
        foreach (var d in _disposables)
        {
            await d.DisposeAsync();
        }
    }

    private PostgreSqlFeedbackStore NewStore(string? connectionString = null)
    {
        var store = new PostgreSqlFeedbackStore(new PostgreSqlFeedbackStoreOptions { ConnectionString = connectionString ?? fixture.ConnectionString, Schema = _schema });
        _disposables.Add(store);
        return store;
    }

    [Fact]
    public async Task Open_WithReviewStore_BothSchemasVersionedAndFeedbackJoinsReviewItems()
    {
        var reviews = new PostgreSqlReviewStore(new PostgreSqlReviewStoreOptions { ConnectionString = fixture.ConnectionString, Schema = _schema });
        _disposables.Add(reviews);
        using var queue = new ReviewQueue(reviews);
        var item = await queue.SubmitAsync(new ReviewSubmission { ProposedAnswer = "You qualify.", RiskTier = RiskTier.High }, Ct);
        var a = NewStore();
        var b = NewStore();
        await Task.WhenAll(a.GetAsync("x", Ct).AsTask(), b.GetAsync("x", Ct).AsTask());
        await a.AddAsync(FeedbackEntry.Create("resp-1", FeedbackRating.Down, "too optimistic") with { ReviewTicketId = item.Id }, Ct);

        Assert.Equal(PostgreSqlFeedbackStore.SchemaVersion, await b.GetSchemaVersionAsync(Ct));
        await using var connection = new NpgsqlConnection(fixture.ConnectionString);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand(
            $"""
            SELECT (SELECT string_agg(component || ':' || version, ',' ORDER BY component) FROM "{_schema}".safeai_schema_version), f.comment, r.state
            FROM "{_schema}".safeai_feedback f JOIN "{_schema}".safeai_review_items r ON r.id = f.review_ticket_id
            """,
            connection);
        await using var reader = await command.ExecuteReaderAsync(Ct);
        Assert.True(await reader.ReadAsync(Ct));
        Assert.Equal("feedback:1,review:1", reader.GetString(0));
        Assert.Equal("too optimistic", reader.GetString(1));
        Assert.Equal((int)ReviewState.Pending, reader.GetInt32(2));
    }

    [Fact]
    public async Task Open_FeedbackAndReviewStoresFirstUseAtOnce_MigrateBothOnceAndKeepEveryWrite()
    {
        var writes = new List<Task>();
        for (var i = 0; i < 4; i++)
        {
            var reviews = new PostgreSqlReviewStore(new PostgreSqlReviewStoreOptions { ConnectionString = fixture.ConnectionString, Schema = _schema });
            _disposables.Add(reviews);
            var feedback = NewStore();
            var n = i;
            writes.Add(Task.Run(async () => await reviews.AddAsync(new ReviewItem { Id = $"item-{n}", ProposedAnswer = "x" }, Ct), Ct));
            writes.Add(Task.Run(async () => await feedback.AddAsync(FeedbackEntry.Create($"resp-{n}", FeedbackRating.Up), Ct), Ct));
        }

        await Task.WhenAll(writes);

        await using var connection = new NpgsqlConnection(fixture.ConnectionString);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand(
            $"""
            SELECT (SELECT string_agg(component || ':' || version, ',' ORDER BY component) FROM "{_schema}".safeai_schema_version),
                   (SELECT count(*) FROM "{_schema}".safeai_review_items), (SELECT count(*) FROM "{_schema}".safeai_feedback)
            """,
            connection);
        await using var reader = await command.ExecuteReaderAsync(Ct);
        Assert.True(await reader.ReadAsync(Ct));
        Assert.Equal("feedback:1,review:1", reader.GetString(0));
        Assert.Equal(4, reader.GetInt64(1));
        Assert.Equal(4, reader.GetInt64(2));
    }

    [Fact]
    public async Task RoundTrip_AnotherInstance_ReadsEveryFieldFiltersAndPages()
    {
        var writer = NewStore();
        var first = FeedbackEntry.Create("resp-a", FeedbackRating.Down, "'); DROP TABLE x; -- 🧨 \u202E") with
        {
            UserId = "u-1", TenantId = "northwind", ConversationId = "conv-9", ReviewTicketId = "t-1",
        };
        await writer.AddAsync(first, Ct);
        for (var i = 0; i < 5; i++)
        {
            await writer.AddAsync(FeedbackEntry.Create(i % 2 == 0 ? "resp-a" : "resp-b", FeedbackRating.Up, $"c{i}"), Ct);
        }

        var reader = NewStore();
        Assert.Equal(first with { CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(first.CreatedAt.ToUnixTimeMilliseconds()) }, await reader.GetAsync(first.Id, Ct));
        var comments = new List<string?>();
        string? token = null;
        do
        {
            var page = await reader.ListAsync(new FeedbackQuery { ResponseId = "resp-a", PageSize = 2, ContinuationToken = token }, Ct);
            comments.AddRange(page.Items.Select(e => e.Comment));
            token = page.ContinuationToken;
        }
        while (token is not null);

        Assert.Equal([first.Comment, "c0", "c2", "c4"], comments);
        Assert.Single((await reader.ListAsync(new FeedbackQuery { Rating = FeedbackRating.Down, ReviewTicketId = "t-1" }, Ct)).Items);
        var duplicate = await Assert.ThrowsAsync<ArgumentException>(async () => await reader.AddAsync(first, Ct));
        Assert.Contains("already exists", duplicate.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentException>(async () => await reader.AddAsync(first with { Id = "nul", Comment = "a\0b" }, Ct));
        Assert.Equal(6, (await reader.ListAsync(new FeedbackQuery(), Ct)).Items.Count);
    }

    [Fact]
    public async Task ServerGoesAway_StoreFailsWithClearErrorWithoutHanging()
    {
        _ = fixture.ConnectionString; // skips with an install hint when PostgreSQL is missing
        await using var server = await PostgresServer.StartAsync(Ct);
        var store = NewStore(server.ConnectionString);
        await store.AddAsync(FeedbackEntry.Create("r", FeedbackRating.Up), Ct);
        await server.StopAsync(Ct);

        var sw = Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<FeedbackStoreException>(async () => await store.AddAsync(FeedbackEntry.Create("r", FeedbackRating.Down), Ct));
        Assert.Contains("PostgreSQL feedback store 127.0.0.1", ex.Message, StringComparison.Ordinal);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(20), $"took {sw.Elapsed}");
    }

    [Fact]
    public void Options_Invalid_ErrorNamesSetting()
    {
        var ex = Assert.Throws<ArgumentException>(() => new PostgreSqlFeedbackStore(new PostgreSqlFeedbackStoreOptions { ConnectionString = "Host=x", Schema = "bad;drop" }));
        Assert.Contains("SafeAI:Feedback:PostgreSql:Schema", ex.Message, StringComparison.Ordinal);
    }
}

using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using SafeAI.Feedback;
using SafeAI.Review;

namespace SafeAI.Sqlite.Tests;

public sealed class SqliteFeedbackStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("safeai-sqlite-fb-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string DbPath => Path.Combine(_dir, "safeai.db");

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private SqliteFeedbackStore NewStore(string? path = null) => new(new SqliteFeedbackStoreOptions { DataSource = path ?? DbPath });

    [Fact]
    public async Task Open_ReviewStoreFile_BothSchemasVersionedAndFeedbackJoinsReviewItems()
    {
        using var reviews = new SqliteReviewStore(new SqliteReviewStoreOptions { DataSource = DbPath });
        using var queue = new ReviewQueue(reviews);
        var item = await queue.SubmitAsync(new ReviewSubmission { ProposedAnswer = "You qualify for 15,000 EUR.", RiskTier = RiskTier.High }, Ct);
        using var store = NewStore();
        await store.AddAsync(FeedbackEntry.Create("resp-1", FeedbackRating.Down, "too optimistic") with { ReviewTicketId = item.Id }, Ct);

        Assert.Equal(SqliteFeedbackStore.SchemaVersion, await store.GetSchemaVersionAsync(Ct));
        using var connection = new SqliteConnection($"Data Source={DbPath}");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT (SELECT group_concat(component || ':' || version, ',') FROM (SELECT * FROM safeai_schema_version ORDER BY component)),
                   f.comment, r.state
            FROM safeai_feedback f JOIN safeai_review_items r ON r.id = f.review_ticket_id
            """;
        using var reader = command.ExecuteReader();
        Assert.True(reader.Read());
        Assert.Equal("feedback:1,review:1", reader.GetString(0));
        Assert.Equal("too optimistic", reader.GetString(1));
        Assert.Equal((int)ReviewState.Pending, reader.GetInt32(2));
    }

    [Fact]
    public async Task RoundTrip_NewInstanceAfterRestart_ReadsEveryFieldFiltersAndPages()
    {
        var first = FeedbackEntry.Create("resp-a", FeedbackRating.Down, "wrong fee") with
        {
            UserId = "u-1", TenantId = "northwind", ConversationId = "conv-9", ReviewTicketId = "t-1",
        };
        using (var store = NewStore())
        {
            await store.AddAsync(first, Ct);
            for (var i = 0; i < 5; i++)
            {
                await store.AddAsync(FeedbackEntry.Create(i % 2 == 0 ? "resp-a" : "resp-b", FeedbackRating.Up, $"c{i}"), Ct);
            }
        }

        SqliteConnection.ClearAllPools();
        using var reopened = NewStore();
        var read = await reopened.GetAsync(first.Id, Ct);
        Assert.Equal(first with { CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(first.CreatedAt.ToUnixTimeMilliseconds()) }, read);
        Assert.Null(await reopened.GetAsync("missing", Ct));

        var comments = new List<string?>();
        string? token = null;
        do
        {
            var page = await reopened.ListAsync(new FeedbackQuery { ResponseId = "resp-a", PageSize = 2, ContinuationToken = token }, Ct);
            comments.AddRange(page.Items.Select(e => e.Comment));
            token = page.ContinuationToken;
        }
        while (token is not null);

        Assert.Equal(["wrong fee", "c0", "c2", "c4"], comments);
        Assert.Equal(["wrong fee"], (await reopened.ListAsync(new FeedbackQuery { Rating = FeedbackRating.Down }, Ct)).Items.Select(e => e.Comment));
        Assert.Equal(["wrong fee"], (await reopened.ListAsync(new FeedbackQuery { ReviewTicketId = "t-1" }, Ct)).Items.Select(e => e.Comment));
    }

    [Fact]
    public async Task AddAsync_HostileAndHugeText_StoredExactly()
    {
        using var store = NewStore();
        var hostile = "'); DROP TABLE safeai_feedback; -- \u202Eevil 🧨 \"quotes\" \\ back\nslash" + new string('z', FeedbackEntry.MaxCommentLength - 80);
        var entry = FeedbackEntry.Create("resp-'; --", FeedbackRating.Down, hostile);
        await store.AddAsync(entry, Ct);

        Assert.Equal(hostile, (await store.GetAsync(entry.Id, Ct))!.Comment);
        Assert.Equal("resp-'; --", (await store.ListAsync(new FeedbackQuery { ResponseId = "resp-'; --" }, Ct)).Items.Single().ResponseId);
    }

    [Fact]
    public async Task AddAsync_InvalidOrDuplicate_ClearErrorAndNothingLost()
    {
        using var store = NewStore();
        var entry = FeedbackEntry.Create("resp", FeedbackRating.Up, "ok");
        await store.AddAsync(entry, Ct);

        var tooLong = await Assert.ThrowsAsync<ArgumentException>(async () => await store.AddAsync(entry with { Id = "x", Comment = new string('c', 4001) }, Ct));
        Assert.Contains("Comment must be at most 4000", tooLong.Message, StringComparison.Ordinal);
        var duplicate = await Assert.ThrowsAsync<ArgumentException>(async () => await store.AddAsync(entry with { Comment = "again" }, Ct));
        Assert.Contains("already exists", duplicate.Message, StringComparison.Ordinal);
        Assert.Equal("ok", (await store.ListAsync(new FeedbackQuery(), Ct)).Items.Single().Comment);
    }

    [Fact]
    public async Task Open_SchemaNewerThanPackage_FailsWithClearError()
    {
        using (var store = NewStore())
        {
            await store.AddAsync(FeedbackEntry.Create("r", FeedbackRating.Up), Ct);
        }

        using (var connection = new SqliteConnection($"Data Source={DbPath}"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "UPDATE safeai_schema_version SET version = 9 WHERE component = 'feedback'";
            command.ExecuteNonQuery();
        }

        SqliteConnection.ClearAllPools();
        using var newer = NewStore();
        var ex = await Assert.ThrowsAsync<FeedbackStoreException>(async () => await newer.GetAsync("r", Ct));
        Assert.Contains("schema version 9", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_NotADatabaseFile_FailsWithSchemaErrorAndRetriesOnNextCall()
    {
        await File.WriteAllTextAsync(DbPath, new string('x', 4096), Ct);
        using var store = NewStore();

        var ex = await Assert.ThrowsAsync<FeedbackStoreException>(async () => await store.AddAsync(FeedbackEntry.Create("r", FeedbackRating.Up), Ct));
        Assert.StartsWith($"The SQLite feedback store '{DbPath}' could not create or migrate its schema:", ex.Message, StringComparison.Ordinal);
        Assert.IsType<SqliteException>(ex.InnerException);

        SqliteConnection.ClearAllPools();
        File.Delete(DbPath);
        await store.AddAsync(FeedbackEntry.Create("r", FeedbackRating.Up), Ct);
        Assert.Single((await store.ListAsync(new FeedbackQuery(), Ct)).Items);
        Assert.Equal(SqliteFeedbackStore.SchemaVersion, await store.GetSchemaVersionAsync(Ct));
    }

    [Fact]
    public async Task Open_ManyFirstCallsAtOnce_CreateTheSchemaOnceAndKeepEveryEntry()
    {
        using var store = NewStore();
        var adds = new Task[16];
        for (var i = 0; i < adds.Length; i++)
        {
            var entry = FeedbackEntry.Create($"r{i}", FeedbackRating.Up);
            adds[i] = Task.Run(async () => await store.AddAsync(entry, Ct), Ct);
        }

        await Task.WhenAll(adds);

        Assert.Equal(adds.Length, (await store.ListAsync(new FeedbackQuery { PageSize = 100 }, Ct)).Items.Count);
        Assert.Equal(SqliteFeedbackStore.SchemaVersion, await store.GetSchemaVersionAsync(Ct));
    }

    [Fact]
    public async Task Open_FolderMissing_FailsWithClearErrorNamingTheFile()
    {
        var path = Path.Combine(_dir, "no-such-folder", "feedback.db");
        using var store = NewStore(path);

        var ex = await Assert.ThrowsAsync<FeedbackStoreException>(async () => await store.AddAsync(FeedbackEntry.Create("r", FeedbackRating.Up), Ct));
        Assert.Contains("SQLite feedback store", ex.Message, StringComparison.Ordinal);
        Assert.Contains("no-such-folder", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UseSqliteFeedbackStore_UnderDI_BindsConfigurationAndValidatesOnStart()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["SafeAI:Feedback:Sqlite:DataSource"] = DbPath,
        }).Build());
        services.AddSafeAI(safe => safe.AddFeedback().UseSqliteFeedbackStore());
        using (var sp = services.BuildServiceProvider())
        {
            Assert.IsType<SqliteFeedbackStore>(sp.GetRequiredService<IFeedbackStore>());
            Assert.Equal(DbPath, sp.GetRequiredService<IOptions<SqliteFeedbackStoreOptions>>().Value.DataSource);
        }

        var bad = new ServiceCollection();
        bad.AddSafeAI(safe => safe.UseSqliteFeedbackStore(o => o.BusyTimeout = TimeSpan.Zero));
        using var badSp = bad.BuildServiceProvider();
        var ex = Assert.Throws<OptionsValidationException>(() => badSp.GetRequiredService<IOptions<SqliteFeedbackStoreOptions>>().Value);
        Assert.Contains("SafeAI:Feedback:Sqlite:BusyTimeout", ex.Message, StringComparison.Ordinal);
    }
}

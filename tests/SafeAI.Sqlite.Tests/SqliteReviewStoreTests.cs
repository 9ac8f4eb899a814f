using System.Diagnostics;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using SafeAI.Review;

namespace SafeAI.Sqlite.Tests;

public sealed class SqliteReviewStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("safeai-sqlite-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string DbPath => Path.Combine(_dir, "review.db");

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

    private SqliteReviewStore NewStore(string? path = null) => new(new SqliteReviewStoreOptions { DataSource = path ?? DbPath });

    private static ReviewSubmission Submission(int i) => new()
    {
        ProposedAnswer = $"answer {i}",
        Request = [new ReviewMessage("user", $"question {i}")],
        Verdicts = [GuardVerdict.Allow("content") with { Score = 0.5, Threshold = 0.8, Detail = "band" }],
        Triggers = [ReviewReasons.TriggerBorderline],
        UserId = "u-1",
        RiskTier = RiskTier.High,
    };

    [Fact]
    public async Task Open_NewFile_CreatesVersionedSchemaInWalMode()
    {
        using var store = NewStore();
        await store.AddAsync(new ReviewItem { Id = "a", ProposedAnswer = "x" }, Ct);

        Assert.Equal(SqliteReviewStore.SchemaVersion, await store.GetSchemaVersionAsync(Ct));
        using var connection = new SqliteConnection($"Data Source={DbPath}");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode;";
        Assert.Equal("wal", (string)command.ExecuteScalar()!);
    }

    [Fact]
    public async Task Open_SchemaNewerThanPackage_FailsWithClearError()
    {
        using (var store = NewStore())
        {
            await store.AddAsync(new ReviewItem { Id = "a", ProposedAnswer = "x" }, Ct);
        }

        SqliteConnection.ClearAllPools();
        using (var connection = new SqliteConnection($"Data Source={DbPath}"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "UPDATE safeai_schema_version SET version = 99 WHERE component = 'review';";
            command.ExecuteNonQuery();
        }

        using var newer = NewStore();
        var ex = await Assert.ThrowsAsync<ReviewStoreException>(async () => await newer.GetAsync("a", Ct));
        Assert.Contains("schema version 99", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reopen_AfterRestart_ItemsAndDecisionsSurvive()
    {
        string id;
        using (var store = NewStore())
        {
            using var queue = new ReviewQueue(store);
            var item = await queue.SubmitAsync(Submission(1), Ct);
            await queue.DecideAsync(item.Id, item.Version, ReviewDecision.Edit("alice", "edited", "tone"), Ct);
            id = item.Id;
        }

        SqliteConnection.ClearAllPools();
        using var reopened = NewStore();
        var stored = (await reopened.GetAsync(id, Ct))!;
        Assert.Equal(ReviewState.Edited, stored.State);
        Assert.Equal("edited", stored.FinalAnswer);
        Assert.Equal("alice", stored.ReviewerId);
        Assert.Equal("tone", stored.Comment);
        Assert.Equal("question 1", Assert.Single(stored.Request).Text);
        var verdict = Assert.Single(stored.Verdicts);
        Assert.Equal(("content", 0.5, 0.8, "band"), (verdict.Stage, verdict.Score, verdict.Threshold, verdict.Detail));
        Assert.Equal(RiskTier.High, stored.RiskTier);
    }

    [Fact]
    public async Task DecideAsync_TwoStoreInstancesSameFile_OnlyOneDecisionWins()
    {
        using var storeA = NewStore();
        using var storeB = NewStore();
        using var queueA = new ReviewQueue(storeA);
        using var queueB = new ReviewQueue(storeB);
        for (var round = 0; round < 10; round++)
        {
            var item = await queueA.SubmitAsync(Submission(round), Ct);
            var a = Task.Run(async () => await queueA.DecideAsync(item.Id, item.Version, ReviewDecision.Approve("alice"), Ct), Ct);
            var b = Task.Run(async () => await queueB.DecideAsync(item.Id, item.Version, ReviewDecision.Reject("bob"), Ct), Ct);
            await Task.WhenAll(a.ContinueWith(_ => { }, TaskScheduler.Default), b.ContinueWith(_ => { }, TaskScheduler.Default));

            Assert.Equal(1, new[] { a, b }.Count(t => t.IsCompletedSuccessfully));
            Assert.IsType<ReviewConflictException>((a.IsFaulted ? a : b).Exception!.InnerException);
        }
    }

    [Fact]
    public async Task ClaimNextAsync_ReviewersOnTwoStoreInstances_ClaimDistinctItems()
    {
        using var storeA = NewStore();
        using var storeB = NewStore();
        using var queueA = new ReviewQueue(storeA);
        using var queueB = new ReviewQueue(storeB);
        for (var i = 0; i < 20; i++)
        {
            await queueA.SubmitAsync(Submission(i), Ct);
        }

        var claims = await Task.WhenAll(Enumerable.Range(0, 24).Select(i => Task.Run(async () =>
            await (i % 2 == 0 ? queueA : queueB).ClaimNextAsync($"r{i}", cancellationToken: Ct), Ct)));

        var claimed = claims.Where(c => c is not null).Select(c => c!.Id).ToList();
        Assert.Equal(20, claimed.Count);
        Assert.Equal(20, claimed.Distinct().Count());
        Assert.Empty((await queueB.ListAsync(new ReviewQuery { States = [ReviewState.Pending] }, Ct)).Items);
    }

    [Fact]
    public async Task ListAsync_Paging_VisitsEachItemOnce()
    {
        using var store = NewStore();
        using var queue = new ReviewQueue(store);
        var ids = new List<string>();
        for (var i = 0; i < 11; i++)
        {
            ids.Add((await queue.SubmitAsync(Submission(i), Ct)).Id);
        }

        var seen = new List<string>();
        string? token = null;
        do
        {
            var page = await queue.ListAsync(new ReviewQuery { PageSize = 4, ContinuationToken = token }, Ct);
            seen.AddRange(page.Items.Select(i => i.Id));
            token = page.ContinuationToken;
        }
        while (token is not null);

        Assert.Equal(ids, seen);
    }

    [Fact]
    public async Task RoundTrip_HostileAndHugeText_StoredExactly()
    {
        using var store = NewStore();
        using var queue = new ReviewQueue(store);
        var hostile = "'); DROP TABLE safeai_review_items; -- \u0000 \"quoted\" \u202Eevil\u202C 🙂 \\ $id";
        var huge = new string('x', 2_000_000);
        var item = await queue.SubmitAsync(new ReviewSubmission { ProposedAnswer = huge, Request = [new ReviewMessage("user", hostile)], UserId = hostile }, Ct);

        var stored = (await NewStore().GetAsync(item.Id, Ct))!;

        Assert.Equal(hostile, stored.Request[0].Text);
        Assert.Equal(hostile, stored.UserId);
        Assert.Equal(huge, stored.ProposedAnswer);
        Assert.Single((await queue.ListAsync(cancellationToken: Ct)).Items);
    }

    [Fact]
    public async Task Open_NotADatabaseFile_FailsWithClearErrorAndRetriesOnNextCall()
    {
        await File.WriteAllTextAsync(DbPath, new string('x', 4096), Ct);
        using var store = NewStore();

        var ex = await Assert.ThrowsAsync<ReviewStoreException>(async () => await store.AddAsync(new ReviewItem { Id = "a", ProposedAnswer = "x" }, Ct));
        Assert.StartsWith($"The SQLite review store '{DbPath}' could not add a review item:", ex.Message, StringComparison.Ordinal);
        Assert.IsType<SqliteException>(ex.InnerException);

        SqliteConnection.ClearAllPools();
        File.Delete(DbPath);
        await store.AddAsync(new ReviewItem { Id = "a", ProposedAnswer = "x" }, Ct);
        Assert.Equal("x", (await store.GetAsync("a", Ct))!.ProposedAnswer);
        Assert.Equal(SqliteReviewStore.SchemaVersion, await store.GetSchemaVersionAsync(Ct));
    }

    [Fact]
    public async Task GetAsync_CorruptRow_FailsWithClearError()
    {
        using var store = NewStore();
        await store.AddAsync(new ReviewItem { Id = "a", ProposedAnswer = "x" }, Ct);
        using (var connection = new SqliteConnection($"Data Source={DbPath}"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "UPDATE safeai_review_items SET data = '{not json' WHERE id = 'a';";
            command.ExecuteNonQuery();
        }

        var ex = await Assert.ThrowsAsync<ReviewStoreException>(async () => await store.GetAsync("a", Ct));
        Assert.Contains("malformed", ex.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ReviewConflictException>(async () => await store.AddAsync(new ReviewItem { Id = "a", ProposedAnswer = "y" }, Ct));
    }

    [Fact]
    public async Task ProcessTimeoutsAsync_DueItems_EscalateInTheFile()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        using var store = NewStore();
        using var queue = new ReviewQueue(store, new ReviewQueueOptions { ReviewTimeout = TimeSpan.FromMinutes(5), SweepInterval = Timeout.InfiniteTimeSpan }, time);
        var item = await queue.SubmitAsync(Submission(1), Ct);

        time.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(1, await queue.ProcessTimeoutsAsync(Ct));

        var escalated = (await store.GetAsync(item.Id, Ct))!;
        Assert.Equal(ReviewState.Escalated, escalated.State);
        Assert.Equal(2, escalated.Tier);
        Assert.Equal(0, await queue.ProcessTimeoutsAsync(Ct));
    }

    [Fact]
    public async Task AddAsync_UnwritableLocation_FailsWithClearErrorQuickly()
    {
        var blocker = Path.Combine(_dir, "not-a-directory");
        await File.WriteAllTextAsync(blocker, "x", Ct);
        using var store = NewStore(Path.Combine(blocker, "review.db"));

        var sw = Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<ReviewStoreException>(async () => await store.AddAsync(new ReviewItem { Id = "a", ProposedAnswer = "x" }, Ct));

        Assert.Contains("SQLite review store", ex.Message, StringComparison.Ordinal);
        Assert.Contains("review.db", ex.Message, StringComparison.Ordinal);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task HeldCall_StoreUnavailable_FailsClosedWithoutTheAnswer()
    {
        var blocker = Path.Combine(_dir, "not-a-directory");
        await File.WriteAllTextAsync(blocker, "x", Ct);
        var services = new ServiceCollection();
        services.AddSafeAI(safe => safe.AddHumanReview().UseSqliteReviewStore(o => o.DataSource = Path.Combine(blocker, "review.db")));
        services.AddChatClient(new FaqChatClient([new FaqEntry("Can I get a loan?", "You can borrow 20,000.", "loan")])).UseSafeAI();
        await using var sp = services.BuildServiceProvider();
        var client = sp.GetRequiredService<IChatClient>();

        var response = await client.GetResponseAsync("loan?", new ChatOptions().WithRiskTier(RiskTier.High), Ct).WaitAsync(TimeSpan.FromSeconds(20), Ct);

        Assert.DoesNotContain("20,000", response.Text, StringComparison.Ordinal);
        var verdict = response.GetSafeAIResult()!.DecisiveVerdict!.Value;
        Assert.Equal((GuardAction.Block, GuardReasons.GuardError, "review"), (verdict.Action, verdict.Reason, verdict.Stage));
        Assert.Equal(nameof(ReviewStoreException), verdict.Detail);
    }

    [Fact]
    public async Task UseSqliteReviewStore_WithHold_ReviewerOnAnotherQueueApproves()
    {
        var services = new ServiceCollection();
        services.AddSafeAI(safe => safe.AddHumanReview(o => o.Queue.PollInterval = TimeSpan.FromMilliseconds(50)).UseSqliteReviewStore(o => o.DataSource = DbPath));
        services.AddChatClient(new FaqChatClient([new FaqEntry("Can I get a loan?", "You can borrow 20,000.", "loan")])).UseSafeAI();
        await using var sp = services.BuildServiceProvider();
        var client = sp.GetRequiredService<IChatClient>();

        // The reviewer works in "another process": its own store and queue over the same file.
        using var reviewerStore = NewStore();
        using var reviewerQueue = new ReviewQueue(reviewerStore);
        var reviewer = Task.Run(async () =>
        {
            while (true)
            {
                var item = await reviewerQueue.ClaimNextAsync("alice", cancellationToken: Ct);
                if (item is not null)
                {
                    await reviewerQueue.DecideAsync(item.Id, item.Version, ReviewDecision.Approve("alice"), Ct);
                    return;
                }

                await Task.Delay(20, Ct);
            }
        }, Ct);

        var response = await client.GetResponseAsync("loan?", new ChatOptions().WithRiskTier(RiskTier.High), Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        await reviewer;

        Assert.Contains("20,000", response.Text, StringComparison.Ordinal);
        Assert.Equal("alice", response.GetReviewOutcome()!.ReviewerId);
        Assert.IsType<SqliteReviewStore>(sp.GetRequiredService<IReviewStore>());
    }

    [Fact]
    public async Task ChildProcessKilledWhileWriting_ReopenedFileHasEveryAcknowledgedItem()
    {
        var writer = FindCrashWriter();
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(writer);
        start.ArgumentList.Add(DbPath);
        start.ArgumentList.Add("100000");
        using var process = Process.Start(start)!;
        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        var decided = new HashSet<string>(StringComparer.Ordinal);
        var killed = false;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(90));
        while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
        {
            var parts = line.Split(' ');
            if (parts[0] == "A")
            {
                added[parts[1]] = int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture);
            }
            else if (parts[0] == "D")
            {
                decided.Add(parts[1]);
            }

            if (!killed && decided.Count >= 150)
            {
                process.Kill(entireProcessTree: true);
                killed = true;
            }
        }

        await process.WaitForExitAsync(Ct);
        Assert.True(killed, "The writer finished before it was killed: " + await process.StandardError.ReadToEndAsync(Ct));
        Assert.NotEqual(0, process.ExitCode);

        SqliteConnection.ClearAllPools();
        using var reopened = NewStore();
        foreach (var (id, i) in added)
        {
            var item = await reopened.GetAsync(id, Ct);
            Assert.NotNull(item);
            Assert.Equal($"answer {i}", item.ProposedAnswer);
            Assert.Equal(0.42, Assert.Single(item.Verdicts).Score);
            if (decided.Contains(id))
            {
                Assert.Equal(ReviewState.Approved, item.State);
                Assert.Equal($"writer-{i}", item.ReviewerId);
            }
        }

        Assert.True(added.Count >= 150);
    }

    private static string FindCrashWriter()
    {
        // tests/SafeAI.Sqlite.Tests/bin/<Configuration>/<tfm>/ -> tests/SafeAI.Sqlite.Tests.CrashWriter/bin/<Configuration>/<tfm>/
        var baseDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var tfm = baseDir.Name;
        var configuration = baseDir.Parent!.Name;
        var testsDir = baseDir.Parent!.Parent!.Parent!.Parent!.FullName;
        var path = Path.Combine(testsDir, "SafeAI.Sqlite.Tests.CrashWriter", "bin", configuration, tfm, "SafeAI.Sqlite.Tests.CrashWriter.dll");
        Assert.True(File.Exists(path), $"The crash writer was not built at {path}.");
        return path;
    }

    [Fact]
    public void Options_EachInvalidSetting_ErrorNamesItUnderItsStoresSection()
    {
        Assert.Equal(
            "SafeAI:HumanReview:Sqlite:DataSource or SafeAI:HumanReview:Sqlite:ConnectionString must be set.",
            Assert.Throws<ArgumentException>(() => new SqliteReviewStore(new SqliteReviewStoreOptions { DataSource = " " })).Message.Split(" (Parameter")[0]);
        Assert.Equal(
            "SafeAI:Feedback:Sqlite:BusyTimeout must be between 1 millisecond and 10 minutes.",
            new SqliteFeedbackStoreOptions { BusyTimeout = TimeSpan.FromMinutes(11) }.GetError());
        Assert.Equal(
            "SafeAI:HumanReview:Sqlite:BusyTimeout must be between 1 millisecond and 10 minutes.",
            new SqliteReviewStoreOptions { BusyTimeout = TimeSpan.Zero }.GetError());
        Assert.Null(new SqliteFeedbackStoreOptions { DataSource = string.Empty, ConnectionString = "Data Source=x.db" }.GetError());
    }
}

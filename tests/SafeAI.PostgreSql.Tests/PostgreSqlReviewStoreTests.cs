using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using SafeAI.Review;

namespace SafeAI.PostgreSql.Tests;

public sealed class PostgreSqlReviewStoreTests(PostgresFixture fixture) : IClassFixture<PostgresFixture>, IAsyncDisposable
{
    private readonly string _schema = "t" + Guid.NewGuid().ToString("N")[..12];
    private readonly List<PostgreSqlReviewStore> _stores = [];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask DisposeAsync()
    {
        foreach (var store in _stores)
        {
            await store.DisposeAsync();
        }
    }

    private PostgreSqlReviewStore NewStore(string? connectionString = null)
    {
        var store = new PostgreSqlReviewStore(new PostgreSqlReviewStoreOptions { ConnectionString = connectionString ?? fixture.ConnectionString, Schema = _schema });
        _stores.Add(store);
        return store;
    }

    private static ReviewSubmission Submission(int i) => new()
    {
        ProposedAnswer = $"answer {i}",
        Request = [new ReviewMessage("user", $"question {i}")],
        Verdicts = [GuardVerdict.Escalate("confidence", "confidence.low") with { Score = 0.31, Threshold = 0.6 }],
        Triggers = [ReviewReasons.TriggerEscalated],
        TenantId = "northwind",
        RiskTier = RiskTier.High,
    };

    [Fact]
    public async Task Open_TwoInstancesAtOnce_CreateOneVersionedSchema()
    {
        var a = NewStore();
        var b = NewStore();

        await Task.WhenAll(a.GetAsync("x", Ct).AsTask(), b.GetAsync("x", Ct).AsTask());

        Assert.Equal(PostgreSqlReviewStore.SchemaVersion, await a.GetSchemaVersionAsync(Ct));
        await using var connection = new NpgsqlConnection(fixture.ConnectionString);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand($"SELECT count(*) FROM \"{_schema}\".safeai_schema_version", connection);
        Assert.Equal(1L, await command.ExecuteScalarAsync(Ct));
    }

    [Fact]
    public async Task Open_SchemaNewerThanPackage_FailsWithClearError()
    {
        await NewStore().GetAsync("x", Ct);
        await using (var connection = new NpgsqlConnection(fixture.ConnectionString))
        {
            await connection.OpenAsync(Ct);
            await using var command = new NpgsqlCommand($"UPDATE \"{_schema}\".safeai_schema_version SET version = 42", connection);
            await command.ExecuteNonQueryAsync(Ct);
        }

        var ex = await Assert.ThrowsAsync<ReviewStoreException>(async () => await NewStore().GetAsync("x", Ct));
        Assert.Contains("schema version 42", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RoundTrip_ItemWithDecision_ReadByAnotherInstance()
    {
        using var queue = new ReviewQueue(NewStore());
        var item = await queue.SubmitAsync(Submission(1), Ct);
        await queue.DecideAsync(item.Id, item.Version, ReviewDecision.Reject("carol", "no promises about amounts"), Ct);

        var stored = (await NewStore().GetAsync(item.Id, Ct))!;

        Assert.Equal(ReviewState.Rejected, stored.State);
        Assert.Equal("carol", stored.ReviewerId);
        Assert.Equal("no promises about amounts", stored.Comment);
        Assert.Equal("northwind", stored.TenantId);
        Assert.Equal(0.31, Assert.Single(stored.Verdicts).Score);
        Assert.Equal(item.CreatedAt, stored.CreatedAt);
    }

    [Fact]
    public async Task RoundTrip_HostileAndHugeText_StoredExactly()
    {
        using var queue = new ReviewQueue(NewStore());
        var hostile = "'); DROP TABLE safeai_review_items; -- \u0000 \"quoted\" \u202Eevil\u202C 🙂 \\ @id $1";
        var huge = new string('x', 2_000_000);
        var item = await queue.SubmitAsync(new ReviewSubmission { ProposedAnswer = huge, Request = [new ReviewMessage("user", hostile)], UserId = hostile }, Ct);

        var stored = (await NewStore().GetAsync(item.Id, Ct))!;

        Assert.Equal(hostile, stored.Request[0].Text);
        Assert.Equal(hostile, stored.UserId);
        Assert.Equal(huge, stored.ProposedAnswer);
        await Assert.ThrowsAsync<ReviewConflictException>(async () => await NewStore().AddAsync(stored, Ct));
    }

    [Fact]
    public async Task ClaimNextAsync_ConcurrentReviewersOnTwoInstances_ClaimDistinctItems()
    {
        using var appA = new ReviewQueue(NewStore());
        using var appB = new ReviewQueue(NewStore());
        const int Items = 40;
        for (var i = 0; i < Items; i++)
        {
            await appA.SubmitAsync(Submission(i), Ct);
        }

        // Eight reviewers, half on each instance, keep claiming until the queue is empty.
        var reviewers = Enumerable.Range(0, 8).Select(r => Task.Run(async () =>
        {
            var mine = new List<string>();
            var queue = r % 2 == 0 ? appA : appB;
            while (await queue.ClaimNextAsync($"reviewer-{r}", cancellationToken: Ct) is { } item)
            {
                Assert.Equal($"reviewer-{r}", item.ClaimedBy);
                mine.Add(item.Id);
            }

            return mine;
        }, Ct)).ToArray();
        var claimed = (await Task.WhenAll(reviewers)).SelectMany(m => m).ToList();

        Assert.Equal(Items, claimed.Count);
        Assert.Equal(Items, claimed.Distinct().Count());
        var stillPending = await appB.ListAsync(new ReviewQuery { States = [ReviewState.Pending] }, Ct);
        Assert.Empty(stillPending.Items);
        var claimedPage = await appB.ListAsync(new ReviewQuery { States = [ReviewState.Claimed], PageSize = 500 }, Ct);
        Assert.Equal(Items, claimedPage.Items.Count);
    }

    [Fact]
    public async Task DecideAsync_TwoInstancesDecideSameItem_ExactlyOneWins()
    {
        using var appA = new ReviewQueue(NewStore());
        using var appB = new ReviewQueue(NewStore());
        for (var round = 0; round < 10; round++)
        {
            var item = await appA.SubmitAsync(Submission(round), Ct);
            var a = Task.Run(async () => await appA.DecideAsync(item.Id, item.Version, ReviewDecision.Approve("alice"), Ct), Ct);
            var b = Task.Run(async () => await appB.DecideAsync(item.Id, item.Version, ReviewDecision.Reject("bob"), Ct), Ct);
            await Task.WhenAll(a.ContinueWith(_ => { }, TaskScheduler.Default), b.ContinueWith(_ => { }, TaskScheduler.Default));

            Assert.Equal(1, new[] { a, b }.Count(t => t.IsCompletedSuccessfully));
            Assert.IsType<ReviewConflictException>((a.IsFaulted ? a : b).Exception!.InnerException);
        }
    }

    [Fact]
    public async Task ListAsync_PagingAndTimeouts_WorkAgainstTheServer()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        using var queue = new ReviewQueue(NewStore(), new ReviewQueueOptions { ReviewTimeout = TimeSpan.FromMinutes(1), SecondTierTimeout = null, SweepInterval = Timeout.InfiniteTimeSpan }, time);
        var ids = new List<string>();
        for (var i = 0; i < 9; i++)
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
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(9, await queue.ProcessTimeoutsAsync(Ct));
        Assert.Equal(9, (await queue.ListAsync(new ReviewQuery { States = [ReviewState.Expired] }, Ct)).Items.Count);
    }

    [Fact]
    public async Task HeldCall_ReviewerOnAnotherInstanceApproves_CallerGetsReviewedAnswer()
    {
        var services = new ServiceCollection();
        services.AddSafeAI(safe => safe
            .AddHumanReview(o => o.Queue.PollInterval = TimeSpan.FromMilliseconds(100))
            .UsePostgreSqlReviewStore(o =>
            {
                o.ConnectionString = fixture.ConnectionString;
                o.Schema = _schema;
            }));
        services.AddChatClient(new FaqChatClient([new FaqEntry("Can I get a loan?", "You can borrow 20,000.", "loan")])).UseSafeAI();
        await using var sp = services.BuildServiceProvider();
        var client = sp.GetRequiredService<IChatClient>();
        using var reviewerQueue = new ReviewQueue(NewStore());
        var reviewer = Task.Run(async () =>
        {
            while (true)
            {
                if (await reviewerQueue.ClaimNextAsync("alice", cancellationToken: Ct) is { } item)
                {
                    await reviewerQueue.DecideAsync(item.Id, item.Version, ReviewDecision.Edit("alice", "You can borrow up to 20,000, subject to a credit check."), Ct);
                    return;
                }

                await Task.Delay(50, Ct);
            }
        }, Ct);

        var response = await client.GetResponseAsync("loan?", new ChatOptions().WithRiskTier(RiskTier.High), Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        await reviewer;

        Assert.Equal("You can borrow up to 20,000, subject to a credit check.", response.Text);
        Assert.Equal("alice", response.GetReviewOutcome()!.ReviewerId);
        Assert.Contains(response.GetSafeAIResult()!, v => v.Reason == ReviewReasons.Edited && v.Detail!.Contains("reviewer alice", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ServerGoesAway_StoreFailsWithClearErrorAndHeldCallFailsClosedWithoutHanging()
    {
        _ = fixture.ConnectionString; // skips with an install hint when PostgreSQL is missing
        await using var server = await PostgresServer.StartAsync(Ct);
        var store = NewStore(server.ConnectionString);
        using var queue = new ReviewQueue(store, new ReviewQueueOptions { PollInterval = TimeSpan.FromMilliseconds(100) });
        await store.GetAsync("warm-up", Ct);
        using var client = new FaqChatClient([new FaqEntry("Can I get a loan?", "You can borrow 20,000.", "loan")])
            .AsBuilder().UseSafeAI(safe => safe.AddHumanReview(queue, o => o.HoldTimeout = TimeSpan.FromMinutes(5))).Build();

        // A call is held waiting for a reviewer when the database goes away.
        var submitted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var sub = queue.Subscribe((_, _) =>
        {
            submitted.TrySetResult();
            return ValueTask.CompletedTask;
        });
        var held = client.GetResponseAsync("loan?", new ChatOptions().WithRiskTier(RiskTier.High), Ct);
        await submitted.Task.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        await server.StopAsync(Ct);

        var sw = Stopwatch.StartNew();
        var response = await held.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30));
        Assert.DoesNotContain("20,000", response.Text, StringComparison.Ordinal);
        var verdict = response.GetSafeAIResult()!.DecisiveVerdict!.Value;
        Assert.Equal((GuardAction.Block, GuardReasons.GuardError, nameof(ReviewStoreException)), (verdict.Action, verdict.Reason, verdict.Detail));

        // Direct use of the store reports what failed, quickly.
        sw.Restart();
        var ex = await Assert.ThrowsAsync<ReviewStoreException>(async () => await store.AddAsync(new ReviewItem { Id = "after", ProposedAnswer = "x" }, Ct));
        Assert.Contains("PostgreSQL review store 127.0.0.1", ex.Message, StringComparison.Ordinal);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(20), $"took {sw.Elapsed}");
    }

    [Fact]
    public void Options_Invalid_ErrorNamesSetting()
    {
        var ex = Assert.Throws<ArgumentException>(() => new PostgreSqlReviewStore(new PostgreSqlReviewStoreOptions { ConnectionString = "Host=x", Schema = "bad;drop" }));
        Assert.Contains("SafeAI:HumanReview:PostgreSql:Schema", ex.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new PostgreSqlReviewStore(new PostgreSqlReviewStoreOptions()));
    }

    [Fact]
    public void Options_EachInvalidSetting_ErrorNamesItUnderItsStoresSection()
    {
        Assert.Equal(
            "SafeAI:HumanReview:PostgreSql:ConnectionString must be set.",
            Assert.Throws<ArgumentException>(() => new PostgreSqlReviewStore(new PostgreSqlReviewStoreOptions { ConnectionString = " " })).Message.Split(" (Parameter")[0]);
        Assert.Equal(
            "SafeAI:Feedback:PostgreSql:Schema must be a plain identifier (letters, digits and underscores, not starting with a digit).",
            new PostgreSqlFeedbackStoreOptions { ConnectionString = "Host=x", Schema = "1abc" }.GetError());
        Assert.Equal(
            "SafeAI:Feedback:PostgreSql:ConnectTimeout and SafeAI:Feedback:PostgreSql:CommandTimeout must be at least 1 second.",
            new PostgreSqlFeedbackStoreOptions { ConnectionString = "Host=x", CommandTimeout = TimeSpan.FromMilliseconds(999) }.GetError());
        Assert.Equal(
            "SafeAI:HumanReview:PostgreSql:ConnectTimeout and SafeAI:HumanReview:PostgreSql:CommandTimeout must be at least 1 second.",
            new PostgreSqlReviewStoreOptions { ConnectionString = "Host=x", ConnectTimeout = TimeSpan.Zero }.GetError());
        Assert.Null(new PostgreSqlFeedbackStoreOptions { ConnectionString = "Host=x", Schema = "_safe_ai1" }.GetError());
    }
}

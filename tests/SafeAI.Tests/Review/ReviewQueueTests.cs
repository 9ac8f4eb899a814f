using Microsoft.Extensions.Time.Testing;
using SafeAI.Review;

namespace SafeAI.Tests.Review;

public class ReviewQueueTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static ReviewSubmission Submission(string answer = "proposed") => new() { ProposedAnswer = answer, Request = [new ReviewMessage("user", "question")] };

    [Fact]
    public async Task DecideAsync_StaleVersion_ThrowsConflictAndKeepsFirstDecision()
    {
        using var queue = new ReviewQueue(new InMemoryReviewStore());
        var item = await queue.SubmitAsync(Submission(), Ct);

        var first = await queue.DecideAsync(item.Id, item.Version, ReviewDecision.Approve("alice"), Ct);
        var ex = await Assert.ThrowsAsync<ReviewConflictException>(async () => await queue.DecideAsync(item.Id, item.Version, ReviewDecision.Reject("bob"), Ct));

        Assert.Contains(item.Id, ex.Message, StringComparison.Ordinal);
        var stored = await queue.GetAsync(item.Id, Ct);
        Assert.Equal(ReviewState.Approved, stored!.State);
        Assert.Equal("alice", stored.ReviewerId);
        Assert.Equal(first.Version, stored.Version);
    }

    [Fact]
    public async Task DecideAsync_TwoReviewersAtOnce_ExactlyOneWins()
    {
        using var queue = new ReviewQueue(new InMemoryReviewStore());
        for (var round = 0; round < 20; round++)
        {
            var item = await queue.SubmitAsync(Submission(), Ct);
            var a = Task.Run(async () => await queue.DecideAsync(item.Id, item.Version, ReviewDecision.Approve("alice"), Ct), Ct);
            var b = Task.Run(async () => await queue.DecideAsync(item.Id, item.Version, ReviewDecision.Reject("bob"), Ct), Ct);
            var results = await Task.WhenAll(a.ContinueWith(t => t.IsCompletedSuccessfully, TaskScheduler.Default), b.ContinueWith(t => t.IsCompletedSuccessfully, TaskScheduler.Default));

            Assert.Equal(1, results.Count(r => r));
            var loser = results[0] ? b : a;
            Assert.IsType<ReviewConflictException>(loser.Exception!.InnerException);
        }
    }

    [Fact]
    public async Task DecideAsync_UnknownId_ThrowsKeyNotFound()
    {
        using var queue = new ReviewQueue(new InMemoryReviewStore());

        await Assert.ThrowsAsync<KeyNotFoundException>(async () => await queue.DecideAsync("nope", 1, ReviewDecision.Approve("a"), Ct));
    }

    [Fact]
    public async Task ClaimNextAsync_ConcurrentReviewers_GetDistinctItems()
    {
        using var queue = new ReviewQueue(new InMemoryReviewStore());
        for (var i = 0; i < 30; i++)
        {
            await queue.SubmitAsync(Submission($"a{i}"), Ct);
        }

        var claims = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(async () => await queue.ClaimNextAsync($"r{i}", cancellationToken: Ct), Ct)));

        var claimed = claims.Where(c => c is not null).ToList();
        Assert.Equal(30, claimed.Count);
        Assert.Equal(30, claimed.Select(c => c!.Id).Distinct().Count());
        Assert.All(claimed, c => Assert.Equal(ReviewState.Claimed, c!.State));
    }

    [Fact]
    public async Task ListAsync_Paging_ReturnsEveryOpenItemOnceOldestFirst()
    {
        using var queue = new ReviewQueue(new InMemoryReviewStore());
        var ids = new List<string>();
        for (var i = 0; i < 7; i++)
        {
            ids.Add((await queue.SubmitAsync(Submission($"a{i}"), Ct)).Id);
        }

        var decided = await queue.GetAsync(ids[3], Ct);
        await queue.DecideAsync(ids[3], decided!.Version, ReviewDecision.Approve("a"), Ct);

        var seen = new List<string>();
        string? token = null;
        var pages = 0;
        do
        {
            var page = await queue.ListAsync(new ReviewQuery { PageSize = 3, ContinuationToken = token }, Ct);
            seen.AddRange(page.Items.Select(i => i.Id));
            token = page.ContinuationToken;
            pages++;
        }
        while (token is not null);

        Assert.Equal(ids.Where((_, i) => i != 3), seen);
        Assert.Equal(2, pages);
        var approved = await queue.ListAsync(new ReviewQuery { States = [ReviewState.Approved] }, Ct);
        Assert.Equal(ids[3], Assert.Single(approved.Items).Id);
        await Assert.ThrowsAsync<ArgumentException>(async () => await queue.ListAsync(new ReviewQuery { ContinuationToken = "garbage" }, Ct));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await queue.ListAsync(new ReviewQuery { PageSize = 0 }, Ct));
    }

    [Fact]
    public async Task SweepTimer_FirstTierTimesOut_EscalatesThenExpires()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 9, 0, 0, TimeSpan.Zero));
        using var queue = new ReviewQueue(new InMemoryReviewStore(), new ReviewQueueOptions
        {
            ReviewTimeout = TimeSpan.FromMinutes(10),
            SecondTierTimeout = TimeSpan.FromMinutes(20),
            SweepInterval = TimeSpan.FromMinutes(1),
        }, time);
        var changes = new List<ReviewState>();
        using var sub = queue.Subscribe((item, _) =>
        {
            lock (changes)
            {
                changes.Add(item.State);
            }

            return ValueTask.CompletedTask;
        });
        var item = await queue.SubmitAsync(Submission(), Ct);

        time.Advance(TimeSpan.FromMinutes(9));
        Assert.Equal(ReviewState.Pending, (await queue.GetAsync(item.Id, Ct))!.State);

        time.Advance(TimeSpan.FromMinutes(1));
        var escalated = await WaitForStateAsync(queue, item.Id, ReviewState.Escalated);
        Assert.Equal(2, escalated.Tier);
        Assert.Empty((await queue.ListAsync(new ReviewQuery { Tier = 1 }, Ct)).Items);
        Assert.Single((await queue.ListAsync(new ReviewQuery { Tier = 2 }, Ct)).Items);

        time.Advance(TimeSpan.FromMinutes(20));
        var expired = await WaitForStateAsync(queue, item.Id, ReviewState.Expired);
        Assert.True(expired.IsFinal);
        lock (changes)
        {
            Assert.Equal([ReviewState.Pending, ReviewState.Escalated, ReviewState.Expired], changes);
        }
    }

    [Fact]
    public async Task WaitForDecisionAsync_DecidedMeanwhile_ReturnsDecision()
    {
        var time = new FakeTimeProvider();
        using var queue = new ReviewQueue(new InMemoryReviewStore(), timeProvider: time);
        var item = await queue.SubmitAsync(Submission(), Ct);

        var wait = queue.WaitForDecisionAsync(item.Id, TimeSpan.FromMinutes(5), Ct).AsTask();
        Assert.False(wait.IsCompleted);
        await queue.DecideAsync(item.Id, item.Version, ReviewDecision.Edit("alice", "better"), Ct);

        var decided = await wait.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal(ReviewState.Edited, decided.State);
        Assert.Equal("better", decided.FinalAnswer);
    }

    [Fact]
    public async Task WaitForDecisionAsync_ChangeByOtherQueueOnSameStore_SeenByPolling()
    {
        var time = new FakeTimeProvider();
        var store = new InMemoryReviewStore();
        using var app = new ReviewQueue(store, new ReviewQueueOptions { PollInterval = TimeSpan.FromSeconds(1) }, time);
        using var reviewerSide = new ReviewQueue(store, timeProvider: time);
        var item = await app.SubmitAsync(Submission(), Ct);

        var wait = app.WaitForDecisionAsync(item.Id, TimeSpan.FromMinutes(5), Ct).AsTask();
        await reviewerSide.DecideAsync(item.Id, item.Version, ReviewDecision.Approve("alice"), Ct);
        Assert.False(wait.IsCompleted);

        time.Advance(TimeSpan.FromSeconds(1));
        var decided = await wait.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal(ReviewState.Approved, decided.State);
    }

    [Fact]
    public async Task WaitForDecisionAsync_NoDecision_ReturnsOpenItemAfterTimeout()
    {
        var time = new FakeTimeProvider();
        using var queue = new ReviewQueue(new InMemoryReviewStore(), timeProvider: time);
        var item = await queue.SubmitAsync(Submission(), Ct);

        var wait = queue.WaitForDecisionAsync(item.Id, TimeSpan.FromSeconds(30), Ct).AsTask();
        for (var i = 0; i < 30 && !wait.IsCompleted; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(5, Ct);
        }

        var result = await wait.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal(ReviewState.Pending, result.State);
    }

    [Fact]
    public async Task Subscribe_SubscriberThrows_ChangeStillStoredAndOthersNotified()
    {
        using var queue = new ReviewQueue(new InMemoryReviewStore());
        var seen = 0;
        using var bad = queue.Subscribe((_, _) => throw new InvalidOperationException("boom"));
        var good = queue.Subscribe((_, _) =>
        {
            Interlocked.Increment(ref seen);
            return ValueTask.CompletedTask;
        });

        var item = await queue.SubmitAsync(Submission(), Ct);
        good.Dispose();
        await queue.DecideAsync(item.Id, item.Version, ReviewDecision.Approve("a"), Ct);

        Assert.Equal(1, seen);
        Assert.Equal(ReviewState.Approved, (await queue.GetAsync(item.Id, Ct))!.State);
    }

    [Fact]
    public async Task Methods_InvalidArguments_ThrowClearly()
    {
        using var queue = new ReviewQueue(new InMemoryReviewStore());

        await Assert.ThrowsAsync<ArgumentNullException>(async () => await queue.SubmitAsync(null!, Ct));
        await Assert.ThrowsAsync<ArgumentException>(async () => await queue.GetAsync("", Ct));
        await Assert.ThrowsAsync<ArgumentException>(async () => await queue.ClaimNextAsync(" ", cancellationToken: Ct));
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await queue.DecideAsync("x", 1, null!, Ct));
        await Assert.ThrowsAsync<KeyNotFoundException>(async () => await queue.WaitForDecisionAsync("missing", TimeSpan.FromSeconds(1), Ct));
        Assert.Throws<ArgumentNullException>(() => queue.Subscribe(null!));
    }

    [Fact]
    public void Constructor_InvalidOptions_ThrowsNamingSetting()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new ReviewQueue(new InMemoryReviewStore(), new ReviewQueueOptions { ReviewTimeout = TimeSpan.Zero }));
        Assert.Contains("ReviewTimeout", ex.Message, StringComparison.Ordinal);
    }

    internal static async Task<ReviewItem> WaitForStateAsync(IReviewQueue queue, string id, ReviewState state)
    {
        // Up to 10 s of real time, not a count of polls: on a loaded CI machine (this project also runs tests of 10,000
        // concurrent calls) the sweep's continuation can wait on the thread pool for a while.
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(10))
        {
            var item = await queue.GetAsync(id, TestContext.Current.CancellationToken);
            if (item!.State == state)
            {
                return item;
            }

            await Task.Delay(10, TestContext.Current.CancellationToken);
        }

        throw new TimeoutException($"Item {id} did not reach {state}.");
    }
}

using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using SafeAI.Feedback;

namespace SafeAI.Tests.Feedback;

public sealed class FeedbackStoreTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ListAsync_FiltersAndPages_ReturnsEveryMatchOnceOldestFirst()
    {
        var store = new InMemoryFeedbackStore();
        for (var i = 0; i < 7; i++)
        {
            await store.AddAsync(FeedbackEntry.Create(i % 2 == 0 ? "resp-a" : "resp-b", i < 5 ? FeedbackRating.Down : FeedbackRating.Up, $"c{i}"), Ct);
        }

        var seen = new List<string?>();
        string? token = null;
        do
        {
            var page = await store.ListAsync(new FeedbackQuery { ResponseId = "resp-a", PageSize = 2, ContinuationToken = token }, Ct);
            seen.AddRange(page.Items.Select(e => e.Comment));
            token = page.ContinuationToken;
        }
        while (token is not null);

        Assert.Equal(["c0", "c2", "c4", "c6"], seen);
        var up = await store.ListAsync(new FeedbackQuery { Rating = FeedbackRating.Up }, Ct);
        Assert.Equal(["c5", "c6"], up.Items.Select(e => e.Comment));
        Assert.Throws<ArgumentException>(() => store.ListAsync(new FeedbackQuery { ContinuationToken = "abc" }, Ct).AsTask().GetAwaiter().GetResult());
    }

    [Theory]
    [InlineData("", "ResponseId must not be empty")]
    [InlineData("   ", "ResponseId must not be empty")]
    public void Create_MissingResponseId_ClearError(string responseId, string expected)
    {
        var ex = Assert.Throws<ArgumentException>(() => FeedbackEntry.Create(responseId, FeedbackRating.Up));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddAsync_InvalidEntries_ClearErrorsAndNothingStored()
    {
        var store = new InMemoryFeedbackStore();
        var valid = FeedbackEntry.Create("r1", FeedbackRating.Down, "fine");

        var tooLong = await Assert.ThrowsAsync<ArgumentException>(async () => await store.AddAsync(valid with { Comment = new string('x', FeedbackEntry.MaxCommentLength + 1) }, Ct));
        Assert.Contains("Comment must be at most 4000 characters", tooLong.Message, StringComparison.Ordinal);
        var nul = await Assert.ThrowsAsync<ArgumentException>(async () => await store.AddAsync(valid with { Comment = "a\0b" }, Ct));
        Assert.Contains("NUL", nul.Message, StringComparison.Ordinal);
        var rating = await Assert.ThrowsAsync<ArgumentException>(async () => await store.AddAsync(valid with { Rating = (FeedbackRating)7 }, Ct));
        Assert.Contains("Rating must be Up or Down", rating.Message, StringComparison.Ordinal);
        var longId = await Assert.ThrowsAsync<ArgumentException>(async () => await store.AddAsync(valid with { UserId = new string('u', 201) }, Ct));
        Assert.Contains("UserId must be at most 200 characters", longId.Message, StringComparison.Ordinal);
        Assert.Empty((await store.ListAsync(new FeedbackQuery(), Ct)).Items);

        await store.AddAsync(valid, Ct);
        await Assert.ThrowsAsync<ArgumentException>(async () => await store.AddAsync(valid, Ct));
        Assert.Single((await store.ListAsync(new FeedbackQuery(), Ct)).Items);
        Assert.Equal(valid, await store.GetAsync(valid.Id, Ct));
    }

    [Fact]
    public void Create_UsesTimeProvider_TimeOrderedIds()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 5, 1, 12, 0, 0, TimeSpan.Zero));
        var first = FeedbackEntry.Create("r", FeedbackRating.Up, "  ", time);
        time.Advance(TimeSpan.FromSeconds(1));
        var second = FeedbackEntry.Create("r", FeedbackRating.Up, null, time);

        Assert.Equal(time.GetUtcNow() - TimeSpan.FromSeconds(1), first.CreatedAt);
        Assert.Null(first.Comment);
        Assert.True(string.CompareOrdinal(first.Id, second.Id) < 0);
    }

    [Fact]
    public void AddFeedback_UnderDI_RegistersOneInMemoryStore()
    {
        var services = new ServiceCollection();
        services.AddSafeAI(safe => safe.AddFeedback());
        using var sp = services.BuildServiceProvider();

        Assert.IsType<InMemoryFeedbackStore>(sp.GetRequiredService<IFeedbackStore>());
        Assert.Same(sp.GetRequiredService<IFeedbackStore>(), sp.GetRequiredService<IFeedbackStore>());
        Assert.Throws<InvalidOperationException>(() => new SafeAIPipelineBuilder().AddFeedback());
    }
}

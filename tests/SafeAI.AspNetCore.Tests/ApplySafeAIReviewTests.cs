using Microsoft.AspNetCore.Http;
using SafeAI.Review;

namespace SafeAI.AspNetCore.Tests;

public sealed class ApplySafeAIReviewTests
{
    private static readonly DateTimeOffset Decided = new(2026, 4, 22, 1, 54, 56, TimeSpan.Zero);

    private static ReviewItem Item(ReviewState state, string? reviewer = "rita") => new()
    {
        Id = "t-1",
        ProposedAnswer = "You qualify.",
        State = state,
        ReviewerId = reviewer,
        DecidedAt = state is ReviewState.Pending or ReviewState.Claimed ? null : Decided,
    };

    [Theory]
    [InlineData(ReviewState.Approved)]
    [InlineData(ReviewState.Edited)]
    public void ApplySafeAIReview_PersonApprovedOrEdited_AIOriginatedNamingReviewer(ReviewState state)
    {
        var http = new DefaultHttpContext();

        var disclosure = http.Response.ApplySafeAIReview(Item(state), "safeai-faq", "SafeAI");

        Assert.Equal(AIDisclosureMode.AIOriginated, disclosure!.Mode);
        Assert.Equal("mode=ai-originated, model=\"safeai-faq\", provider=\"SafeAI\", reviewed-by=\"rita\", date=@1776822896", http.Response.Headers["AI-Disclosure"].ToString());
    }

    [Theory]
    [InlineData(ReviewState.Rejected)]
    [InlineData(ReviewState.Expired)]
    public void ApplySafeAIReview_RejectedOrExpired_ModeNone(ReviewState state)
    {
        var http = new DefaultHttpContext();

        http.Response.ApplySafeAIReview(Item(state), "safeai-faq", "SafeAI");

        Assert.Equal("mode=none, date=@1776822896", http.Response.Headers["AI-Disclosure"].ToString());
    }

    [Theory]
    [InlineData(ReviewState.Pending)]
    [InlineData(ReviewState.Claimed)]
    [InlineData(ReviewState.Escalated)]
    public void ApplySafeAIReview_StillOpen_NoHeader(ReviewState state)
    {
        var http = new DefaultHttpContext();

        Assert.Null(http.Response.ApplySafeAIReview(Item(state, reviewer: null)));
        Assert.False(http.Response.Headers.ContainsKey("AI-Disclosure"));
    }
}

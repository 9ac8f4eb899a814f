using SafeAI.Review;

namespace SafeAI.Tests.Review;

public class ReviewItemTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 9, 0, 0, TimeSpan.Zero);

    private static ReviewItem NewItem() => new()
    {
        Id = "t1",
        ProposedAnswer = "You qualify for a loan.",
        CreatedAt = T0,
        UpdatedAt = T0,
        ExpiresAt = T0.AddMinutes(10),
    };

    [Fact]
    public void Claim_Pending_BecomesClaimedWithNextVersion()
    {
        var claimed = NewItem().Claim("alice", T0.AddMinutes(1));

        Assert.Equal(ReviewState.Claimed, claimed.State);
        Assert.Equal("alice", claimed.ClaimedBy);
        Assert.Equal(2, claimed.Version);
    }

    [Fact]
    public void Claim_ClaimedByOther_Throws()
    {
        var claimed = NewItem().Claim("alice", T0);

        Assert.Throws<ReviewConflictException>(() => claimed.Claim("bob", T0));
        Assert.Same(claimed, claimed.Claim("alice", T0));
    }

    [Fact]
    public void Decide_Approve_ReleasesProposedAnswerAndRecordsReviewer()
    {
        var decided = NewItem().Claim("alice", T0).Decide(ReviewDecision.Approve("alice", "checked income"), T0.AddMinutes(2));

        Assert.Equal(ReviewState.Approved, decided.State);
        Assert.Equal("You qualify for a loan.", decided.FinalAnswer);
        Assert.Equal("alice", decided.ReviewerId);
        Assert.Equal("checked income", decided.Comment);
        Assert.Equal(T0.AddMinutes(2), decided.DecidedAt);
        Assert.Equal(3, decided.Version);
        Assert.True(decided.IsFinal);
    }

    [Fact]
    public void Decide_Edit_ReleasesEditedAnswer()
    {
        var decided = NewItem().Decide(ReviewDecision.Edit("bob", "A loan officer will contact you."), T0);

        Assert.Equal(ReviewState.Edited, decided.State);
        Assert.Equal("A loan officer will contact you.", decided.FinalAnswer);
    }

    [Fact]
    public void Decide_Reject_ReleasesNothing()
    {
        var decided = NewItem().Decide(ReviewDecision.Reject("bob", "wrong"), T0);

        Assert.Equal(ReviewState.Rejected, decided.State);
        Assert.Null(decided.FinalAnswer);
    }

    [Fact]
    public void Decide_ClaimedByOther_Throws()
    {
        var claimed = NewItem().Claim("alice", T0);

        var ex = Assert.Throws<ReviewConflictException>(() => claimed.Decide(ReviewDecision.Approve("bob"), T0));
        Assert.Equal("t1", ex.ItemId);
    }

    [Theory]
    [InlineData(ReviewDecisionKind.Approve)]
    [InlineData(ReviewDecisionKind.Reject)]
    public void Decide_FinalItem_Throws(ReviewDecisionKind kind)
    {
        var decided = NewItem().Decide(kind == ReviewDecisionKind.Approve ? ReviewDecision.Approve("a") : ReviewDecision.Reject("a"), T0);

        Assert.Throws<ReviewConflictException>(() => decided.Decide(ReviewDecision.Approve("b"), T0));
        Assert.Throws<ReviewConflictException>(() => decided.Claim("b", T0));
        Assert.Throws<ReviewConflictException>(() => decided.Expire(T0.AddDays(1), null));
    }

    [Fact]
    public void Release_Claimed_ReturnsToPending()
    {
        var released = NewItem().Claim("alice", T0).Release("alice", T0);

        Assert.Equal(ReviewState.Pending, released.State);
        Assert.Null(released.ClaimedBy);
        Assert.Throws<ReviewConflictException>(() => released.Release("alice", T0));
    }

    [Fact]
    public void Expire_FirstTierWithSecondTier_EscalatesThenExpires()
    {
        var item = NewItem().Claim("alice", T0);
        Assert.Throws<ReviewConflictException>(() => item.Expire(T0.AddMinutes(5), TimeSpan.FromMinutes(30)));

        var escalated = item.Expire(T0.AddMinutes(10), TimeSpan.FromMinutes(30));
        Assert.Equal(ReviewState.Escalated, escalated.State);
        Assert.Equal(2, escalated.Tier);
        Assert.Null(escalated.ClaimedBy);
        Assert.Equal(T0.AddMinutes(40), escalated.ExpiresAt);

        var reclaimed = escalated.Claim("carol", T0.AddMinutes(11)).Release("carol", T0.AddMinutes(12));
        Assert.Equal(ReviewState.Escalated, reclaimed.State);

        var expired = reclaimed.Expire(T0.AddMinutes(40), TimeSpan.FromMinutes(30));
        Assert.Equal(ReviewState.Expired, expired.State);
        Assert.True(expired.IsFinal);
        Assert.False(expired.IsDecided);
    }

    [Fact]
    public void Expire_NoSecondTier_Expires()
    {
        var expired = NewItem().Expire(T0.AddMinutes(10), null);

        Assert.Equal(ReviewState.Expired, expired.State);
    }

    [Fact]
    public void ReviewDecision_InvalidArguments_Throw()
    {
        Assert.Throws<ArgumentException>(() => ReviewDecision.Approve(""));
        Assert.Throws<ArgumentNullException>(() => ReviewDecision.Approve(null!));
        Assert.Throws<ArgumentException>(() => ReviewDecision.Edit("a", " "));
    }
}

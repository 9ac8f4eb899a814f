using Microsoft.Extensions.Time.Testing;

namespace SafeAI.Tests;

public class LeanResultTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void SingleAllowVerdict_SharedResults_NeverAnotherVerdictsResult()
    {
        // Distinct string instances with equal or different text: the fast path compares references, the table compares text.
        for (var i = 0; i < 400; i++)
        {
            var detail = "arm-" + (i % 97).ToString(System.Globalization.CultureInfo.InvariantCulture);
            var verdict = GuardVerdict.Allow("rollout", "rollout.ai") with { Detail = detail };

            var first = SafeAIResult.Create([verdict]);
            var again = SafeAIResult.Create([verdict]);

            Assert.Equal(detail, Assert.Single(first).Detail);
            Assert.Equal("rollout.ai", first[0].Reason);
            Assert.Equal(detail, Assert.Single(again).Detail);
        }

        var allow = SafeAIResult.Create([GuardVerdict.Allow("s", "r.one")]);
        var other = SafeAIResult.Create([GuardVerdict.Allow("s", "r.two")]);
        var scored = SafeAIResult.Create([GuardVerdict.Allow("s", "r.one") with { Score = 0.2 }]);
        Assert.Equal("r.one", allow[0].Reason);
        Assert.Equal("r.two", other[0].Reason);
        Assert.Equal(0.2, scored[0].Score);
        Assert.NotSame(scored, SafeAIResult.Create([GuardVerdict.Allow("s", "r.one") with { Score = 0.2 }]));
    }

    [Fact]
    public async Task Default_AllAllowedRoutinely_SharedEmptyResult()
    {
        using var client = TestChatClient.Answering("ok").AsBuilder().UseSafeAI(safe => safe
            .AddInputLengthLimit(100)
            .AddInputCheck("a", (_, _) => ValueTask.FromResult(GuardVerdict.Allow("a")))).Build();

        var response = await client.GetResponseAsync("hi", cancellationToken: Ct);

        Assert.Same(SafeAIResult.Empty, response.GetSafeAIResult());
    }

    [Fact]
    public async Task Default_KeepsDecisionsFailuresAndReportingAllowsAndLaterStagesStillSeeRoutineOnes()
    {
        var seenByLaterStage = new List<string>();
        using var client = TestChatClient.Answering("ok").AsBuilder().UseSafeAI(safe => safe
            .AddInputCheck("first", (_, _) => ValueTask.FromResult(GuardVerdict.Allow("first") with { Score = 0.42 }))
            .Add(new CallbackInputGuard("flaky", (_, _) => throw new InvalidOperationException("down"), GuardFailureMode.FailOpen))
            .AddInputCheck("log-only", (_, _) => ValueTask.FromResult(GuardVerdict.Allow("log-only", "content.hate") with { Score = 0.7 }))
            .AddInputCheck("second", (ctx, _) =>
            {
                foreach (var v in ctx.Verdicts)
                {
                    seenByLaterStage.Add(v.Stage);
                }

                return ValueTask.FromResult(GuardVerdict.Modify("second", "pii.redacted"));
            })).Build();

        var response = await client.GetResponseAsync("hi", cancellationToken: Ct);

        Assert.Equal(["first", "flaky", "log-only"], seenByLaterStage);
        var result = response.GetSafeAIResult()!;
        Assert.Equal([("flaky", GuardReasons.GuardError), ("log-only", "content.hate"), ("second", "pii.redacted")], result.Select(v => (v.Stage, v.Reason)));
    }

    [Fact]
    public async Task RecordAllowVerdictsOn_ResultListsRoutineVerdictsWithTheirScores()
    {
        using var client = TestChatClient.Answering("ok").AsBuilder().UseSafeAI(safe => safe
            .Configure(o => o.RecordAllowVerdicts = true)
            .AddInputCheck("first", (_, _) => ValueTask.FromResult(GuardVerdict.Allow("first") with { Score = 0.42 }))
            .AddInputCheck("second", (_, _) => ValueTask.FromResult(GuardVerdict.Allow("second", "confidence.ok")))).Build();

        var result = (await client.GetResponseAsync("hi", cancellationToken: Ct)).GetSafeAIResult()!;

        Assert.Equal(["first", "second"], result.Select(v => v.Stage));
        Assert.Equal(0.42, result[0].Score);
    }

    [Theory]
    [InlineData(GuardAction.Allow, "ok", true)]
    [InlineData(GuardAction.Allow, "confidence.ok", true)]
    [InlineData(GuardAction.Allow, "okay", false)]
    [InlineData(GuardAction.Allow, "content.hate", false)]
    [InlineData(GuardAction.Allow, GuardReasons.GuardError, false)]
    [InlineData(GuardAction.Block, "ok", false)]
    [InlineData(GuardAction.Escalate, "review.ok", false)]
    public void IsRoutine_OnlyAllowWithOkReason(GuardAction action, string reason, bool routine) =>
        Assert.Equal(routine, new GuardVerdict(action, "stage", reason).IsRoutine);

    [Fact]
    public async Task Disclosure_AnswersWithinOneSecond_ShareOneImmutableInstance()
    {
        var time = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(1_800_000_000));
        using var client = TestChatClient.Answering("ok").AsBuilder().UseSafeAI(safe => safe.UseTimeProvider(time).AddAIDisclosure(o => o.Notice = AIDisclosureNotice.None)).Build();

        var first = (await client.GetResponseAsync("a", cancellationToken: Ct)).GetAIDisclosure();
        time.Advance(TimeSpan.FromMilliseconds(500));
        var second = (await client.GetResponseAsync("b", cancellationToken: Ct)).GetAIDisclosure();
        time.Advance(TimeSpan.FromSeconds(1));
        var third = (await client.GetResponseAsync("c", cancellationToken: Ct)).GetAIDisclosure();

        Assert.Same(first, second);
        Assert.NotSame(second, third);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_800_000_001), third!.Date);
    }
}

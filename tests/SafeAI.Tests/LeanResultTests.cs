using Microsoft.Extensions.Time.Testing;

namespace SafeAI.Tests;

public class LeanResultTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task RecordAllowVerdictsOff_AllAllowed_SharedEmptyResult()
    {
        using var client = TestChatClient.Answering("ok").AsBuilder().UseSafeAI(safe => safe
            .Configure(o => o.RecordAllowVerdicts = false)
            .AddInputLengthLimit(100)
            .AddInputCheck("a", (_, _) => ValueTask.FromResult(GuardVerdict.Allow("a")))).Build();

        var response = await client.GetResponseAsync("hi", cancellationToken: Ct);

        Assert.Same(SafeAIResult.Empty, response.GetSafeAIResult());
    }

    [Fact]
    public async Task RecordAllowVerdictsOff_KeepsDecisionsAndFailuresAndLaterStagesStillSeeAllows()
    {
        var seenByLaterStage = new List<string>();
        using var client = TestChatClient.Answering("ok").AsBuilder().UseSafeAI(safe => safe
            .Configure(o => o.RecordAllowVerdicts = false)
            .AddInputCheck("first", (_, _) => ValueTask.FromResult(GuardVerdict.Allow("first") with { Score = 0.42 }))
            .Add(new CallbackInputGuard("flaky", (_, _) => throw new InvalidOperationException("down"), GuardFailureMode.FailOpen))
            .AddInputCheck("second", (ctx, _) =>
            {
                foreach (var v in ctx.Verdicts)
                {
                    seenByLaterStage.Add(v.Stage);
                }

                return ValueTask.FromResult(GuardVerdict.Modify("second", "pii.redacted"));
            })).Build();

        var response = await client.GetResponseAsync("hi", cancellationToken: Ct);

        Assert.Equal(["first", "flaky"], seenByLaterStage);
        var result = response.GetSafeAIResult()!;
        Assert.Equal([("flaky", GuardReasons.GuardError), ("second", "pii.redacted")], result.Select(v => (v.Stage, v.Reason)));
    }

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

using Microsoft.Extensions.Time.Testing;

namespace SafeAI.Tests;

public class FailureSemanticsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task GetResponseAsync_CheckThrowsFailClosed_BlockedWithGuardErrorAndModelNotCalled()
    {
        var inner = TestChatClient.Answering("never");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.Add(new CallbackInputGuard("broken", (_, _) => throw new InvalidOperationException("bug")))).Build();

        var response = await client.GetResponseAsync("hi", cancellationToken: Ct);

        Assert.Equal(0, inner.Calls);
        var verdict = response.GetSafeAIResult()!.DecisiveVerdict!.Value;
        Assert.Equal(GuardAction.Block, verdict.Action);
        Assert.Equal(GuardReasons.GuardError, verdict.Reason);
        Assert.Equal(nameof(InvalidOperationException), verdict.Detail);
        Assert.Equal(new SafeAIOptions().GuardErrorMessage, response.Text);
    }

    [Fact]
    public async Task GetResponseAsync_AsyncCheckFaultsFailOpen_CallContinuesAndFaultIsRecorded()
    {
        var inner = TestChatClient.Answering("answer");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.Add(new CallbackInputGuard(
            "flaky",
            async (_, _) =>
            {
                await Task.Yield();
                throw new TimeoutException("remote moderation down");
            },
            GuardFailureMode.FailOpen))).Build();

        var response = await client.GetResponseAsync("hi", cancellationToken: Ct);

        Assert.Equal("answer", response.Text);
        var verdict = Assert.Single(response.GetSafeAIResult()!);
        Assert.Equal(GuardAction.Allow, verdict.Action);
        Assert.Equal(GuardReasons.GuardError, verdict.Reason);
    }

    [Fact]
    public async Task GetResponseAsync_CheckRunsPastBudgetFailClosed_BlockedWithTimeoutReason()
    {
        var time = new FakeTimeProvider();
        var inner = TestChatClient.Answering("never");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe
            .UseTimeProvider(time)
            .Add(new CallbackInputGuard("slow", async (_, ct) => { await Task.Delay(Timeout.Infinite, ct); return default; }, timeout: TimeSpan.FromMilliseconds(200)))).Build();

        var call = client.GetResponseAsync("hi", cancellationToken: Ct);
        Assert.False(call.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(199));
        await Task.Delay(20, Ct);
        Assert.False(call.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(2));
        var response = await call.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        var verdict = response.GetSafeAIResult()!.DecisiveVerdict!.Value;
        Assert.Equal(GuardReasons.GuardTimeout, verdict.Reason);
        Assert.Equal(GuardAction.Block, verdict.Action);
        Assert.Equal(0, inner.Calls);
    }

    [Fact]
    public async Task GetResponseAsync_CheckIgnoringTokenRunsPastPipelineDefaultBudgetFailOpen_CallContinues()
    {
        var time = new FakeTimeProvider();
        var never = new TaskCompletionSource<GuardVerdict>();
        var inner = TestChatClient.Answering("answer");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe
            .UseTimeProvider(time)
            .Configure(o => o.DefaultCheckTimeout = TimeSpan.FromSeconds(1))
            .Add(new CallbackInputGuard("stuck", (_, _) => new ValueTask<GuardVerdict>(never.Task), GuardFailureMode.FailOpen))).Build();

        var call = client.GetResponseAsync("hi", cancellationToken: Ct);
        time.Advance(TimeSpan.FromSeconds(1));
        var response = await call.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        Assert.Equal("answer", response.Text);
        Assert.Equal(GuardReasons.GuardTimeout, Assert.Single(response.GetSafeAIResult()!).Reason);
    }

    [Fact]
    public async Task GetResponseAsync_CheckAbandonedPastBudget_ItsContextIsNeverReusedByAnotherCall()
    {
        var time = new FakeTimeProvider();
        var seen = new List<SafeAIContext>();
        var stuck = new TaskCompletionSource<GuardVerdict>();
        var first = true;
        using var client = TestChatClient.Answering("ok").AsBuilder().UseSafeAI(safe => safe
            .UseTimeProvider(time)
            .Add(new CallbackInputGuard(
                "maybe-stuck",
                (ctx, _) =>
                {
                    seen.Add(ctx);
                    if (first)
                    {
                        first = false;
                        return new ValueTask<GuardVerdict>(stuck.Task);
                    }

                    return ValueTask.FromResult(GuardVerdict.Allow("maybe-stuck"));
                },
                GuardFailureMode.FailOpen,
                TimeSpan.FromSeconds(1)))).Build();

        var call = client.GetResponseAsync("one", cancellationToken: Ct);
        time.Advance(TimeSpan.FromSeconds(1));
        await call.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        await client.GetResponseAsync("two", cancellationToken: Ct);
        await client.GetResponseAsync("three", cancellationToken: Ct);

        Assert.NotSame(seen[0], seen[1]);
        Assert.Same(seen[1], seen[2]);
    }

    [Fact]
    public async Task GetResponseAsync_CheckWithinBudget_Allowed()
    {
        using var client = TestChatClient.Answering("answer").AsBuilder().UseSafeAI(safe => safe
            .Configure(o => o.RecordAllowVerdicts = true)
            .Add(new CallbackInputGuard("quick", async (_, ct) => { await Task.Yield(); return GuardVerdict.Allow("quick"); }, timeout: TimeSpan.FromSeconds(30)))).Build();

        var response = await client.GetResponseAsync("hi", cancellationToken: Ct);

        Assert.Equal(GuardReasons.Ok, Assert.Single(response.GetSafeAIResult()!).Reason);
    }

    [Fact]
    public async Task GetResponseAsync_AroundStageThrowsBeforeNextFailClosed_Blocked()
    {
        var inner = TestChatClient.Answering("never");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.Add(new FaultingGuard("pre", GuardFailureMode.FailClosed, throwBefore: true))).Build();

        var response = await client.GetResponseAsync("hi", cancellationToken: Ct);

        Assert.Equal(0, inner.Calls);
        Assert.Equal(GuardAction.Block, response.GetSafeAIResult()!.Outcome);
    }

    [Fact]
    public async Task GetResponseAsync_AroundStageThrowsBeforeNextFailOpen_StageSkipped()
    {
        var inner = TestChatClient.Answering("answer");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.Add(new FaultingGuard("pre", GuardFailureMode.FailOpen, throwBefore: true))).Build();

        var response = await client.GetResponseAsync("hi", cancellationToken: Ct);

        Assert.Equal("answer", response.Text);
        Assert.Equal(1, inner.Calls);
        Assert.Equal(GuardReasons.GuardError, Assert.Single(response.GetSafeAIResult()!).Reason);
    }

    [Fact]
    public async Task GetResponseAsync_AroundStageThrowsAfterNextFailOpen_DownstreamAnswerStands()
    {
        var inner = TestChatClient.Answering("answer");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.Add(new FaultingGuard("post", GuardFailureMode.FailOpen, throwBefore: false))).Build();

        var response = await client.GetResponseAsync("hi", cancellationToken: Ct);

        Assert.Equal("answer", response.Text);
        Assert.Equal(1, inner.Calls);
        Assert.Equal(GuardReasons.GuardError, Assert.Single(response.GetSafeAIResult()!).Reason);
    }

    [Fact]
    public async Task GetResponseAsync_AroundStageThrowsAfterNextFailClosed_AnswerWithheld()
    {
        var inner = TestChatClient.Answering("unchecked answer");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.Add(new FaultingGuard("post", GuardFailureMode.FailClosed, throwBefore: false))).Build();

        var response = await client.GetResponseAsync("hi", cancellationToken: Ct);

        Assert.DoesNotContain("unchecked", response.Text, StringComparison.Ordinal);
        Assert.Equal(GuardAction.Block, response.GetSafeAIResult()!.Outcome);
    }

    [Fact]
    public async Task GetResponseAsync_ModelFailsBelowFailOpenStage_ModelExceptionNotTreatedAsStageFault()
    {
        var inner = new TestChatClient { GetResponseAsyncCallback = (_, _, _) => Task.FromException<ChatResponse>(new HttpRequestException("503")) };
        using var client = inner.AsBuilder().UseSafeAI(safe => safe
            .Add(new FaultingGuard("outer", GuardFailureMode.FailClosed, throwBefore: null))
            .Add(new PassThroughGuard("inner"))).Build();

        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetResponseAsync("hi", cancellationToken: Ct));
    }

    [Fact]
    public async Task GetResponseAsync_ThrowMode_BlockBecomesTypedExceptionAfterStagesUnwind()
    {
        var log = new List<string>();
        using var client = TestChatClient.Answering("never").AsBuilder().UseSafeAI(safe => safe
            .Configure(o => o.OnRejected = RejectionBehavior.ThrowException)
            .Add(new RecordingGuard("outer", log, GuardOrder.RateLimiting))
            .AddInputCheck("blocker", (_, _) => ValueTask.FromResult(GuardVerdict.Block("blocker", "test.block")))).Build();

        var ex = await Assert.ThrowsAsync<SafeAIBlockedException>(() => client.GetResponseAsync("hi", cancellationToken: Ct));

        Assert.Equal("test.block", ex.Verdict!.Value.Reason);
        Assert.Equal(GuardAction.Block, ex.Result.Outcome);
        Assert.Equal(["outer:before", "outer:after"], log);
    }

    [Fact]
    public async Task GetResponseAsync_ThrowModeLimit_RateLimitedExceptionCarriesRetryAfter()
    {
        using var client = TestChatClient.Answering("never").AsBuilder().UseSafeAI(safe => safe
            .Configure(o => o.OnRejected = RejectionBehavior.ThrowException)
            .AddInputCheck("limiter", (_, _) => ValueTask.FromResult(GuardVerdict.Limit("limiter", "rate.user", TimeSpan.FromSeconds(7))))).Build();

        var ex = await Assert.ThrowsAsync<SafeAIRateLimitedException>(() => client.GetResponseAsync("hi", cancellationToken: Ct));

        Assert.Equal(TimeSpan.FromSeconds(7), ex.RetryAfter);
        Assert.Contains("7 seconds", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetResponseAsync_LimitInResponseMode_WellFormedAnswerSaysWhenToRetry()
    {
        using var client = TestChatClient.Answering("never").AsBuilder().UseSafeAI(safe => safe
            .AddInputCheck("limiter", (_, _) => ValueTask.FromResult(GuardVerdict.Limit("limiter", "rate.user", TimeSpan.FromSeconds(2.5))))).Build();

        var response = await client.GetResponseAsync("hi", cancellationToken: Ct);

        Assert.Contains("3 seconds", response.Text, StringComparison.Ordinal);
        Assert.Equal(TimeSpan.FromSeconds(2.5), response.GetSafeAIResult()!.RetryAfter);
        Assert.Equal("rate_limited", response.FinishReason!.Value.Value);
    }

    [Fact]
    public async Task GetResponseAsync_RejectionMessageFactory_LocalisesByCallContext()
    {
        using var client = TestChatClient.Answering("never").AsBuilder().UseSafeAI(safe => safe
            .Configure(o => o.RejectionMessageFactory = (v, ctx) => ctx.Locale == "de-DE" ? "Dabei kann ich leider nicht helfen." : null)
            .AddInputCheck("b", (_, _) => ValueTask.FromResult(GuardVerdict.Block("b", "x.y")))).Build();

        var german = await client.GetResponseAsync("hi", new ChatOptions().WithLocale("de-DE"), Ct);
        var english = await client.GetResponseAsync("hi", cancellationToken: Ct);

        Assert.Equal("Dabei kann ich leider nicht helfen.", german.Text);
        Assert.Equal(new SafeAIOptions().BlockedMessage, english.Text);
    }

    /// <summary>A raw around-stage that throws before calling next, after it, or never (null).</summary>
    private sealed class FaultingGuard(string name, GuardFailureMode mode, bool? throwBefore) : AIGuard(name, mode)
    {
        public override async ValueTask<ChatResponse> InvokeAsync(SafeAIContext context, GuardNext next)
        {
            if (throwBefore == true)
            {
                throw new InvalidOperationException("before");
            }

            var response = await next.GetResponseAsync(context);
            return throwBefore == false ? throw new InvalidOperationException("after") : response;
        }

        public override ValueTask<IAsyncEnumerable<ChatResponseUpdate>> InvokeStreamingAsync(SafeAIContext context, GuardNext next) =>
            throwBefore == true ? throw new InvalidOperationException("before") : next.GetStreamingResponseAsync(context);
    }
}

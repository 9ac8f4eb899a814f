namespace SafeAI.Tests;

public class GuardsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ConcurrentChecks_RunAtTheSameTime()
    {
        var running = 0;
        var maxRunning = 0;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        CallbackInputGuard Check(string name) => new(name, async (_, ct) =>
        {
            var now = Interlocked.Increment(ref running);
            InterlockedMax(ref maxRunning, now);
            if (now == 3)
            {
                gate.TrySetResult();
            }

            await gate.Task.WaitAsync(TimeSpan.FromSeconds(10), ct);
            Interlocked.Decrement(ref running);
            return GuardVerdict.Allow(name);
        });
        using var client = TestChatClient.Answering("ok").AsBuilder().UseSafeAI(safe => safe.Configure(o => o.RecordAllowVerdicts = true).AddConcurrent([Check("a"), Check("b"), Check("c")])).Build();

        var response = await client.GetResponseAsync("hi", cancellationToken: Ct);

        Assert.Equal(3, maxRunning);
        Assert.Equal(["a", "b", "c"], response.GetSafeAIResult()!.Select(v => v.Stage));
    }

    [Fact]
    public async Task ConcurrentChecks_FirstRejectionCancelsTheRest()
    {
        var cancelled = 0;
        var slow = new CallbackInputGuard("slow", async (_, ct) =>
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(30), ct);
            }
            catch (OperationCanceledException)
            {
                Interlocked.Increment(ref cancelled);
                throw;
            }

            return GuardVerdict.Allow("slow");
        });
        var fast = new CallbackInputGuard("fast", async (_, _) =>
        {
            await Task.Yield();
            return GuardVerdict.Block("fast", "test.block");
        });
        var inner = TestChatClient.Answering("never");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddConcurrent([slow, fast])).Build();

        var response = await client.GetResponseAsync("hi", cancellationToken: Ct).WaitAsync(TimeSpan.FromSeconds(10), Ct);

        Assert.Equal(1, cancelled);
        Assert.Equal(0, inner.Calls);
        var result = response.GetSafeAIResult()!;
        Assert.Equal(GuardAction.Block, result.Outcome);
        Assert.Equal("fast", Assert.Single(result).Stage);
    }

    [Fact]
    public void ConcurrentInputChecksOption_GroupsChecksOfTheSameSlot()
    {
        var pipeline = new SafeAIPipelineBuilder()
            .Configure(o => o.ConcurrentInputChecks = true)
            .Add(new PassThroughGuard("custom"))
            .AddInputCheck("a", (_, _) => default)
            .AddInputCheck("b", (_, _) => default)
            .AddInputLengthLimit(10)
            .Build();

        Assert.Equal(["input-length", "a+b", "custom"], pipeline.Stages.Select(s => s.Name));
        Assert.IsType<ConcurrentInputGuard>(pipeline.Stages[1]);
    }

    [Fact]
    public async Task InputLengthGuard_CountsAllTextOfAllMessages()
    {
        using var client = TestChatClient.Answering("ok").AsBuilder().UseSafeAI(safe => safe.AddInputLengthLimit(10)).Build();

        var response = await client.GetResponseAsync([new(ChatRole.System, "123456"), new(ChatRole.User, "7890X")], cancellationToken: Ct);

        Assert.Equal(GuardAction.Block, response.GetSafeAIResult()!.Outcome);
    }

    [Fact]
    public void Constructors_BadArguments_Throw()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new InputLengthGuard(0));
        Assert.Throws<ArgumentException>(() => new CallbackInputGuard(" ", (_, _) => default));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CallbackInputGuard("x", (_, _) => default, timeout: TimeSpan.Zero));
        Assert.Throws<ArgumentException>(() => new CallbackOutputGuard("x", (_, _, _) => default, new OutputScreeningOptions { WindowSize = 0 }));
        Assert.Throws<ArgumentException>(() => new ConcurrentInputGuard([]));
    }

    [Fact]
    public void Verdict_FactoriesAndFormatting()
    {
        var verdict = GuardVerdict.Block("content", "content.hate") with { Score = 0.93, Threshold = 0.8, Elapsed = TimeSpan.FromMilliseconds(1.5) };

        Assert.True(verdict.IsRejection);
        Assert.Equal("content: block content.hate (score 0.93 >= 0.8, 1.5 ms)", verdict.ToString());
        Assert.Equal(verdict, verdict with { });
        Assert.NotEqual(verdict, verdict with { Score = 0.5 });
        Assert.True(default(GuardVerdict).IsEmpty);
        Assert.Null(GuardVerdict.Allow("x").Score);
        Assert.Equal(TimeSpan.FromSeconds(3), GuardVerdict.Limit("r", "rate.user", TimeSpan.FromSeconds(3)).RetryAfter);
        Assert.Throws<ArgumentOutOfRangeException>(() => GuardVerdict.Allow("x") with { Score = double.NaN });
        Assert.Throws<ArgumentException>(() => new GuardVerdict(GuardAction.Allow, "", "ok"));
    }

    [Fact]
    public void Result_OutcomeIsMostSevereAndDecisiveIsFirstOfIt()
    {
        var result = new SafeAIResult([
            GuardVerdict.Allow("a"),
            GuardVerdict.Modify("b", "pii.redacted"),
            GuardVerdict.Escalate("c", "confidence.low"),
            GuardVerdict.Degrade("d", "fallback.error", "faq"),
        ]);

        Assert.Equal(GuardAction.Escalate, result.Outcome);
        Assert.Equal("c", result.DecisiveVerdict!.Value.Stage);
        Assert.False(result.IsRejected);
        Assert.True(result.TryGetVerdict("d", out var d));
        Assert.Equal("faq", d.Detail);
        Assert.True(result.Contains(GuardAction.Modify));
        Assert.Contains("outcome: escalate", result.ToString(), StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new SafeAIResult([default]));
    }

    [Fact]
    public async Task RejectWithNonRejectingVerdict_Throws()
    {
        using var client = TestChatClient.Answering("x").AsBuilder().UseSafeAI(safe => safe.Add(new RejectingWrongly())).Build();

        // The stage misuses the API: its own fault, so fail-closed applies (a blocked answer, not a crash).
        var response = await client.GetResponseAsync("hi", cancellationToken: Ct);

        Assert.Equal(GuardReasons.GuardError, response.GetSafeAIResult()!.DecisiveVerdict!.Value.Reason);
        Assert.Equal(nameof(ArgumentException), response.GetSafeAIResult()!.DecisiveVerdict!.Value.Detail);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }

    private sealed class RejectingWrongly() : AIGuard("wrong")
    {
        public override ValueTask<ChatResponse> InvokeAsync(SafeAIContext context, GuardNext next) => new(context.Reject(GuardVerdict.Allow(Name)));

        public override ValueTask<IAsyncEnumerable<ChatResponseUpdate>> InvokeStreamingAsync(SafeAIContext context, GuardNext next) => next.GetStreamingResponseAsync(context);
    }
}

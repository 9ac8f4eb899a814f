namespace SafeAI.Tests;

public class PipelineTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task GetResponseAsync_StagesWithSameOrder_RunInRegistrationOrderAroundTheCall()
    {
        var log = new List<string>();
        var inner = TestChatClient.Answering("ok");
        inner.GetResponseAsyncCallback = (_, _, _) =>
        {
            log.Add("model");
            return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok")));
        };
        using var client = inner.AsBuilder().UseSafeAI(safe => safe
            .Add(new RecordingGuard("a", log))
            .Add(new RecordingGuard("b", log))
            .Add(new RecordingGuard("c", log))).Build();

        await client.GetResponseAsync("hi", cancellationToken: Ct);

        Assert.Equal(["a:before", "b:before", "c:before", "model", "c:after", "b:after", "a:after"], log);
    }

    [Fact]
    public void Build_StagesWithDifferentOrder_SortedByOrderThenRegistration()
    {
        var log = new List<string>();
        using var client = TestChatClient.Answering("ok").AsBuilder().UseSafeAI(safe => safe
            .Add(new RecordingGuard("confidence", log, GuardOrder.Confidence))
            .Add(new RecordingGuard("custom", log))
            .Add(new RecordingGuard("rate", log, GuardOrder.RateLimiting))
            .Add(new RecordingGuard("forced-first", log), order: 0)).Build();

        var names = client.GetService<SafeAIPipeline>()!.Stages.Select(s => s.Name);

        Assert.Equal(["forced-first", "rate", "custom", "confidence"], names);
    }

    [Fact]
    public async Task GetResponseAsync_InputBlocked_ShortCircuitsLaterStagesAndModel()
    {
        var log = new List<string>();
        var inner = TestChatClient.Answering("never");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe
            .AddInputCheck("blocker", (_, _) => ValueTask.FromResult(GuardVerdict.Block("blocker", "test.blocked")))
            .Add(new RecordingGuard("later", log, GuardOrder.Default))).Build();

        var response = await client.GetResponseAsync("anything", cancellationToken: Ct);

        Assert.Equal(0, inner.Calls);
        Assert.Empty(log);
        Assert.Equal(ChatFinishReason.ContentFilter, response.FinishReason);
        Assert.Equal("Sorry, I can't help with that request.", response.Text);
        var result = response.GetSafeAIResult()!;
        Assert.Equal(GuardAction.Block, result.Outcome);
        Assert.True(result.IsRejected);
        Assert.Equal("test.blocked", result.DecisiveVerdict!.Value.Reason);
        Assert.Equal("blocker", result.DecisiveVerdict!.Value.Stage);
    }

    [Fact]
    public async Task GetResponseAsync_AllowedCall_ResultListsEachVerdictWithElapsedTime()
    {
        using var client = TestChatClient.Answering("fine").AsBuilder().UseSafeAI(safe => safe
            .Configure(o => o.RecordAllowVerdicts = true)
            .AddInputCheck("one", (_, _) => ValueTask.FromResult(GuardVerdict.Allow("one") with { Score = 0.1, Threshold = 0.5 }))
            .AddOutputCheck("two", (_, _, _) => ValueTask.FromResult(GuardVerdict.Allow("two")))).Build();

        var response = await client.GetResponseAsync("hello", cancellationToken: Ct);

        var result = response.GetSafeAIResult()!;
        Assert.Equal("fine", response.Text);
        Assert.Equal(GuardAction.Allow, result.Outcome);
        Assert.Equal(["one", "two"], result.Select(v => v.Stage));
        Assert.Equal(0.1, result[0].Score);
        Assert.Equal(0.5, result[0].Threshold);
        Assert.All(result, v => Assert.True(v.Elapsed >= TimeSpan.Zero));
        Assert.Null(result.DecisiveVerdict);
    }

    [Fact]
    public async Task GetResponseAsync_InputModified_ModelSeesRewriteAndCallerMessagesUntouched()
    {
        var inner = TestChatClient.Answering("ok");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddInputCheck("redact", (ctx, _) =>
        {
            ctx.Messages = ctx.Messages.Select(m => new ChatMessage(m.Role, m.Text.Replace("4111 1111 1111 1111", "[card]", StringComparison.Ordinal))).ToList();
            return ValueTask.FromResult(GuardVerdict.Modify("redact", "pii.card"));
        })).Build();
        var messages = new List<ChatMessage> { new(ChatRole.User, "my card is 4111 1111 1111 1111") };

        var response = await client.GetResponseAsync(messages, cancellationToken: Ct);

        Assert.Equal("my card is [card]", inner.ReceivedMessages.Single().Single().Text);
        Assert.Equal("my card is 4111 1111 1111 1111", messages[0].Text);
        Assert.Equal(GuardAction.Modify, response.GetSafeAIResult()!.Outcome);
    }

    [Fact]
    public async Task GetResponseAsync_OutputModified_ResponseTextReplaced()
    {
        using var client = TestChatClient.Answering("call 555 1234 now").AsBuilder().UseSafeAI(safe => safe.AddOutputCheck("mask", (_, seg, _) =>
        {
            seg.Replacement = seg.Text.Replace("555 1234", "[phone]", StringComparison.Ordinal);
            return ValueTask.FromResult(GuardVerdict.Modify("mask", "pii.phone"));
        })).Build();

        var response = await client.GetResponseAsync("hi", cancellationToken: Ct);

        Assert.Equal("call [phone] now", response.Text);
        Assert.Equal(GuardAction.Modify, response.GetSafeAIResult()!.Outcome);
    }

    [Fact]
    public async Task GetResponseAsync_OutputBlocked_ModelAnswerReplacedByRefusal()
    {
        using var client = TestChatClient.Answering("something awful").AsBuilder().UseSafeAI(safe => safe
            .AddOutputCheck("out", (_, seg, _) => ValueTask.FromResult(seg.Text.Contains("awful", StringComparison.Ordinal) ? GuardVerdict.Block("out", "content.harassment") : GuardVerdict.Allow("out")))
            .Configure(o => o.RejectionMessages["content"] = "I won't say that.")).Build();

        var response = await client.GetResponseAsync("hi", cancellationToken: Ct);

        Assert.Equal("I won't say that.", response.Text);
        Assert.DoesNotContain("awful", response.Text);
        Assert.Equal(ChatFinishReason.ContentFilter, response.FinishReason);
    }

    [Fact]
    public async Task GetResponseAsync_EmptyPipeline_AttachesEmptyResultAndReturnsInnerResponse()
    {
        var expected = new ChatResponse(new ChatMessage(ChatRole.Assistant, "x"));
        var inner = new TestChatClient { GetResponseAsyncCallback = (_, _, _) => Task.FromResult(expected) };
        using var client = inner.AsBuilder().UseSafeAI(_ => { }).Build();

        var response = await client.GetResponseAsync("hi", cancellationToken: Ct);

        Assert.Same(expected, response);
        Assert.Same(SafeAIResult.Empty, response.GetSafeAIResult());
    }

    [Fact]
    public async Task GetResponseAsync_NullMessages_Throws()
    {
        using var client = TestChatClient.Answering("x").AsBuilder().UseSafeAI(safe => safe.AddInputLengthLimit(10)).Build();

        await Assert.ThrowsAsync<ArgumentNullException>(() => client.GetResponseAsync((IEnumerable<ChatMessage>)null!, cancellationToken: Ct));
        Assert.Throws<ArgumentNullException>(() => client.GetStreamingResponseAsync((IEnumerable<ChatMessage>)null!, cancellationToken: Ct));
    }

    [Fact]
    public async Task GetResponseAsync_EmptyMessageList_BlockedWithVerdictModelNotCalled()
    {
        var inner = TestChatClient.Answering("hello");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddInputLengthLimit(10)).Build();

        var response = await client.GetResponseAsync([], cancellationToken: Ct);

        Assert.Equal(0, inner.Calls);
        Assert.Equal(ChatFinishReason.ContentFilter, response.FinishReason);
        Assert.Equal(GuardReasons.InputEmpty, response.GetSafeAIResult()!.DecisiveVerdict!.Value.Reason);
    }

    [Fact]
    public async Task GetResponseAsync_HugeInput_RejectedByLengthLimitWithClearMessage()
    {
        var inner = TestChatClient.Answering("never");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddInputLengthLimit(1000)).Build();

        var response = await client.GetResponseAsync(new string('x', 2_000_000), cancellationToken: Ct);

        Assert.Equal(0, inner.Calls);
        var verdict = response.GetSafeAIResult()!.DecisiveVerdict!.Value;
        Assert.Equal(GuardReasons.InputTooLong, verdict.Reason);
        Assert.Equal(2_000_000, verdict.Score);
        Assert.Contains("too long", response.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetResponseAsync_InnerClientFails_ExceptionReachesCallerUnchanged()
    {
        var boom = new HttpRequestException("provider down");
        var inner = new TestChatClient { GetResponseAsyncCallback = (_, _, _) => Task.FromException<ChatResponse>(boom) };
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.Add(new PassThroughGuard("p")).AddInputLengthLimit(100)).Build();

        var thrown = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetResponseAsync("hi", cancellationToken: Ct));

        Assert.Same(boom, thrown);
    }

    [Fact]
    public async Task GetResponseAsync_InnerClientThrowsSynchronously_ExceptionReachesCaller()
    {
        var inner = new TestChatClient { GetResponseAsyncCallback = (_, _, _) => throw new InvalidOperationException("sync") };
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.Add(new PassThroughGuard("p"))).Build();

        var thrown = await Assert.ThrowsAsync<InvalidOperationException>(() => client.GetResponseAsync("hi", cancellationToken: Ct));

        Assert.Equal("sync", thrown.Message);
    }

    [Fact]
    public void GetService_ReturnsPipelineAndClientAndInnerServices()
    {
        var inner = TestChatClient.Answering("x");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddInputLengthLimit(5)).Build();

        Assert.NotNull(client.GetService<SafeAIPipeline>());
        Assert.IsType<SafeAIChatClient>(client.GetService<SafeAIChatClient>());
        Assert.Same(inner, client.GetService<TestChatClient>());
        Assert.IsType<InputLengthGuard>(client.GetService<SafeAIPipeline>()!.GetStage<InputLengthGuard>());
    }

    [Fact]
    public async Task GetResponseAsync_ThousandConcurrentCalls_EachGetsItsOwnResult()
    {
        var inner = new TestChatClient
        {
            GetResponseAsyncCallback = async (msgs, _, ct) =>
            {
                await Task.Yield();
                return new ChatResponse(new ChatMessage(ChatRole.Assistant, "echo:" + msgs.Last().Text));
            },
        };
        using var client = inner.AsBuilder().UseSafeAI(safe => safe
            .AddInputCheck("odd-blocker", async (ctx, _) =>
            {
                await Task.Yield();
                var n = int.Parse(ctx.GetInputText(), System.Globalization.CultureInfo.InvariantCulture);
                return n % 2 == 1 ? GuardVerdict.Block("odd-blocker", "test.odd") : GuardVerdict.Allow("odd-blocker", "test.even") with { Score = n };
            })
            .Add(new PassThroughGuard("p1"))
            .AddOutputCheck("out", (ctx, seg, _) => ValueTask.FromResult(GuardVerdict.Allow("out", "test.out")))).Build();

        var tasks = Enumerable.Range(0, 1000).Select(i => Task.Run(() => client.GetResponseAsync(i.ToString(System.Globalization.CultureInfo.InvariantCulture), cancellationToken: Ct), Ct)).ToArray();
        var responses = await Task.WhenAll(tasks);

        for (var i = 0; i < responses.Length; i++)
        {
            var result = responses[i].GetSafeAIResult()!;
            if (i % 2 == 1)
            {
                Assert.Equal(GuardAction.Block, result.Outcome);
                Assert.Single(result);
            }
            else
            {
                Assert.Equal($"echo:{i}", responses[i].Text);
                Assert.Equal(GuardAction.Allow, result.Outcome);
                Assert.Equal(i, result[0].Score);
                Assert.Equal(2, result.Count);
            }
        }

        Assert.Equal(500, inner.Calls);
    }

    [Fact]
    public async Task GetResponseAsync_CallerCancels_OperationCanceledAndModelSawToken()
    {
        CancellationToken seen = default;
        var inner = new TestChatClient
        {
            GetResponseAsyncCallback = async (_, _, ct) =>
            {
                seen = ct;
                await Task.Delay(Timeout.Infinite, ct);
                return new ChatResponse();
            },
        };
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.Add(new PassThroughGuard("p")).AddInputLengthLimit(100)).Build();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        var call = client.GetResponseAsync("hi", cancellationToken: cts.Token);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        Assert.True(seen.IsCancellationRequested);
    }

    [Fact]
    public async Task GetResponseAsync_CallerCancelsDuringCheck_CheckSeesCancellationAndNoFaultVerdict()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var inner = TestChatClient.Answering("never");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddInputCheck("slow", async (_, ct) =>
        {
            started.SetResult();
            await Task.Delay(Timeout.Infinite, ct);
            return default;
        })).Build();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        var call = client.GetResponseAsync("hi", cancellationToken: cts.Token);
        await started.Task;
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        Assert.Equal(0, inner.Calls);
    }
}

using System.Runtime.CompilerServices;

namespace SafeAI.Tests;

public class StreamingTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<List<ChatResponseUpdate>> CollectAsync(IAsyncEnumerable<ChatResponseUpdate> stream)
    {
        var list = new List<ChatResponseUpdate>();
        await foreach (var update in stream)
        {
            list.Add(update);
        }

        return list;
    }

    [Fact]
    public async Task GetStreamingResponseAsync_NoOutputChecks_UpdatesPassThroughThenResultUpdate()
    {
        var inner = TestChatClient.Streaming("Hel", "lo ", "world");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.Add(new PassThroughGuard("p")).AddInputLengthLimit(100)).Build();

        var updates = await CollectAsync(client.GetStreamingResponseAsync("hi", cancellationToken: Ct));

        Assert.Equal(["Hel", "lo ", "world", ""], updates.Select(u => u.Text));
        Assert.All(updates.Take(3), u => Assert.Null(u.GetSafeAIResult()));
        var result = updates[^1].GetSafeAIResult()!;
        Assert.Equal(GuardAction.Allow, result.Outcome);
        Assert.Equal("r1", updates[^1].ResponseId);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_ToChatResponse_KeepsTextAndResult()
    {
        using var client = TestChatClient.Streaming("a ", "b ", "c").AsBuilder().UseSafeAI(safe => safe.AddInputLengthLimit(100)).Build();

        var response = await client.GetStreamingResponseAsync("hi", cancellationToken: Ct).ToChatResponseAsync(Ct);

        Assert.Equal("a b c", response.Text);
        Assert.Single(response.Messages);
        Assert.NotNull(response.GetSafeAIResult());
    }

    [Fact]
    public async Task GetStreamingResponseAsync_InputBlocked_SingleRefusalUpdateAndModelNotCalled()
    {
        var inner = TestChatClient.Streaming("never");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddInputCheck("b", (_, _) => ValueTask.FromResult(GuardVerdict.Block("b", "x.blocked")))).Build();

        var updates = await CollectAsync(client.GetStreamingResponseAsync("hi", cancellationToken: Ct));

        Assert.Equal(0, inner.Calls);
        Assert.Equal(2, updates.Count);
        Assert.Equal(ChatFinishReason.ContentFilter, updates[0].FinishReason);
        Assert.Equal(GuardAction.Block, updates[1].GetSafeAIResult()!.Outcome);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_ThrowMode_InputBlockThrowsTypedException()
    {
        using var client = TestChatClient.Streaming("never").AsBuilder().UseSafeAI(safe => safe
            .Configure(o => o.OnRejected = RejectionBehavior.ThrowException)
            .AddInputCheck("b", (_, _) => ValueTask.FromResult(GuardVerdict.Block("b", "x.blocked")))).Build();

        await Assert.ThrowsAsync<SafeAIBlockedException>(() => CollectAsync(client.GetStreamingResponseAsync("hi", cancellationToken: Ct)));
    }

    [Fact]
    public async Task GetStreamingResponseAsync_OutputCheck_TextReleasedOnlyAfterItsWindowPassed()
    {
        var screened = new List<string>();
        var released = new List<string>();
        using var client = TestChatClient.Streaming("one ", "two ", "three ", "four ", "five").AsBuilder().UseSafeAI(safe => safe.AddOutputCheck(
            "out",
            (_, seg, _) =>
            {
                lock (screened)
                {
                    screened.Add(seg.Text);
                }

                return ValueTask.FromResult(GuardVerdict.Allow("out"));
            },
            screening: new OutputScreeningOptions { WindowSize = 8, SentenceFlushMinimum = 0 })).Build();

        const string Full = "one two three four five";
        await foreach (var update in client.GetStreamingResponseAsync("hi", cancellationToken: Ct))
        {
            released.Add(update.Text);

            // Everything released so far must lie within the text screened so far (windows overlap: held text is
            // screened again with the next window).
            var releasedText = string.Concat(released);
            string last;
            lock (screened)
            {
                last = screened[^1];
            }

            Assert.StartsWith(releasedText, Full, StringComparison.Ordinal);
            Assert.True(releasedText.Length <= Full.IndexOf(last, StringComparison.Ordinal) + last.Length, $"released '{releasedText}' past the screened '{last}'");
        }

        Assert.Equal(Full, string.Concat(released));

        // No sentence ended and the text is shorter than the context kept: all of it stays held and is screened again
        // with each new window, so a later window that fails could still stop all of it.
        Assert.Equal(["one two ", "one two three four ", "one two three four five"], screened);
    }

    public static TheoryData<int> ForbiddenChunkPositions => new() { 0, 1, 2, 3, 4, 5, 6 };

    [Theory]
    [MemberData(nameof(ForbiddenChunkPositions))]
    public async Task GetStreamingResponseAsync_ForbiddenTextAtAnyChunkBoundary_NeverReachesCaller(int position)
    {
        // The forbidden word is split across two chunks at every possible place, for windows of several sizes.
        var chunks = new List<string> { "Sure, ", "here ", "is ", "the ", "answer: ", "all ", "good." };
        chunks.Insert(position, "FORB");
        chunks.Insert(position + 1, "IDDEN ");
        foreach (var window in new[] { 1, 5, 12, 40, 1000 })
        {
            using var client = TestChatClient.Streaming([.. chunks]).AsBuilder().UseSafeAI(safe => safe.AddOutputCheck(
                "out",
                (_, seg, _) => ValueTask.FromResult((seg.PrecedingText + seg.Text).Contains("FORBIDDEN", StringComparison.Ordinal) ? GuardVerdict.Block("out", "content.test") : GuardVerdict.Allow("out")),
                screening: new OutputScreeningOptions { WindowSize = window, ContextSize = 16, SentenceFlushMinimum = 0 })).Build();

            var updates = await CollectAsync(client.GetStreamingResponseAsync("hi", cancellationToken: Ct));
            var text = string.Concat(updates.Select(u => u.Text));

            Assert.False(text.Contains("FORB", StringComparison.Ordinal), $"window {window}: {text}");
            Assert.DoesNotContain("IDDEN", text, StringComparison.Ordinal);
            Assert.Contains(new SafeAIOptions().BlockedMessage, text, StringComparison.Ordinal);
            Assert.Equal(GuardAction.Block, updates[^1].GetSafeAIResult()!.Outcome);
        }
    }

    [Fact]
    public async Task GetStreamingResponseAsync_OutputBlocked_RestOfModelStreamNotConsumed()
    {
        var produced = 0;
        var inner = new TestChatClient { GetStreamingResponseAsyncCallback = (_, _, ct) => Endless(ct) };
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddOutputCheck(
            "out",
            (_, seg, _) => ValueTask.FromResult(seg.Text.Contains("bad", StringComparison.Ordinal) ? GuardVerdict.Block("out", "content.test") : GuardVerdict.Allow("out")),
            screening: new OutputScreeningOptions { WindowSize = 4, SentenceFlushMinimum = 0 })).Build();

        var updates = await CollectAsync(client.GetStreamingResponseAsync("hi", cancellationToken: Ct));

        Assert.True(produced < 10, $"the model stream was read {produced} times after the block");
        Assert.Equal(GuardAction.Block, updates[^1].GetSafeAIResult()!.Outcome);

        async IAsyncEnumerable<ChatResponseUpdate> Endless([EnumeratorCancellation] CancellationToken ct)
        {
            yield return new ChatResponseUpdate(ChatRole.Assistant, "good ");
            while (true)
            {
                ct.ThrowIfCancellationRequested();
                produced++;
                await Task.Yield();
                yield return new ChatResponseUpdate(ChatRole.Assistant, "bad ");
            }
        }
    }

    [Fact]
    public async Task GetStreamingResponseAsync_OutputModified_ReplacementReleasedInsteadOfHeldText()
    {
        using var client = TestChatClient.Streaming("Call ", "555 ", "1234 ", "today.").AsBuilder().UseSafeAI(safe => safe.AddOutputCheck(
            "mask",
            (_, seg, _) =>
            {
                if (!seg.Text.Contains("555", StringComparison.Ordinal))
                {
                    return ValueTask.FromResult(GuardVerdict.Allow("mask"));
                }

                seg.Replacement = seg.Text.Replace("555 1234", "[phone]", StringComparison.Ordinal);
                return ValueTask.FromResult(GuardVerdict.Modify("mask", "pii.phone"));
            },
            screening: new OutputScreeningOptions { WindowSize = 100 })).Build();

        var updates = await CollectAsync(client.GetStreamingResponseAsync("hi", cancellationToken: Ct));

        Assert.Equal("Call [phone] today.", string.Concat(updates.Select(u => u.Text)));
        Assert.Equal(GuardAction.Modify, updates[^1].GetSafeAIResult()!.Outcome);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_SentenceEnd_ScreensEarly()
    {
        var windows = new List<string>();
        using var client = TestChatClient.Streaming("Short sentence here, ", "well over ten chars. ", "Next part").AsBuilder().UseSafeAI(safe => safe.AddOutputCheck(
            "out",
            (_, seg, _) =>
            {
                windows.Add(seg.Text);
                return ValueTask.FromResult(GuardVerdict.Allow("out"));
            },
            screening: new OutputScreeningOptions { WindowSize = 1000, ContextSize = 0, SentenceFlushMinimum = 10 })).Build();

        await CollectAsync(client.GetStreamingResponseAsync("hi", cancellationToken: Ct));

        // The first sentence is screened as soon as it ends, and held until the next one starts (it is screened again with it).
        Assert.Equal(["Short sentence here, well over ten chars. ", "Short sentence here, well over ten chars. Next part"], windows);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_ModelFailsMidStream_ExceptionReachesCaller()
    {
        var inner = new TestChatClient { GetStreamingResponseAsyncCallback = (_, _, ct) => Failing(ct) };
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.Add(new PassThroughGuard("p"))).Build();

        var received = new List<string>();
        await Assert.ThrowsAsync<HttpRequestException>(async () =>
        {
            await foreach (var u in client.GetStreamingResponseAsync("hi", cancellationToken: Ct))
            {
                received.Add(u.Text);
            }
        });

        Assert.Equal(["partial"], received);

        static async IAsyncEnumerable<ChatResponseUpdate> Failing([EnumeratorCancellation] CancellationToken ct)
        {
            yield return new ChatResponseUpdate(ChatRole.Assistant, "partial");
            await Task.Yield();
            throw new HttpRequestException("connection reset");
        }
    }

    [Fact]
    public async Task GetStreamingResponseAsync_CallerCancelsMidStream_Stops()
    {
        using var client = TestChatClient.Streaming("a", "b", "c", "d").AsBuilder().UseSafeAI(safe => safe.AddInputLengthLimit(100)).Build();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var received = 0;

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in client.GetStreamingResponseAsync("hi", cancellationToken: cts.Token))
            {
                if (++received == 2)
                {
                    await cts.CancelAsync();
                }
            }
        });

        Assert.Equal(2, received);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_CallerStopsEarly_StreamDisposedAndStageCleanupRuns()
    {
        var disposed = false;
        var inner = new TestChatClient { GetStreamingResponseAsyncCallback = (_, _, ct) => Tracked(ct) };
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.Add(new PassThroughGuard("p"))).Build();

        await foreach (var _ in client.GetStreamingResponseAsync("hi", cancellationToken: Ct))
        {
            break;
        }

        Assert.True(disposed);

        async IAsyncEnumerable<ChatResponseUpdate> Tracked([EnumeratorCancellation] CancellationToken ct)
        {
            try
            {
                yield return new ChatResponseUpdate(ChatRole.Assistant, "one");
                await Task.Yield();
                yield return new ChatResponseUpdate(ChatRole.Assistant, "two");
            }
            finally
            {
                disposed = true;
            }
        }
    }

    [Fact]
    public async Task GetStreamingResponseAsync_AroundStageSeesStreamStart()
    {
        var log = new List<string>();
        using var client = TestChatClient.Streaming("x").AsBuilder().UseSafeAI(safe => safe.Add(new RecordingGuard("g", log))).Build();

        await CollectAsync(client.GetStreamingResponseAsync("hi", cancellationToken: Ct));

        Assert.Equal(["g:before", "g:started"], log);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_SameStreamReadTwice_TwoCallsEachWithItsOwnResult()
    {
        var calls = 0;
        var inner = new TestChatClient
        {
            GetStreamingResponseAsyncCallback = (_, _, ct) =>
            {
                Interlocked.Increment(ref calls);
                return TestChatClient.Chunks(ct, "a", "b");
            },
        };
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddAIDisclosure().AddInputCheck("c", (_, _) => ValueTask.FromResult(GuardVerdict.Allow("c", "test.seen")))).Build();
        var stream = client.GetStreamingResponseAsync("hi", cancellationToken: Ct);

        var first = await CollectAsync(stream);
        var second = await CollectAsync(stream);

        Assert.Equal(2, calls);
        Assert.Equal(["a", "b", ""], second.Skip(1).Select(u => u.Text));
        Assert.Equal(first.Select(u => u.Text), second.Select(u => u.Text));
        Assert.NotSame(first[^1].GetSafeAIResult(), second[^1].GetSafeAIResult());
        Assert.Equal(["test.seen", "disclosure.notice"], second[^1].GetSafeAIResult()!.Select(v => v.Reason));
        Assert.NotNull(second[0].GetAIDisclosure());
    }

    [Fact]
    public async Task GetStreamingResponseAsync_ReaderTokenCancelled_ModelStreamSeesIt()
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var inner = TestChatClient.Streaming("one ", "two ", "three ", "four");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddAIDisclosure().AddFallback(o => o.Fallbacks.Add(ChatFallback.Static("fallback")))).Build();
        var texts = new List<string>();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var update in client.GetStreamingResponseAsync("hi", cancellationToken: CancellationToken.None).WithCancellation(cts.Token))
            {
                texts.Add(update.Text);
                if (update.Text == "one ")
                {
                    await cts.CancelAsync();
                }
            }
        });

        Assert.DoesNotContain("two ", texts);

        // The call's context went back to the pool in order: the next call works and carries its own result.
        var again = await CollectAsync(client.GetStreamingResponseAsync("hi", cancellationToken: Ct));
        Assert.Equal("one two three four", string.Concat(again.Skip(1).Select(u => u.Text)).Trim());
    }

    [Fact]
    public async Task StageStream_ReadASecondTime_ThrowsClearError()
    {
        IAsyncEnumerable<ChatResponseUpdate>? stageStream = null;
        var inner = TestChatClient.Streaming("a", "b");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe
            .Add(new StreamSpyGuard(stream => stageStream = stream), order: GuardOrder.Disclosure - 1)
            .AddAIDisclosure()).Build();

        await CollectAsync(client.GetStreamingResponseAsync("hi", cancellationToken: Ct));

        var ex = Assert.Throws<InvalidOperationException>(() => stageStream!.GetAsyncEnumerator(Ct));
        Assert.Contains("read once", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_DisclosureThenPassThrough_AllChunksInOrderAndModelFailureStillReachesCaller()
    {
        var disposed = false;
        var inner = new TestChatClient { GetStreamingResponseAsyncCallback = (_, _, ct) => FailingAfter(ct, 40, () => disposed = true) };
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddAIDisclosure(o => o.Notice = AIDisclosureNotice.None)).Build();
        var texts = new List<string>();

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            await foreach (var update in client.GetStreamingResponseAsync("hi", cancellationToken: Ct))
            {
                texts.Add(update.Text);
            }
        });

        Assert.Equal("model broke", ex.Message);
        Assert.Equal([string.Empty, .. Enumerable.Range(0, 40).Select(i => $"c{i} ")], texts);
        Assert.True(disposed);
    }

    private static async IAsyncEnumerable<ChatResponseUpdate> FailingAfter([EnumeratorCancellation] CancellationToken cancellationToken, int chunks, Action onDispose)
    {
        try
        {
            for (var i = 0; i < chunks; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (i % 8 == 0)
                {
                    await Task.Yield();
                }

                yield return new ChatResponseUpdate(ChatRole.Assistant, $"c{i} ");
            }

            throw new InvalidOperationException("model broke");
        }
        finally
        {
            onDispose();
        }
    }

    private sealed class StreamSpyGuard(Action<IAsyncEnumerable<ChatResponseUpdate>> seen) : AIGuard("spy")
    {
        public override ValueTask<ChatResponse> InvokeAsync(SafeAIContext context, GuardNext next) => next.GetResponseAsync(context);

        public override async ValueTask<IAsyncEnumerable<ChatResponseUpdate>> InvokeStreamingAsync(SafeAIContext context, GuardNext next)
        {
            var stream = await next.GetStreamingResponseAsync(context);
            seen(stream);
            return stream;
        }
    }
}

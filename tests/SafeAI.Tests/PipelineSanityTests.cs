namespace SafeAI.Tests;

public class PipelineSanityTests
{
    [Fact]
    public async Task GetResponseAsync_InputBlocked_ReturnsRefusal()
    {
        var inner = TestChatClient.Answering("hello there");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddInputCheck("kw", (ctx, _) =>
            ValueTask.FromResult(ctx.GetInputText().Contains("bad", StringComparison.Ordinal) ? GuardVerdict.Block("kw", "kw.bad") : GuardVerdict.Allow("kw")))).Build();

        var ok = await client.GetResponseAsync("good question", cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal("hello there", ok.Text);
        Assert.Equal(GuardAction.Allow, ok.GetSafeAIResult()!.Outcome);

        var blocked = await client.GetResponseAsync("bad question", cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(ChatFinishReason.ContentFilter, blocked.FinishReason);
        Assert.Equal(GuardAction.Block, blocked.GetSafeAIResult()!.Outcome);
        Assert.Equal(1, inner.Calls);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_OutputBlockedMidStream_NoUnscreenedText()
    {
        var inner = TestChatClient.Streaming("Hello ", "world, ", "this is ", "FORBIDDEN ", "text.");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.Add(new CallbackOutputGuard("out", (ctx, seg, _) =>
            ValueTask.FromResult((seg.PrecedingText + seg.Text).Contains("FORBIDDEN", StringComparison.Ordinal) ? GuardVerdict.Block("out", "out.bad") : GuardVerdict.Allow("out")),
            new OutputScreeningOptions { WindowSize = 10, SentenceFlushMinimum = 0 }))).Build();

        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in client.GetStreamingResponseAsync("hi", cancellationToken: TestContext.Current.CancellationToken))
        {
            updates.Add(u);
        }

        var text = string.Concat(updates.Select(u => u.Text));
        Assert.DoesNotContain("FORBIDDEN", text);
        Assert.Equal(GuardAction.Block, updates[^1].GetSafeAIResult()!.Outcome);
    }
}

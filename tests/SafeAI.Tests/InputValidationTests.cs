namespace SafeAI.Tests;

public class InputValidationTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static IChatClient Build(IChatClient inner, Action<SafeAIOptions>? configure = null) =>
        inner.AsBuilder().UseSafeAI(safe =>
        {
            safe.AddInputLengthLimit(10_000);
            if (configure is not null)
            {
                safe.Configure(configure);
            }
        }).Build();

    public static TheoryData<string, ChatMessage?[], string> EmptyInputs => new()
    {
        { "empty string", [new ChatMessage(ChatRole.User, string.Empty)], GuardReasons.InputEmpty },
        { "white space", [new ChatMessage(ChatRole.User, "  \n\t ")], GuardReasons.InputEmpty },
        { "no messages", [], GuardReasons.InputEmpty },
        { "null text", [new ChatMessage(ChatRole.User, (string?)null)], GuardReasons.InputEmpty },
        { "a null message", [new ChatMessage(ChatRole.User, "hello"), null], GuardReasons.InputInvalid },
    };

    [Theory]
    [MemberData(nameof(EmptyInputs))]
    public async Task GetResponseAsync_EmptyOrMalformedInput_BlockedWithVerdictModelNotCalled(string name, ChatMessage?[] messages, string reason)
    {
        var inner = TestChatClient.Answering("never");
        using var client = Build(inner);

        var response = await client.GetResponseAsync(messages!, cancellationToken: Ct);

        Assert.True(inner.Calls == 0, name);
        Assert.Equal(ChatFinishReason.ContentFilter, response.FinishReason);
        var verdict = response.GetSafeAIResult()!.DecisiveVerdict!.Value;
        Assert.Equal(GuardAction.Block, verdict.Action);
        Assert.Equal(reason, verdict.Reason);
        Assert.Equal(GuardReasons.InputValidationStage, verdict.Stage);
        Assert.False(string.IsNullOrWhiteSpace(response.Text));
    }

    [Theory]
    [MemberData(nameof(EmptyInputs))]
    public async Task GetStreamingResponseAsync_EmptyOrMalformedInput_OneRefusalUpdateModelNotCalled(string name, ChatMessage?[] messages, string reason)
    {
        var inner = TestChatClient.Answering("never");
        using var client = Build(inner);

        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync(messages!, cancellationToken: Ct))
        {
            updates.Add(update);
        }

        Assert.True(inner.Calls == 0, name);
        Assert.Contains(updates, u => u.FinishReason == ChatFinishReason.ContentFilter);
        Assert.Equal(reason, updates[^1].GetSafeAIResult()!.DecisiveVerdict!.Value.Reason);
    }

    [Fact]
    public async Task GetResponseAsync_EmptyInputThrowMode_ThrowsBlockedException()
    {
        using var client = Build(TestChatClient.Answering("never"), o => o.OnRejected = RejectionBehavior.ThrowException);

        var error = await Assert.ThrowsAsync<SafeAIBlockedException>(() => client.GetResponseAsync(string.Empty, cancellationToken: Ct));

        Assert.Equal(GuardReasons.InputEmpty, error.Verdict!.Value.Reason);
    }

    [Fact]
    public async Task GetResponseAsync_ImageOnlyMessage_ReachesModel()
    {
        var inner = TestChatClient.Answering("a cat");
        using var client = Build(inner);

        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, [new DataContent(new byte[] { 1, 2, 3 }, "image/png")])], cancellationToken: Ct);

        Assert.Equal("a cat", response.Text);
        Assert.Equal(1, inner.Calls);
    }

    [Fact]
    public async Task GetResponseAsync_LoneSurrogates_ReplacedBeforeTheModelCallerMessagesUnchanged()
    {
        var inner = TestChatClient.Answering("ok");
        using var client = Build(inner, o => o.RecordAllowVerdicts = true);
        var text = "broken \uD800 half and \uDC00 other half, intact \uD83D\uDE00 pair, trailing \uD83D";
        var message = new ChatMessage(ChatRole.User, text);

        var response = await client.GetResponseAsync([message], cancellationToken: Ct);

        var sent = Assert.Single(inner.ReceivedMessages.Single()).Text;
        Assert.Equal("broken \uFFFD half and \uFFFD other half, intact \uD83D\uDE00 pair, trailing \uFFFD", sent);
        Assert.Equal(text, message.Text);
        Assert.Contains(response.GetSafeAIResult()!.Verdicts, v => v.Action == GuardAction.Modify && v.Reason == GuardReasons.InputLoneSurrogate);
    }

    [Fact]
    public async Task GetResponseAsync_ValidSurrogatePairs_ForwardedUnchanged()
    {
        var inner = TestChatClient.Answering("ok");
        using var client = Build(inner);
        var message = new ChatMessage(ChatRole.User, "emoji \uD83D\uDE00 and \uD834\uDD1E");

        var response = await client.GetResponseAsync([message], cancellationToken: Ct);

        Assert.Same(message, Assert.Single(inner.ReceivedMessages.Single()));
        Assert.Equal(GuardAction.Allow, response.GetSafeAIResult()!.Outcome);
    }
}

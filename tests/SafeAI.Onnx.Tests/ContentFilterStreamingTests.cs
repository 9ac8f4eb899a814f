using SafeAI.Onnx.Tests.Infrastructure;

namespace SafeAI.Onnx.Tests;

public sealed class ContentFilterStreamingTests : IDisposable
{
    private const string Violent = "We love the cat. The dog is nice. I will kill them all today. Hello world.";
    private const string Benign = "We love the cat. The dog is nice. What a lovely day today. Hello world.";

    private readonly TinyModel _tiny = new();
    private readonly ContentModel _model;

    public ContentFilterStreamingTests() => _model = _tiny.Load();

    public void Dispose()
    {
        _model.Dispose();
        _tiny.Dispose();
    }

    public static TheoryData<int, int> Screenings() => new()
    {
        { 8, 16 },
        { 16, 16 },
        { 40, 24 },
        { 200, 64 },
    };

    [Theory]
    [MemberData(nameof(Screenings))]
    public async Task GetStreamingResponseAsync_ViolentAnswerSplitAtEveryBoundary_NeverLeaksUnscreenedText(int windowSize, int contextSize)
    {
        var ct = TestContext.Current.CancellationToken;
        var killAt = Violent.IndexOf("kill", StringComparison.Ordinal);
        for (var split = 1; split < Violent.Length; split++)
        {
            var inner = TestChatClient.Streaming(Violent[..split], Violent[split..]);
            using var client = Build(inner, windowSize, contextSize);

            var (released, notice, result) = await CollectAsync(client, ct);

            Assert.DoesNotContain("kill", released, StringComparison.Ordinal);
            Assert.StartsWith(released, Violent, StringComparison.Ordinal); // only text the model sent, in order
            Assert.True(released.Length < killAt + "kill".Length, $"split {split}: released {released.Length} characters, the violent word starts at {killAt}");
            Assert.NotNull(notice);
            Assert.Equal(ChatFinishReason.ContentFilter, notice.FinishReason);
            Assert.Contains(result.Verdicts, v => v.Stage == "content-output" && v.Action == GuardAction.Block && v.Reason == "content.violence");
        }
    }

    [Fact]
    public async Task GetStreamingResponseAsync_ViolentAnswerCharacterByCharacter_NeverLeaksUnscreenedText()
    {
        var inner = TestChatClient.Streaming(Violent.Select(c => c.ToString()).ToArray());
        using var client = Build(inner, windowSize: 24, contextSize: 16);

        var (released, notice, _) = await CollectAsync(client, TestContext.Current.CancellationToken);

        Assert.DoesNotContain("kill", released, StringComparison.Ordinal);
        Assert.StartsWith(released, Violent, StringComparison.Ordinal);
        Assert.NotNull(notice);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_WordSplitAcrossChunks_HeldUntilTheWholeWordIsScreened()
    {
        // "ki" ends one chunk and "ll" opens the next: a window never ends inside a word, so "ki" is not released
        // on its own; the whole word is screened and the stream is cut before any of it reaches the caller.
        var text = "hello world the cat ki";
        var inner = TestChatClient.Streaming(text, "ll them.");
        using var client = Build(inner, windowSize: text.Length, contextSize: 16, sentenceFlush: 0);

        var (released, notice, _) = await CollectAsync(client, TestContext.Current.CancellationToken);

        Assert.Equal(string.Empty, released);
        Assert.NotNull(notice);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(33)]
    public async Task GetStreamingResponseAsync_BenignAnswer_ArrivesWhole(int split)
    {
        var inner = TestChatClient.Streaming(Benign[..split], Benign[split..]);
        using var client = Build(inner, 16, 16);

        var (released, notice, result) = await CollectAsync(client, TestContext.Current.CancellationToken);

        Assert.Equal(Benign, released);
        Assert.Null(notice);
        Assert.Contains(result.Verdicts, v => v.Stage == "content-output" && v.Action == GuardAction.Allow);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_RedactAction_ReleasesRedactedWindow()
    {
        var inner = TestChatClient.Streaming("The cat is nice. ", "They are vermin! ", "Hello world.");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddContentFilter(_model, o =>
        {
            o.Categories["hate"] = new() { Action = ContentAction.Redact };
            o.Screening = new OutputScreeningOptions { WindowSize = 17, ContextSize = 16, SentenceFlushMinimum = 0 };
        })).Build();

        var (released, notice, _) = await CollectAsync(client, TestContext.Current.CancellationToken);

        Assert.Equal("The cat is nice. [removed by content filter] Hello world.", released);
        Assert.Null(notice);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_RedactedWordSplitAcrossWindows_DoesNotPassInPieces()
    {
        // "ver" ends one chunk and "min" opens the next: the window waits for the word to end, so the word is never
        // released in pieces; the flagged sentence is redacted whole.
        var inner = TestChatClient.Streaming("hello world the cat is ver", "min and the dog is nice");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddContentFilter(_model, o =>
        {
            o.Categories["hate"] = new() { Action = ContentAction.Redact };
            o.Screening = new OutputScreeningOptions { WindowSize = 26, ContextSize = 16, SentenceFlushMinimum = 0 };
        })).Build();

        var (released, _, _) = await CollectAsync(client, TestContext.Current.CancellationToken);

        Assert.Equal("[removed by content filter]", released);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_ViolentInput_EndsBeforeTheModelStreams()
    {
        var inner = TestChatClient.Streaming("fine");
        using var client = Build(inner, 16, 16);

        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync("we will kill", cancellationToken: TestContext.Current.CancellationToken))
        {
            updates.Add(update);
        }

        Assert.Equal(0, inner.Calls);
        Assert.Contains(updates, u => u.FinishReason == ChatFinishReason.ContentFilter);
    }

    [Fact]
    public void AddContentFilter_TooLittleStreamContext_FailsNamingTheSetting()
    {
        var ex = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => new SafeAIPipelineBuilder().AddContentFilter(_model, o => o.Screening = new OutputScreeningOptions { ContextSize = 0 }));

        Assert.Contains("SafeAI:ContentFilter:Screening:ContextSize must be at least 16", ex.Message, StringComparison.Ordinal);
    }

    private IChatClient Build(TestChatClient inner, int windowSize, int contextSize, int sentenceFlush = 40) =>
        inner.AsBuilder().UseSafeAI(safe => safe.Configure(o => o.RecordAllowVerdicts = true).AddContentFilter(_model, o =>
            o.Screening = new OutputScreeningOptions { WindowSize = windowSize, ContextSize = contextSize, SentenceFlushMinimum = sentenceFlush })).Build();

    /// <summary>Reads the stream as a caller would: the model's text released, the refusal notice if any, and the result.</summary>
    private static async Task<(string Released, ChatResponseUpdate? Notice, SafeAIResult Result)> CollectAsync(IChatClient client, CancellationToken ct)
    {
        var released = new System.Text.StringBuilder();
        ChatResponseUpdate? notice = null;
        SafeAIResult? result = null;
        await foreach (var update in client.GetStreamingResponseAsync("hello", cancellationToken: ct))
        {
            result ??= update.GetSafeAIResult();
            if (update.FinishReason == ChatFinishReason.ContentFilter)
            {
                notice = update;
                continue;
            }

            if (notice is null)
            {
                released.Append(update.Text);
            }
        }

        return (released.ToString(), notice, result!);
    }
}

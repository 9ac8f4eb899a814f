using System.Text;
using SafeAI.Onnx.Tests.Infrastructure;

namespace SafeAI.Onnx.Tests;

/// <summary>Every content kind that carries text is screened, input and output, streamed and not.</summary>
public sealed class ContentKindsTests : IDisposable
{
    private readonly TinyModel _tiny = new();
    private readonly ContentModel _model;

    public ContentKindsTests() => _model = _tiny.Load();

    public void Dispose()
    {
        _model.Dispose();
        _tiny.Dispose();
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private IChatClient Build(TestChatClient inner) => inner.AsBuilder().UseSafeAI(safe => safe.AddContentFilter(_model)).Build();

    public static TheoryData<string> OutputKinds() => ["reasoning", "function-call", "text-data"];

    private static AIContent Carrying(string kind, string text) => kind switch
    {
        "reasoning" => new TextReasoningContent(text),
        "function-call" => new FunctionCallContent("call-1", "send_message", new Dictionary<string, object?> { ["to"] = "bob", ["body"] = text }),
        "text-data" => new DataContent(Encoding.UTF8.GetBytes(text), "text/plain"),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    [Theory]
    [MemberData(nameof(OutputKinds))]
    public async Task GetResponseAsync_FlaggedTextInOutputKind_Blocked(string kind)
    {
        var inner = new TestChatClient
        {
            GetResponseAsyncCallback = (_, _, _) => Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, [new TextContent("Here you go."), Carrying(kind, "I will kill them all")]))),
        };
        using var client = Build(inner);

        var response = await client.GetResponseAsync("hello", cancellationToken: Ct);

        Assert.Equal(ChatFinishReason.ContentFilter, response.FinishReason);
        Assert.DoesNotContain("kill", ContentText.Get(response), StringComparison.Ordinal);
        Assert.Contains(response.GetSafeAIResult()!.Verdicts, v => v.Stage == "content-output" && v.Action == GuardAction.Block && v.Reason == "content.violence");
    }

    [Theory]
    [MemberData(nameof(OutputKinds))]
    public async Task GetStreamingResponseAsync_FlaggedTextInOutputKind_BlockedAndNeverReleased(string kind)
    {
        var inner = new TestChatClient { GetStreamingResponseAsyncCallback = (_, _, _) => Updates(kind) };
        using var client = Build(inner);
        var released = new StringBuilder();
        ChatResponseUpdate? last = null;

        await foreach (var update in client.GetStreamingResponseAsync("hello", cancellationToken: Ct))
        {
            if (update.FinishReason != ChatFinishReason.ContentFilter)
            {
                released.Append(ContentText.Get(update));
            }

            last = update.FinishReason == ChatFinishReason.ContentFilter ? update : last;
        }

        Assert.DoesNotContain("kill", released.ToString(), StringComparison.Ordinal);
        Assert.NotNull(last);
    }

    private static async IAsyncEnumerable<ChatResponseUpdate> Updates(string kind)
    {
        await Task.Yield();
        yield return new ChatResponseUpdate(ChatRole.Assistant, "Let me think. ") { ResponseId = "r", MessageId = "m" };
        yield return new ChatResponseUpdate(ChatRole.Assistant, [Carrying(kind, "I will kill them all")]) { ResponseId = "r", MessageId = "m" };
        yield return new ChatResponseUpdate(ChatRole.Assistant, " Done.") { ResponseId = "r", MessageId = "m" };
    }

    public static TheoryData<string> ToolResultShapes() => ["dictionary", "string-array", "nested-list", "json-element"];

    private static object ToolResult(string shape) => shape switch
    {
        "dictionary" => new Dictionary<string, object> { ["weather"] = "lovely", ["note"] = "now kill them all" },
        "string-array" => new[] { "lovely weather", "now kill them all" },
        "nested-list" => new List<object> { "lovely", new List<object> { 21, new List<object> { "now kill them all" } } },
        "json-element" => System.Text.Json.JsonDocument.Parse("""{"items":[{"text":"now kill them all"}]}""").RootElement,
        _ => throw new ArgumentOutOfRangeException(nameof(shape)),
    };

    [Theory]
    [MemberData(nameof(ToolResultShapes))]
    public async Task GetResponseAsync_InjectionInToolResultOfAnyShape_Blocked(string shape)
    {
        var inner = TestChatClient.Answering("fine");
        using var client = Build(inner);
        List<ChatMessage> messages =
        [
            new(ChatRole.User, "what is the weather today?"),
            new(ChatRole.Tool, [new FunctionResultContent("call-1", ToolResult(shape))]),
        ];

        var response = await client.GetResponseAsync(messages, cancellationToken: Ct);

        Assert.Equal(0, inner.Calls);
        Assert.Contains(response.GetSafeAIResult()!.Verdicts, v => v.Reason == "content.violence" && v.Action == GuardAction.Block);
    }

    [Theory]
    [MemberData(nameof(ToolResultShapes))]
    public async Task GetStreamingResponseAsync_InjectionInToolResultOfAnyShape_Blocked(string shape)
    {
        var inner = TestChatClient.Answering("fine");
        using var client = Build(inner);
        List<ChatMessage> messages =
        [
            new(ChatRole.User, "what is the weather today?"),
            new(ChatRole.Tool, [new FunctionResultContent("call-1", ToolResult(shape))]),
        ];

        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync(messages, cancellationToken: Ct))
        {
            updates.Add(update);
        }

        Assert.Equal(0, inner.Calls);
        Assert.Contains(updates, u => u.FinishReason == ChatFinishReason.ContentFilter);
    }

    [Theory]
    [InlineData("reasoning")]
    [InlineData("text-data")]
    public async Task GetResponseAsync_FlaggedTextInInputKind_Blocked(string kind)
    {
        var inner = TestChatClient.Answering("fine");
        using var client = Build(inner);

        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, [new TextContent("hello"), Carrying(kind, "I hate you")])], cancellationToken: Ct);

        Assert.Equal(0, inner.Calls);
        Assert.Equal(ChatFinishReason.ContentFilter, response.FinishReason);
    }
}

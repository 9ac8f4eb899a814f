using System.Text.Json;

namespace SafeAI.Tests;

public class StreamedAnswerTests
{
    private static readonly DateTimeOffset T1 = new(2026, 11, 26, 10, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Join_ManyPlainChunks_SameAsToChatResponse()
    {
        var updates = Enumerable.Range(0, 100).Select(i => new ChatResponseUpdate(ChatRole.Assistant, $"w{i} ") { ResponseId = "r", MessageId = "m", ModelId = "x" }).ToList();

        var joined = StreamedAnswer.Join(updates);

        Assert.Equal(Serialize(updates.ToChatResponse()), Serialize(joined));
        Assert.Equal(string.Concat(Enumerable.Range(0, 100).Select(i => $"w{i} ")), joined.Text);
    }

    [Fact]
    public void Join_RandomStreams_AlwaysSameAsToChatResponse()
    {
        // Random mixes of plain fragments, metadata changes, usage, tool calls, reasoning, annotations and properties:
        // folding runs of plain fragments must never change what the general merge produces.
        var random = new Random(20261126);
        for (var run = 0; run < 3_000; run++)
        {
            var updates = new List<ChatResponseUpdate>();
            var count = random.Next(0, 30);
            for (var i = 0; i < count; i++)
            {
                updates.Add(RandomUpdate(random));
            }

            var expected = Serialize(updates.ToChatResponse());
            var actual = Serialize(StreamedAnswer.Join(updates));
            Assert.True(expected == actual, $"run {run}:\nexpected {expected}\nactual   {actual}");
        }
    }

    private static ChatResponseUpdate RandomUpdate(Random random)
    {
        var contents = new List<AIContent>();
        switch (random.Next(12))
        {
            case 0:
                contents.Add(new UsageContent(new UsageDetails { InputTokenCount = random.Next(5), OutputTokenCount = random.Next(5) }));
                break;
            case 1:
                contents.Add(new FunctionCallContent("c" + random.Next(2), "f"));
                break;
            case 2:
                contents.Add(new TextReasoningContent("think "));
                break;
            case 3:
                contents.Add(new TextContent("a ") { AdditionalProperties = new() { ["k"] = "v" } });
                break;
            case 4:
                contents.Add(new TextContent("x "));
                contents.Add(new TextContent("y "));
                break;
            case 5:
                break;
            default:
                contents.Add(new TextContent(random.Next(3) == 0 ? string.Empty : "t" + random.Next(10) + " "));
                break;
        }

        return new ChatResponseUpdate
        {
            Contents = contents,
            Role = Pick(random, ChatRole.Assistant, ChatRole.Assistant, (ChatRole?)null, ChatRole.Tool),
            MessageId = Pick(random, "m1", "m1", "m1", null, "m2", string.Empty),
            ResponseId = Pick(random, "r1", "r1", null, "r2"),
            ModelId = Pick(random, "x", "x", null, "y"),
            ConversationId = Pick(random, null, null, "c"),
            AuthorName = Pick(random, null, null, null, "bot"),
            CreatedAt = Pick(random, (DateTimeOffset?)T1, T1, null, T1.AddSeconds(1)),
            FinishReason = Pick(random, (ChatFinishReason?)null, null, null, ChatFinishReason.Stop, ChatFinishReason.Length),
            AdditionalProperties = random.Next(15) == 0 ? new() { ["p"] = random.Next(3) } : null,
        };
    }

    private static T Pick<T>(Random random, params T[] choices) => choices[random.Next(choices.Length)];

    private static string Serialize(ChatResponse response) => JsonSerializer.Serialize(response, AIJsonUtilities.DefaultOptions);
}

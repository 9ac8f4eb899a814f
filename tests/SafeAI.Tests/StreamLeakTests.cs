using System.Globalization;
using System.Text;

namespace SafeAI.Tests;

/// <summary>
/// A flagged sentence must not leak, not even in part, before its block: over obfuscations that stretch it across
/// windows and over random chunking. The classifier is a fake (this tests the holding-back logic, not a model): it flags a
/// window when its letters, read together with the context before it, spell the forbidden phrase.
/// </summary>
public class StreamLeakTests
{
    private const string Phrase = "killthemall";
    private const string Before = "Thanks for asking about the weather. It will be sunny in the morning. Then clouds come in from the west, and " +
        "the evening will be cool. ";
    private const string After = " Have a nice day. See you tomorrow.";

    public static TheoryData<string, string> Obfuscations => new()
    {
        { "plain", "I will kill them all." },
        { "dots between letters", "I will k.i.l.l t.h.e.m a.l.l." },
        { "spaced dots", "I will k . i . l . l   t . h . e . m   a . l . l." },
        { "spaced letters", "I will k i l l t h e m a l l." },
        { "hyphens", "I will k-i-l-l t-h-e-m a-l-l." },
        { "zero-width", "I will k\u200Bi\u200Bl\u200Bl th\u200Bem a\u200Bll." },
        { "stretched over 115 characters", "I will k . . . . . i . . . . . l . . . . . l   t . . . . . h . . . . . e . . . . . m   a . . . . . l . . . . . l." },
        { "capitals with dots", "I WILL K.I.L.L. T.H.E.M. A.L.L." },
    };

    public static TheoryData<int, int> Screenings => new() { { 16, 8 }, { 40, 16 }, { 200, 64 } };

    private static bool Flags(string text)
    {
        var letters = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            if (char.IsLetter(c))
            {
                letters.Append(char.ToLowerInvariant(c));
            }
        }

        return letters.ToString().Contains(Phrase, StringComparison.Ordinal);
    }

    private static string[] RandomChunks(string text, int seed)
    {
        var random = new Random(seed);
        var chunks = new List<string>();
        for (var i = 0; i < text.Length;)
        {
            var size = Math.Min(random.Next(1, 4), text.Length - i);
            chunks.Add(text.Substring(i, size));
            i += size;
        }

        return [.. chunks];
    }

    [Theory]
    [MemberData(nameof(Obfuscations))]
    public async Task GetStreamingResponseAsync_FlaggedSentenceRandomChunks_NoCharacterReleasedBeforeBlock(string name, string sentence)
    {
        var ct = TestContext.Current.CancellationToken;
        var text = Before + sentence + After;
        var sentenceStart = Before.Length;
        var runs = 0;
        var maxLeak = 0;
        foreach (var (windowSize, contextSize) in Screenings.Select(r => ((int)r.Data.Item1, (int)r.Data.Item2)))
        {
            for (var seed = 1; seed <= 6; seed++)
            {
                var inner = TestChatClient.Streaming(RandomChunks(text, seed));
                using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddOutputCheck(
                    "out",
                    static (_, segment, _) => ValueTask.FromResult(Flags(segment.PrecedingText + segment.Text)
                        ? GuardVerdict.Block("out", "content.violence")
                        : GuardVerdict.Allow("out")),
                    screening: new OutputScreeningOptions { WindowSize = windowSize, ContextSize = contextSize })).Build();

                var released = new StringBuilder();
                ChatResponseUpdate? notice = null;
                await foreach (var update in client.GetStreamingResponseAsync("weather?", cancellationToken: ct))
                {
                    if (update.FinishReason == ChatFinishReason.ContentFilter)
                    {
                        notice = update;
                    }
                    else
                    {
                        released.Append(update.Text);
                    }
                }

                runs++;
                var leak = Math.Max(0, released.Length - sentenceStart);
                maxLeak = Math.Max(maxLeak, leak);
                Assert.True(notice is not null, $"{name}, window {windowSize}/{contextSize}, seed {seed}: not blocked");
                Assert.StartsWith(released.ToString(), text, StringComparison.Ordinal);
                if (leak > 0)
                {
                    Assert.Fail($"{name}, window {windowSize}/{contextSize}, seed {seed}: {leak} characters of the flagged sentence released: '{released.ToString()[sentenceStart..]}'");
                }
            }
        }

        TestContext.Current.TestOutputHelper?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name}: {runs} runs (3 screenings x 6 seeds, 1-3 character chunks), all blocked, at most {maxLeak} characters of the sentence released"));
    }

    [Theory]
    [MemberData(nameof(Screenings))]
    public async Task GetStreamingResponseAsync_BenignTextRandomChunks_AllReleasedInOrder(int windowSize, int contextSize)
    {
        var ct = TestContext.Current.CancellationToken;
        var text = Before + "I will call them all." + After;
        for (var seed = 1; seed <= 3; seed++)
        {
            using var client = TestChatClient.Streaming(RandomChunks(text, seed)).AsBuilder().UseSafeAI(safe => safe.AddOutputCheck(
                "out",
                static (_, segment, _) => ValueTask.FromResult(Flags(segment.PrecedingText + segment.Text) ? GuardVerdict.Block("out", "content.violence") : GuardVerdict.Allow("out")),
                screening: new OutputScreeningOptions { WindowSize = windowSize, ContextSize = contextSize })).Build();

            var released = new StringBuilder();
            await foreach (var update in client.GetStreamingResponseAsync("weather?", cancellationToken: ct))
            {
                released.Append(update.Text);
            }

            Assert.Equal(text, released.ToString());
        }
    }
}

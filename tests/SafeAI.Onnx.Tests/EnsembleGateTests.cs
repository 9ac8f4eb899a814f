using System.Globalization;
using SafeAI.Onnx.Tests.Infrastructure;

namespace SafeAI.Onnx.Tests;

/// <summary>
/// An <c>ensemble</c> with a gate, on two real tiny ONNX models over one vocabulary: the encoder (hate and violence logits
/// 10 x flag - 5: 0.9933 or 0.0067) and a gate that reads the same windows differently (6 x flag - 3: 0.9526 or 0.0474), so
/// a score tells which of the two produced it.
/// </summary>
public sealed class EnsembleGateTests : IDisposable
{
    private const double EncoderHit = 0.99331, EncoderMiss = 0.00669, GateHit = 0.95257, GateMiss = 0.04743;

    private readonly TinyModel _tiny = new();

    public EnsembleGateTests()
    {
        _tiny.WriteModel("gate.onnx", 6, -3);
        File.WriteAllText(Path.Combine(_tiny.Directory, "encoder.json"), TinyModel.DefaultDescription());
        File.WriteAllText(Path.Combine(_tiny.Directory, "gate.json"), TinyModel.DefaultDescription().Replace("\"model.onnx\"", "\"gate.onnx\"", StringComparison.Ordinal));
    }

    public void Dispose() => _tiny.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private ContentModel LoadEnsemble(string? gate = "{ \"encoder\": \"gate.json\", \"escalate\": { \"hate\": 0.1, \"violence\": 0.1 } }", OnnxRuntimeOptions? options = null, string extra = "")
    {
        var path = Path.Combine(_tiny.Directory, "ensemble.json");
        File.WriteAllText(path, $$"""
            {
              "version": 1,
              "kind": "ensemble",
              "encoder": "encoder.json",
              "windowTokens": 16,{{extra}}
              "categories": { "hate": { "encoder": 1, "bias": 0 }, "violence": { "encoder": 1, "bias": 0 } }{{(gate is null ? string.Empty : ",\n  \"gate\": " + gate)}}
            }
            """);
        return ContentModel.Load(path, options);
    }

    [Fact]
    public async Task ScoreAsync_OrdinaryText_KeepsTheGatesScoresAndSendsNothingOn()
    {
        using var model = LoadEnsemble();

        var scores = await model.ScoreAsync("hello world, what a lovely day.", Ct);

        Assert.Equal(GateMiss, scores["hate"], 4);
        Assert.Equal(GateMiss, scores["violence"], 4);
        Assert.Equal(0, model.EscalatedWindows);
    }

    [Fact]
    public async Task ScoreAsync_WindowAtTheEscalationLevel_ScoredByTheEncoder()
    {
        using var model = LoadEnsemble();

        var scores = await model.ScoreAsync("i hate you.", Ct);

        Assert.Equal(EncoderHit, scores["hate"], 4);
        Assert.Equal(EncoderMiss, scores["violence"], 4); // the whole window is the encoder's, every category
        Assert.Equal(1, model.EscalatedWindows);
    }

    [Fact]
    public async Task ScoreAsync_ThreatInsideLongText_OnlyItsWindowGoesOn()
    {
        using var model = LoadEnsemble();
        var text = TinyModel.BenignText(300) + " they will kill the dog. " + TinyModel.BenignText(300);
        var windows = model.CreateWindows(TextNormalizer.Normalize(text), 0, 64, out _).Count;

        var scores = await model.ScoreAsync(text, Ct);

        Assert.True(windows > 4, $"the text should span several windows (it spans {windows})");
        Assert.Equal(EncoderHit, scores["violence"], 4);
        Assert.Equal(GateMiss, scores["hate"], 4); // no window's hate score came from the encoder's higher-confidence miss
        Assert.Equal(1, model.EscalatedWindows);
    }

    [Fact]
    public async Task ScoreAsync_UseGateFalse_EncoderScoresEveryWindow()
    {
        using var model = LoadEnsemble(options: new OnnxRuntimeOptions { UseGate = false });

        var ordinary = await model.ScoreAsync("hello world, what a lovely day.", Ct);
        var hateful = await model.ScoreAsync("i hate you.", Ct);

        Assert.Equal(EncoderMiss, ordinary["hate"], 4);
        Assert.Equal(EncoderHit, hateful["hate"], 4);
        Assert.Equal(0, model.EscalatedWindows);
    }

    [Fact]
    public async Task ScoreAsync_CountsWindowsByScorer()
    {
        using var model = LoadEnsemble();
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == SafeAIDiagnostics.MeterName && instrument.Name == SafeAIDiagnostics.ContentWindowsInstrument)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == SafeAIDiagnostics.ContentScorerTag)
                {
                    lock (counts)
                    {
                        counts[(string)tag.Value!] = counts.GetValueOrDefault((string)tag.Value!) + value;
                    }
                }
            }
        });
        listener.Start();
        var text = TinyModel.BenignText(300) + " they will kill the dog. " + TinyModel.BenignText(300);
        var windows = model.CreateWindows(TextNormalizer.Normalize(text), 0, 64, out _).Count;

        await model.ScoreAsync(text, Ct);
        await model.ScoreAsync("hello world", Ct);

        // Other tests' models may add to the shared counter concurrently; this test's own texts give at least these.
        Assert.True(counts.GetValueOrDefault("gate") >= windows + 1, $"gate windows: {counts.GetValueOrDefault("gate")}, expected at least {windows + 1}");
        Assert.True(counts.GetValueOrDefault("encoder") >= 1);
    }

    [Fact]
    public async Task ScoreAsync_SameDecisionsAsTheEncoderAlone()
    {
        using var gated = LoadEnsemble();
        var alone = LoadEnsemble(gate: null);
        using (alone)
        {
            string[] texts =
            [
                "hello world", "i hate them all", "we will murder you", TinyModel.BenignText(500), TinyModel.BenignText(200) + " subhuman vermin. " + TinyModel.BenignText(200), string.Empty, "!!!",
            ];
            foreach (var text in texts)
            {
                var a = await gated.ScoreAsync(text, Ct);
                var b = await alone.ScoreAsync(text, Ct);
                foreach (var category in new[] { "hate", "violence" })
                {
                    Assert.Equal(b[category] >= 0.5, a[category] >= 0.5);
                    Assert.True(a[category] < 0.5 || Math.Abs(a[category] - b[category]) < 1e-6, $"{category} of \"{text}\": flagged scores are the encoder's");
                }
            }
        }
    }

    [Fact]
    public async Task ScoreAsync_SentenceLongerThanASmallWindow_CutIntoOverlappingPieces()
    {
        // 16-token windows hold 14 tokens of text, fewer than the 16-token overlap of long sentences: the overlap shrinks.
        using var model = LoadEnsemble(gate: null);
        var sentence = string.Join(' ', TinyModel.OtherWords.Where(static w => w.All(char.IsLetter))) + " kill";
        var windows = model.CreateWindows(TextNormalizer.Normalize(sentence), 0, 64, out _);

        var scores = await model.ScoreAsync(sentence, Ct);

        Assert.True(windows.Count > 1, $"one sentence of {sentence.Split(' ').Length} words spans several windows");
        Assert.Equal(EncoderHit, scores["violence"], 4); // the last word is in the last piece
    }

    [Fact]
    public void CreateWindows_PackTokens_PacksFewerSentencesIntoAWindow()
    {
        using var packed = LoadEnsemble(gate: null);
        using var sentences = LoadEnsemble(gate: null, extra: "\n  \"packTokens\": 8,");
        var text = TextNormalizer.Normalize("hello world. i hate you. what a lovely day. the dog sleeps. " + string.Join(' ', TinyModel.OtherWords.Where(static w => w.All(char.IsLetter)).Take(10)) + ".");

        var wide = packed.CreateWindows(text, 0, 64, out _);
        var narrow = sentences.CreateWindows(text, 0, 64, out _);

        Assert.True(narrow.Count > wide.Count, $"{narrow.Count} windows of at most 8 tokens, {wide.Count} of at most 16");
        // A window packs sentences up to 8 tokens; a longer sentence still gets a window of its own, up to 16.
        Assert.All(narrow, w => Assert.InRange(w[0], 3, 16));
        Assert.Contains(narrow, w => w[0] > 8);
        Assert.Equal(narrow.Sum(w => w[0] - 2), wide.Sum(w => w[0] - 2));
    }

    [Theory]
    [InlineData(7)]
    [InlineData(17)]
    public void Load_PackTokensOutsideItsRange_Refused(int packTokens)
    {
        var ex = Assert.Throws<ContentModelException>(() => LoadEnsemble(gate: null, extra: $"\n  \"packTokens\": {packTokens},").Dispose());

        Assert.Contains($"\"packTokens\" is {packTokens}; it must be between 8 and \"windowTokens\" (16)", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ScoreAsync_ConcurrentCalls_SameScoresAsOneAtATime()
    {
        using var model = LoadEnsemble();
        var texts = Enumerable.Range(0, 40).Select(i => i % 3 == 0 ? TinyModel.BenignText(100 + i) + " i hate you." : TinyModel.BenignText(50 + (i * 7))).ToArray();
        var expected = new List<IReadOnlyDictionary<string, double>>();
        foreach (var text in texts)
        {
            expected.Add(await model.ScoreAsync(text, Ct));
        }

        var actual = await Task.WhenAll(texts.Select(t => Task.Run(async () => await model.ScoreAsync(t, Ct), Ct)));

        for (var i = 0; i < texts.Length; i++)
        {
            Assert.Equal(expected[i]["hate"], actual[i]["hate"], 6);
            Assert.Equal(expected[i]["violence"], actual[i]["violence"], 6);
        }
    }

    [Fact]
    public async Task ScoreAsync_Cancelled_Throws()
    {
        using var model = LoadEnsemble();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await model.ScoreAsync("i hate you.", cts.Token));
    }

    [Fact]
    public async Task ScoreAsync_EscalationLevelOne_NothingGoesOn()
    {
        using var model = LoadEnsemble("{ \"encoder\": \"gate.json\", \"escalate\": { \"hate\": 1, \"violence\": 1 } }");

        var scores = await model.ScoreAsync("i hate you.", Ct);

        Assert.Equal(GateHit, scores["hate"], 4);
        Assert.Equal(0, model.EscalatedWindows);
    }

    [Theory]
    [InlineData("\"gate.json\"", "must be an object")]
    [InlineData("{ \"escalate\": { \"hate\": 0.1, \"violence\": 0.1 } }", "has no \"encoder\"")]
    [InlineData("{ \"encoder\": \"gate.json\" }", "has no \"escalate\"")]
    [InlineData("{ \"encoder\": \"gate.json\", \"escalate\": { \"hate\": 0.1 } }", "no level for \"violence\"")]
    [InlineData("{ \"encoder\": \"gate.json\", \"escalate\": { \"hate\": 0, \"violence\": 0.1 } }", "above 0 and at most 1")]
    [InlineData("{ \"encoder\": \"gate.json\", \"escalate\": { \"hate\": \"high\", \"violence\": 0.1 } }", "above 0 and at most 1")]
    [InlineData("{ \"encoder\": \"gate.json\", \"escalate\": { \"hate\": 0.1, \"violence\": 0.1, \"sexual\": 0.1 } }", "not one of the ensemble's categories")]
    [InlineData("{ \"encoder\": \"missing.json\", \"escalate\": { \"hate\": 0.1, \"violence\": 0.1 } }", "missing.json")]
    public void Load_BadGate_ExplainsTheProblem(string gate, string expected)
    {
        var ex = Assert.Throws<ContentModelException>(() => LoadEnsemble(gate).Dispose());

        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_GateWithAnotherTokenizer_Refused()
    {
        File.WriteAllText(Path.Combine(_tiny.Directory, "gate.json"), TinyModel.DefaultDescription().Replace("\"model.onnx\"", "\"gate.onnx\"", StringComparison.Ordinal).Replace("\"lowercase\": true", "\"lowercase\": false", StringComparison.Ordinal));

        var ex = Assert.Throws<ContentModelException>(() => LoadEnsemble().Dispose());

        Assert.Contains("must use the encoder's tokenizer", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_GateShorterThanTheWindows_Refused()
    {
        File.WriteAllText(Path.Combine(_tiny.Directory, "gate.json"), TinyModel.DefaultDescription(maxTokens: 8).Replace("\"model.onnx\"", "\"gate.onnx\"", StringComparison.Ordinal));

        var ex = Assert.Throws<ContentModelException>(() => LoadEnsemble().Dispose());

        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"reads at most 8 tokens; the ensemble's windows hold up to 16"), ex.Message, StringComparison.Ordinal);
    }
}

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
        using var counts = new WindowCounts();
        var text = TinyModel.BenignText(300) + " they will kill the dog. " + TinyModel.BenignText(300);
        var windows = model.CreateWindows(TextNormalizer.Normalize(text), 0, 64, out _).Count;

        await model.ScoreAsync(text, Ct);
        await model.ScoreAsync("hello world", Ct);

        // Other tests' models may add to the shared counter concurrently; this test's own texts give at least these.
        Assert.True(counts["gate"] >= windows + 1, $"gate windows: {counts["gate"]}, expected at least {windows + 1}");
        Assert.True(counts["encoder"] >= 1);
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

    private const string Sentences = "\n  \"sentences\": { \"shift\": 2 },";

    [Fact]
    public void CreateWindows_Sentences_EachSentenceOfAPackedWindowFollowsItAlone()
    {
        using var plain = LoadEnsemble(gate: null);
        using var model = LoadEnsemble(gate: null, extra: Sentences);
        var text = "hello world. i hate you. what a lovely day. " + TinyModel.BenignText(200) + " the dog sleeps. we stab and murder.";

        var windows = Windows(model, text);

        // The packed windows are the same as without sentence windows, in the same order.
        Assert.Equal(Windows(plain, text), windows.Where(w => !EnsembleContentModel.IsSentenceWindow(w)));
        Assert.Contains(windows, EnsembleContentModel.IsSentenceWindow);
        for (var w = 0; w < windows.Count; w++)
        {
            if (EnsembleContentModel.IsSentenceWindow(windows[w]))
            {
                continue;
            }

            var alone = windows.Skip(w + 1).TakeWhile(EnsembleContentModel.IsSentenceWindow).ToList();
            // A window of one sentence is not scored twice; the sentences of a packed one, together, are its tokens.
            Assert.NotEqual(1, alone.Count);
            if (alone.Count > 1)
            {
                Assert.Equal(Body(windows[w]), alone.SelectMany(Body));
            }
        }
    }

    [Fact]
    public void CreateWindows_Sentences_OneSentenceText_OneWindow()
    {
        using var model = LoadEnsemble(gate: null, extra: Sentences);

        var windows = Windows(model, "i hate you.");

        Assert.Single(windows);
        Assert.False(EnsembleContentModel.IsSentenceWindow(windows[0]));
    }

    [Fact]
    public void CreateWindows_Sentences_WindowLimitCountsPackedWindowsOnly()
    {
        using var plain = LoadEnsemble(gate: null);
        using var model = LoadEnsemble(gate: null, extra: Sentences);
        var text = string.Concat(Enumerable.Repeat("hello world. what a lovely day. i hate you. ", 60));

        // One full-size window of 256 tokens is 16 of these 16-token windows.
        var windows = model.CreateWindows(TextNormalizer.Normalize(text), 0, 1, out var truncated);
        var expected = plain.CreateWindows(TextNormalizer.Normalize(text), 0, 1, out _);

        Assert.True(truncated);
        Assert.Equal(16, expected.Count);
        Assert.Equal(expected, windows.Where(w => !EnsembleContentModel.IsSentenceWindow(w)));
        Assert.Equal(48, windows.Count(EnsembleContentModel.IsSentenceWindow));
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    [InlineData(false, true)]
    public async Task ScoreWindows_SentenceWindow_ScoredAloneThenShifted(bool useGate, bool withStop)
    {
        using var model = LoadEnsemble(options: new OnnxRuntimeOptions { UseGate = useGate, MaxBatchSize = 1 }, extra: Sentences);
        var windows = Windows(model, "hello world. i hate you.");

        var scores = await ScoreWindows(model, windows, withStop);

        Assert.Equal(3, windows.Count);
        Assert.Equal(EncoderHit, scores[0], 4); // the packed window: hate, as without sentence windows
        Assert.Equal(Sigmoid(5 - 2), scores[4], 4); // "i hate you." alone: the encoder's hit, 2 logits lower
        // "hello world." alone: the gate's miss (or, without a gate, the encoder's), 2 logits lower.
        Assert.Equal(Sigmoid((useGate ? -3 : -5) - 2), scores[2], 4);
        Assert.Equal(useGate ? 2 : 0, model.EscalatedWindows);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ScoreWindows_SentenceWindow_GoesOnOnlyAtTheLevelRaisedByTheShift(bool withStop)
    {
        // The gate's hit (logit 3) reaches the level 0.1 (logit -2.2) but not 0.1 raised by 6 logits (3.8).
        using var model = LoadEnsemble(options: OneWindowPerRun, extra: "\n  \"sentences\": { \"shift\": 6 },");
        var windows = Windows(model, "hello world. i hate you.");

        var scores = await ScoreWindows(model, windows, withStop);

        Assert.Equal(EncoderHit, scores[0], 4); // the packed window went on
        Assert.Equal(Sigmoid(3 - 6), scores[4], 4); // "i hate you." alone kept the gate's score, shifted
        Assert.Equal(1, model.EscalatedWindows);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ScoreWindows_WindowTheGateRulesOut_ItsSentencesAreNotScored(bool withStop)
    {
        using var model = LoadEnsemble(options: OneWindowPerRun, extra: Sentences);
        var windows = Windows(model, "what a lovely day. the dog sleeps in the sun. i hate you. hello world.");

        var scores = await ScoreWindows(model, windows, withStop);

        // Two packed windows of two sentences each (16 tokens at most): the first plainly ordinary, the second not.
        Assert.Equal([false, true, true, false, true, true], windows.Select(EnsembleContentModel.IsSentenceWindow));
        Assert.Equal(GateMiss, scores[0], 4);
        Assert.All(scores.AsSpan(2, 4).ToArray(), s => Assert.Equal(0f, s)); // its sentences were not scored: 0, below any threshold
        Assert.Equal(EncoderHit, scores[6], 4);
        Assert.Equal(Sigmoid(5 - 2), scores[8], 4); // "i hate you." alone, shifted
        Assert.Equal(Sigmoid(-3 - 2), scores[10], 4); // "hello world." alone: the gate's miss, shifted
        Assert.Equal(2, model.EscalatedWindows);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ScoreWindows_TwoSuspectSentences_OnlyTheMostSuspectGoesPastTheGate(bool withStop)
    {
        using var model = LoadEnsemble(options: OneWindowPerRun, extra: Sentences);
        var windows = Windows(model, "i hate you. we stab and murder.");

        var scores = await ScoreWindows(model, windows, withStop);

        // Rows: [hate, violence] of the window, then of each sentence alone. The gate scores both sentences alike (a
        // tie: the first one goes on); the second keeps the gate's scores, shifted.
        Assert.Equal(3, windows.Count);
        Assert.Equal(EncoderHit, scores[0], 4);
        Assert.Equal(EncoderHit, scores[1], 4);
        Assert.Equal(Sigmoid(5 - 2), scores[2], 4);
        Assert.Equal(Sigmoid(-5 - 2), scores[3], 4);
        Assert.Equal(Sigmoid(-3 - 2), scores[4], 4);
        Assert.Equal(Sigmoid(3 - 2), scores[5], 4);
        Assert.Equal(2, model.EscalatedWindows);
    }

    [Fact]
    public async Task ScoreAsync_Sentences_TextScoreIsTheHighestWindowOrShiftedSentence()
    {
        using var model = LoadEnsemble(gate: null, extra: "\n  \"sentences\": { \"shift\": 0 },");
        using var plain = LoadEnsemble(gate: null);

        // With shift 0 a sentence alone scores as the same sentence as a text of its own.
        var text = await model.ScoreAsync("hello world. what a lovely day.", Ct);
        var sentence = await plain.ScoreAsync("what a lovely day.", Ct);
        var packed = await plain.ScoreAsync("hello world. what a lovely day.", Ct);

        Assert.Equal(Math.Max(sentence["hate"], packed["hate"]), text["hate"], 6);
    }

    [Theory]
    [InlineData("{ \"shift\": -1 }", "\"sentences\".\"shift\" must be a number from 0 to 20")]
    [InlineData("{ \"shift\": 21 }", "\"sentences\".\"shift\" must be a number from 0 to 20")]
    [InlineData("{ \"shift\": \"1\" }", "\"sentences\".\"shift\" must be a number from 0 to 20")]
    [InlineData("{ }", "\"sentences\" must be an object with a \"shift\" number")]
    [InlineData("1.5", "\"sentences\" must be an object with a \"shift\" number")]
    [InlineData("{ \"shift\": 1, \"everyWindow\": 1 }", "\"sentences\".\"everyWindow\" must be true or false")]
    [InlineData("{ \"shift\": 1, \"everyWindow\": \"true\" }", "\"sentences\".\"everyWindow\" must be true or false")]
    [InlineData("{ \"shift\": 1, \"everyWindow\": true }", "\"sentences\".\"everyWindow\" needs a \"gate\" or a \"screen\"")]
    public void Load_SentencesMalformed_Refused(string sentences, string message)
    {
        var ex = Assert.Throws<ContentModelException>(() => LoadEnsemble(gate: null, extra: $"\n  \"sentences\": {sentences},").Dispose());

        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false, false, 32)] // micro-batched: each member scores the windows it is sent in one run
    [InlineData(false, false, 1)] // every member on one thread, one window a run
    [InlineData(true, false, 1)] // window by window, up to the deciding one
    [InlineData(true, true, 1)] // in stretches, with the encoder's limit
    public async Task ScoreWindows_EveryWindow_SentenceOfAWindowTheGateRulesOutIsScoredAlone(bool withStop, bool withLimit, int maxBatchSize)
    {
        // A gate that averages its flags over the tokens (11 x share - 3): "i hate you." dilutes the packed window it
        // shares with ten ordinary tokens (16 tokens: 0.090) below the gate's level 0.1, while alone it reaches it (six
        // tokens, framing included: 0.237; padded to the other sentence's twelve in one run: 0.111).
        _tiny.WriteModel("mean-gate.onnx", 11, -3, meanPooling: true);
        File.WriteAllText(Path.Combine(_tiny.Directory, "mean-gate.json"), TinyModel.DefaultDescription().Replace("\"model.onnx\"", "\"mean-gate.onnx\"", StringComparison.Ordinal));
        const string Gate = "{ \"encoder\": \"mean-gate.json\", \"escalate\": { \"hate\": 0.1, \"violence\": 0.1 } }";
        var limit = withLimit ? "\n  \"maxEncoderWindows\": 1," : string.Empty;
        var options = new OnnxRuntimeOptions { MaxBatchSize = maxBatchSize };
        using var sentOnOnly = LoadEnsemble(Gate, options, "\n  \"sentences\": { \"shift\": 0 }," + limit);
        using var model = LoadEnsemble(Gate, options, "\n  \"sentences\": { \"shift\": 0, \"everyWindow\": true }," + limit);
        const string Text = "the dog and the cat go to the park. i hate you.";
        var windows = Windows(model, Text);

        var before = await ScoreWindows(sentOnOnly, windows, withStop);
        var after = await ScoreWindows(model, windows, withStop);

        // One packed window of both sentences, then each sentence alone; rows are [hate, violence].
        Assert.Equal([false, true, true], windows.Select(EnsembleContentModel.IsSentenceWindow));
        Assert.InRange(before[0], 0.01, 0.1); // the gate's diluted score: ruled out
        Assert.Equal([0f, 0f, 0f, 0f], before.AsSpan(2, 4).ToArray()); // its sentences were never scored
        Assert.Equal(before[0], after[0]);
        Assert.Equal(GateMiss, after[2], 4); // the ordinary sentence: the gate's miss, not sent on
        Assert.Equal(EncoderHit, after[4], 4); // "i hate you." alone went past the gate to the encoder
        Assert.Equal(1, model.EscalatedWindows);
        Assert.Equal(0, sentOnOnly.EscalatedWindows);
    }

    [Fact]
    public void Load_UseSentenceWindowsFalse_PackedWindowsOnly()
    {
        using var plain = LoadEnsemble(gate: null);
        using var model = LoadEnsemble(gate: null, options: new OnnxRuntimeOptions { UseSentenceWindows = false }, extra: Sentences);
        const string Text = "hello world. i hate you. what a lovely day.";

        Assert.Equal(Windows(plain, Text), Windows(model, Text));
        Assert.DoesNotContain(Windows(model, Text), EnsembleContentModel.IsSentenceWindow);
    }

    [Fact]
    public void Load_SentencesNull_NoSentenceWindows()
    {
        using var model = LoadEnsemble(gate: null, extra: "\n  \"sentences\": null,");

        Assert.DoesNotContain(Windows(model, "hello world. i hate you."), EnsembleContentModel.IsSentenceWindow);
    }

    /// <summary>Scores windows with a stop that is never met (the path that scores window by window) or without one.</summary>
    private static async Task<float[]> ScoreWindows(ContentModel model, List<int[]> windows, bool withStop) => withStop
        ? await model.ScoreWindowsAsync(windows, new WindowStop([0.999, 0.999]), Ct)
        : await model.ScoreWindowsAsync(windows, Ct);

    /// <summary>A window's token ids without the framing ([CLS] and [SEP]).</summary>
    private static int[] Body(int[] window) => window.AsSpan(2, EnsembleContentModel.TokenCount(window) - 2).ToArray();

    private static double Sigmoid(double z) => 1 / (1 + Math.Exp(-z));

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

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ScoreWindows_WithAStop_ScoresUpToTheFirstWindowThatMeetsIt(bool useGate)
    {
        using var model = LoadEnsemble(options: new OnnxRuntimeOptions { UseGate = useGate, MaxBatchSize = 1 });
        var windows = Windows(model, TinyModel.BenignText(120) + " they will kill the dog. " + TinyModel.BenignText(200) + " i hate you. " + TinyModel.BenignText(120));
        var all = await model.ScoreWindowsAsync(windows, Ct);
        var deciding = Row(all, windows.Count, "violence");
        var stop = new WindowStop([double.PositiveInfinity, 0.5]); // violence decides; hate does not stop

        // Several runs: which thread takes which window must never change what comes back.
        for (var run = 0; run < 10; run++)
        {
            var stopped = await model.ScoreWindowsAsync(windows, stop, Ct);

            Assert.Equal(all.AsSpan(0, (deciding + 1) * 2).ToArray(), stopped.AsSpan(0, (deciding + 1) * 2).ToArray());
            Assert.All(stopped.AsSpan((deciding + 1) * 2).ToArray(), s => Assert.Equal(0f, s));
        }

        Assert.True(deciding > 0 && deciding < windows.Count - 2, $"the threat should be inside the text (window {deciding} of {windows.Count})");
    }

    [Fact]
    public async Task ScoreWindows_StopNeverMet_SameScoresAndEscalationsAsWithoutOne()
    {
        using var scored = LoadEnsemble();
        using var stopped = LoadEnsemble(options: OneWindowPerRun);
        var windows = Windows(scored, TinyModel.BenignText(200) + " they will kill the dog. " + TinyModel.BenignText(200) + " i hate you. " + TinyModel.BenignText(100));

        var all = await scored.ScoreWindowsAsync(windows, Ct);
        var withStop = await stopped.ScoreWindowsAsync(windows, new WindowStop([0.999, 0.999]), Ct);

        Assert.Equal(all, withStop);
        Assert.Equal(2, stopped.EscalatedWindows);
        Assert.Equal(scored.EscalatedWindows, stopped.EscalatedWindows);
    }

    [Fact]
    public async Task ScoreWindows_StopAtTheFirstWindow_LaterSuspectWindowsAreNotSentOn()
    {
        using var model = LoadEnsemble(options: new OnnxRuntimeOptions { WindowParallelism = 1, MaxBatchSize = 1 });
        var windows = Windows(model, "i hate you. " + TinyModel.BenignText(200) + " they will kill the dog. " + TinyModel.BenignText(200) + " we stab and murder.");

        var stopped = await model.ScoreWindowsAsync(windows, new WindowStop([0.5, 0.5]), Ct);

        Assert.Equal(EncoderHit, stopped[0], 4);
        Assert.Equal(1, model.EscalatedWindows); // one thread, in reading order: nothing after the first window ran
        Assert.All(stopped.AsSpan(2).ToArray(), s => Assert.Equal(0f, s));
    }

    [Fact]
    public async Task ScoreWindows_WithAStop_Cancelled_Throws()
    {
        using var model = LoadEnsemble(options: OneWindowPerRun);
        var windows = Windows(model, TinyModel.BenignText(400) + " i hate you.");
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await model.ScoreWindowsAsync(windows, new WindowStop([0.5, 0.5]), cts.Token));
    }

    [Fact]
    public async Task ContentFilter_LongTextFlaggedEarly_ScoresStopAtTheDecidingWindowUnlessAskedForAll()
    {
        using var model = LoadEnsemble(options: OneWindowPerRun);
        var text = "we will kill the dog. " + TinyModel.BenignText(300) + " i hate you. " + TinyModel.BenignText(100);

        var early = await ScoreThroughFilter(model, text, stopAtDecidingWindow: true);
        var everyWindow = await ScoreThroughFilter(model, text, stopAtDecidingWindow: false);

        Assert.Equal("content.violence", early.Verdict.Reason);
        Assert.Equal("content.hate", everyWindow.Verdict.Reason); // both at the encoder's hit: the first category wins the tie
        Assert.True(early.Scores["hate"] < 0.5, $"hate {early.Scores["hate"]}: the hateful window comes after the deciding one");
        Assert.Equal(EncoderHit, everyWindow.Scores["hate"], 4);
    }

    [Fact]
    public void CreateStop_StopsOnlyOnTheSeverestActionInUse()
    {
        var levels = Levels(ContentClassifier.CreateStop([(0.4, ContentAction.Block, true), (0.5, ContentAction.Escalate, true), (0.6, ContentAction.Block, false)]));
        Assert.Equal([0.4, double.PositiveInfinity, double.PositiveInfinity], levels);

        levels = Levels(ContentClassifier.CreateStop([(0.4, ContentAction.LogOnly, true), (0.5, ContentAction.Escalate, true), (0.7, ContentAction.Escalate, true)]));
        Assert.Equal([double.PositiveInfinity, 0.5, 0.7], levels);

        Assert.Null(ContentClassifier.CreateStop([(0.4, ContentAction.Block, false)]));
    }

    [Fact]
    public void WindowStop_IsMetAtTheLevelNotBelow()
    {
        var stop = new WindowStop([0.5, double.PositiveInfinity]);

        Assert.True(stop.IsMet([0.5f, 0f]));
        Assert.False(stop.IsMet([0.49f, 1f]));
        Assert.Throws<ArgumentNullException>(() => new WindowStop(null!));
    }

    /// <summary>Every window in a run of its own, as the default model's members run: the only way a stop can end scoring early.</summary>
    private static OnnxRuntimeOptions OneWindowPerRun => new() { MaxBatchSize = 1 };

    private static List<int[]> Windows(ContentModel model, string text) => model.CreateWindows(TextNormalizer.Normalize(text), 0, 64, out _);

    /// <summary>The first window whose score in <paramref name="category"/> is the encoder's hit.</summary>
    private static int Row(float[] scores, int windows, string category)
    {
        var c = category == "hate" ? 0 : 1;
        for (var w = 0; w < windows; w++)
        {
            if (Math.Abs(scores[(w * 2) + c] - EncoderHit) < 1e-3)
            {
                return w;
            }
        }

        throw new InvalidOperationException($"no window flags {category}");
    }

    private static double[] Levels(WindowStop? stop) => [.. stop!.Levels];

    private static async Task<(GuardVerdict Verdict, IReadOnlyDictionary<string, double> Scores)> ScoreThroughFilter(ContentModel model, string text, bool stopAtDecidingWindow)
    {
        IReadOnlyDictionary<string, double>? scores = null;
        using var client = TestChatClient.Answering("fine").AsBuilder().UseSafeAI(safe => safe
            .AddContentFilter(model, o =>
            {
                // Log only, so that the stage after the filter runs and sees its scores; every category logs, so the first flag decides.
                o.DefaultAction = ContentAction.LogOnly;
                o.StopAtDecidingWindow = stopAtDecidingWindow;
            })
            .AddInputCheck("peek", (ctx, _) =>
            {
                scores = (IReadOnlyDictionary<string, double>?)ctx.Items[ContentFilterOptions.InputScoresItemKey];
                return ValueTask.FromResult(GuardVerdict.Allow("peek"));
            }, order: GuardOrder.InputChecks + 1)).Build();

        var response = await client.GetResponseAsync(text, cancellationToken: Ct);
        var verdict = Assert.Single(response.GetSafeAIResult()!.Verdicts, v => v.Stage == "content-input");
        return (verdict, scores!);
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

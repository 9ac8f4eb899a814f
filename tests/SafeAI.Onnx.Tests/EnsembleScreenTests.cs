using SafeAI.Onnx.Tests.Infrastructure;

namespace SafeAI.Onnx.Tests;

/// <summary>
/// An <c>ensemble</c> with a screen in front of the gate, on three real tiny ONNX models over one vocabulary that flag
/// the same words with different confidence, so a score tells which member produced it: the encoder (10 x flag - 5:
/// 0.9933 or 0.0067), the gate (6 x flag - 3: 0.9526 or 0.0474) and the screen (4 x flag - 2: 0.8808 or 0.1192).
/// </summary>
public sealed class EnsembleScreenTests : IDisposable
{
    private const double EncoderHit = 0.99331, EncoderMiss = 0.00669, GateHit = 0.95257, GateMiss = 0.04743, ScreenHit = 0.88080, ScreenMiss = 0.11920;

    private const string Gate = "{ \"encoder\": \"gate.json\", \"escalate\": { \"hate\": 0.1, \"violence\": 0.1 } }";

    private const string Screen = "{ \"encoder\": \"screen.json\", \"escalate\": { \"hate\": 0.5, \"violence\": 0.5 } }";

    private readonly TinyModel _tiny = new();

    public EnsembleScreenTests()
    {
        _tiny.WriteEnsembleMembers();
    }

    public void Dispose() => _tiny.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static OnnxRuntimeOptions OneWindowPerRun => new() { MaxBatchSize = 1 };

    private ContentModel LoadEnsemble(string? screen = Screen, string? gate = Gate, OnnxRuntimeOptions? options = null, string extra = "")
    {
        var path = Path.Combine(_tiny.Directory, "ensemble.json");
        File.WriteAllText(path, $$"""
            {
              "version": 1,
              "kind": "ensemble",
              "encoder": "encoder.json",
              "windowTokens": 16,{{extra}}
              "categories": { "hate": { "encoder": 1, "bias": 0 }, "violence": { "encoder": 1, "bias": 0 } }{{(gate is null ? string.Empty : ",\n  \"gate\": " + gate)}}{{(screen is null ? string.Empty : ",\n  \"screen\": " + screen)}}
            }
            """);
        return ContentModel.Load(path, options);
    }

    private static List<int[]> Windows(ContentModel model, string text) => model.CreateWindows(TextNormalizer.Normalize(text), 0, 64, out _);

    [Fact]
    public async Task ScoreAsync_OrdinaryText_KeepsTheScreensScores()
    {
        using var model = LoadEnsemble();

        var scores = await model.ScoreAsync("hello world, what a lovely day.", Ct);

        Assert.Equal(ScreenMiss, scores["hate"], 4);
        Assert.Equal(ScreenMiss, scores["violence"], 4);
        Assert.Equal(0, model.EscalatedWindows);
    }

    [Fact]
    public async Task ScoreAsync_WindowPassesScreenAndGate_ScoredByTheEncoder()
    {
        using var model = LoadEnsemble();

        var scores = await model.ScoreAsync("i hate you.", Ct);

        Assert.Equal(EncoderHit, scores["hate"], 4);
        Assert.Equal(EncoderMiss, scores["violence"], 4);
        Assert.Equal(1, model.EscalatedWindows);
    }

    [Fact]
    public async Task ScoreAsync_ScreenLevelAboveItsScore_WindowStopsAtTheScreen()
    {
        using var model = LoadEnsemble("{ \"encoder\": \"screen.json\", \"escalate\": { \"hate\": 0.5, \"violence\": 0.9 } }");

        var violent = await model.ScoreAsync("they will kill the dog.", Ct);
        var hateful = await model.ScoreAsync("i hate you.", Ct);

        Assert.Equal(ScreenHit, violent["violence"], 4); // 0.88 is below the screen's 0.9: neither the gate nor the encoder saw it
        Assert.Equal(EncoderHit, hateful["hate"], 4);
        Assert.Equal(1, model.EscalatedWindows);
    }

    [Fact]
    public async Task ScoreAsync_GateStopsWhatTheScreenSentOn_KeepsTheGatesScores()
    {
        using var model = LoadEnsemble(gate: "{ \"encoder\": \"gate.json\", \"escalate\": { \"hate\": 0.99, \"violence\": 0.99 } }");

        var scores = await model.ScoreAsync("i hate you.", Ct);

        Assert.Equal(GateHit, scores["hate"], 4);
        Assert.Equal(0, model.EscalatedWindows);
    }

    [Fact]
    public async Task ScoreAsync_ScreenWithoutGate_SendsStraightToTheEncoder()
    {
        using var model = LoadEnsemble(gate: null);

        var ordinary = await model.ScoreAsync("hello world, what a lovely day.", Ct);
        var hateful = await model.ScoreAsync("i hate you.", Ct);

        Assert.Equal(ScreenMiss, ordinary["hate"], 4);
        Assert.Equal(EncoderHit, hateful["hate"], 4);
        Assert.Equal(1, model.EscalatedWindows);
    }

    [Fact]
    public async Task ScoreAsync_ThreatInsideLongText_OnlyItsWindowPassesTheScreen()
    {
        using var model = LoadEnsemble();
        var text = TinyModel.BenignText(300) + " they will kill the dog. " + TinyModel.BenignText(300);
        var windows = Windows(model, text);

        var all = await model.ScoreWindowsAsync(windows, Ct);

        Assert.True(windows.Count > 4, $"the text should span several windows (it spans {windows.Count})");
        var violence = Enumerable.Range(0, windows.Count).Select(w => all[(w * 2) + 1]).ToArray();
        Assert.Equal(1, violence.Count(s => Math.Abs(s - EncoderHit) < 1e-4));
        Assert.Equal(windows.Count - 1, violence.Count(s => Math.Abs(s - ScreenMiss) < 1e-4));
        Assert.Equal(1, model.EscalatedWindows);
    }

    [Theory]
    [InlineData(false, true, GateMiss)]
    [InlineData(true, false, EncoderMiss)]
    [InlineData(false, false, EncoderMiss)]
    public async Task ScoreAsync_ScreenOrGateTurnedOff(bool useScreen, bool useGate, double ordinaryScore)
    {
        using var model = LoadEnsemble(options: new OnnxRuntimeOptions { UseScreen = useScreen, UseGate = useGate });

        var ordinary = await model.ScoreAsync("hello world, what a lovely day.", Ct);
        var hateful = await model.ScoreAsync("i hate you.", Ct);

        Assert.Equal(ordinaryScore, ordinary["hate"], 4);
        Assert.Equal(EncoderHit, hateful["hate"], 4);
        Assert.Equal(useGate ? 1 : 0, model.EscalatedWindows); // without the gate the screen stays out too: every window is the encoder's
    }

    [Fact]
    public async Task ScoreWindows_OneWindowPerRunAndMicroBatching_SameScoresAsTheBatchPath()
    {
        using var batch = LoadEnsemble(options: new OnnxRuntimeOptions { MicroBatching = false });
        using var one = LoadEnsemble(options: OneWindowPerRun);
        using var micro = LoadEnsemble(options: new OnnxRuntimeOptions { MicroBatching = true });
        var windows = Windows(batch, TinyModel.BenignText(200) + " they will kill the dog. " + TinyModel.BenignText(200) + " i hate you. " + TinyModel.BenignText(100));

        var expected = await batch.ScoreWindowsAsync(windows, Ct);

        Assert.Equal(expected, await one.ScoreWindowsAsync(windows, Ct));
        Assert.Equal(expected, await micro.ScoreWindowsAsync(windows, Ct));
        Assert.Equal(expected, await one.ScoreWindowsAsync(windows, new WindowStop([0.999, 0.999]), Ct)); // the early-stop path, never met
        Assert.Equal(2, batch.EscalatedWindows);
        Assert.Equal(2, micro.EscalatedWindows);
        Assert.Equal(4, one.EscalatedWindows);
    }

    [Fact]
    public async Task ScoreWindows_WithAStop_WindowsTheScreenStopsNeverMeetIt()
    {
        using var model = LoadEnsemble(options: OneWindowPerRun);
        var windows = Windows(model, TinyModel.BenignText(120) + " they will kill the dog. " + TinyModel.BenignText(200) + " i hate you. " + TinyModel.BenignText(120));
        var all = await model.ScoreWindowsAsync(windows, Ct);
        var deciding = Enumerable.Range(0, windows.Count).First(w => all[(w * 2) + 1] >= 0.5);

        var stopped = await model.ScoreWindowsAsync(windows, new WindowStop([double.PositiveInfinity, 0.5]), Ct);

        Assert.Equal(all.AsSpan(0, (deciding + 1) * 2).ToArray(), stopped.AsSpan(0, (deciding + 1) * 2).ToArray());
        Assert.All(stopped.AsSpan((deciding + 1) * 2).ToArray(), s => Assert.Equal(0f, s));
        Assert.Equal(EncoderHit, stopped[(deciding * 2) + 1], 4);
    }

    [Fact]
    public async Task ScoreAsync_CountsScreenWindows()
    {
        using var model = LoadEnsemble();
        using var counts = new WindowCounts();
        var text = TinyModel.BenignText(300) + " i hate you. " + TinyModel.BenignText(300);
        var windows = Windows(model, text).Count;

        await model.ScoreAsync(text, Ct);

        // Other tests' models may add to the shared counter concurrently; this test's own text gives at least these.
        Assert.True(counts["screen"] >= windows, $"screen windows: {counts["screen"]}, expected at least {windows}");
        Assert.True(counts["gate"] >= 1);
    }

    /// <summary>A gate that stops everything (its hit, 0.95, is below 0.99) and a screen that skips it from <paramref name="margin"/> logits.</summary>
    private ContentModel LoadSkipping(double margin, OnnxRuntimeOptions? options = null, string extra = "") => LoadEnsemble(
        $"{{ \"encoder\": \"screen.json\", \"escalate\": {{ \"hate\": 0.5, \"violence\": 0.5 }}, \"skipGate\": {margin.ToString(System.Globalization.CultureInfo.InvariantCulture)} }}",
        "{ \"encoder\": \"gate.json\", \"escalate\": { \"hate\": 0.99, \"violence\": 0.99 } }",
        options,
        extra);

    /// <summary>The scoring paths: every window in batches, one window per run (with and without a stop that is never met), and micro-batching.</summary>
    public static TheoryData<string> ScoringPaths => ["batch", "one-per-run", "stop", "micro-batching"];

    private static OnnxRuntimeOptions PathOptions(string path) => path switch
    {
        "batch" => new OnnxRuntimeOptions { MicroBatching = false },
        "micro-batching" => new OnnxRuntimeOptions { MicroBatching = true },
        _ => OneWindowPerRun,
    };

    /// <summary>The characters a window covers (stored after its tokens, for the n-gram member).</summary>
    private static string WindowText(int[] window) => new([.. window.AsSpan(1 + EnsembleContentModel.TokenCount(window)).ToArray().Select(static c => (char)c)]);

    private static async Task<float[]> ScoreOnPath(ContentModel model, List<int[]> windows, string path) => path == "stop"
        ? await model.ScoreWindowsAsync(windows, new WindowStop([0.999, 0.999]), Ct)
        : await model.ScoreWindowsAsync(windows, Ct);

    [Theory]
    [MemberData(nameof(ScoringPaths))]
    public async Task ScoreWindows_ScreenSureEnough_SkipsTheGate(string path)
    {
        // The screen's hit lies 2 logits above its level 0.5: from a margin of 1.5 the window skips the gate, which would stop it.
        using var skipping = LoadSkipping(1.5, PathOptions(path));
        using var notSkipping = LoadSkipping(2.5, PathOptions(path));
        var windows = Windows(skipping, "hello world, what a lovely day. " + TinyModel.BenignText(120) + " i hate you. " + TinyModel.BenignText(60));
        var hateful = Enumerable.Range(0, windows.Count).Single(w => WindowText(windows[w]).Contains("hate", StringComparison.Ordinal));

        var skipped = await ScoreOnPath(skipping, windows, path);
        var gated = await ScoreOnPath(notSkipping, windows, path);

        Assert.Equal(EncoderHit, skipped[hateful * 2], 4);
        Assert.Equal(GateHit, gated[hateful * 2], 4);
        for (var w = 0; w < windows.Count; w++)
        {
            if (w != hateful)
            {
                Assert.Equal(ScreenMiss, skipped[w * 2], 4); // ordinary windows stop at the screen either way
                Assert.Equal(ScreenMiss, gated[w * 2], 4);
            }
        }

        Assert.True(skipping.EscalatedWindows >= 1);
        Assert.Equal(0, notSkipping.EscalatedWindows);
    }

    [Theory]
    [MemberData(nameof(ScoringPaths))]
    public async Task ScoreWindows_SentenceTheScreenIsSureOf_SkipsTheGateAtItsRaisedLevel(string path)
    {
        // Shift 0: a sentence's levels are the window's, its screen margin 2 >= 1.5: it skips the gate. Shift 1: its
        // levels are 1 logit higher, the margin 1 < 1.5: the gate scores it (and stops it).
        using var unshifted = LoadSkipping(1.5, PathOptions(path), "\n  \"sentences\": { \"shift\": 0 },");
        using var shifted = LoadSkipping(1.5, PathOptions(path), "\n  \"sentences\": { \"shift\": 1 },");
        var windows = Windows(unshifted, "hello world. i hate you.");

        var a = await ScoreOnPath(unshifted, windows, path);
        var b = await ScoreOnPath(shifted, windows, path);

        Assert.Equal([false, true, true], windows.Select(EnsembleContentModel.IsSentenceWindow));
        Assert.Equal(EncoderHit, a[0], 4); // the packed window skipped the gate in both
        Assert.Equal(EncoderHit, b[0], 4);
        Assert.Equal(EncoderHit, a[4], 4); // "i hate you." alone: the encoder's hit, unshifted
        Assert.Equal(1 / (1 + Math.Exp(-(3 - 1.0))), b[4], 4); // the gate's hit (logit 3), lowered by the shift
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, false)]
    public async Task ScoreAsync_SkipGateWithTheScreenOrGateTurnedOff_Ignored(bool useScreen, bool useGate)
    {
        using var model = LoadSkipping(0, new OnnxRuntimeOptions { UseScreen = useScreen, UseGate = useGate });

        var hateful = await model.ScoreAsync("i hate you.", Ct);

        // Without the screen the gate stops the window; without the gate every window is the encoder's.
        Assert.Equal(useGate ? GateHit : EncoderHit, hateful["hate"], 4);
    }

    [Theory]
    [InlineData("{ \"encoder\": \"screen.json\", \"escalate\": { \"hate\": 0.5, \"violence\": 0.5 }, \"skipGate\": -1 }", Gate, "\"screen\".\"skipGate\" must be a number from 0 to 20")]
    [InlineData("{ \"encoder\": \"screen.json\", \"escalate\": { \"hate\": 0.5, \"violence\": 0.5 }, \"skipGate\": 21 }", Gate, "\"screen\".\"skipGate\" must be a number from 0 to 20")]
    [InlineData("{ \"encoder\": \"screen.json\", \"escalate\": { \"hate\": 0.5, \"violence\": 0.5 }, \"skipGate\": \"1\" }", Gate, "\"screen\".\"skipGate\" must be a number from 0 to 20")]
    [InlineData("{ \"encoder\": \"screen.json\", \"escalate\": { \"hate\": 0.5, \"violence\": 0.5 }, \"skipGate\": 1 }", null, "\"screen\".\"skipGate\" needs a \"gate\"")]
    [InlineData(Screen, "{ \"encoder\": \"gate.json\", \"escalate\": { \"hate\": 0.1, \"violence\": 0.1 }, \"skipGate\": 1 }", "\"gate\".\"skipGate\" is not allowed")]
    public void Load_BadSkipGate_ExplainsTheProblem(string screen, string? gate, string expected)
    {
        var ex = Assert.Throws<ContentModelException>(() => LoadEnsemble(screen, gate).Dispose());

        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"screen.json\"", "\"screen\" must be an object")]
    [InlineData("{ \"escalate\": { \"hate\": 0.1, \"violence\": 0.1 } }", "\"screen\" has no \"encoder\"")]
    [InlineData("{ \"encoder\": \"screen.json\" }", "\"screen\" has no \"escalate\"")]
    [InlineData("{ \"encoder\": \"screen.json\", \"escalate\": { \"hate\": 0.1 } }", "\"screen\".\"escalate\" has no level for \"violence\"")]
    [InlineData("{ \"encoder\": \"screen.json\", \"escalate\": { \"hate\": 1.5, \"violence\": 0.1 } }", "above 0 and at most 1")]
    [InlineData("{ \"encoder\": \"missing.json\", \"escalate\": { \"hate\": 0.1, \"violence\": 0.1 } }", "missing.json")]
    public void Load_BadScreen_ExplainsTheProblem(string screen, string expected)
    {
        var ex = Assert.Throws<ContentModelException>(() => LoadEnsemble(screen).Dispose());

        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_ScreenWithAnotherTokenizer_Refused()
    {
        File.WriteAllText(Path.Combine(_tiny.Directory, "screen.json"), TinyModel.DefaultDescription().Replace("\"model.onnx\"", "\"screen.onnx\"", StringComparison.Ordinal).Replace("\"lowercase\": true", "\"lowercase\": false", StringComparison.Ordinal));

        var ex = Assert.Throws<ContentModelException>(() => LoadEnsemble().Dispose());

        Assert.Contains("the screen \"screen.json\" must use the encoder's tokenizer", ex.Message, StringComparison.Ordinal);
    }
}

using SafeAI.Onnx.Tests.Infrastructure;

namespace SafeAI.Onnx.Tests;

/// <summary>
/// <c>"maxEncoderWindows"</c> and <c>"maxGateWindows"</c>: at most that many windows of one text reach the encoder (the gate),
/// the most suspect to the member before it first,
/// on the real tiny ONNX members of <see cref="EnsembleScreenTests"/> (encoder 0.9933 / 0.0067, gate 0.9526 / 0.0474,
/// screen 0.8808 / 0.1192 on a flagged word / otherwise).
/// </summary>
public sealed class EnsembleWindowLimitTests : IDisposable
{
    private const double EncoderHit = 0.99331, GateHit = 0.95257, ScreenHit = 0.88080, ScreenMiss = 0.11920;

    private const string Screen = "{ \"encoder\": \"screen.json\", \"escalate\": { \"hate\": 0.5, \"violence\": 0.5 } }";

    private readonly TinyModel _tiny = new();

    public EnsembleWindowLimitTests()
    {
        _tiny.WriteEnsembleMembers();
    }

    public void Dispose() => _tiny.Dispose();

    /// <summary>The scoring paths: every window in batches, one window per run (with and without a stop that is never met), and micro-batching.</summary>
    public static TheoryData<string> ScoringPaths => ["batch", "one-per-run", "stop", "micro-batching"];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Levels at which the gate's hit (logit 3) lies 5.2 logits above hate's level and 0.8 above violence's.</summary>
    private static string Gate(double violence = 0.1) =>
        $"{{ \"encoder\": \"gate.json\", \"escalate\": {{ \"hate\": 0.1, \"violence\": {violence.ToString(System.Globalization.CultureInfo.InvariantCulture)} }} }}";

    private ContentModel Load(int? limit, string? screen = Screen, string? gate = null, OnnxRuntimeOptions? options = null, int? gateLimit = null)
    {
        gate ??= Gate();
        var path = Path.Combine(_tiny.Directory, "ensemble.json");
        File.WriteAllText(path, $$"""
            {
              "version": 1,
              "kind": "ensemble",
              "encoder": "encoder.json",
              "windowTokens": 16,{{(limit is { } n ? $"\n  \"maxEncoderWindows\": {n}," : string.Empty)}}{{(gateLimit is { } g ? $"\n  \"maxGateWindows\": {g}," : string.Empty)}}
              "categories": { "hate": { "encoder": 1, "bias": 0 }, "violence": { "encoder": 1, "bias": 0 } },
              "gate": {{gate}}{{(screen is null ? string.Empty : ",\n  \"screen\": " + screen)}}
            }
            """);
        return ContentModel.Load(path, options);
    }

    private static OnnxRuntimeOptions PathOptions(string path) => path switch
    {
        "batch" => new OnnxRuntimeOptions { MicroBatching = false },
        "micro-batching" => new OnnxRuntimeOptions { MicroBatching = true },
        _ => new OnnxRuntimeOptions { MaxBatchSize = 1 },
    };

    private static async Task<float[]> ScoreOnPath(ContentModel model, List<int[]> windows, string path) => path == "stop"
        ? await model.ScoreWindowsAsync(windows, new WindowStop([0.999, 0.999]), Ct)
        : await model.ScoreWindowsAsync(windows, Ct);

    private static List<int[]> Windows(ContentModel model, string text) => model.CreateWindows(TextNormalizer.Normalize(text), 0, 64, out _);

    private static int WindowWith(List<int[]> windows, string word) =>
        Enumerable.Range(0, windows.Count).Single(w => new string([.. windows[w].AsSpan(1 + EnsembleContentModel.TokenCount(windows[w])).ToArray().Select(static c => (char)c)]).Contains(word, StringComparison.Ordinal));

    [Theory]
    [MemberData(nameof(ScoringPaths))]
    public async Task ScoreWindows_NoMoreWindowsThanTheLimit_SameScoresAsWithoutOne(string path)
    {
        using var limited = Load(2, options: PathOptions(path));
        using var unlimited = Load(null, options: PathOptions(path));
        var windows = Windows(limited, TinyModel.BenignText(200) + ". they will kill the dog. " + TinyModel.BenignText(200) + ". i hate you. " + TinyModel.BenignText(100));

        var expected = await ScoreOnPath(unlimited, windows, path);
        var actual = await ScoreOnPath(limited, windows, path);

        Assert.True(windows.Count > 4, $"the text should span several windows (it spans {windows.Count})");
        Assert.Equal(expected, actual);
        Assert.Equal(2, limited.EscalatedWindows);
    }

    [Theory]
    [MemberData(nameof(ScoringPaths))]
    public async Task ScoreWindows_MoreWindowsThanTheLimit_TheGatesMostSuspectGoOn(string path)
    {
        // Violence lies 0.8 logits above the gate's level, hate 5.2: with room for one, the hateful window goes on, although it comes second.
        using var model = Load(1, gate: Gate(violence: 0.9), options: PathOptions(path));
        var windows = Windows(model, TinyModel.BenignText(100) + ". they will kill the dog. " + TinyModel.BenignText(100) + ". i hate you. " + TinyModel.BenignText(100));
        var violent = WindowWith(windows, "kill");
        var hateful = WindowWith(windows, "hate");

        var scores = await ScoreOnPath(model, windows, path);

        Assert.Equal(EncoderHit, scores[hateful * 2], 4);
        Assert.Equal(GateHit, scores[(violent * 2) + 1], 4); // kept the gate's score, which still flags it at 0.5
        Assert.Equal(1, model.EscalatedWindows);
        for (var w = 0; w < windows.Count; w++)
        {
            if (w != violent && w != hateful)
            {
                Assert.Equal(ScreenMiss, scores[w * 2], 4);
            }
        }
    }

    [Theory]
    [MemberData(nameof(ScoringPaths))]
    public async Task ScoreWindows_LongText_TheLimitIsSpentStretchByStretchInReadingOrder(string path)
    {
        // Eight packed windows make a stretch: the violent window in the first one takes the only place, although the
        // hateful window far later lies further above the gate's level.
        using var model = Load(1, gate: Gate(violence: 0.9), options: PathOptions(path));
        var windows = Windows(model, "they will kill the dog. " + TinyModel.BenignText(1500) + ". i hate you. " + TinyModel.BenignText(60));
        var violent = WindowWith(windows, "kill");
        var hateful = WindowWith(windows, "hate");

        var scores = await ScoreOnPath(model, windows, path);

        Assert.True(hateful >= 8, $"the hateful window should lie past the first stretch (it is window {hateful})");
        Assert.Equal(EncoderHit, scores[(violent * 2) + 1], 4);
        Assert.Equal(GateHit, scores[hateful * 2], 4);
        Assert.Equal(1, model.EscalatedWindows);
    }

    [Theory]
    [MemberData(nameof(ScoringPaths))]
    public async Task ScoreWindows_LimitSpansStretches_SameScoresAsWithoutOne(string path)
    {
        // The two harmful windows lie in the first and the third stretch; both reach the encoder, in one pass.
        using var limited = Load(2, options: PathOptions(path));
        using var unlimited = Load(null, options: PathOptions(path));
        var windows = Windows(limited, "they will kill the dog. " + TinyModel.BenignText(1500) + ". i hate you. " + TinyModel.BenignText(1500));

        var expected = await ScoreOnPath(unlimited, windows, path);
        var actual = await ScoreOnPath(limited, windows, path);

        Assert.True(WindowWith(windows, "hate") >= 16, $"the hateful window should lie in the third stretch (it is window {WindowWith(windows, "hate")})");
        Assert.True(windows.Count > 24, $"the text should span four stretches (it spans {windows.Count} windows)");
        Assert.Equal(expected, actual);
        Assert.Equal(2, limited.EscalatedWindows);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task ScoreWindows_StopMetInAnEarlierStretch_LaterStretchesKeepNoScores(int parallelism)
    {
        // Both harmful windows reach the encoder (the limit is 2), from different stretches. The violent one, in the first
        // stretch, meets the stop: the hateful one far later is left as if scoring had ended with the first stretch, though
        // the screen, the gate and (side by side) the encoder scored it too.
        using var model = Load(2, options: new OnnxRuntimeOptions { MaxBatchSize = 1, WindowParallelism = parallelism });
        var windows = Windows(model, "they will kill the dog. " + TinyModel.BenignText(1500) + ". i hate you. " + TinyModel.BenignText(60));
        var violent = WindowWith(windows, "kill");
        var hateful = WindowWith(windows, "hate");

        var scores = await model.ScoreWindowsAsync(windows, new WindowStop([0.5, 0.5]), Ct);

        Assert.True(hateful >= 8, $"the hateful window should lie past the first stretch (it is window {hateful})");
        Assert.Equal(EncoderHit, scores[(violent * 2) + 1], 4);
        Assert.All(scores.Skip((violent + 1) * 2), s => Assert.Equal(0f, s));
        Assert.Equal(1, model.EscalatedWindows);
    }

    [Fact]
    public async Task ScoreWindows_StopMetOnlyInALaterStretch_EarlierStretchesKeepTheirScores()
    {
        // A stop for hate alone: the violent window of the first stretch does not meet it and keeps the encoder's scores;
        // the hateful one, two stretches later, meets it and every row after it is cleared.
        using var model = Load(2, options: new OnnxRuntimeOptions { MaxBatchSize = 1 });
        var windows = Windows(model, "they will kill the dog. " + TinyModel.BenignText(1500) + ". i hate you. " + TinyModel.BenignText(1500));
        var violent = WindowWith(windows, "kill");
        var hateful = WindowWith(windows, "hate");

        var scores = await model.ScoreWindowsAsync(windows, new WindowStop([0.5, double.PositiveInfinity]), Ct);

        Assert.Equal(EncoderHit, scores[(violent * 2) + 1], 4);
        Assert.Equal(EncoderHit, scores[hateful * 2], 4);
        Assert.Equal(ScreenMiss, scores[(hateful - 1) * 2], 4);
        Assert.All(scores.Skip((hateful + 1) * 2), s => Assert.Equal(0f, s));
        Assert.Equal(2, model.EscalatedWindows);
    }

    /// <summary>
    /// A screen that is sure of hate (its hit lies 2 logits above 0.5, past the margin 1.5) and sends violence (1.15 logits
    /// above 0.7) to the gate.
    /// </summary>
    private const string SureOfHate = "{ \"encoder\": \"screen.json\", \"escalate\": { \"hate\": 0.5, \"violence\": 0.7 }, \"skipGate\": 1.5 }";

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task ScoreWindows_SureWindowsFillTheLimitAndMeetTheStop_LaterStretchesSkipTheGate(int parallelism)
    {
        // The hateful window of the first stretch skips the gate and fills the encoder's limit, so the encoder takes it
        // whatever the gate finds: the first stretch is scored alone, meets the stop, and the violent window two stretches
        // later never reaches the gate.
        using var model = (EnsembleContentModel)Load(1, screen: SureOfHate, options: new OnnxRuntimeOptions { MaxBatchSize = 1, WindowParallelism = parallelism });
        var windows = Windows(model, "i hate you. " + TinyModel.BenignText(1500) + ". they will kill the dog. " + TinyModel.BenignText(60));
        var hateful = WindowWith(windows, "hate");
        var violent = WindowWith(windows, "kill");

        var scores = await model.ScoreWindowsAsync(windows, new WindowStop([0.5, 0.5]), Ct);

        Assert.True(violent >= 16, $"the violent window should lie in the third stretch (it is window {violent})");
        Assert.Equal(EncoderHit, scores[hateful * 2], 4);
        Assert.All(scores.Skip((hateful + 1) * 2), s => Assert.Equal(0f, s));
        Assert.Equal(0, model.WindowsScoredBy("gate"));
        Assert.Equal(1, model.WindowsScoredBy("encoder"));
        Assert.Equal(windows.Count, model.WindowsScoredBy("screen")); // the screen scores the whole text in one pass
    }

    [Fact]
    public async Task ScoreWindows_SureWindowsFillTheLimitButMissTheStop_TheRestIsScoredAsUsual()
    {
        // A stop for violence alone: the hateful window the encoder took from the first stretch does not meet it, so the
        // later stretches go on to the gate, whose scores of the violent window (the encoder's limit is spent) meet it.
        using var model = (EnsembleContentModel)Load(1, screen: SureOfHate, options: new OnnxRuntimeOptions { MaxBatchSize = 1 });
        var windows = Windows(model, "i hate you. " + TinyModel.BenignText(1500) + ". they will kill the dog. " + TinyModel.BenignText(1500));
        var hateful = WindowWith(windows, "hate");
        var violent = WindowWith(windows, "kill");

        var scores = await model.ScoreWindowsAsync(windows, new WindowStop([double.PositiveInfinity, 0.5]), Ct);

        Assert.Equal(EncoderHit, scores[hateful * 2], 4);
        Assert.Equal(GateHit, scores[(violent * 2) + 1], 4);
        Assert.Equal(ScreenMiss, scores[(violent - 1) * 2], 4);
        Assert.All(scores.Skip((violent + 1) * 2), s => Assert.Equal(0f, s));
        Assert.Equal(1, model.WindowsScoredBy("gate"));
        Assert.Equal(1, model.WindowsScoredBy("encoder"));
    }

    [Theory]
    [MemberData(nameof(ScoringPaths))]
    public async Task ScoreWindows_EquallySuspect_ReadingOrderDecides(string path)
    {
        using var model = Load(2, options: PathOptions(path));
        var windows = Windows(model, "i hate you. " + TinyModel.BenignText(100) + ". they will kill the dog. " + TinyModel.BenignText(100) + ". i hate them. " + TinyModel.BenignText(60));

        var scores = await ScoreOnPath(model, windows, path);

        var encoderScored = Enumerable.Range(0, windows.Count).Where(w => Math.Abs(Math.Max(scores[w * 2], scores[(w * 2) + 1]) - EncoderHit) < 1e-4).ToList();
        var gateScored = Enumerable.Range(0, windows.Count).Where(w => Math.Abs(Math.Max(scores[w * 2], scores[(w * 2) + 1]) - GateHit) < 1e-4).ToList();
        Assert.Equal(2, encoderScored.Count);
        Assert.Single(gateScored);
        Assert.True(encoderScored.Max() < gateScored[0], "the two windows that come first in the text reach the encoder");
    }

    [Fact]
    public async Task ScoreWindows_WithAStop_EndsAtTheFirstWindowThatMeetsIt()
    {
        // One window at a time: the hateful window (most suspect) goes first and meets the stop, so the encoder stops there;
        // the violent window keeps the gate's 0.95, which meets the stop too, and comes first in the text: the rows after it
        // are cleared, as the unlimited early-stop path leaves them.
        using var model = Load(4, gate: Gate(violence: 0.9), options: new OnnxRuntimeOptions { MaxBatchSize = 1, WindowParallelism = 1 });
        var windows = Windows(model, TinyModel.BenignText(100) + ". they will kill the dog. " + TinyModel.BenignText(100) + ". i hate you. " + TinyModel.BenignText(100));
        var violent = WindowWith(windows, "kill");

        var scores = await model.ScoreWindowsAsync(windows, new WindowStop([0.5, 0.5]), Ct);

        Assert.Equal(GateHit, scores[(violent * 2) + 1], 4);
        Assert.All(scores.Skip((violent + 1) * 2), s => Assert.Equal(0f, s));
        Assert.Equal(1, model.EscalatedWindows);
    }

    [Fact]
    public async Task ScoreAsync_GateAndScreenTurnedOff_TheLimitIsIgnored()
    {
        using var model = Load(1, options: new OnnxRuntimeOptions { UseGate = false });
        var windows = Windows(model, "i hate you. " + TinyModel.BenignText(100) + ". i hate them. " + TinyModel.BenignText(60));

        var scores = await model.ScoreWindowsAsync(windows, Ct);

        Assert.Equal(2, Enumerable.Range(0, windows.Count).Count(w => Math.Abs(scores[w * 2] - EncoderHit) < 1e-4));
    }

    [Fact]
    public async Task ScoreAsync_GateWithoutScreen_LimitHolds()
    {
        using var model = Load(1, screen: null);
        var windows = Windows(model, "i hate you. " + TinyModel.BenignText(100) + ". i hate them. " + TinyModel.BenignText(60));

        var scores = await model.ScoreWindowsAsync(windows, Ct);

        Assert.Equal(1, Enumerable.Range(0, windows.Count).Count(w => Math.Abs(scores[w * 2] - EncoderHit) < 1e-4));
        Assert.Equal(1, Enumerable.Range(0, windows.Count).Count(w => Math.Abs(scores[w * 2] - GateHit) < 1e-4));
    }

    [Theory]
    [MemberData(nameof(ScoringPaths))]
    public async Task ScoreWindows_GateLimit_TheRestKeepTheScreensScores(string path)
    {
        // The screen scores the three harmful windows alike: the first two in the text reach the gate (and the encoder).
        using var model = Load(8, options: PathOptions(path), gateLimit: 2);
        using var heldBack = new WindowCounts(SafeAIDiagnostics.ContentWindowsHeldBackInstrument);
        var windows = Windows(model, "i hate you. " + TinyModel.BenignText(100) + ". they will kill the dog. " + TinyModel.BenignText(100) + ". i hate them. " + TinyModel.BenignText(60));

        var scores = await ScoreOnPath(model, windows, path);

        double Top(int w) => Math.Max(scores[w * 2], scores[(w * 2) + 1]);
        var encoderScored = Enumerable.Range(0, windows.Count).Where(w => Math.Abs(Top(w) - EncoderHit) < 1e-4).ToList();
        var screenScored = Enumerable.Range(0, windows.Count).Where(w => Math.Abs(Top(w) - ScreenHit) < 1e-4).ToList();
        Assert.Equal(2, encoderScored.Count);
        Assert.Single(screenScored);
        Assert.True(encoderScored.Max() < screenScored[0], "the two harmful windows that come first reach the gate");
        Assert.Equal(2, model.EscalatedWindows);
        Assert.True(heldBack["gate"] >= 1, $"windows held back from the gate: {heldBack["gate"]}"); // other tests' models may add to it

    }

    [Fact]
    public async Task ScoreAsync_GateLimitWithTheScreenTurnedOff_Ignored()
    {
        using var model = Load(null, options: new OnnxRuntimeOptions { UseScreen = false }, gateLimit: 1);
        var windows = Windows(model, "i hate you. " + TinyModel.BenignText(100) + ". i hate them. " + TinyModel.BenignText(60));

        var scores = await model.ScoreWindowsAsync(windows, Ct);

        Assert.Equal(2, Enumerable.Range(0, windows.Count).Count(w => Math.Abs(scores[w * 2] - EncoderHit) < 1e-4));
    }

    [Fact]
    public void Load_GateLimitWithoutAScreen_Refused()
    {
        var ex = Assert.Throws<ContentModelException>(() => Load(null, screen: null, gateLimit: 2).Dispose());

        Assert.Contains("\"maxGateWindows\" needs a \"gate\" and a \"screen\"", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_BadGateLimit_ExplainsTheProblem()
    {
        var ex = Assert.Throws<ContentModelException>(() => Load(null, gateLimit: 0).Dispose());

        Assert.Contains("\"maxGateWindows\" is 0; it must be between 1 and 1024", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0", "\"maxEncoderWindows\" is 0; it must be between 1 and 1024")]
    [InlineData("1025", "\"maxEncoderWindows\" is 1025; it must be between 1 and 1024")]
    [InlineData("\"2\"", "\"maxEncoderWindows\" must be a whole number")]
    [InlineData("1.5", "\"maxEncoderWindows\" must be a whole number")]
    public void Load_BadLimit_ExplainsTheProblem(string value, string expected)
    {
        var path = Path.Combine(_tiny.Directory, "bad.json");
        File.WriteAllText(path, $$"""
            { "version": 1, "kind": "ensemble", "encoder": "encoder.json", "maxEncoderWindows": {{value}},
              "categories": { "hate": { "encoder": 1 }, "violence": { "encoder": 1 } }, "gate": {{Gate()}} }
            """);

        var ex = Assert.Throws<ContentModelException>(() => ContentModel.Load(path).Dispose());

        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_LimitWithoutGateOrScreen_Refused()
    {
        var path = Path.Combine(_tiny.Directory, "bad.json");
        File.WriteAllText(path, """
            { "version": 1, "kind": "ensemble", "encoder": "encoder.json", "maxEncoderWindows": 2,
              "categories": { "hate": { "encoder": 1 }, "violence": { "encoder": 1 } } }
            """);

        var ex = Assert.Throws<ContentModelException>(() => ContentModel.Load(path).Dispose());

        Assert.Contains("\"maxEncoderWindows\" needs a \"gate\" or a \"screen\"", ex.Message, StringComparison.Ordinal);
    }
}

using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using SafeAI.Onnx.Tests.Infrastructure;

namespace SafeAI.Onnx.Tests;

/// <summary>The lone-run tests count runs in flight in the whole process, so they run alone, after the parallel tests.</summary>
[CollectionDefinition(nameof(LoneRunCollection), DisableParallelization = true)]
public sealed class LoneRunCollection;

/// <summary>
/// <see cref="OnnxRuntimeOptions.LoneRunThreads"/> (off by default): with more than one, a model that scores every window in
/// a run of its own on one thread keeps a second session on more threads for a run that is the only one in flight in the
/// process. On the real tiny ONNX model (with <c>"maxBatchSize": 1</c>) and the default model.
/// </summary>
[Collection(nameof(LoneRunCollection))]
public sealed class LoneRunTests : IDisposable
{
    private readonly TinyModel _tiny = new(description: TinyModel.DefaultDescription().Replace("\"maxTokens\"", "\"maxBatchSize\": 1,\n  \"maxTokens\"", StringComparison.Ordinal));

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static OnnxRuntimeOptions TwoThreads => new() { LoneRunThreads = 2 };

    public void Dispose() => _tiny.Dispose();

    private static ModelDescription Describe(TinyModel model) => ModelDescription.Parse(model.DescriptionPath, File.ReadAllBytes(model.DescriptionPath));

    private OnnxContentModel Load(OnnxRuntimeOptions? options = null) => (OnnxContentModel)_tiny.Load(options);

    [Fact]
    public async Task ShortText_NoOtherRunInFlight_TakesTheLoneSessionAndScoresTheSame()
    {
        using var lone = Load(TwoThreads);
        using var off = Load();

        foreach (var text in (string[])["i hate you", "they will kill the dog", "what a lovely day"])
        {
            Assert.Equal(await off.ScoreAsync(text, Ct), await lone.ScoreAsync(text, Ct));
        }

        Assert.Equal(3, lone.LoneRuns);
        Assert.Equal(0, off.LoneRuns);
    }

    [Fact]
    public async Task ShortText_AnotherRunInFlight_KeepsOneThread()
    {
        using var model = Load(TwoThreads);
        var expected = await model.ScoreAsync("i hate you", Ct);
        Assert.Equal(1, model.LoneRuns);

        // Another caller's run, as the process-wide count sees it: two runs on more threads each would fight for the cores.
        OnnxContentModel.EnterRun();
        try
        {
            Assert.Equal(expected, await model.ScoreAsync("i hate you", Ct));
        }
        finally
        {
            OnnxContentModel.ExitRun();
        }

        Assert.Equal(1, model.LoneRuns);
        Assert.Equal(expected, await model.ScoreAsync("i hate you", Ct));
        Assert.Equal(2, model.LoneRuns);
    }

    [Fact]
    public async Task LongText_WindowsSideBySide_NeverTakeTheLoneSession()
    {
        using var model = Load(new OnnxRuntimeOptions { WindowParallelism = 2, LoneRunThreads = 2 });
        using var sequential = Load(new OnnxRuntimeOptions { WindowParallelism = 1, LoneRunThreads = 2 });
        var text = TinyModel.BenignText(300) + " i hate you. " + TinyModel.BenignText(300);

        var scores = await model.ScoreAsync(text, Ct);

        Assert.True(model.CreateWindows(TextNormalizer.Normalize(text), 0, 64, out _).Count > 2);
        Assert.Equal(0, model.LoneRuns);
        Assert.Equal(await sequential.ScoreAsync(text, Ct), scores);
        Assert.Equal(0, sequential.LoneRuns);
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(0, -1)]
    [InlineData(2, 2)]
    [InlineData(4, 4)]
    public void LoneThreads_OffByDefault_OnlyWhereRunsAreOneThreadEach(int setting, int expected)
    {
        var description = Describe(_tiny);
        using var batched = new TinyModel();
        var expectedHere = expected >= 0 ? expected : Environment.ProcessorCount > 1 ? Environment.ProcessorCount : 0;

        Assert.Equal(expectedHere, OnnxContentModel.LoneThreads(description, new OnnxRuntimeOptions { LoneRunThreads = setting }));
        Assert.Equal(0, OnnxContentModel.LoneThreads(description, new OnnxRuntimeOptions()));

        // Where ONNX Runtime already spreads a run over the cores, or the user chose the threads, there is no second session.
        Assert.Equal(0, OnnxContentModel.LoneThreads(description, new OnnxRuntimeOptions { LoneRunThreads = setting, WindowParallelism = 1 }));
        Assert.Equal(0, OnnxContentModel.LoneThreads(description, new OnnxRuntimeOptions { LoneRunThreads = setting, IntraOpThreads = 2 }));
        Assert.Equal(0, OnnxContentModel.LoneThreads(Describe(batched), new OnnxRuntimeOptions { LoneRunThreads = setting }));
    }

    [Fact]
    public void NegativeLoneRunThreads_FailsNamingTheSetting()
    {
        var ex = Assert.Throws<ArgumentException>(() => Load(new OnnxRuntimeOptions { LoneRunThreads = -1 }));
        Assert.Contains("LoneRunThreads cannot be negative (it is -1)", ex.Message, StringComparison.Ordinal);

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["SafeAI:ContentFilter:ModelPath"] = _tiny.DescriptionPath,
            ["SafeAI:ContentFilter:Runtime:LoneRunThreads"] = "-2",
        }).Build();
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration);
        services.AddSafeAI(safe => safe.AddContentFilter());
        using var provider = services.BuildServiceProvider();

        var invalid = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<ContentFilterOptions>>().Value);
        Assert.Contains("SafeAI:ContentFilter:Runtime:LoneRunThreads cannot be negative (it is -2)", invalid.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DefaultModel_ShortAndLongTexts_SameScoresWithAndWithoutLoneRuns()
    {
        using var lone = (EnsembleContentModel)ContentModel.LoadDefault(TwoThreads);
        using var off = (EnsembleContentModel)ContentModel.LoadDefault();
        var ordinary = "The quarterly report shows revenue grew in every region, and the team expects further growth next year. ";
        string[] texts =
        [
            "I will kill you and your whole family tonight.",
            "Can I open a savings account?",
            "You are a worthless idiot",
            string.Concat(Enumerable.Repeat(ordinary, 8)) + "I will kill you and your whole family tonight.",
        ];

        foreach (var text in texts)
        {
            var expected = await off.ScoreAsync(text, Ct);
            var actual = await lone.ScoreAsync(text, Ct);
            foreach (var (category, score) in expected)
            {
                Assert.Equal(score, actual[category]);
            }
        }

        // The threat goes through the screen, the gate and the six-layer model, each one window at a time.
        Assert.True(lone.LoneRuns >= 3, $"expected the short texts' member runs on the lone sessions; {lone.LoneRuns} were");
        Assert.Equal(0, off.LoneRuns);
    }
}

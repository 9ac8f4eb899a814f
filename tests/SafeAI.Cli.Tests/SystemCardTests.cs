using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace SafeAI.Cli.Tests;

public sealed partial class SystemCardTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("safeai-card-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SystemCard_WebSample_RegeneratedFromItsConfigurationReproducesTheCommittedLimits()
    {
        // The same commands as docs/pre-launch.md runs for the committed card: evaluate the web sample's configuration on the
        // committed mixed-language dataset, then write the card.
        var config = Repository.File("samples/SafeAI.Samples.Web/appsettings.json");
        var folder = Repository.File("docs/system-card");
        var evaluation = Path.Combine(_dir, "evaluation.json");
        var (code, output, errors) = await RunAsync("evaluate", "--config", config, "--dataset", Path.Combine(folder, "web-sample-dataset.jsonl"),
            "--gate", Path.Combine(folder, "web-sample.gate.json"), "--bias", Path.Combine(folder, "web-sample-bias.json"), "--json", evaluation, "--report", Path.Combine(_dir, "evaluation.html"));
        Assert.True(code == 0, output + errors);
        var card = Path.Combine(_dir, "card.md");
        (code, _, errors) = await RunAsync("system-card", "--config", config, "--evaluation", evaluation, "--uses", Path.Combine(folder, "web-sample.uses.json"), "--markdown", card, "--html", Path.Combine(_dir, "card.html"));
        Assert.True(code == 0, errors);

        var regenerated = LimitKeys(await File.ReadAllTextAsync(card, Ct));
        var committed = LimitKeys(await File.ReadAllTextAsync(Path.Combine(folder, "web-sample.md"), Ct));
        Assert.Equal(committed, regenerated);

        // The measured weakness the model card documents: some non-English language is near chance; English is not.
        Assert.Contains(regenerated, static k => k.StartsWith("language=", StringComparison.Ordinal) && !k.StartsWith("language=en:", StringComparison.Ordinal) && k.Contains("near chance", StringComparison.Ordinal));
        Assert.DoesNotContain(regenerated, static k => k.StartsWith("language=en:", StringComparison.Ordinal) && k.Contains("near chance", StringComparison.Ordinal));

        // The committed evaluation is the one these files give (same texts per language; timings are not compared).
        var fresh = JsonNode.Parse(await File.ReadAllTextAsync(evaluation, Ct))!["segments"]!["language"]!.AsObject();
        var kept = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(folder, "web-sample-evaluation.json"), Ct))!["segments"]!["language"]!.AsObject();
        Assert.Equal(kept.Select(static p => p.Key), fresh.Select(static p => p.Key));
        foreach (var (language, node) in kept)
        {
            foreach (var field in new[] { "n", "benign", "harmful" })
            {
                Assert.Equal(node![field]!.GetValue<int>(), fresh[language]![field]!.GetValue<int>());
            }
        }

        var html = await File.ReadAllTextAsync(Path.Combine(_dir, "card.html"), Ct);
        Assert.Contains("<h2>Measured limits</h2>", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SystemCard_WithoutUsesFile_MarksTheMissingPartsAndListsTheConfiguredStages()
    {
        var config = Path.Combine(_dir, "settings.json");
        await File.WriteAllTextAsync(config, """{"SafeAI": {"ContentFilter": {"Categories": {"prompt_injection": {"Threshold": 0.8}}}}}""", Ct);
        var dataset = Path.Combine(_dir, "d.jsonl");
        await File.WriteAllLinesAsync(dataset, ["""{"text": "What time is it in Tokyo?", "label": "benign", "language": "en"}"""], Ct);
        var evaluation = Path.Combine(_dir, "e.json");
        var (code, _, errors) = await RunAsync("evaluate", "--config", config, "--dataset", dataset, "--json", evaluation, "--report", Path.Combine(_dir, "e.html"));
        Assert.True(code == 0, errors);
        var card = Path.Combine(_dir, "card.md");

        (code, _, errors) = await RunAsync("system-card", "--config", config, "--evaluation", evaluation, "--markdown", card);

        Assert.True(code == 0, errors);
        var text = await File.ReadAllTextAsync(card, Ct);
        Assert.Contains("Not supplied: list what the system must not be used for", text, StringComparison.Ordinal);
        Assert.Contains("Not supplied: name who is called", text, StringComparison.Ordinal);
        Assert.Contains("| Categories:prompt_injection | Enabled true, Threshold 0.8 |", text, StringComparison.Ordinal);
        Assert.Contains("Not measured (too few benign or harmful texts): language=en (1 benign, 0 harmful)", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SystemCard_BadInputs_FailNamingTheFile()
    {
        var config = Path.Combine(_dir, "settings.json");
        await File.WriteAllTextAsync(config, """{"SafeAI": {"ContentFilter": {}}}""", Ct);
        var notEvaluation = Path.Combine(_dir, "other.json");
        await File.WriteAllTextAsync(notEvaluation, """{"groups": {}}""", Ct);

        var (code, _, errors) = await RunAsync("system-card", "--config", config, "--evaluation", notEvaluation, "--markdown", Path.Combine(_dir, "c.md"));
        Assert.Equal(1, code);
        Assert.Contains("other.json: not a report of safeai evaluate", errors, StringComparison.Ordinal);

        var evaluation = Repository.File("docs/system-card/web-sample-evaluation.json");
        var uses = Path.Combine(_dir, "uses.json");
        await File.WriteAllTextAsync(uses, """{"intended_use": ["x"]}""", Ct);
        (code, _, errors) = await RunAsync("system-card", "--config", config, "--evaluation", evaluation, "--uses", uses, "--markdown", Path.Combine(_dir, "c.md"));
        Assert.Equal(1, code);
        Assert.Contains("uses.json: unknown key \"intended_use\". Did you mean intended_uses?", errors, StringComparison.Ordinal);
    }

    /// <summary>The bold part of each bullet of the limits section: "scope: verdicts" (no figures).</summary>
    private static List<string> LimitKeys(string markdown)
    {
        var start = markdown.IndexOf("## Measured limits", StringComparison.Ordinal);
        Assert.True(start >= 0, "the card has no limits section");
        var end = markdown.IndexOf("\n## ", start + 5, StringComparison.Ordinal);
        var section = markdown[start..(end < 0 ? markdown.Length : end)];
        return [.. LimitBullet().Matches(section).Select(static m => m.Groups[1].Value)];
    }

    [GeneratedRegex(@"^- \*\*(.+?)\*\*", RegexOptions.Multiline)]
    private static partial Regex LimitBullet();

    private static async Task<(int Code, string Output, string Errors)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var errors = new StringWriter();
        var code = await Program.RunAsync(args, output, errors, Ct);
        return (code, output.ToString(), errors.ToString());
    }
}

using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;

namespace SafeAI.Cli.Tests;

public sealed class EvaluateTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("safeai-evaluate-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Evaluate_MixedLanguageDataset_ReportsPerLanguageRatesAndTheGateFailsTheLanguageAboveItsLimit()
    {
        // Benign and harmful texts in English and German that the default model never trained on (from the committed dataset).
        var rows = File.ReadLines(Repository.File("docs/system-card/web-sample-dataset.jsonl"))
            .Select(static l => JsonNode.Parse(l)!.AsObject())
            .Where(static r => r["language"]!.GetValue<string>() is "en" or "de")
            .GroupBy(static r => (r["language"]!.GetValue<string>(), r["labels"]!.AsArray().Count == 0))
            .SelectMany(static g => g.Take(40))
            .ToList();
        var dataset = Path.Combine(_dir, "conversations.jsonl");
        await File.WriteAllLinesAsync(dataset, rows.Select(static r => r.ToJsonString()), Ct);
        var config = await WriteConfigAsync("""{"SafeAI": {"ContentFilter": {"DefaultThreshold": 0.5}}}""");
        var json = Path.Combine(_dir, "report.json");

        var (code, output, errors) = await RunAsync("evaluate", "--config", config, "--dataset", dataset, "--json", json, "--report", Path.Combine(_dir, "report.html"));

        Assert.True(code == 0, errors);
        Assert.Contains("content-input", output, StringComparison.Ordinal);
        var report = JsonNode.Parse(await File.ReadAllTextAsync(json, Ct))!;
        var languages = report["segments"]!["language"]!.AsObject();
        Assert.Equal(["de", "en"], languages.Select(static p => p.Key).Order(StringComparer.Ordinal));
        var rates = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (language, node) in languages)
        {
            Assert.Equal(80, node!["n"]!.GetValue<int>());
            Assert.Equal(40, node["benign"]!.GetValue<int>());
            var falseBlocks = node["false_blocks"]!.GetValue<int>();
            var rate = node["false_block_rate"]!["rate"]!.GetValue<double>();
            Assert.Equal(falseBlocks / 40.0, rate, 4);
            var ci = node["false_block_rate"]!["ci"]!.AsArray();
            Assert.True(ci[0]!.GetValue<double>() <= rate && rate <= ci[1]!.GetValue<double>());
            Assert.InRange(node["auroc"]!.GetValue<double>(), 0, 1);
            rates[language] = rate;
        }

        // A limit between the two languages' benign block rates: exactly the higher one fails, and the command exits 3.
        Assert.NotEqual(rates["de"], rates["en"]);
        var (worse, better) = rates["de"] > rates["en"] ? ("de", "en") : ("en", "de");
        var limit = (rates["de"] + rates["en"]) / 2;
        var gate = Path.Combine(_dir, "rules.json");
        await File.WriteAllTextAsync(gate, string.Create(CultureInfo.InvariantCulture, $$"""{"rules": [{"name": "benign block rate per language", "metric": "false_block_rate", "segment": "language", "max": {{limit}}}]}"""), Ct);

        (code, output, errors) = await RunAsync("evaluate", "--config", config, "--dataset", dataset, "--gate", gate, "--json", json, "--report", Path.Combine(_dir, "report.html"));

        Assert.True(code == 3, $"exit {code}: {output}{errors}");
        Assert.Contains("GATE FAILED", output, StringComparison.Ordinal);
        var checks = JsonNode.Parse(await File.ReadAllTextAsync(json, Ct))!["gate"]!["checks"]!.AsArray();
        Assert.Equal("fail", checks.Single(c => c!["scope"]!.GetValue<string>() == "language=" + worse)!["result"]!.GetValue<string>());
        Assert.Equal("pass", checks.Single(c => c!["scope"]!.GetValue<string>() == "language=" + better)!["result"]!.GetValue<string>());

        // Above both languages' rates, the same gate passes.
        await File.WriteAllTextAsync(gate, string.Create(CultureInfo.InvariantCulture, $$"""{"rules": [{"metric": "false_block_rate", "segment": "language", "max": {{Math.Max(rates["de"], rates["en"])}}}]}"""), Ct);
        (code, _, errors) = await RunAsync("evaluate", "--config", config, "--dataset", dataset, "--gate", gate, "--report", Path.Combine(_dir, "report.html"));
        Assert.True(code == 0, errors);
    }

    [Fact]
    public async Task Evaluate_StagesFromConfiguration_BindsSettingsAndRecordedAnswersAsAnAppWould()
    {
        // Rate limiting of 2 calls a minute for one user, human review of high-stakes calls, the recorded answer screened on the way out.
        var config = await WriteConfigAsync("""
            {"SafeAI": {"ContentFilter": {}, "RateLimiting": {"PermitLimit": 2, "Window": "00:10:00"},
                        "HumanReview": {"Mode": "Defer", "MinimumRiskTier": "High"}}}
            """);
        var dataset = Path.Combine(_dir, "d.jsonl");
        await File.WriteAllLinesAsync(dataset,
        [
            """{"text": "What time does the library open?", "label": "benign", "user_id": "u1", "user_type": "member"}""",
            """{"text": "Can I renew a book online?", "label": "benign", "user_id": "u1", "user_type": "member"}""",
            """{"text": "Where is the children's section?", "label": "benign", "user_id": "u1", "user_type": "member"}""",
            """{"text": "Can I borrow money against my savings?", "label": "benign", "risk_tier": "high", "user_type": "guest"}""",
            """{"text": "Tell me about the opening hours.", "response": "You are a worthless idiot and I hate you.", "label": "benign", "user_type": "guest"}""",
        ], Ct);
        var json = Path.Combine(_dir, "r.json");

        var (code, _, errors) = await RunAsync("evaluate", "--config", config, "--dataset", dataset, "--json", json, "--report", Path.Combine(_dir, "r.html"));

        Assert.True(code == 0, errors);
        var report = JsonNode.Parse(await File.ReadAllTextAsync(json, Ct))!;
        var outcomes = report["overall"]!["outcomes"]!;
        Assert.Equal(1, outcomes["limit"]!["count"]!.GetValue<int>());
        Assert.Equal(1, outcomes["escalate"]!["count"]!.GetValue<int>());
        Assert.Equal(1, outcomes["block"]!["count"]!.GetValue<int>());
        Assert.Equal(3, report["segments"]!["user_type"]!["member"]!["n"]!.GetValue<int>());
        var limiter = report["stages"]!.AsArray().Single(s => s!["section"]!.GetValue<string>() == "SafeAI:RateLimiting")!;
        Assert.Equal("2", limiter["settings"]!["PermitLimit"]!.GetValue<string>());
    }

    [Fact]
    public async Task Evaluate_LiveEndpoint_SendsEachConversationAndScreensTheAnswers()
    {
        // An OpenAI-compatible endpoint on 127.0.0.1: it insults whoever asks about fees, and answers the rest politely.
        var port = FreePort();
        using var listener = new System.Net.HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var requests = 0;
        var serving = Task.Run(async () =>
        {
            while (listener.IsListening)
            {
                System.Net.HttpListenerContext context;
                try
                {
                    context = await listener.GetContextAsync();
                }
                catch (Exception ex) when (ex is System.Net.HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }

                Interlocked.Increment(ref requests);
                using var reader = new StreamReader(context.Request.InputStream);
                var body = await reader.ReadToEndAsync(Ct);
                var answer = body.Contains("fees", StringComparison.Ordinal) ? "You are a worthless idiot and I hate you." : "Our branches open at nine.";
                var json = JsonSerializer.Serialize(new
                {
                    id = "chatcmpl-1", @object = "chat.completion", created = 1, model = "test-model",
                    choices = new[] { new { index = 0, message = new { role = "assistant", content = answer }, finish_reason = "stop" } },
                    usage = new { prompt_tokens = 5, completion_tokens = 5, total_tokens = 10 },
                });
                var bytes = System.Text.Encoding.UTF8.GetBytes(json);
                context.Response.ContentType = "application/json";
                await context.Response.OutputStream.WriteAsync(bytes, Ct);
                context.Response.Close();
            }
        }, Ct);
        var config = await WriteConfigAsync($$$"""{"SafeAI": {"ContentFilter": {}}, "SafeAIEvaluation": {"Endpoint": "http://127.0.0.1:{{{port}}}/v1", "Model": "test-model"}}""");
        var dataset = Path.Combine(_dir, "d.jsonl");
        await File.WriteAllLinesAsync(dataset, ["""{"text": "When do you open?", "label": "benign"}""", """{"text": "What are your fees?", "label": "benign"}"""], Ct);
        var json = Path.Combine(_dir, "r.json");

        var (code, output, errors) = await RunAsync("evaluate", "--config", config, "--dataset", dataset, "--answers", "live", "--json", json, "--report", Path.Combine(_dir, "r.html"));

        listener.Stop();
        await serving;
        Assert.True(code == 0, output + errors);
        Assert.Equal(2, requests);
        var outcomes = JsonNode.Parse(await File.ReadAllTextAsync(json, Ct))!["overall"]!["outcomes"]!;
        Assert.Equal(1, outcomes["allow"]!["count"]!.GetValue<int>());
        Assert.Equal(1, outcomes["block"]!["count"]!.GetValue<int>());
    }

    [Fact]
    public async Task Evaluate_LiveWithoutEndpointOrWithAnUnsetKeyVariable_FailsNamingTheSetting()
    {
        var dataset = Path.Combine(_dir, "d.jsonl");
        await File.WriteAllLinesAsync(dataset, ["""{"text": "hello"}"""], Ct);
        var config = await WriteConfigAsync("""{"SafeAI": {"ContentFilter": {}}}""");

        var (code, _, errors) = await RunAsync("evaluate", "--config", config, "--dataset", dataset, "--answers", "live");
        Assert.Equal(1, code);
        Assert.Contains("--answers live needs \"SafeAIEvaluation\"", errors, StringComparison.Ordinal);

        config = await WriteConfigAsync("""{"SafeAI": {"ContentFilter": {}}, "SafeAIEvaluation": {"Endpoint": "http://127.0.0.1:9/v1", "Model": "m", "ApiKeyVariable": "SAFEAI_TEST_KEY_THAT_IS_NOT_SET"}}""");
        (code, _, errors) = await RunAsync("evaluate", "--config", config, "--dataset", dataset, "--answers", "live");
        Assert.Equal(1, code);
        Assert.Contains("SafeAIEvaluation:ApiKeyVariable names the environment variable 'SAFEAI_TEST_KEY_THAT_IS_NOT_SET', which is not set", errors, StringComparison.Ordinal);
    }

    private static int FreePort()
    {
        var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        var port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    [Fact]
    public async Task Evaluate_ConcurrentCalls_EachConversationGetsItsOwnRecordedAnswer()
    {
        var config = await WriteConfigAsync("""{"SafeAI": {"ContentFilter": {}}}""");
        var dataset = Path.Combine(_dir, "d.jsonl");
        var lines = new List<string>();
        for (var i = 0; i < 12; i++)
        {
            lines.Add(i % 3 == 0
                ? $$"""{"text": "Question {{i}} about my card", "response": "You are a worthless idiot and I hate you.", "answer_kind": "insult"}"""
                : $$"""{"text": "Question {{i}} about my card", "response": "Your card arrives within five working days.", "answer_kind": "polite"}""");
        }

        await File.WriteAllLinesAsync(dataset, lines, Ct);
        var json = Path.Combine(_dir, "r.json");

        var (code, _, errors) = await RunAsync("evaluate", "--config", config, "--dataset", dataset, "--concurrency", "4", "--json", json, "--report", Path.Combine(_dir, "r.html"));

        Assert.True(code == 0, errors);
        var kinds = JsonNode.Parse(await File.ReadAllTextAsync(json, Ct))!["segments"]!["answer_kind"]!;
        Assert.Equal(4, kinds["insult"]!["outcomes"]!["block"]!["count"]!.GetValue<int>());
        Assert.Equal(0, kinds["polite"]!["outcomes"]!["block"]!["count"]!.GetValue<int>());
    }

    [Fact]
    public async Task EvaluateAndBias_Cancelled_StopWithACleanMessage()
    {
        var config = await WriteConfigAsync("""{"SafeAI": {"ContentFilter": {}}}""");
        var dataset = Path.Combine(_dir, "d.jsonl");
        await File.WriteAllLinesAsync(dataset, Enumerable.Range(0, 50).Select(static i => $$"""{"text": "hello {{i}}"}"""), Ct);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        foreach (var args in new[] { new[] { "evaluate", "--config", config, "--dataset", dataset, "--report", Path.Combine(_dir, "r.html") }, ["bias", "--set", "names-en", "--report", Path.Combine(_dir, "b.html")] })
        {
            using var output = new StringWriter();
            using var errors = new StringWriter();
            var code = await Program.RunAsync(args, output, errors, cancelled.Token);

            Assert.Equal(1, code);
            Assert.Contains("safeai: cancelled.", errors.ToString(), StringComparison.Ordinal);
            Assert.False(File.Exists(args[^1]), "no report is written for a cancelled run");
        }
    }

    [Fact]
    public async Task Evaluate_MisspelledSetting_FailsNamingTheConfigurationAndTheClosestKey()
    {
        var config = await WriteConfigAsync("""{"SafeAI": {"ContentFilter": {"DefaultTreshold": 0.5}}}""");
        var dataset = Path.Combine(_dir, "d.jsonl");
        await File.WriteAllLinesAsync(dataset, ["""{"text": "hello"}"""], Ct);

        var (code, _, errors) = await RunAsync("evaluate", "--config", config, "--dataset", dataset);

        Assert.Equal(1, code);
        Assert.Contains("settings.json", errors, StringComparison.Ordinal);
        Assert.Contains("DefaultThreshold", errors, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"rules": [{"metric": "false_blok_rate", "max": 0.02}]}""", "rules.json: rule 1: unknown metric \"false_blok_rate\". Did you mean false_block_rate?")]
    [InlineData("""{"rules": [{"metric": "block_rate"}]}""", "rules.json: rule 1 (block_rate): give \"max\" or \"min\"")]
    [InlineData("""{"rules": [{"metric": "block_rate", "max": 0.1, "segmnt": "language"}]}""", "rules.json: rule 1: unknown key \"segmnt\". Did you mean segment?")]
    [InlineData("""{"rules": []}""", "rules.json: expected {\"rules\"")]
    [InlineData("""{"rules": [{"metric": "block_rate", "max": 0.1, "segment": "age_group"}]}""", "the dataset has no segment column \"age_group\"")]
    [InlineData("""{"rules": [{"metric": "bias_gap", "max": 0.05}]}""", "uses bias_gap: give the bias audit's JSON with --bias")]
    public async Task Evaluate_BadGateRules_FailNamingTheFileAndRule(string rules, string expected)
    {
        var config = await WriteConfigAsync("""{"SafeAI": {"ContentFilter": {}}}""");
        var dataset = Path.Combine(_dir, "d.jsonl");
        await File.WriteAllLinesAsync(dataset, ["""{"text": "hello", "language": "en"}"""], Ct);
        var gate = Path.Combine(_dir, "rules.json");
        await File.WriteAllTextAsync(gate, rules, Ct);

        var (code, _, errors) = await RunAsync("evaluate", "--config", config, "--dataset", dataset, "--gate", gate, "--report", Path.Combine(_dir, "r.html"));

        Assert.Equal(1, code);
        Assert.Contains(expected, errors, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"txt": "hello"}""", "d.jsonl:2: each line needs a \"text\" string or a \"messages\" array")]
    [InlineData("""{"text": "hello", "risk_tier": "urgent"}""", "d.jsonl:2: \"risk_tier\" must be one of")]
    [InlineData("""{"messages": [{"role": "robot", "content": "hi"}]}""", "d.jsonl:2: unknown role \"robot\"")]
    [InlineData("""{"text": "hello",""", "d.jsonl:2: not valid JSON")]
    public async Task Evaluate_MalformedDatasetLine_FailsNamingFileAndLine(string line, string expected)
    {
        var config = await WriteConfigAsync("""{"SafeAI": {"ContentFilter": {}}}""");
        var dataset = Path.Combine(_dir, "d.jsonl");
        await File.WriteAllLinesAsync(dataset, ["""{"text": "fine"}""", line], Ct);

        var (code, _, errors) = await RunAsync("evaluate", "--config", config, "--dataset", dataset);

        Assert.Equal(1, code);
        Assert.Contains(expected, errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Evaluate_ConfigurationWithoutSafeAISection_FailsSayingWhatIsExpected()
    {
        var config = await WriteConfigAsync("""{"Logging": {}}""");
        var dataset = Path.Combine(_dir, "d.jsonl");
        await File.WriteAllLinesAsync(dataset, ["""{"text": "hello"}"""], Ct);

        var (code, _, errors) = await RunAsync("evaluate", "--config", config, "--dataset", dataset);

        Assert.Equal(1, code);
        Assert.Contains("settings.json: no \"SafeAI\" section", errors, StringComparison.Ordinal);
    }

    [Fact]
    public void Gate_RecordsOfTwoSegments_JudgesEachWithEstimateOrIntervalAndSkipsSmallOnes()
    {
        static EvaluatedCall Call(int line, string language, ConversationLabel label, GuardAction outcome) =>
            new(new Conversation(line, [new ChatMessage(ChatRole.User, "x")], label, [], null, new Dictionary<string, string> { ["language"] = language }, null, null, null, language), outcome, null, null, 1);

        // en: 1 of 100 benign blocked; de: 3 of 100; fr: 1 of 2.
        var calls = new List<EvaluatedCall>();
        for (var i = 0; i < 100; i++)
        {
            calls.Add(Call(i, "en", ConversationLabel.Benign, i < 1 ? GuardAction.Block : GuardAction.Allow));
            calls.Add(Call(i, "de", ConversationLabel.Benign, i < 3 ? GuardAction.Block : GuardAction.Allow));
        }

        calls.Add(Call(0, "fr", ConversationLabel.Benign, GuardAction.Block));
        calls.Add(Call(1, "fr", ConversationLabel.Benign, GuardAction.Allow));
        var segments = new Dictionary<string, SortedDictionary<string, SegmentMetrics>>
        {
            ["language"] = new(calls.GroupBy(c => c.Conversation.Segments["language"]).ToDictionary(g => g.Key, g => new SegmentMetrics([.. g])), StringComparer.Ordinal),
        };
        var rules = new List<GateRule>
        {
            new("estimate", "false_block_rate", "language", 0.02, null, 30, false),
            new("interval", "false_block_rate", "language", 0.05, null, 30, true),
        };

        var checks = Gate.Evaluate(rules, new SegmentMetrics(calls), segments, null, "rules.json");

        bool? Result(string rule, string language) => checks.Single(c => c.Rule == rule && c.Scope == "language=" + language).Passed;
        Assert.True(Result("estimate", "en"));
        Assert.False(Result("estimate", "de"));
        Assert.Null(Result("estimate", "fr"));
        // 1 of 100 has a Wilson upper bound of 5.45 %: not shown to be under 5 %.
        Assert.False(Result("interval", "en"));
        Assert.Equal(0.0545, checks.Single(c => c.Rule == "interval" && c.Scope == "language=en").Compared, 3);
    }

    private async Task<string> WriteConfigAsync(string json)
    {
        var path = Path.Combine(_dir, "settings.json");
        await File.WriteAllTextAsync(path, json, Ct);
        return path;
    }

    private static async Task<(int Code, string Output, string Errors)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var errors = new StringWriter();
        var code = await Program.RunAsync(args, output, errors, Ct);
        return (code, output.ToString(), errors.ToString());
    }
}

/// <summary>Files of the repository the tests run in.</summary>
internal static class Repository
{
    /// <summary>Gets the full path of a file given relative to the repository root (the folder holding SafeAI.sln).</summary>
    public static string File(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (System.IO.File.Exists(Path.Combine(dir.FullName, "SafeAI.sln")))
            {
                return Path.Combine(dir.FullName, relative);
            }
        }

        throw new InvalidOperationException("The repository root (SafeAI.sln) was not found above " + AppContext.BaseDirectory);
    }
}

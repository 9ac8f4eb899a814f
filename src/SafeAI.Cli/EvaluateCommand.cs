using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;

namespace SafeAI.Cli;

/// <summary>
/// <c>safeai evaluate --config appsettings.json --dataset conversations.jsonl [--report report.html] [--json report.json]
/// [--gate rules.json] [--bias bias.json] [--answers recorded|canned|echo|live] [--concurrency 1]</c>.
/// </summary>
internal static class EvaluateCommand
{
    public const string Help = """
        safeai evaluate --config appsettings.json --dataset conversations.jsonl [--report report.html] [--json report.json]
                        [--gate rules.json] [--bias bias.json] [--answers recorded|canned|echo|live] [--concurrency 1]
          Builds the SafeAI pipeline from the configuration file the way an app does (services.AddSafeAI bound from the
          "SafeAI" section; the stages are those with a section there: Pii, ContentFilter, RateLimiting, HumanReview,
          Disclosure) and sends it every conversation of the dataset. Reports, overall and per value of every segment
          column: outcome rates (allow, modify, degrade, escalate, limit, block), false blocks (benign conversations
          blocked) and misses (harmful ones answered), the content filter's AUROC, latency; rates with Wilson 95 % intervals.
          --dataset   JSONL: {"text": ...} or {"messages": [{"role", "content"}]}; optional "label" (benign, harmful or a
                      category) or "labels", "response" (the model's recorded answer), "user_id", "conversation_id",
                      "risk_tier" (low/high); every other column is a segment (language, age_group, user_type, ...)
          --answers   the model behind the pipeline: recorded (default: the line's "response", else a fixed harmless
                      answer), canned (always the fixed answer), echo (repeats the last user message) or live (an
                      OpenAI-compatible endpoint named in the configuration file: "SafeAIEvaluation": {"Endpoint":
                      "https://.../v1", "Model": "...", "ApiKeyVariable": "OPENAI_API_KEY"}; the key is read from that
                      environment variable, never from the file)
          --gate      {"rules": [{"name": "...", "metric": "false_block_rate", "segment": "language", "max": 0.02,
                      "min_n": 30, "bound": "estimate|interval"}, {"metric": "bias_gap", "max": 0.05}]}: exit 3 when a
                      rule fails. A rule with "segment" holds in every value of that column ("values": ["en"] limits
                      it to some); "min_n": segments with fewer texts are listed, not judged; "bound": "interval"
                      compares the far side of the 95 % interval instead of the estimate. Metrics: allow_rate,
                      modify_rate, degrade_rate, escalate_rate, limit_rate, block_rate, false_block_rate, miss_rate,
                      recall, auroc, latency_mean_ms, latency_p50_ms, latency_p95_ms, bias_gap
          --bias      the JSON of safeai bias, for bias_gap rules and the report
        """;

    /// <summary>The answer of the stand-in model when the line has no recorded one.</summary>
    internal const string CannedAnswer = "Thanks for your message. Here is some general information that may help.";

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Runs the command: 0, or 3 when a gate rule fails.</summary>
    public static async Task<int> RunAsync(Arguments args, TextWriter console, CancellationToken cancellationToken)
    {
        var configPath = args.Required("config");
        var datasetPath = args.Required("dataset");
        var answers = args.Optional("answers") ?? "recorded";
        if (answers is not ("recorded" or "canned" or "echo" or "live"))
        {
            throw new ArgumentException($"--answers must be recorded, canned, echo or live (it is '{answers}').");
        }

        var concurrency = args.Int("concurrency", 1);
        if (concurrency is < 1 or > 64)
        {
            throw new ArgumentException("--concurrency must be 1 to 64.");
        }

        var rules = args.Optional("gate") is { } gatePath ? Gate.Read(gatePath) : null;
        var bias = args.Optional("bias") is { } biasPath ? ReadBias(biasPath) : null;
        var dataset = EvaluationDataset.Read(datasetPath);
        using var standIn = new StandInChatClient(answers);
        using var live = answers == "live" ? LiveModel.Create(configPath) : null;
        using var pipeline = EvaluationPipeline.Build(configPath, live ?? standIn);
        await console.WriteLineAsync($"Evaluating {dataset.Count} conversations through {string.Join(" → ", pipeline.StageNames)} (answers: {answers}).").ConfigureAwait(false);
        if (pipeline.Skipped.Count > 0)
        {
            await console.WriteLineAsync($"Not evaluated (these stages need code): {string.Join(", ", pipeline.Skipped.Select(static s => "SafeAI:" + s))}.").ConfigureAwait(false);
        }

        var calls = await RunAllAsync(pipeline.Client, standIn, dataset, datasetPath, concurrency, cancellationToken).ConfigureAwait(false);
        var evaluation = new Evaluation(configPath, datasetPath, answers, pipeline, calls, bias);
        var checks = rules is null ? null : Gate.Evaluate(rules, evaluation.Overall, evaluation.Segments, bias?.Gap, args.Required("gate"));

        await console.WriteLineAsync(evaluation.ToText(checks)).ConfigureAwait(false);
        var json = evaluation.ToJson(checks);
        if (args.Optional("json") is { } jsonPath)
        {
            await File.WriteAllTextAsync(jsonPath, json.ToJsonString(Indented) + "\n", cancellationToken).ConfigureAwait(false);
        }

        var html = args.Optional("report") ?? "safeai-evaluation.html";
        await File.WriteAllTextAsync(html, evaluation.ToHtml(checks), cancellationToken).ConfigureAwait(false);
        await console.WriteLineAsync("Report: " + html).ConfigureAwait(false);
        if (checks is not null && checks.Any(static c => c.Passed == false))
        {
            await console.WriteLineAsync($"GATE FAILED: {checks.Count(static c => c.Passed == false)} check(s) failed (listed above).").ConfigureAwait(false);
            return CommandLine.GateFailed;
        }

        return CommandLine.Success;
    }

    /// <summary>Sends every conversation through the pipeline (at most <paramref name="concurrency"/> at once) and records what happened.</summary>
    internal static async Task<List<EvaluatedCall>> RunAllAsync(IChatClient client, StandInChatClient model, IReadOnlyList<Conversation> dataset, string datasetPath, int concurrency, CancellationToken cancellationToken)
    {
        var records = new EvaluatedCall[dataset.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, dataset.Count), new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = cancellationToken }, async (i, ct) =>
        {
            var c = dataset[i];
            var options = new ChatOptions().WithConversation(c.ConversationId ?? "eval-" + c.Line.ToString(CultureInfo.InvariantCulture));
            // Each line is its own caller unless the dataset says otherwise: a per-user rate limit then limits no one.
            options = options.WithUser(c.UserId ?? "eval-user-" + c.Line.ToString(CultureInfo.InvariantCulture));

            if (c.RiskTier is { } tier)
            {
                options = options.WithRiskTier(tier);
            }

            if (c.Locale is { } locale)
            {
                options = options.WithLocale(locale);
            }

            model.Recorded.Value = c.Response;
            var watch = Stopwatch.StartNew();
            SafeAIResult? result;
            try
            {
                var response = await client.GetResponseAsync(c.Messages, options, ct).ConfigureAwait(false);
                result = response.GetSafeAIResult();
            }
            catch (SafeAIException ex)
            {
                // "OnRejected": "ThrowException": the rejection arrives as an exception carrying the same result.
                result = ex.Result;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // A live model that fails (and no fallback stage that catches it): stop, naming the conversation.
                throw new IOException(string.Create(CultureInfo.InvariantCulture, $"{datasetPath}:{c.Line}: the call failed ({ex.GetType().Name}: {ex.Message})."), ex);
            }

            var elapsed = watch.Elapsed.TotalMilliseconds;
            double? score = null;
            if (result is not null && result.TryGetVerdict("content-input", out var verdict))
            {
                score = verdict.Score;
            }

            records[i] = new EvaluatedCall(c, result?.Outcome ?? GuardAction.Allow, result?.DecisiveVerdict?.Reason, score, elapsed);
        }).ConfigureAwait(false);
        return [.. records];
    }

    private static (double Gap, JsonNode Node)? ReadBias(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"The bias report '{path}' does not exist.", path);
        }

        try
        {
            var node = JsonNode.Parse(File.ReadAllText(path));
            return node?["max_gap"] is JsonValue v && v.TryGetValue<double>(out var gap)
                ? (gap, node)
                : throw new FormatException($"{path}: not a report of safeai bias (no \"max_gap\" number).");
        }
        catch (JsonException ex)
        {
            throw new FormatException($"{path}: not valid JSON ({ex.Message}).", ex);
        }
    }

    /// <summary>The model behind the pipeline in an evaluation: the recorded answer of the line, a fixed harmless answer, or an echo.</summary>
    internal sealed class StandInChatClient(string mode) : IChatClient
    {
        /// <summary>Gets the recorded answer of the conversation being sent (flows with the call).</summary>
        public AsyncLocal<string?> Recorded { get; } = new();

        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            var text = mode switch
            {
                "echo" => messages.LastOrDefault(static m => m.Role == ChatRole.User)?.Text ?? string.Empty,
                "recorded" => Recorded.Value ?? CannedAnswer,
                _ => CannedAnswer,
            };
            return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, text)) { FinishReason = ChatFinishReason.Stop });
        }

        public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            var response = await GetResponseAsync(messages, options, cancellationToken).ConfigureAwait(false);
            foreach (var update in response.ToChatResponseUpdates())
            {
                yield return update;
            }
        }

        public object? GetService(Type serviceType, object? serviceKey = null) => serviceKey is null && serviceType.IsInstanceOfType(this) ? this : null;

        public void Dispose()
        {
        }
    }

    /// <summary>The measures of one evaluation and their text, JSON and HTML forms.</summary>
    private sealed class Evaluation
    {
        private readonly string _config;
        private readonly string _dataset;
        private readonly string _answers;
        private readonly EvaluationPipeline _pipeline;
        private readonly (double Gap, JsonNode Node)? _bias;

        public Evaluation(string config, string dataset, string answers, EvaluationPipeline pipeline, List<EvaluatedCall> calls, (double Gap, JsonNode Node)? bias)
        {
            (_config, _dataset, _answers, _pipeline, _bias) = (config, dataset, answers, pipeline, bias);
            Overall = new SegmentMetrics(calls);
            Segments = calls.SelectMany(static c => c.Conversation.Segments.Keys).Distinct().Order(StringComparer.Ordinal).ToDictionary(
                static column => column,
                column => new SortedDictionary<string, SegmentMetrics>(
                    calls.Where(c => c.Conversation.Segments.ContainsKey(column)).GroupBy(c => c.Conversation.Segments[column], StringComparer.Ordinal)
                        .ToDictionary(static g => g.Key, static g => new SegmentMetrics([.. g]), StringComparer.Ordinal), StringComparer.Ordinal),
                StringComparer.Ordinal);
        }

        public SegmentMetrics Overall { get; }

        public Dictionary<string, SortedDictionary<string, SegmentMetrics>> Segments { get; }

        public JsonObject ToJson(List<GateCheck>? checks)
        {
            var segments = new JsonObject();
            foreach (var (column, values) in Segments)
            {
                var o = new JsonObject();
                foreach (var (value, metrics) in values)
                {
                    o[value] = metrics.ToJson();
                }

                segments[column] = o;
            }

            var json = new JsonObject
            {
                ["kind"] = "safeai-evaluation",
                ["config"] = Path.GetFileName(_config),
                ["dataset"] = Path.GetFileName(_dataset),
                ["answers"] = _answers,
                ["pipeline"] = new JsonArray([.. _pipeline.StageNames.Select(static s => (JsonNode)JsonValue.Create(s)!)]),
                ["stages"] = new JsonArray([.. _pipeline.Stages.Select(static s => (JsonNode)new JsonObject
                {
                    ["section"] = s.Section,
                    ["stage"] = s.Stage,
                    ["settings"] = new JsonObject([.. s.Settings.Select(static p => new KeyValuePair<string, JsonNode?>(p.Key, p.Value))]),
                })]),
                ["not_evaluated"] = new JsonArray([.. _pipeline.Skipped.Select(static s => (JsonNode)JsonValue.Create("SafeAI:" + s)!)]),
                ["overall"] = Overall.ToJson(),
                ["segments"] = segments,
            };
            if (_bias is { } bias)
            {
                json["bias"] = bias.Node.DeepClone();
            }

            if (checks is not null)
            {
                json["gate"] = Gate.ToJson(checks);
            }

            return json;
        }

        public string ToText(List<GateCheck>? checks)
        {
            var sb = new StringBuilder();
            sb.Append(Line("all", Overall));
            foreach (var (column, values) in Segments)
            {
                foreach (var (value, metrics) in values)
                {
                    sb.Append(Line($"{column}={value}", metrics));
                }
            }

            if (checks is not null)
            {
                sb.Append("\nGate:\n");
                foreach (var c in checks)
                {
                    var result = c.Passed switch { true => "pass", false => "FAIL", null => "not judged (too few texts)" };
                    sb.Append(CultureInfo.InvariantCulture, $"  {result,-5} {c.Rule} [{c.Scope}]: {F(c.Value)} (limit {c.Limit}{(c.Compared != c.Value ? ", compared " + F(c.Compared) : string.Empty)}; n {c.Trials})\n");
                }
            }

            return sb.ToString();

            static string Line(string scope, SegmentMetrics m) => string.Create(CultureInfo.InvariantCulture,
                $"{scope,-28} n {m.N,5}  block {P(m.Get("block_rate").Value),7}  escalate {P(m.Get("escalate_rate").Value),7}  false blocks {P(m.Get("false_block_rate").Value),7} of {m.Benign,4}  misses {P(m.Get("miss_rate").Value),7} of {m.Harmful,4}  AUROC {F(m.Auroc)}  p95 {F(m.Get("latency_p95_ms").Value)} ms\n");
        }

        public string ToHtml(List<GateCheck>? checks)
        {
            var sb = new StringBuilder();
            sb.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>SafeAI evaluation</title>\n");
            sb.Append("<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}td:first-child,th:first-child{text-align:left}.fail{color:#b00;font-weight:bold}.pass{color:#070}.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}</style></head><body>\n");
            sb.Append(CultureInfo.InvariantCulture, $"<h1>SafeAI evaluation</h1>\n<p>Configuration <code>{H(Path.GetFileName(_config))}</code>, dataset <code>{H(Path.GetFileName(_dataset))}</code> ({Overall.N} conversations), answers: {H(_answers)}. Pipeline: {H(string.Join(" → ", _pipeline.StageNames))}.</p>\n");
            if (checks is not null)
            {
                var failed = checks.Count(static c => c.Passed == false);
                sb.Append(CultureInfo.InvariantCulture, $"<h2>Release gate: <span class=\"{(failed == 0 ? "pass" : "fail")}\">{(failed == 0 ? "passed" : $"FAILED ({failed})")}</span></h2>\n<table><tr><th>rule</th><th>scope</th><th>value</th><th>limit</th><th>n</th><th>result</th></tr>\n");
                foreach (var c in checks)
                {
                    var (cls, text) = c.Passed switch { true => ("pass", "pass"), false => ("fail", "fail"), null => (string.Empty, "too few texts") };
                    sb.Append(CultureInfo.InvariantCulture, $"<tr><td>{H(c.Rule)}</td><td>{H(c.Scope)}</td><td>{F(c.Value)}</td><td>{H(c.Limit)}</td><td>{c.Trials}</td><td class=\"{cls}\">{text}</td></tr>\n");
                }

                sb.Append("</table>\n");
            }

            sb.Append("<h2>All conversations</h2>\n");
            Table(sb, [("all", Overall)]);
            foreach (var (column, values) in Segments)
            {
                sb.Append(CultureInfo.InvariantCulture, $"<h2>By {H(column)}</h2>\n");
                sb.Append(OutcomeChart([.. values.Select(static p => (p.Key, p.Value))]));
                sb.Append(RateChart([.. values.Select(static p => (p.Key, p.Value))]));
                Table(sb, [.. values.Select(static p => (p.Key, p.Value))]);
            }

            if (_bias is { } bias)
            {
                sb.Append(CultureInfo.InvariantCulture, $"<h2>Bias audit</h2>\n<p>Largest gap in flag rate between groups: {F(bias.Gap)} (from safeai bias).</p>\n");
            }

            sb.Append("<h2>Stages and settings</h2>\n");
            foreach (var stage in _pipeline.Stages)
            {
                sb.Append(CultureInfo.InvariantCulture, $"<h3>{H(stage.Stage)} (<code>{H(stage.Section)}</code>)</h3>\n<table>");
                foreach (var (key, value) in stage.Settings)
                {
                    sb.Append(CultureInfo.InvariantCulture, $"<tr><td>{H(key)}</td><td>{H(value)}</td></tr>");
                }

                sb.Append("</table>\n");
            }

            sb.Append("</body></html>\n");
            return sb.ToString();
        }

        private static void Table(StringBuilder sb, List<(string Name, SegmentMetrics Metrics)> rows)
        {
            sb.Append("<table><tr><th>segment</th><th>n</th>");
            foreach (var o in SegmentMetrics.Outcomes)
            {
                sb.Append(CultureInfo.InvariantCulture, $"<th>{SegmentMetrics.Name(o)}</th>");
            }

            sb.Append("<th>false blocks (benign)</th><th>misses (harmful)</th><th>AUROC</th><th>latency p50 / p95 ms</th></tr>\n");
            foreach (var (name, m) in rows)
            {
                sb.Append(CultureInfo.InvariantCulture, $"<tr><td>{H(name)}</td><td>{m.N}</td>");
                foreach (var o in SegmentMetrics.Outcomes)
                {
                    sb.Append(CultureInfo.InvariantCulture, $"<td>{RateCell(m, SegmentMetrics.Name(o) + "_rate")}</td>");
                }

                sb.Append(CultureInfo.InvariantCulture, $"<td>{RateCell(m, "false_block_rate")} of {m.Benign}</td><td>{RateCell(m, "miss_rate")} of {m.Harmful}</td><td>{F(m.Auroc)}</td><td>{F(m.Get("latency_p50_ms").Value)} / {F(m.Get("latency_p95_ms").Value)}</td></tr>\n");
            }

            sb.Append("</table>\n");
        }

        private static string RateCell(SegmentMetrics m, string metric)
        {
            var (value, events, trials) = m.Get(metric);
            if (trials <= 0)
            {
                return "–";
            }

            var (lower, upper) = Statistics.ProportionInterval.Wilson(events, trials);
            return $"{P(value)} <small>({P(lower)}–{P(upper)})</small>";
        }

        private static readonly string[] Colours = ["#4caf50", "#8bc34a", "#ffc107", "#2196f3", "#9c27b0", "#e53935"];

        /// <summary>One stacked bar per segment value: the share of each outcome.</summary>
        private static string OutcomeChart(List<(string Name, SegmentMetrics Metrics)> rows)
        {
            const int Label = 140, Width = 480, Row = 20;
            var sb = new StringBuilder();
            sb.Append("<p class=\"legend\">Outcomes:");
            for (var k = 0; k < SegmentMetrics.Outcomes.Length; k++)
            {
                sb.Append(CultureInfo.InvariantCulture, $"<span style=\"background:{Colours[k]}\"></span>{SegmentMetrics.Name(SegmentMetrics.Outcomes[k])}");
            }

            sb.Append("</p>\n");
            sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Label + Width + 10}\" height=\"{(rows.Count * Row) + 8}\" role=\"img\" aria-label=\"outcome shares per segment\">");
            for (var i = 0; i < rows.Count; i++)
            {
                var (name, m) = rows[i];
                var y = (i * Row) + 4;
                sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{Label - 6}\" y=\"{y + 13}\" text-anchor=\"end\" font-size=\"11\">{H(name)}</text>");
                double x = Label;
                for (var k = 0; k < SegmentMetrics.Outcomes.Length; k++)
                {
                    var w = m.N == 0 ? 0 : (double)m.Count(SegmentMetrics.Outcomes[k]) / m.N * Width;
                    if (w > 0)
                    {
                        sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{x:F1}\" y=\"{y}\" width=\"{w:F1}\" height=\"{Row - 4}\" fill=\"{Colours[k]}\"><title>{SegmentMetrics.Name(SegmentMetrics.Outcomes[k])}: {m.Count(SegmentMetrics.Outcomes[k])}</title></rect>");
                    }

                    x += w;
                }
            }

            sb.Append("</svg>\n");
            return sb.ToString();
        }

        /// <summary>Per segment value: the false-block rate and the miss rate, each with its Wilson interval.</summary>
        private static string RateChart(List<(string Name, SegmentMetrics Metrics)> rows)
        {
            const int Label = 140, Width = 480, Row = 26;
            var sb = new StringBuilder();
            sb.Append(CultureInfo.InvariantCulture, $"<p class=\"legend\"><span style=\"background:#e53935\"></span>false-block rate (benign)<span style=\"background:#ff9800\"></span>miss rate (harmful); lines: 95 % interval</p>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Label + Width + 50}\" height=\"{(rows.Count * Row) + 8}\" role=\"img\" aria-label=\"false-block and miss rates per segment\">");
            for (var i = 0; i < rows.Count; i++)
            {
                var (name, m) = rows[i];
                var y = (i * Row) + 4;
                sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{Label - 6}\" y=\"{y + 14}\" text-anchor=\"end\" font-size=\"11\">{H(name)}</text>");
                Bar(sb, m.Get("false_block_rate"), y, "#e53935");
                Bar(sb, m.Get("miss_rate"), y + 11, "#ff9800");
            }

            sb.Append("</svg>\n");
            return sb.ToString();

            static void Bar(StringBuilder sb, (double Value, long Events, long Trials) rate, int y, string colour)
            {
                if (rate.Trials <= 0)
                {
                    return;
                }

                var (lower, upper) = Statistics.ProportionInterval.Wilson(rate.Events, rate.Trials);
                sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{Label}\" y=\"{y}\" width=\"{rate.Value * Width:F1}\" height=\"9\" fill=\"{colour}\"/>");
                sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Label + (lower * Width):F1}\" y1=\"{y + 4.5}\" x2=\"{Label + (upper * Width):F1}\" y2=\"{y + 4.5}\" stroke=\"#222\"/>");
                sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{Label + (upper * Width) + 4:F1}\" y=\"{y + 8}\" font-size=\"9\">{P(rate.Value)}</text>");
            }
        }

        private static string H(string s) => WebUtility.HtmlEncode(s);
    }

    internal static string P(double v) => double.IsNaN(v) ? "n/a" : v.ToString("0.0 %", CultureInfo.InvariantCulture);

    internal static string F(double v) => double.IsNaN(v) ? "n/a" : v.ToString("0.000", CultureInfo.InvariantCulture);
}

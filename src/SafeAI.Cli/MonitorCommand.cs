using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using SafeAI.Feedback;
using SafeAI.Monitoring;

namespace SafeAI.Cli;

/// <summary><c>safeai monitor replay</c>: runs SafeAI's real alert engine over a recorded stream of calls and prints each alert as one JSON line.</summary>
internal static class MonitorCommand
{
    public const string Help = """
        safeai monitor replay --events events.jsonl --rules rules.json [--every 1m] [--confidence-threshold 0.5]
          Runs SafeAI's alert engine (SafeAI.Monitoring) over a recorded stream of calls, in time order, on the stream's
          own clock, and prints each alert as one JSON line:
          {"time", "rule", "value", "baseline", "action", "event": "fired"|"repeated"|"resolved", "metric", "samples", "detail"}
          (action: the rule's actions, which a replay names but does not take). Nothing is printed when no rule fires.
          --events   one JSON object per call: {"time": ISO-8601, "outcome": "allow"|"modify"|"degrade"|"escalate"|"limit"|
                     "block"|"error", "feedback": "up"|"down"|null, "latency_ms": n, "arm": "...", "confidence": x}
                     (only time and outcome are required); lines must be in time order
          --rules    {"rules": [{"name": "thumbs-down-up-15pct", "metric": "feedback.down.rate", "compare": "previous-7-days",
                     "relative_increase": 0.15}]} (the keys of SafeAI:Monitoring:Rules; see docs/monitoring.md)
          --every    how often the rules are evaluated, in stream time (default 1m; 10s to 1h)
          --confidence-threshold 0 to 1   a confidence below it counts as low confidence (default 0.5)
        """;

    public static readonly CommandSpec Spec = new("monitor", Help, ["events", "rules", "every", "confidence-threshold"], []);

    /// <summary>Runs <c>safeai monitor ...</c>; <paramref name="args"/> starts after the word <c>monitor</c>.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter errors, CancellationToken cancellationToken)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            await output.WriteLineAsync(Help).ConfigureAwait(false);
            return args.Length == 0 ? CommandLine.BadUsage : CommandLine.Success;
        }

        if (args[0] != "replay")
        {
            await errors.WriteLineAsync($"Unknown monitor command '{args[0]}'.{CommandLine.Suggest(args[0], ["replay"])}\n\n{Help}").ConfigureAwait(false);
            return CommandLine.BadUsage;
        }

        string events, rulesPath;
        TimeSpan every;
        double confidenceThreshold;
        try
        {
            var options = new Arguments(args.Skip(1), Spec);
            events = options.Required("events");
            rulesPath = options.Required("rules");
            var everyText = options.Optional("every") ?? "1m";
            every = AlertRuleFile.TryParseDuration(everyText, out var parsed) && parsed >= TimeSpan.FromSeconds(10) && parsed <= TimeSpan.FromHours(1)
                ? parsed
                : throw new ArgumentException($"--every must be a duration from 10s to 1h, such as 1m (it is '{everyText}').");
            confidenceThreshold = options.Double("confidence-threshold", 0.5, 0, 1);
        }
        catch (ArgumentException ex)
        {
            await errors.WriteLineAsync("safeai: " + ex.Message).ConfigureAwait(false);
            return CommandLine.BadUsage;
        }

        try
        {
            var rules = AlertRuleFile.Load(rulesPath);
            await foreach (var line in ReplayAsync(events, rules, every, confidenceThreshold, cancellationToken).ConfigureAwait(false))
            {
                await output.WriteLineAsync(line).ConfigureAwait(false);
            }

            return CommandLine.Success;
        }
        catch (Exception ex) when (ex is FormatException or IOException or UnauthorizedAccessException)
        {
            await errors.WriteLineAsync("safeai: " + ex.Message).ConfigureAwait(false);
            return CommandLine.BadInput;
        }
    }

    /// <summary>Replays the events through the engine and yields one JSON line per alert (fired, repeated, resolved).</summary>
    internal static async IAsyncEnumerable<string> ReplayAsync(string eventsPath, IReadOnlyList<AlertRuleOptions> ruleOptions, TimeSpan every, double confidenceThreshold, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (!File.Exists(eventsPath))
        {
            throw new FileNotFoundException($"The events file '{eventsPath}' does not exist.", eventsPath);
        }

        var longest = ruleOptions.Select(static o => new AlertRule(o)).Max(static r => r.Window + (r.Compare == BaselineComparison.PreviousWindow ? r.Window : TimeSpan.FromDays(8)));
        var recorder = new MetricsRecorder(new MetricsRecorderOptions { Retention = longest > TimeSpan.FromDays(8) ? longest : TimeSpan.FromDays(8) });
        var engine = new AlertEngine(recorder, ruleOptions.Select(static o => new AlertRule(o)), static (spec, _) => new NamedOnly(spec.Type!.ToLowerInvariant()));
        DateTimeOffset? next = null;
        var number = 0;
        foreach (var text in File.ReadLines(eventsPath))
        {
            number++;
            cancellationToken.ThrowIfCancellationRequested();
            if (string.IsNullOrWhiteSpace(text))
            {
                continue;
            }

            var e = ParseEvent(text, eventsPath, number, confidenceThreshold);
            next ??= recorder.BucketStart(e.Time) + every;
            if (e.Time < next.Value - every)
            {
                throw new FormatException($"{eventsPath}:{number}: the events are not in time order ({e.Time:O} comes after {next.Value - every:O}).");
            }

            while (e.Time >= next.Value)
            {
                foreach (var line in Format(await engine.EvaluateAsync(next.Value, cancellationToken).ConfigureAwait(false)))
                {
                    yield return line;
                }

                next += every;
            }

            recorder.RecordCall(e.Call, e.Time);
            if (e.Feedback is { } rating)
            {
                recorder.RecordFeedback(rating, e.Call.Arm, e.Time);
            }
        }

        if (next is { } last)
        {
            foreach (var line in Format(await engine.EvaluateAsync(last, cancellationToken).ConfigureAwait(false)))
            {
                yield return line;
            }
        }
    }

    internal static (DateTimeOffset Time, CallObservation Call, FeedbackRating? Feedback) ParseEvent(string text, string file, int line, double confidenceThreshold)
    {
        string Where() => $"{file}:{line.ToString(CultureInfo.InvariantCulture)}";
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(text);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"{Where()}: not valid JSON ({ex.Message.Split(" Path:", 2)[0]}).", ex);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new FormatException($"{Where()}: expected one JSON object per call, such as {{\"time\": \"2026-01-05T09:00:00Z\", \"outcome\": \"allow\"}}.");
            }

            if (!root.TryGetProperty("time", out var timeElement) || timeElement.ValueKind != JsonValueKind.String
                || !DateTimeOffset.TryParse(timeElement.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time))
            {
                throw new FormatException($"{Where()}: \"time\" must be an ISO-8601 time string such as \"2026-01-05T09:00:00Z\".");
            }

            var outcomeText = root.TryGetProperty("outcome", out var o) && o.ValueKind == JsonValueKind.String ? o.GetString() : null;
            var faulted = outcomeText == "error";
            var outcome = outcomeText switch
            {
                "allow" or "error" => GuardAction.Allow,
                "modify" => GuardAction.Modify,
                "degrade" => GuardAction.Degrade,
                "escalate" => GuardAction.Escalate,
                "limit" => GuardAction.Limit,
                "block" => GuardAction.Block,
                _ => throw new FormatException($"{Where()}: \"outcome\" must be allow, modify, degrade, escalate, limit, block or error (it is {(outcomeText is null ? "missing" : $"'{outcomeText}'")})."),
            };

            FeedbackRating? feedback = root.TryGetProperty("feedback", out var f) ? f.ValueKind switch
            {
                JsonValueKind.Null => null,
                JsonValueKind.String when f.GetString() == "up" => FeedbackRating.Up,
                JsonValueKind.String when f.GetString() == "down" => FeedbackRating.Down,
                _ => throw new FormatException($"{Where()}: \"feedback\" must be \"up\", \"down\" or null."),
            } : null;

            var latency = TimeSpan.Zero;
            if (root.TryGetProperty("latency_ms", out var l) && l.ValueKind != JsonValueKind.Null)
            {
                latency = l.ValueKind == JsonValueKind.Number && l.TryGetDouble(out var ms) && ms >= 0 && ms < 3.6e7
                    ? TimeSpan.FromMilliseconds(ms)
                    : throw new FormatException($"{Where()}: \"latency_ms\" must be a number of milliseconds, 0 or more.");
            }

            string? arm = null;
            if (root.TryGetProperty("arm", out var a) && a.ValueKind != JsonValueKind.Null)
            {
                arm = a.ValueKind == JsonValueKind.String && a.GetString() is { Length: > 0 and <= 64 } s ? s : throw new FormatException($"{Where()}: \"arm\" must be a string of 1 to 64 characters or null.");
            }

            var lowConfidence = false;
            if (root.TryGetProperty("confidence", out var c) && c.ValueKind != JsonValueKind.Null)
            {
                lowConfidence = c.ValueKind == JsonValueKind.Number && c.TryGetDouble(out var x) && x is >= 0 and <= 1
                    ? x < confidenceThreshold
                    : throw new FormatException($"{Where()}: \"confidence\" must be a number from 0 to 1 or null.");
            }

            var call = new CallObservation
            {
                Outcome = outcome,
                Faulted = faulted,
                Fallback = outcome == GuardAction.Degrade,
                LowConfidence = lowConfidence,
                Latency = latency,
                Arm = arm,
            };
            return (time, call, feedback);
        }
    }

    private static IEnumerable<string> Format(IReadOnlyList<AlertEvent> events)
    {
        for (var i = 0; i < events.Count; i++)
        {
            var e = events[i];
            if (e.Kind is AlertEventKind.ActionSucceeded or AlertEventKind.ActionFailed)
            {
                continue;
            }

            var actions = new List<string>();
            for (var j = i + 1; j < events.Count && events[j].Kind is AlertEventKind.ActionSucceeded or AlertEventKind.ActionFailed && events[j].Rule == e.Rule; j++)
            {
                actions.Add(events[j].Action!);
            }

            using var buffer = new MemoryStream();
            using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            {
                json.WriteStartObject();
                json.WriteString("time", e.Time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
                json.WriteString("rule", e.Rule);
                Number(json, "value", e.Value);
                Number(json, "baseline", e.Baseline);
                json.WriteString("action", actions.Count == 0 ? "none" : string.Join(",", actions));
                json.WriteString("event", e.Kind.ToString().ToLowerInvariant());
                json.WriteString("metric", e.Metric);
                json.WriteNumber("samples", e.Samples);
                json.WriteString("detail", e.Detail);
                json.WriteEndObject();
            }

            yield return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
        }
    }

    private static void Number(Utf8JsonWriter json, string name, double? value)
    {
        if (value is { } v && double.IsFinite(v))
        {
            json.WriteNumber(name, Math.Round(v, 6));
        }
        else
        {
            json.WriteNull(name);
        }
    }

    /// <summary>A replay names the rule's actions but takes none (no webhook is called, no kill switch flipped).</summary>
    private sealed class NamedOnly(string kind) : IAlertAction
    {
        public string Kind => kind;

        public bool RunsOnResolve => kind is "log" or "webhook" or "callback";

        public ValueTask<string> ExecuteAsync(AlertNotification notification, CancellationToken cancellationToken) => ValueTask.FromResult("not taken in a replay");
    }
}

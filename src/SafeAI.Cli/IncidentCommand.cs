using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using SafeAI.Monitoring;

namespace SafeAI.Cli;

/// <summary><c>safeai incident contain|export|add-case</c>: stop AI traffic, pull the calls around an incident, and turn a reported case into a regression case.</summary>
internal static class IncidentCommand
{
    public const string Help = """
        safeai incident contain  --store safeai.db [--reason "..."] [--release] [--name default]
          Turns the shared kill switch on (or, with --release, off) in the SQLite file that the application's instances
          poll (services.AddSafeAIMonitoringSqlite("safeai.db")): within one poll interval every call is answered by the
          fallback (or the rollout's baseline). Prints {"kill_switch": "on"|"off", "version": n, "reason": "..."}.
        safeai incident export   --store safeai.db --at 2026-01-05T09:30:00Z [--around 30m] [--output incident.jsonl]
          Writes the calls logged in [at - around, at + around] as JSON lines: time, ids (response, user, tenant,
          conversation), arm, outcome, the decisive stage and reason, latency; the input text only for calls whose user
          consented ("incident-review"). Standard output without --output.
        safeai incident usage    --store safeai.db --at 2026-01-05T12:00:00Z [--around 24h] [--top 10] [--streak 3]
          Usage insight from the call log, without message text: calls per outcome, the most frequent stage and reason
          of calls that were not plainly allowed (with distinct users), and users with at least --streak blocked or
          rate-limited calls in a row (abuse patterns). Prints one JSON object.
        safeai incident add-case --eval regression.jsonl (--text "..." | --from incident.jsonl --response-id ID)
                                 [--labels hate,harassment] [--model default|cascade|safeai-model.json]
          Appends {"text": ..., "labels": [...]} to an evaluation file that 'safeai eval --input regression.jsonl' runs
          (no labels: the text must not be flagged). Labels must be categories of the model. A record without text
          (its user did not consent) cannot become a case.
        """;

    public static readonly CommandSpec Spec = new("incident", Help, ["store", "reason", "name", "at", "around", "output", "eval", "text", "from", "response-id", "labels", "model", "top", "streak"], ["release"]);

    /// <summary>Runs <c>safeai incident ...</c>; <paramref name="args"/> starts after the word <c>incident</c>.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter errors, CancellationToken cancellationToken)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            await output.WriteLineAsync(Help).ConfigureAwait(false);
            return args.Length == 0 ? CommandLine.BadUsage : CommandLine.Success;
        }

        string[] verbs = ["contain", "export", "usage", "add-case"];
        if (!verbs.Contains(args[0], StringComparer.Ordinal))
        {
            await errors.WriteLineAsync($"Unknown incident command '{args[0]}'.{CommandLine.Suggest(args[0], verbs)}\n\n{Help}").ConfigureAwait(false);
            return CommandLine.BadUsage;
        }

        try
        {
            var options = new Arguments(args.Skip(1), Spec);
            return args[0] switch
            {
                "contain" => await ContainAsync(options, output, cancellationToken).ConfigureAwait(false),
                "export" => await ExportAsync(options, output, errors, cancellationToken).ConfigureAwait(false),
                "usage" => await UsageAsync(options, output, cancellationToken).ConfigureAwait(false),
                _ => await AddCaseAsync(options, output, cancellationToken).ConfigureAwait(false),
            };
        }
        catch (ArgumentException ex)
        {
            await errors.WriteLineAsync("safeai: " + ex.Message).ConfigureAwait(false);
            return CommandLine.BadUsage;
        }
        catch (Exception ex) when (ex is FormatException or IOException or UnauthorizedAccessException or MetricsStoreException)
        {
            await errors.WriteLineAsync("safeai: " + ex.Message).ConfigureAwait(false);
            return CommandLine.BadInput;
        }
    }

    private static async Task<int> ContainAsync(Arguments args, TextWriter output, CancellationToken cancellationToken)
    {
        var store = args.Required("store");
        var on = !args.Flag("release");
        var reason = args.Optional("reason") ?? (on ? "contained by an operator (safeai incident contain)" : "released by an operator (safeai incident contain --release)");
        var name = args.Optional("name") ?? "default";
        var version = await SqliteKillSwitchSync.WriteAsync(store, on, reason, name, DateTimeOffset.UtcNow, cancellationToken).ConfigureAwait(false);
        await output.WriteLineAsync(Json(json =>
        {
            json.WriteString("kill_switch", on ? "on" : "off");
            json.WriteNumber("version", version);
            json.WriteString("reason", reason);
            json.WriteString("store", store);
        })).ConfigureAwait(false);
        return CommandLine.Success;
    }

    private static (DateTimeOffset From, DateTimeOffset To) Period(Arguments args, string defaultAround)
    {
        var atText = args.Required("at");
        var at = DateTimeOffset.TryParse(atText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed)
            ? parsed
            : throw new ArgumentException($"--at must be an ISO-8601 time such as 2026-01-05T09:30:00Z (it is '{atText}').");
        var aroundText = args.Optional("around") ?? defaultAround;
        var around = AlertRuleFile.TryParseDuration(aroundText, out var span) && span > TimeSpan.Zero && span <= TimeSpan.FromDays(31)
            ? span
            : throw new ArgumentException($"--around must be a duration up to 31d, such as 30m (it is '{aroundText}').");
        return (at - around, at + around);
    }

    private static async Task<int> UsageAsync(Arguments args, TextWriter output, CancellationToken cancellationToken)
    {
        var store = args.Required("store");
        var (from, to) = Period(args, "24h");
        var top = args.Int("top", 10);
        var streak = args.Int("streak", 3);
        if (top is < 1 or > 1000 || streak < 2)
        {
            throw new ArgumentException("--top must be 1 to 1000 and --streak at least 2.");
        }

        var report = UsageReport.Compute(await SqliteCallLog.ReadFileAsync(store, from, to, cancellationToken).ConfigureAwait(false), top, streak);
        await output.WriteLineAsync(Json(json =>
        {
            json.WriteString("from", from.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
            json.WriteString("to", to.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
            json.WriteNumber("calls", report.Calls);
            json.WriteStartObject("outcomes");
            foreach (var (outcome, count) in report.Outcomes.OrderByDescending(static p => p.Value))
            {
                json.WriteNumber(outcome, count);
            }

            json.WriteEndObject();
            json.WriteStartArray("top_reasons");
            foreach (var r in report.TopReasons)
            {
                json.WriteStartObject();
                json.WriteString("stage", r.Stage);
                json.WriteString("reason", r.Reason);
                json.WriteNumber("calls", r.Calls);
                json.WriteNumber("users", r.Users);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteStartArray("streaks");
            foreach (var s in report.Streaks)
            {
                json.WriteStartObject();
                json.WriteString("user_id", s.UserId);
                json.WriteNumber("longest", s.Longest);
                json.WriteString("from", s.From.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
                json.WriteString("to", s.To.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
                json.WriteNumber("blocks", s.Blocks);
                json.WriteNumber("limits", s.Limits);
                json.WriteNumber("calls", s.Calls);
                json.WriteEndObject();
            }

            json.WriteEndArray();
        })).ConfigureAwait(false);
        return CommandLine.Success;
    }

    private static async Task<int> ExportAsync(Arguments args, TextWriter output, TextWriter errors, CancellationToken cancellationToken)
    {
        var store = args.Required("store");
        var (from, to) = Period(args, "30m");
        var records = await SqliteCallLog.ReadFileAsync(store, from, to, cancellationToken).ConfigureAwait(false);
        var lines = records.Select(Format);
        if (args.Optional("output") is { } path)
        {
            var temporary = path + ".tmp";
            await File.WriteAllLinesAsync(temporary, lines, cancellationToken).ConfigureAwait(false);
            File.Move(temporary, path, overwrite: true);
            await errors.WriteLineAsync($"safeai: {records.Count} calls from {from:O} to {to:O} written to {path} ({records.Count(static r => r.Text is not null)} with consented text).").ConfigureAwait(false);
        }
        else
        {
            foreach (var line in lines)
            {
                await output.WriteLineAsync(line).ConfigureAwait(false);
            }
        }

        return CommandLine.Success;
    }

    private static async Task<int> AddCaseAsync(Arguments args, TextWriter output, CancellationToken cancellationToken)
    {
        var eval = args.Required("eval");
        string text;
        if (args.Optional("text") is { } given)
        {
            if (args.Optional("from") is not null)
            {
                throw new ArgumentException("Give --text or --from with --response-id, not both.");
            }

            text = given;
        }
        else
        {
            var from = args.Optional("from") ?? throw new ArgumentException("--text or --from (an export) with --response-id is required.");
            var id = args.Required("response-id");
            text = await FindTextAsync(from, id, cancellationToken).ConfigureAwait(false);
        }

        if (string.IsNullOrWhiteSpace(text))
        {
            throw new ArgumentException("The case's text is empty.");
        }

        var labels = (args.Optional("labels") ?? string.Empty).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Distinct(StringComparer.Ordinal).ToList();
        using (var model = Commands.LoadModel(args.Optional("model")))
        {
            foreach (var label in labels)
            {
                if (!model.Categories.Contains(label))
                {
                    throw new ArgumentException($"'{label}' is not a category of the model.{CommandLine.Suggest(label, model.Categories)} Categories: {string.Join(", ", model.Categories)}.");
                }
            }
        }

        var line = Json(json =>
        {
            json.WriteString("text", text);
            json.WriteStartArray("labels");
            foreach (var label in labels)
            {
                json.WriteStringValue(label);
            }

            json.WriteEndArray();
        });

        // Append on a line of its own, even when the file does not end with a newline.
        var needsNewline = File.Exists(eval) && new FileInfo(eval).Length > 0 && await EndsWithoutNewlineAsync(eval, cancellationToken).ConfigureAwait(false);
        await File.AppendAllTextAsync(eval, (needsNewline ? "\n" : string.Empty) + line + "\n", cancellationToken).ConfigureAwait(false);
        var count = File.ReadLines(eval).Count(static l => !string.IsNullOrWhiteSpace(l));
        await output.WriteLineAsync($"safeai: case added to {eval} ({count} cases); run: safeai eval --input {eval}").ConfigureAwait(false);
        return CommandLine.Success;
    }

    private static async Task<string> FindTextAsync(string export, string responseId, CancellationToken cancellationToken)
    {
        var number = 0;
        foreach (var line in await File.ReadAllLinesAsync(export, cancellationToken).ConfigureAwait(false))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            JsonElement root;
            try
            {
                using var document = JsonDocument.Parse(line);
                root = document.RootElement.Clone();
            }
            catch (JsonException ex)
            {
                throw new FormatException($"{export}:{number}: not valid JSON ({ex.Message.Split(" Path:", 2)[0]}).", ex);
            }

            if (root.TryGetProperty("response_id", out var id) && id.ValueKind == JsonValueKind.String && id.GetString() == responseId)
            {
                return root.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String
                    ? text.GetString()!
                    : throw new FormatException($"{export}:{number}: the call {responseId} has no text: its user did not consent to keeping it. Write the case by hand with --text.");
            }
        }

        throw new FormatException($"{export}: no call with response id '{responseId}'.");
    }

    private static async Task<bool> EndsWithoutNewlineAsync(string path, CancellationToken cancellationToken)
    {
        var stream = File.OpenRead(path);
        await using (stream.ConfigureAwait(false))
        {
            stream.Seek(-1, SeekOrigin.End);
            var last = new byte[1];
            _ = await stream.ReadAsync(last, cancellationToken).ConfigureAwait(false);
            return last[0] != (byte)'\n';
        }
    }

    private static string Format(CallRecord r) => Json(json =>
    {
        json.WriteString("time", r.Time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
        Optional(json, "response_id", r.ResponseId);
        Optional(json, "user_id", r.UserId);
        Optional(json, "tenant_id", r.TenantId);
        Optional(json, "conversation_id", r.ConversationId);
        Optional(json, "arm", r.Arm);
        json.WriteString("outcome", r.Outcome);
        Optional(json, "stage", r.Stage);
        Optional(json, "reason", r.Reason);
        json.WriteNumber("latency_ms", Math.Round(r.LatencyMs, 3));
        if (r.Text is not null)
        {
            json.WriteString("text", r.Text);
        }
    });

    private static void Optional(Utf8JsonWriter json, string name, string? value)
    {
        if (value is null)
        {
            json.WriteNull(name);
        }
        else
        {
            json.WriteString(name, value);
        }
    }

    private static string Json(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            write(json);
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}

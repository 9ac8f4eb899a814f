using System.Text.Json;

namespace SafeAI.Cli;

/// <summary><c>safeai rollout simulate</c>: runs the real rollout judge over synthetic traffic and prints one JSON line.</summary>
internal static class RolloutCommand
{
    private const string Usage = """
        safeai rollout simulate --days D --daily-users N --baseline-rate P --effect E [--srm-skew S] [--seed K] [--look-every-hours H]
            runs SafeAI's rollout judge (default plan: 5 -> 10 -> 25 -> 50 -> 100 %, at least 7 days per stage) over
            synthetic traffic counted per hour, and prints one JSON line:
            {"decision": "promote"|"abort"|"halt"|"continue", "stage": percent, "day": d, "samples": {"baseline": n, "ai": n}, "srm": bool, "reason": "..."}
          P: the baseline's rate of a bad outcome (0.05 = 5 %); E: relative change in the AI arm (0.15 = 15 % worse);
          S: share of all traffic that lands in the AI arm on top of its stage's share (0.02 = 2 points), a broken assignment;
          H: hours between two looks of the judge (default 1; the judge stays valid however often it looks).
        """;

    /// <summary>Runs <c>safeai rollout ...</c>; <paramref name="args"/> starts after the word <c>rollout</c>.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter errors)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            await output.WriteLineAsync(Usage).ConfigureAwait(false);
            return args.Length == 0 ? 2 : 0;
        }

        if (args[0] != "simulate")
        {
            await errors.WriteLineAsync($"Unknown rollout command '{args[0]}'.\n\n{Usage}").ConfigureAwait(false);
            return 2;
        }

        RolloutSimulationResult result;
        try
        {
            var options = new Arguments(args.Skip(1));
            result = RolloutSimulator.Run(new RolloutSimulationOptions
            {
                Days = options.Int("days", 14),
                DailyUsers = options.Int("daily-users", 2000),
                BaselineRate = options.Double("baseline-rate", 0.05),
                Effect = options.Double("effect", 0),
                SampleRatioSkew = options.Double("srm-skew", 0),
                Seed = options.Int("seed", 1),
                EvaluateEveryHours = options.Int("look-every-hours", 1),
            });
        }
        catch (ArgumentException ex)
        {
            await errors.WriteLineAsync("safeai: " + ex.Message).ConfigureAwait(false);
            return 2;
        }

        await output.WriteLineAsync(Format(result)).ConfigureAwait(false);
        return 0;
    }

    /// <summary>Formats the result as the one JSON line the issue specifies.</summary>
    internal static string Format(RolloutSimulationResult result)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteString("decision", result.Decision);
            json.WriteNumber("stage", result.StagePercent);
            json.WriteNumber("day", result.Day);
            json.WriteStartObject("samples");
            json.WriteNumber("baseline", result.BaselineSamples);
            json.WriteNumber("ai", result.AISamples);
            json.WriteNumber("baseline_bad", result.BaselineEvents);
            json.WriteNumber("ai_bad", result.AIEvents);
            json.WriteEndObject();
            json.WriteBoolean("srm", result.SampleRatioMismatch);
            json.WriteString("reason", result.Reason);
            json.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }
}

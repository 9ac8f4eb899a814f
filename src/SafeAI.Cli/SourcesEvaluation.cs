using System.Globalization;
using System.Text;
using System.Text.Json;
using SafeAI.Onnx;

namespace SafeAI.Cli;

/// <summary>
/// <c>safeai eval --data ../shared/data --set sources [--model ...] [--threshold 0.5] [--markdown out.md] [--json out.json]</c>:
/// how the model does on text it was not trained on, source by source. First the sources held out whole from the
/// fine-tuned model's training and thresholds (<see cref="DataSplit.HeldOutSources"/>, plus ConvAbuse's test split):
/// per source, the share of harmful texts flagged by any category (recall at the default thresholds) and the share of
/// benign texts flagged; then the same for the random held-out 20 % of the trained sources (in-distribution, a
/// secondary line); then the false-positive rate on benign everyday requests, both ways; then the same harmful texts
/// hidden after about 600 characters of ordinary text (<see cref="HideInOrdinaryText"/>); last, the held-out harmful
/// texts and benign requests rewritten with each obfuscation trick (<see cref="ObfuscatedAsync"/>).
/// </summary>
internal static class SourcesEvaluation
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };
    private static readonly JsonSerializerOptions Compact = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public static async Task<int> RunAsync(Arguments args, string folder, TextWriter console, CancellationToken cancellationToken)
    {
        var threshold = args.Double("threshold", 0.5);
        if (threshold is <= 0 or >= 1)
        {
            throw new ArgumentException($"--threshold must be between 0 and 1 (it is {threshold.ToString(CultureInfo.InvariantCulture)}).");
        }

        var rows = SharedCorpus.Load(folder)
            .Select(e => (Row: e, Part: DataSplit.PartName(e.Source, e.Text)))
            .Where(r => r.Part is "heldout-source" or "test")
            .Concat(SharedCorpus.LoadConvAbuse(folder, "test").Select(e => (Row: e with { Source = "convabuse_test" }, Part: "heldout-source")))
            .ToList();
        using var model = Commands.LoadModel(args.Optional("model"), Commands.RuntimeWithout(args));
        SourcesReport report;
        if (args.Optional("scores") is { } scoresPath)
        {
            var scoresOut = new StreamWriter(scoresPath, append: false, new UTF8Encoding(false));
            await using (scoresOut.ConfigureAwait(false))
            {
                report = await EvaluateAsync(model, rows, threshold, scoresOut, cancellationToken).ConfigureAwait(false);
            }
        }
        else
        {
            report = await EvaluateAsync(model, rows, threshold, null, cancellationToken).ConfigureAwait(false);
        }

        var markdown = ToMarkdown(report, model, threshold, args.Optional("without"));
        await console.WriteLineAsync(markdown).ConfigureAwait(false);
        if (args.Optional("markdown") is { } md)
        {
            await File.WriteAllTextAsync(md, markdown, cancellationToken).ConfigureAwait(false);
        }

        if (args.Optional("json") is { } json)
        {
            await File.WriteAllTextAsync(json, JsonSerializer.Serialize(report, Indented) + "\n", cancellationToken).ConfigureAwait(false);
        }

        return 0;
    }

    /// <summary>Scores every row alone, then the hidden-text check and the obfuscation check; with <paramref name="scoresOut"/>, each text's scores as one JSON line.</summary>
    private static async Task<SourcesReport> EvaluateAsync(ContentModel model, List<(LabelledText Row, string Part)> rows, double threshold, TextWriter? scoresOut, CancellationToken cancellationToken)
    {
        var scores = new double[rows.Count];
        var flagged = new bool[rows.Count];
        for (var i = 0; i < rows.Count; i++)
        {
            var s = await model.ScoreAsync(rows[i].Row.Text, cancellationToken).ConfigureAwait(false);
            scores[i] = s.Values.Max();
            flagged[i] = scores[i] >= threshold;
            if (scoresOut is not null)
            {
                await WriteScoresAsync(scoresOut, rows[i].Row.Source, rows[i].Part, rows[i].Row.IsBenign, hidden: false, rows[i].Row.Text, s).ConfigureAwait(false);
            }
        }

        var report = Compute(rows.Select(r => (r.Row.Source, r.Part, r.Row.IsBenign)).ToList(), scores, flagged);
        var heldOut = rows.Where(r => r.Part == "heldout-source").Select(r => (r.Row.Source, r.Row.Text, r.Row.IsBenign)).ToList();
        report = report with { Hidden = await HiddenAsync(model, heldOut, [.. rows.Select(r => r.Row.Text)], flagged, threshold, cancellationToken, scoresOut).ConfigureAwait(false) };
        var harmful = Enumerable.Range(0, rows.Count).Where(i => rows[i].Part == "heldout-source" && !rows[i].Row.IsBenign).Select(i => (rows[i].Row.Source, rows[i].Row.Text, flagged[i])).ToList();
        var benign = Enumerable.Range(0, rows.Count).Where(i => rows[i].Part == "heldout-source" && rows[i].Row.IsBenign && DataSplit.BenignRequestSources.Contains(rows[i].Row.Source)).Select(i => (rows[i].Row.Source, rows[i].Row.Text, flagged[i])).ToList();
        return report with { Obfuscated = await ObfuscatedAsync(model, harmful, benign, threshold, cancellationToken, scoresOut).ConfigureAwait(false) };
    }

    /// <summary>
    /// The obfuscation check: the harmful texts and the benign everyday requests of the sources held out whole, each
    /// rewritten by every trick of <see cref="Obfuscation.Kinds"/> and scored again; per trick, the share of harmful texts
    /// flagged (beside the share flagged as written, <paramref name="harmful"/>'s flags) and the share of benign requests
    /// flagged. Null when there are no harmful texts or no benign requests. With <paramref name="scoresOut"/>, each rewritten
    /// text's scores are written as one JSON line (<see cref="WriteScoresAsync"/>, with its trick).
    /// </summary>
    internal static async Task<ObfuscationReport?> ObfuscatedAsync(ContentModel model, IReadOnlyList<(string Source, string Text, bool Flagged)> harmful, IReadOnlyList<(string Source, string Text, bool Flagged)> benign, double threshold, CancellationToken cancellationToken, TextWriter? scoresOut = null)
    {
        if (harmful.Count == 0 || benign.Count == 0)
        {
            return null;
        }

        var lines = new List<ObfuscationLine>();
        foreach (var kind in Obfuscation.Kinds)
        {
            async Task<double> FlaggedShareAsync(IReadOnlyList<(string Source, string Text, bool Flagged)> texts, bool isBenign)
            {
                var flagged = 0;
                foreach (var (source, text, _) in texts)
                {
                    var rewritten = Obfuscation.Apply(text, kind);
                    var scores = await model.ScoreAsync(rewritten, cancellationToken).ConfigureAwait(false);
                    flagged += scores.Values.Max() >= threshold ? 1 : 0;
                    if (scoresOut is not null)
                    {
                        await WriteScoresAsync(scoresOut, source, "heldout-source", isBenign, hidden: false, rewritten, scores, kind).ConfigureAwait(false);
                    }
                }

                return Round((double)flagged / texts.Count);
            }

            lines.Add(new ObfuscationLine(kind, await FlaggedShareAsync(harmful, isBenign: false).ConfigureAwait(false), await FlaggedShareAsync(benign, isBenign: true).ConfigureAwait(false)));
        }

        return new ObfuscationReport(
            harmful.Count,
            Round((double)harmful.Count(static h => h.Flagged) / harmful.Count),
            benign.Count,
            Round((double)benign.Count(static b => b.Flagged) / benign.Count),
            lines);
    }

    internal static SourcesReport Compute(IReadOnlyList<(string Source, string Part, bool Benign)> rows, IReadOnlyList<double> scores, IReadOnlyList<bool> flagged)
    {
        var sources = new List<SourceLine>();
        foreach (var group in Enumerable.Range(0, rows.Count).GroupBy(i => (rows[i].Part, rows[i].Source)).OrderBy(g => g.Key.Part, StringComparer.Ordinal).ThenBy(g => g.Key.Source, StringComparer.Ordinal))
        {
            var harmful = group.Where(i => !rows[i].Benign).ToList();
            var benign = group.Where(i => rows[i].Benign).ToList();
            double? auroc = harmful.Count > 0 && benign.Count > 0
                ? Metrics.Auroc([.. group.Select(i => scores[i])], [.. group.Select(i => !rows[i].Benign)])
                : null;
            sources.Add(new SourceLine(
                group.Key.Source,
                group.Key.Part == "heldout-source",
                harmful.Count,
                benign.Count,
                harmful.Count > 0 ? Round((double)harmful.Count(i => flagged[i]) / harmful.Count) : null,
                benign.Count > 0 ? Round((double)benign.Count(i => flagged[i]) / benign.Count) : null,
                auroc is { } a ? Round(a) : null));
        }

        double? Rate(Func<int, bool> include)
        {
            var picked = Enumerable.Range(0, rows.Count).Where(include).ToList();
            return picked.Count == 0 ? null : Round((double)picked.Count(i => flagged[i]) / picked.Count);
        }

        bool BenignRequest(int i) => rows[i].Benign && DataSplit.BenignRequestSources.Contains(rows[i].Source);
        var heldOut = Enumerable.Range(0, rows.Count).Where(i => rows[i].Part == "heldout-source").ToList();
        return new SourcesReport(
            sources,
            Rate(i => BenignRequest(i) && rows[i].Part == "heldout-source"),
            Rate(i => BenignRequest(i) && rows[i].Part == "test"),
            Rate(i => !rows[i].Benign && rows[i].Part == "heldout-source"),
            Rate(i => !rows[i].Benign && rows[i].Part == "test"),
            heldOut.Any(i => rows[i].Benign) && heldOut.Any(i => !rows[i].Benign)
                ? Round(Metrics.Auroc([.. heldOut.Select(i => scores[i])], [.. heldOut.Select(i => !rows[i].Benign)]))
                : null);
    }

    /// <summary>The characters of ordinary text put before each hidden text.</summary>
    internal const int HiddenContextChars = 600;

    /// <summary>The longest harmful text that is hidden (longer ones fill a window of their own anyway).</summary>
    internal const int HiddenMaxChars = 300;

    /// <summary>
    /// The hidden-text check: every harmful text of the sources held out whole of at most <see cref="HiddenMaxChars"/>
    /// characters, put after at least <see cref="HiddenContextChars"/> characters of ordinary text (held-out benign
    /// everyday requests of at most 200 characters, one per line, a different run of them for each text); and, as the
    /// control, the same contexts followed by a held-out benign request instead. Deterministic: the contexts are picked by
    /// position, not at random. Rows: the source, the text placed last, whether it is harmful, and the whole text.
    /// </summary>
    internal static List<(string Source, string Last, bool Harmful, string Text)> HideInOrdinaryText(IReadOnlyList<(string Source, string Text, bool Benign)> heldOut)
    {
        var pool = heldOut.Where(r => r.Benign && DataSplit.BenignRequestSources.Contains(r.Source) && r.Text.Length <= 200).Select(r => r.Text.Trim()).ToList();
        var harmful = heldOut.Where(r => !r.Benign && r.Text.Length <= HiddenMaxChars).ToList();
        var benign = heldOut.Where(r => r.Benign && DataSplit.BenignRequestSources.Contains(r.Source)).ToList();
        var result = new List<(string, string, bool, string)>();
        if (pool.Count == 0)
        {
            return result;
        }

        string Context(int i) => OrdinaryContext(pool, i);

        for (var i = 0; i < harmful.Count; i++)
        {
            result.Add((harmful[i].Source, harmful[i].Text, true, Context(i) + harmful[i].Text));
        }

        // As many controls as hidden harmful texts, every k-th benign request, so that each source keeps its share.
        var stride = Math.Max(1, benign.Count / Math.Max(1, harmful.Count));
        for (var i = 0; i * stride < benign.Count && i < harmful.Count; i++)
        {
            var b = benign[i * stride];
            result.Add((b.Source, b.Text, false, Context(harmful.Count + i) + b.Text));
        }

        return result;
    }

    /// <summary>
    /// The <paramref name="i"/>-th run of ordinary text: requests from <paramref name="pool"/> (short ones, trimmed), one
    /// per line, from a position that depends on <paramref name="i"/>, until there are at least
    /// <see cref="HiddenContextChars"/> characters.
    /// </summary>
    internal static string OrdinaryContext(IReadOnlyList<string> pool, int i)
    {
        var sb = new StringBuilder();
        for (var k = (int)((i * 7919L) % pool.Count); sb.Length < HiddenContextChars; k = (k + 1) % pool.Count)
        {
            sb.Append(pool[k]).Append('\n');
        }

        return sb.ToString();
    }

    /// <summary>
    /// Long benign texts for calibrating sentence windows: each request of <paramref name="requests"/> after a run of the
    /// others (<see cref="OrdinaryContext"/> over those of at most 200 characters), the way the hidden-text check builds
    /// its controls.
    /// </summary>
    internal static List<string> LongBenignTexts(IReadOnlyList<string> requests)
    {
        var pool = requests.Where(static r => r.Length <= 200).Select(static r => r.Trim()).ToList();
        return pool.Count == 0 ? [] : [.. requests.Select((r, i) => OrdinaryContext(pool, i) + r)];
    }

    /// <summary>
    /// Scores the hidden-text check (<see cref="HideInOrdinaryText"/>) of <paramref name="heldOut"/>; <paramref name="texts"/>
    /// were scored alone already, flagged or not as <paramref name="flaggedAlone"/> says. With <paramref name="scoresOut"/>,
    /// each whole text's scores are written to it as one JSON line (<see cref="WriteScoresAsync"/>, part
    /// <c>heldout-source</c>, <c>hidden</c> true).
    /// </summary>
    internal static async Task<HiddenReport?> HiddenAsync(ContentModel model, IReadOnlyList<(string Source, string Text, bool Benign)> heldOut, IReadOnlyList<string> texts, IReadOnlyList<bool> flaggedAlone, double threshold, CancellationToken cancellationToken, TextWriter? scoresOut = null)
    {
        var hidden = HideInOrdinaryText(heldOut);
        var flagged = new bool[hidden.Count];
        for (var i = 0; i < hidden.Count; i++)
        {
            var scores = await model.ScoreAsync(hidden[i].Text, cancellationToken).ConfigureAwait(false);
            flagged[i] = scores.Values.Max() >= threshold;
            if (scoresOut is not null)
            {
                await WriteScoresAsync(scoresOut, hidden[i].Source, "heldout-source", !hidden[i].Harmful, hidden: true, hidden[i].Text, scores).ConfigureAwait(false);
            }
        }

        return SummariseHidden(hidden, flagged, texts, flaggedAlone);
    }

    /// <summary>
    /// One line of <c>--scores</c>: <c>{"source", "part", "benign", "hidden", "text", "scores": {category: probability}}</c>,
    /// where <c>hidden</c> says the text is one of the hidden-text check's (ordinary text, then the text of the source);
    /// the obfuscation check's texts also have <c>"obfuscation"</c>, the trick (<see cref="Obfuscation.Kinds"/>).
    /// </summary>
    internal static Task WriteScoresAsync(TextWriter writer, string source, string part, bool benign, bool hidden, string text, IReadOnlyDictionary<string, double> scores, string? obfuscation = null) =>
        writer.WriteLineAsync(JsonSerializer.Serialize(new ScoredText(source, part, benign, hidden, text, scores) { Obfuscation = obfuscation }, Compact));

    internal static HiddenReport? SummariseHidden(IReadOnlyList<(string Source, string Last, bool Harmful, string Text)> hidden, IReadOnlyList<bool> flagged, IReadOnlyList<string> texts, IReadOnlyList<bool> flaggedAlone)
    {
        var harmful = Enumerable.Range(0, hidden.Count).Where(i => hidden[i].Harmful).ToList();
        var controls = Enumerable.Range(0, hidden.Count).Where(i => !hidden[i].Harmful).ToList();
        if (harmful.Count == 0 || controls.Count == 0)
        {
            return null;
        }

        // The same texts scored alone (the first part of the evaluation scored each of them).
        var alone = new Dictionary<string, bool>(StringComparer.Ordinal);
        for (var i = 0; i < texts.Count; i++)
        {
            alone.TryAdd(texts[i], flaggedAlone[i]);
        }

        static double Share(List<int> rows, Func<int, bool> flag) => Round((double)rows.Count(flag) / rows.Count);
        return new HiddenReport(harmful.Count, Share(harmful, i => alone[hidden[i].Last]), Share(harmful, i => flagged[i]), controls.Count, Share(controls, i => flagged[i]));
    }

    private static string ToMarkdown(SourcesReport report, ContentModel model, double threshold, string? without = null)
    {
        var sb = new StringBuilder();
        var kind = model.Description.Kind.ToString();
        var parts = without is null ? "" : ", without " + string.Join(" and ", without.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(static p => p.ToLowerInvariant()));
        sb.AppendLine(CultureInfo.InvariantCulture, $"# SafeAI content model ({kind}{parts}): evaluation by source, threshold {threshold:0.##}");
        sb.AppendLine();
        sb.AppendLine("Flagged = any category at or above the threshold. Recall: harmful texts flagged. FPR: benign texts flagged.");
        sb.AppendLine("AUROC: harmful vs benign texts of the same source (any-harm score = the highest category score).");
        sb.AppendLine();
        sb.AppendLine("| measure | sources held out whole | random 20 % of trained sources |");
        sb.AppendLine("|---|---|---|");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| benign everyday requests flagged | {Percent(report.BenignRequestFprHeldOut)} | {Percent(report.BenignRequestFprRandom)} |");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| harmful texts flagged (any category) | {Percent(report.HarmRecallHeldOut)} | {Percent(report.HarmRecallRandom)} |");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| AUROC, all held-out-source texts | {Number(report.AurocHeldOut)} | |");
        foreach (var heldOut in new[] { true, false })
        {
            sb.AppendLine();
            sb.AppendLine(heldOut
                ? "## Sources held out whole (never trained on; thresholds not set on them)"
                : "## Random 20 % of the trained sources (in-distribution; flatters)");
            sb.AppendLine();
            sb.AppendLine("| source | harmful | benign | recall | FPR | AUROC |");
            sb.AppendLine("|---|---:|---:|---:|---:|---:|");
            foreach (var line in report.Sources.Where(s => s.HeldOutWhole == heldOut))
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {line.Source} | {line.Harmful} | {line.Benign} | {Percent(line.Recall)} | {Percent(line.Fpr)} | {Number(line.Auroc)} |");
            }
        }

        if (report.Hidden is { } h)
        {
            sb.AppendLine();
            sb.AppendLine("## Hidden in ordinary text (sources held out whole)");
            sb.AppendLine();
            sb.AppendLine(CultureInfo.InvariantCulture, $"Each harmful text of at most {HiddenMaxChars} characters placed after at least {HiddenContextChars} characters of held-out benign requests");
            sb.AppendLine("(one per line); the control puts a held-out benign request after the same kind of context.");
            sb.AppendLine();
            sb.AppendLine("| measure | texts | flagged |");
            sb.AppendLine("|---|---:|---:|");
            sb.AppendLine(CultureInfo.InvariantCulture, $"| harmful texts alone | {h.Harmful} | {Percent(h.RecallAlone)} |");
            sb.AppendLine(CultureInfo.InvariantCulture, $"| the same after ordinary text | {h.Harmful} | {Percent(h.RecallHidden)} |");
            sb.AppendLine(CultureInfo.InvariantCulture, $"| control: a benign request after ordinary text | {h.Controls} | {Percent(h.ControlFpr)} |");
        }

        if (report.Obfuscated is { } o)
        {
            sb.AppendLine();
            sb.AppendLine("## Obfuscated (sources held out whole)");
            sb.AppendLine();
            sb.AppendLine(CultureInfo.InvariantCulture, $"Every word of at least {Obfuscation.MinLetters} letters of each harmful text and each benign everyday request rewritten: dotted `i.d.i.o.t`,");
            sb.AppendLine("spaced `i d i o t` (two spaces around the word), leetspeak `1d10t`, a zero-width space between letters, Cyrillic look-alikes.");
            sb.AppendLine();
            sb.AppendLine(CultureInfo.InvariantCulture, $"| text | harmful texts flagged ({o.Harmful}) | benign requests flagged ({o.Benign}) |");
            sb.AppendLine("|---|---:|---:|");
            sb.AppendLine(CultureInfo.InvariantCulture, $"| as written | {Percent(o.RecallClean)} | {Percent(o.FprClean)} |");
            foreach (var line in o.Kinds)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {line.Kind} | {Percent(line.Recall)} | {Percent(line.Fpr)} |");
            }
        }

        return sb.ToString();
    }

    private static string Percent(double? value) => value is { } v ? v.ToString("P1", CultureInfo.InvariantCulture) : "–";

    private static string Number(double? value) => value is { } v ? v.ToString("0.000", CultureInfo.InvariantCulture) : "–";

    private static double Round(double value) => Math.Round(value, 4);
}

/// <summary>One source's line of the evaluation by source.</summary>
internal sealed record SourceLine(string Source, bool HeldOutWhole, int Harmful, int Benign, double? Recall, double? Fpr, double? Auroc);

/// <summary>The evaluation by source: per-source lines and the headline rates.</summary>
internal sealed record SourcesReport(
    IReadOnlyList<SourceLine> Sources,
    double? BenignRequestFprHeldOut,
    double? BenignRequestFprRandom,
    double? HarmRecallHeldOut,
    double? HarmRecallRandom,
    double? AurocHeldOut)
{
    /// <summary>Gets the hidden-text check (<see cref="SourcesEvaluation.HideInOrdinaryText"/>), or null when not run.</summary>
    public HiddenReport? Hidden { get; init; }

    /// <summary>Gets the obfuscation check (<see cref="SourcesEvaluation.ObfuscatedAsync"/>), or null when not run.</summary>
    public ObfuscationReport? Obfuscated { get; init; }
}

/// <summary>The obfuscation check: harmful texts and benign requests of the sources held out whole, flagged as written and rewritten by each trick.</summary>
internal sealed record ObfuscationReport(int Harmful, double RecallClean, int Benign, double FprClean, IReadOnlyList<ObfuscationLine> Kinds);

/// <summary>One trick of the obfuscation check (<see cref="Obfuscation.Kinds"/>): the share of harmful texts and of benign requests flagged.</summary>
internal sealed record ObfuscationLine(string Kind, double Recall, double Fpr);

/// <summary>Harmful texts of the sources held out whole, flagged alone and after ordinary text, and the control's false-positive rate.</summary>
internal sealed record HiddenReport(int Harmful, double RecallAlone, double RecallHidden, int Controls, double ControlFpr);

/// <summary>One text's scores as <c>safeai eval --set sources --scores</c> writes them.</summary>
/// <param name="Source">The source the text comes from (for a hidden text: the source of the text placed last).</param>
/// <param name="Part">The part of the data: <c>heldout-source</c> (a source held out whole) or <c>test</c> (the random held-out 20 %).</param>
/// <param name="Benign">Whether the text (for a hidden text: the text placed last) is benign.</param>
/// <param name="Hidden">Whether the text is one of the hidden-text check's: ordinary requests, then the source's text.</param>
/// <param name="Text">The text as scored.</param>
/// <param name="Scores">The probability per category.</param>
internal sealed record ScoredText(string Source, string Part, bool Benign, bool Hidden, string Text, IReadOnlyDictionary<string, double> Scores)
{
    /// <summary>Gets the trick the text was rewritten with (<see cref="Obfuscation.Kinds"/>), or null for a text as written.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? Obfuscation { get; init; }
}

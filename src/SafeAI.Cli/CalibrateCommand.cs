using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using SafeAI.Onnx;

namespace SafeAI.Cli;

/// <summary>
/// <c>safeai calibrate --model folder/safeai-model.json --data ../shared/data [--benign-rate 0.03]</c>: sets the bias of
/// every category of an <c>ensemble</c> model so that, at the default threshold 0.5, at most the given share of the
/// benign-request calibration sample (the calibration part of the benign everyday-request sources, see
/// <see cref="DataSplit.BenignRequestSources"/>) is flagged by any category, in each of its two registers: chat-style
/// prompts (<see cref="ChatSources"/>, longer, often with role-play and format instructions) and short intent-style
/// queries, so that the many short queries cannot hide a high rate on chat prompts. Every category gets the same
/// per-category rate (found by bisection so that the union meets the target in both registers), and no category flags
/// below a raw probability of 0.5. A description with <c>"sentences"</c> also gets the logit shift of its sentence windows
/// (<c>--long-benign-rate</c>, default 0.02: the share of long benign texts that may be flagged; <c>--sentence-headroom</c>,
/// default 0: the share the sentence windows may always add to what the packed windows flag alone), and a screen with
/// <c>"skipGate"</c> the margin over its levels from which it sends a window past the gate (<c>--skip-gate-precision</c>,
/// default 0.95: the share of such calibration texts the gate must have sent on anyway).
/// <c>--add-set FILE=SOURCE</c> (repeatable) adds the calibration part of a labelled set of one's own, split as
/// <c>safeai corpus --add-set</c> splits it: its harmless texts are a register of their own, held to the same rate, and its
/// harmful texts join the harmful calibration texts (see <see cref="AddedCalibrationParts"/>).
/// The description file is rewritten in place; the rates reached are printed.
/// </summary>
internal static class CalibrateCommand
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>The description keys that limit a member's windows per text (kept through the calibration, not calibrated).</summary>
    private static readonly string[] LimitKeys = ["maxEncoderWindows", "maxGateWindows"];

    /// <summary>The benign-request sources written as chat prompts (the rest are short intent-style queries).</summary>
    internal static readonly IReadOnlySet<string> ChatSources = new HashSet<string>(StringComparer.Ordinal)
    {
        "arena_hard", "self_instruct", "awesome_chatgpt_prompts", "mt_bench", "ifeval",
    };

    public static async Task<int> RunAsync(Arguments args, TextWriter console, CancellationToken cancellationToken)
    {
        var path = args.Required("model");
        var folder = args.Required("data");
        var target = args.Double("benign-rate", 0.03);
        if (target is <= 0 or >= 0.5)
        {
            throw new ArgumentException($"--benign-rate must be between 0 and 0.5 (it is {target.ToString(CultureInfo.InvariantCulture)}).");
        }

        var keep = args.Double("gate-keep", DefaultGateKeep);
        if (keep is < 0.9 or > 1)
        {
            throw new ArgumentException($"--gate-keep must be between 0.9 and 1 (it is {keep.ToString(CultureInfo.InvariantCulture)}).");
        }

        var screenKeep = args.Double("screen-keep", DefaultScreenKeep);
        if (screenKeep is < 0.9 or > 1)
        {
            throw new ArgumentException($"--screen-keep must be between 0.9 and 1 (it is {screenKeep.ToString(CultureInfo.InvariantCulture)}).");
        }

        var joint = !args.Flag("per-category-levels");
        var harmfulOnly = args.Flag("harmful-only-levels");
        var skipPrecision = args.Double("skip-gate-precision", DefaultSkipGatePrecision);
        if (skipPrecision is < 0.5 or > 1)
        {
            throw new ArgumentException($"--skip-gate-precision must be between 0.5 and 1 (it is {skipPrecision.ToString(CultureInfo.InvariantCulture)}).");
        }

        var longTarget = args.Double("long-benign-rate", DefaultLongBenignRate);
        if (longTarget is <= 0 or >= 0.5)
        {
            throw new ArgumentException($"--long-benign-rate must be between 0 and 0.5 (it is {longTarget.ToString(CultureInfo.InvariantCulture)}).");
        }

        var headroom = args.Double("sentence-headroom", 0);
        if (headroom is < 0 or >= 0.5)
        {
            throw new ArgumentException($"--sentence-headroom must be from 0 to below 0.5 (it is {headroom.ToString(CultureInfo.InvariantCulture)}).");
        }

        // Read before the corpora, so that a bad --add-set fails at once.
        var addedSets = CorpusCommand.ReadAddedSets(args.All("add-set"));
        var statements = args.Flag("statements") ? SharedCorpus.LoadStatements() : args.Flag("threat-statements") ? SharedCorpus.LoadThreatStatements() : [];
        List<LabelledText> all = [.. SharedCorpus.Load(folder), .. statements];
        var added = AddedCalibrationParts(addedSets, all);
        var corpus = all.Where(e => DataSplit.PartName(e.Source, e.Text) == "calib").Concat(added.SelectMany(static s => s.Rows)).ToList();
        var requests = corpus.Where(e => e.IsBenign && DataSplit.BenignRequestSources.Contains(e.Source)).ToList();
        if (requests.Count < 100)
        {
            throw new FormatException($"The benign calibration sample has {requests.Count} texts; at least 100 are needed.");
        }

        // The benign texts of each added set are a register of their own, held to the same rate as the two of the sample.
        var addedSources = added.Select(static s => s.Source).ToHashSet(StringComparer.Ordinal);
        List<LabelledText> sample = [.. requests, .. corpus.Where(e => e.IsBenign && addedSources.Contains(e.Source))];
        var harmful = corpus.Where(e => !e.IsBenign).ToList();

        // Uncalibrated: every bias 0, so the members' mixed logits are read as they are.
        var json = JsonNode.Parse(await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false))!.AsObject();
        var categories = json["categories"]?.AsObject() ?? throw new FormatException($"{path} has no \"categories\": only an ensemble model can be calibrated.");
        foreach (var (_, mix) in categories)
        {
            mix!["bias"] = 0;
        }

        // The limits on the members' windows per text are kept out of the whole calibration and written back as they were:
        // the levels and the sentence shift are set as without them (a description without a gate or a screen cannot even
        // have one), and what the limits cost is measured on its own (training/experiments/encoder-budget).
        var limits = LimitKeys.Select(key => (Key: key, Value: json[key]?.DeepClone())).Where(static l => l.Value is not null).ToList();
        foreach (var key in LimitKeys)
        {
            json.Remove(key);
        }

        // A gate is calibrated after the biases, against the encoder alone: the biases are the encoder's.
        var gate = json["gate"]?.AsObject();
        var screen = json["screen"]?.AsObject();
        var skipGate = screen?["skipGate"] is { } skipNode && skipNode.GetValueKind() != JsonValueKind.Null;
        screen?.Remove("skipGate");
        json.Remove("gate");
        json.Remove("screen");

        // Sentence windows are calibrated last, on the biases and levels of the windows they come from.
        var sentences = json["sentences"] is { } node && node.GetValueKind() != JsonValueKind.Null;
        // Whether the first member scores the sentences of every packed window: kept, and the shift is set on that path.
        var everyWindow = sentences && json["sentences"]!["everyWindow"] is { } every && every.GetValueKind() == JsonValueKind.True;
        json.Remove("sentences");
        var others = gate is null && screen is null ? [] : corpus.Where(e => e.IsBenign && !DataSplit.BenignRequestSources.Contains(e.Source) && !addedSources.Contains(e.Source)).ToList();
        var (names, scored) = await ScoreLogitsAsync(path, json, [sample, harmful, others], cancellationToken).ConfigureAwait(false);
        double[][] logits = scored[0], positives = scored[1];

        var groups = sample.Select(e => ChatSources.Contains(e.Source) ? 1 : addedSources.Contains(e.Source) ? 2 + added.FindIndex(s => s.Source == e.Source) : 0).ToArray();
        var labels = harmful.Select(e => names.Select(e.Has).ToArray()).ToArray();
        var thresholds = Thresholds(logits, groups, positives, labels, names.Length, target, out var union);
        await console.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"Benign calibration sample: {requests.Count} texts from {string.Join(", ", requests.Select(e => e.Source).Distinct().Order(StringComparer.Ordinal))}.")).ConfigureAwait(false);
        foreach (var (file, source, rows) in added)
        {
            var harmless = rows.Count(static e => e.IsBenign);
            await console.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"Added set '{source}' ({file}): its calibration part, {harmless} harmless and {rows.Count(static e => !e.IsBenign)} harmful texts.")).ConfigureAwait(false);
            if (SmallRegisterWarning(source, harmless, target) is { } warning)
            {
                await console.WriteLineAsync(warning).ConfigureAwait(false);
            }
        }

        for (var c = 0; c < names.Length; c++)
        {
            var flagged = logits.Take(requests.Count).Count(l => l[c] >= thresholds[c]);
            categories[names[c]]!["bias"] = Math.Round(-thresholds[c], 4) + 0.0;
            await console.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"  {names[c],-18} threshold logit {thresholds[c],7:F3}  flags {(double)flagged / requests.Count:P2} of the sample")).ConfigureAwait(false);
        }

        var addedShares = string.Concat(added.Select((s, k) => string.Create(CultureInfo.InvariantCulture, $", {union[2 + k]:P2} of '{s.Source}' ({groups.Count(g => g == 2 + k)})")));
        await console.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"Any category: {union[0]:P2} of the intent-style queries ({groups.Count(g => g == 0)}), {union[1]:P2} of the chat prompts ({groups.Count(g => g == 1)}){addedShares} (target {target:P2} in each).")).ConfigureAwait(false);
        var weights = names.Select(n => categories[n]!["encoder"]?.GetValue<double>() ?? 1).ToArray();
        (JsonObject Member, double[][] Logits, double[] Levels)? gateResult = null, screenResult = null;
        if (gate is not null)
        {
            gateResult = await CalibrateEarlyMemberAsync("gate", "Gate", gate, keep).ConfigureAwait(false);
            json["gate"] = gateResult.Value.Member;
        }

        if (screen is not null)
        {
            // The screen is judged against the encoder too: it must pass on what the whole model would flag.
            screenResult = await CalibrateEarlyMemberAsync("screen", "Screen", screen, screenKeep).ConfigureAwait(false);
            json["screen"] = screenResult.Value.Member;
        }

        if (skipGate && screenResult is { } sr && gateResult is { } gr)
        {
            // Of the calibration texts the screen sends on, how far it lies above its levels and whether the gate sends them on.
            var texts = sr.Logits.Zip(gr.Logits, (s, g) => (Margin: ScreenMargin(s, sr.Levels, weights), GateSends: Enumerable.Range(0, names.Length).Any(c => weights[c] != 0 && ContentModel.Sigmoid((float)g[c]) >= gr.Levels[c])))
                .Where(static t => t.Margin >= 0).ToList();
            var margin = SkipGateMargin(texts, skipPrecision);
            var skipped = texts.Where(t => t.Margin >= margin).ToList();
            sr.Member["skipGate"] = margin;
            await console.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"Screen past the gate: from {margin:0.####} logits over its levels. {skipped.Count} of the {texts.Count} calibration texts the screen sends on go straight to the encoder; the gate would send on {(double)skipped.Count(static t => t.GateSends) / Math.Max(1, skipped.Count):P1} of them (target {skipPrecision:P1}); of the texts the screen sends on that the gate sends on too, {(double)skipped.Count(static t => t.GateSends) / Math.Max(1, texts.Count(static t => t.GateSends)):P1} skip it.")).ConfigureAwait(false);
        }

        async Task<(JsonObject Member, double[][] Logits, double[] Levels)> CalibrateEarlyMemberAsync(string role, string title, JsonObject member, double share)
        {
            var memberName = member["encoder"]?.GetValue<string>() ?? throw new FormatException($"{path}: \"{role}\" has no \"encoder\".");
            var alone = JsonNode.Parse(json.ToJsonString())!.AsObject();
            alone.Remove("gate");
            alone.Remove("screen");
            alone["encoder"] = memberName;
            var (_, memberScored) = await ScoreLogitsAsync(path, alone, [sample, harmful, others], cancellationToken).ConfigureAwait(false);
            // What the member must send on: the calibration texts the encoder flags, or (--harmful-only-levels) the harmful
            // ones among them, so that a benign text the encoder would wrongly flag does not pull the levels down.
            double[][] encoderRows = harmfulOnly ? scored[1] : [.. scored.SelectMany(static x => x)];
            double[][] memberRows = harmfulOnly ? memberScored[1] : [.. memberScored.SelectMany(static x => x)];
            var levels = GateLevels(encoderRows, memberRows, thresholds, weights, share);
            // The gate's levels only (see JointLevels): the screen's low levels also let through the packed windows in which
            // a harmful sentence is diluted by ordinary text, so that the sentence is scored alone.
            if (joint && role == "gate")
            {
                levels = JointLevels(encoderRows, memberRows, thresholds, weights, levels, [.. memberScored[0], .. memberScored[2]]);
            }

            levels = [.. levels.Select(WrittenLevel)];
            var escalate = new JsonObject();
            for (var c = 0; c < names.Length; c++)
            {
                if (weights[c] != 0)
                {
                    escalate[names[c]] = levels[c];
                }
            }

            member["escalate"] = escalate;
            var sent = memberScored[0].Select(row => Enumerable.Range(0, names.Length).Any(c => weights[c] != 0 && ContentModel.Sigmoid((float)row[c]) >= levels[c])).ToArray();
            // What counts is that a text the encoder flags is sent on to it, in whichever category.
            var kept = encoderRows.Zip(memberRows)
                .Where(p => Enumerable.Range(0, names.Length).Any(c => weights[c] != 0 && p.First[c] >= thresholds[c]))
                .Select(p => Enumerable.Range(0, names.Length).Any(c => weights[c] != 0 && ContentModel.Sigmoid((float)p.Second[c]) >= levels[c]))
                .ToList();
            await console.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{title} ({memberName}): escalation levels {string.Join(", ", names.Select((n, c) => weights[c] == 0 ? null : $"{n} {levels[c]:G3}").Where(static x => x is not null))}.")).ConfigureAwait(false);
            await console.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"  It sends on {(double)sent.Count(static x => x) / sent.Length:P1} of the benign calibration sample (intent-style {Share(sent, groups, 0):P1}, chat {Share(sent, groups, 1):P1}) and {(double)kept.Count(static x => x) / Math.Max(1, kept.Count):P2} of the {kept.Count} {(harmfulOnly ? "harmful " : "")}calibration texts the encoder flags (target {share:P1} per category{(joint && role == "gate" ? ", levels then raised jointly" : "")}).")).ConfigureAwait(false);
            return (member, [.. memberScored.SelectMany(static x => x)], levels);
        }

        if (sentences)
        {
            // With the gate and the screen as calibrated above: the shift is set on the path that runs.
            json["sentences"] = SentencesNode(await CalibrateSentencesAsync(path, json, everyWindow, requests, longTarget, headroom, console, cancellationToken).ConfigureAwait(false), everyWindow);
        }

        foreach (var (key, value) in limits)
        {
            json[key] = value;
        }

        await File.WriteAllTextAsync(path, json.ToJsonString(Indented) + "\n", cancellationToken).ConfigureAwait(false);
        await console.WriteLineAsync("Wrote the biases to " + path).ConfigureAwait(false);
        return 0;
    }

    /// <summary>
    /// The calibration part of each <c>--add-set</c> set (its rows as <see cref="CorpusCommand.AddedRows"/> gives them, in
    /// the part <c>calib</c>); a set with no text in that part is refused, so that the option never does nothing unnoticed.
    /// </summary>
    internal static List<(string Path, string Source, List<LabelledText> Rows)> AddedCalibrationParts(
        IReadOnlyList<(string Path, string Source, List<LabelledText> Texts)> sets, IReadOnlyList<LabelledText> corpus)
    {
        var parts = new List<(string Path, string Source, List<LabelledText> Rows)>(sets.Count);
        foreach (var (path, source, rows, _) in CorpusCommand.AddedRows(sets, corpus))
        {
            var calibration = rows.Where(row => DataSplit.PartName(source, row.Text) == "calib").ToList();
            if (calibration.Count == 0)
            {
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"--add-set {path}={source}: none of its {rows.Count} texts falls in the calibration part (about one text in eight does, by a hash of the text); add more texts."));
            }

            parts.Add((path, source, calibration));
        }

        return parts;
    }

    /// <summary>The share of the windows the screen sends past the gate that the gate must have sent on anyway (<c>--skip-gate-precision</c>).</summary>
    internal const double DefaultSkipGatePrecision = 0.95;

    /// <summary>The largest margin written for the screen to send a window past the gate.</summary>
    internal const double MaxSkipGateMargin = 20;

    /// <summary>How far (in logits) a screen's row lies above its levels, in the category where it lies highest (categories without an encoder weight do not count).</summary>
    internal static double ScreenMargin(double[] logits, double[] levels, double[] weights)
    {
        var margin = double.NegativeInfinity;
        for (var c = 0; c < logits.Length; c++)
        {
            if (weights[c] != 0)
            {
                margin = Math.Max(margin, logits[c] - ContentModel.Logit((float)levels[c]));
            }
        }

        return margin;
    }

    /// <summary>
    /// The lowest margin (0 to <see cref="MaxSkipGateMargin"/>, rounded down to four decimals, so that the text at it still
    /// skips) over the screen's levels from
    /// which the screen may send a window straight to the encoder: of the <paramref name="texts"/> the screen sends on (their
    /// margin, and whether the gate sends them on), those at or above it are sent on by the gate at least
    /// <paramref name="precision"/> of the time. <see cref="MaxSkipGateMargin"/> when no margin qualifies.
    /// </summary>
    internal static double SkipGateMargin(IReadOnlyList<(double Margin, bool GateSends)> texts, double precision)
    {
        var sorted = texts.Where(static t => t.Margin >= 0).OrderByDescending(static t => t.Margin).ToArray();
        var best = MaxSkipGateMargin;
        var sends = 0;
        for (var i = 0; i < sorted.Length; i++)
        {
            sends += sorted[i].GateSends ? 1 : 0;

            // Ties go in together: a margin admits every text at it.
            if (i + 1 < sorted.Length && sorted[i + 1].Margin == sorted[i].Margin)
            {
                continue;
            }

            if (sends >= precision * (i + 1))
            {
                best = sorted[i].Margin;
            }
        }

        return Math.Clamp(Math.Floor(best * 10000) / 10000, 0, MaxSkipGateMargin);
    }

    /// <summary>The share of long benign texts (<see cref="SourcesEvaluation.LongBenignTexts"/>) that may be flagged with sentence windows.</summary>
    internal const double DefaultLongBenignRate = 0.02;

    /// <summary>The largest sentence shift written: 20 logits keeps every sentence window below any threshold in use.</summary>
    internal const double MaxSentenceShift = 20;

    /// <summary>The precision of the shift search, in logits (the shift written is rounded up to four decimals).</summary>
    internal const double ShiftTolerance = 1e-3;

    /// <summary>
    /// The logit shift of sentence windows: the benign calibration requests are each put after about 600 characters of the
    /// others, one per line (<see cref="SourcesEvaluation.LongBenignTexts"/>), and scored as at run time (the new biases,
    /// the gate and the screen with their levels, sentence windows at the trial shift); the shift is the lowest at which at
    /// most <see cref="SentenceBudget"/> of those texts are flagged (<see cref="LowestShiftAsync"/>), counting those their
    /// packed windows flag anyway.
    /// </summary>
    private static async Task<double> CalibrateSentencesAsync(string path, JsonObject json, bool everyWindow, List<LabelledText> sample, double target, double headroom, TextWriter console, CancellationToken cancellationToken)
    {
        var texts = SourcesEvaluation.LongBenignTexts([.. sample.Select(static e => e.Text)]);
        var flaggedAt = new Dictionary<double, int>();
        async Task<int> FlaggedAtAsync(double shift)
        {
            if (flaggedAt.TryGetValue(shift, out var known))
            {
                return known;
            }

            var trial = JsonNode.Parse(json.ToJsonString())!.AsObject();
            trial["sentences"] = SentencesNode(shift, everyWindow);
            var flagged = 0;
            await WithModelAsync(path, trial, async model =>
            {
                foreach (var text in texts)
                {
                    var scores = await model.ScoreAsync(text, cancellationToken).ConfigureAwait(false);
                    flagged += scores.Values.Max() >= 0.5 ? 1 : 0;
                }
            }).ConfigureAwait(false);
            flaggedAt[shift] = flagged;
            return flagged;
        }

        // The packed windows alone: the sentence windows at the largest shift add nothing.
        var windowsAlone = await FlaggedAtAsync(MaxSentenceShift).ConfigureAwait(false);
        var allowed = SentenceBudget(texts.Count, target, headroom, windowsAlone);
        var shift = await LowestShiftAsync(FlaggedAtAsync, allowed).ConfigureAwait(false);
        var before = (double)windowsAlone / Math.Max(1, texts.Count);
        var after = (double)await FlaggedAtAsync(shift).ConfigureAwait(false) / Math.Max(1, texts.Count);
        var budget = allowed > (int)Math.Floor(target * texts.Count)
            ? string.Create(CultureInfo.InvariantCulture, $"target {(double)allowed / Math.Max(1, texts.Count):P2}: the windows' {before:P2} and --sentence-headroom {headroom:0.###}, above --long-benign-rate {target:0.###}")
            : string.Create(CultureInfo.InvariantCulture, $"target {target:P2}");
        await console.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"Sentence windows: shift {shift:0.####}. Of {texts.Count} long benign texts (each calibration request after about {SourcesEvaluation.HiddenContextChars} characters of the others) the windows flag {before:P2}, with the sentences alone {after:P2} ({budget}; {flaggedAt.Count} trial shifts).")).ConfigureAwait(false);
        if (shift >= MaxSentenceShift)
        {
            await console.WriteLineAsync(SentencesOffWarning(before, target)).ConfigureAwait(false);
        }

        return shift;
    }

    /// <summary>
    /// How many of <paramref name="count"/> long benign texts may be flagged once the sentence windows are on: the share
    /// <paramref name="target"/> (<c>--long-benign-rate</c>), or, with a <paramref name="headroom"/> above 0
    /// (<c>--sentence-headroom</c>), at least that share more than the packed windows flag alone
    /// (<paramref name="windowsAlone"/>). Without headroom, packed windows that flag more than the target alone leave the
    /// sentences no budget, and they are turned off (<see cref="MaxSentenceShift"/>); with it, a draw whose packed windows
    /// flag a few long texts more keeps its sentence windows, at the cost of those few texts.
    /// </summary>
    internal static int SentenceBudget(int count, double target, double headroom, int windowsAlone)
    {
        var allowed = (int)Math.Floor(target * count);
        return headroom > 0 ? Math.Max(allowed, windowsAlone + (int)Math.Floor(headroom * count)) : allowed;
    }

    /// <summary>A description's <c>"sentences"</c>: the shift, and <c>"everyWindow": true</c> where the description had it.</summary>
    private static JsonObject SentencesNode(double shift, bool everyWindow) =>
        everyWindow ? new JsonObject { ["shift"] = shift, ["everyWindow"] = true } : new JsonObject { ["shift"] = shift };

    /// <summary>
    /// What calibrate prints when an <c>--add-set</c> register has too few harmless calibration texts for the rate to allow
    /// one of them to be flagged (fewer than 1 / <c>--benign-rate</c>): the register is then held to none at all, and every
    /// category's level is raised above the highest score any of its texts gets (training/experiments/security-register:
    /// 29 and 35 texts at 0.02 raised the default model's illicit level by 3.7 logits). <see langword="null"/> otherwise.
    /// </summary>
    internal static string? SmallRegisterWarning(string source, int harmless, double target)
    {
        if (harmless * target >= 1)
        {
            return null;
        }

        var needed = (int)Math.Ceiling(Math.Round(1 / target, 6));
        return string.Create(CultureInfo.InvariantCulture, $"  Warning: '{source}' has {harmless} harmless calibration texts; at --benign-rate {target:0.###} none of them may be flagged, so every category's level is set above the highest score any of them gets. Give the set at least {needed} harmless calibration texts (about {needed * 8} in the file: one text in eight falls in the calibration part), or check what the levels cost with safeai eval.");
    }

    /// <summary>
    /// What calibrate prints when the packed windows alone flag more long benign texts than <c>--long-benign-rate</c> allows,
    /// so that the sentence windows get the largest shift and add nothing: a defence turned off says so, with the rate that
    /// would keep it (at least a point above what the windows flag alone, in whole percent).
    /// </summary>
    internal static string SentencesOffWarning(double windowsAlone, double target)
    {
        var suggested = Math.Ceiling(Math.Round((windowsAlone + 0.01) * 100, 6)) / 100;
        return string.Create(CultureInfo.InvariantCulture, $"  Warning: the sentence windows are off (shift {MaxSentenceShift}): the packed windows alone flag {windowsAlone:P2} of the long benign texts, above --long-benign-rate {target:0.###}. Harm hidden after ordinary text is then found only where a packed window flags it (safeai eval --set sources reports it under \"hidden\"). To keep the sentences, raise --long-benign-rate above {windowsAlone:0.####} (for example {suggested:0.##}) or give --sentence-headroom (for example 0.01: the sentences may add that share to what the windows flag), and check the hidden control of the evaluation.");
    }

    /// <summary>
    /// The lowest shift (0 to <see cref="MaxSentenceShift"/>, to <see cref="ShiftTolerance"/>, rounded up to four decimals) at
    /// which <paramref name="flaggedAt"/> counts at most <paramref name="allowed"/> flagged texts, by bisection: a lower shift
    /// sends more sentences on and lowers their scores less, so the count does not fall as the shift falls.
    /// <see cref="MaxSentenceShift"/> when even that flags too many (the packed windows alone do), 0 when 0 flags few enough.
    /// </summary>
    internal static async Task<double> LowestShiftAsync(Func<double, Task<int>> flaggedAt, int allowed)
    {
        if (await flaggedAt(MaxSentenceShift).ConfigureAwait(false) > allowed)
        {
            return MaxSentenceShift;
        }

        if (await flaggedAt(0).ConfigureAwait(false) <= allowed)
        {
            return 0;
        }

        double low = 0, high = MaxSentenceShift;
        while (high - low > ShiftTolerance)
        {
            var middle = (low + high) / 2;
            if (await flaggedAt(middle).ConfigureAwait(false) <= allowed)
            {
                high = middle;
            }
            else
            {
                low = middle;
            }
        }

        return Math.Min(MaxSentenceShift, Math.Ceiling(high * 10000) / 10000);
    }

    /// <summary>The share of the calibration texts a category flags through the encoder that the gate must send on to it.</summary>
    internal const double DefaultGateKeep = 0.995;

    /// <summary>The share of the calibration texts a category flags through the encoder that the screen must send on.</summary>
    internal const double DefaultScreenKeep = 0.99;

    private static double Share(bool[] sent, int[] groups, int group)
    {
        var n = groups.Count(g => g == group);
        return n == 0 ? 0 : (double)sent.Where((s, i) => s && groups[i] == group).Count() / n;
    }

    /// <summary>Scores text sets with a temporary copy of the description (next to it, so that its files resolve); each score is a logit.</summary>
    private static async Task<(string[] Names, double[][][] Logits)> ScoreLogitsAsync(string path, JsonObject description, List<LabelledText>[] sets, CancellationToken cancellationToken)
    {
        string[] names = [];
        var result = new double[sets.Length][][];
        await WithModelAsync(path, description, async model =>
        {
            names = [.. model.Categories];
            for (var s = 0; s < sets.Length; s++)
            {
                result[s] = new double[sets[s].Count][];
                for (var i = 0; i < sets[s].Count; i++)
                {
                    var scores = await model.ScoreAsync(sets[s][i].Text, cancellationToken).ConfigureAwait(false);
                    result[s][i] = [.. names.Select(c => (double)ContentModel.Logit((float)scores[c]))];
                }
            }
        }).ConfigureAwait(false);
        return (names, result);
    }

    /// <summary>Loads a temporary copy of the description, written next to it so that its files resolve, and deletes it after <paramref name="use"/>.</summary>
    private static async Task WithModelAsync(string path, JsonObject description, Func<ContentModel, Task> use)
    {
        var raw = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, ".calibrate-" + Path.GetFileName(path));
        await File.WriteAllTextAsync(raw, description.ToJsonString(Indented)).ConfigureAwait(false);
        try
        {
            using var model = ContentModel.Load(raw);
            await use(model).ConfigureAwait(false);
        }
        finally
        {
            File.Delete(raw);
        }
    }

    /// <summary>The lowest escalation level written to a description: the loader requires a level above 0.</summary>
    internal const double MinimumLevel = 1e-9;

    /// <summary>
    /// An escalation level as written to the description: rounded down to four significant digits, so that every text
    /// the level was set to send on is still sent on (rounding to the nearest could lift it just above the lowest of
    /// them), and at least <see cref="MinimumLevel"/> (a member that scores a flagged text near 0 would otherwise get a
    /// level of 0, which the loader rejects).
    /// </summary>
    internal static double WrittenLevel(double level)
    {
        if (!(level > MinimumLevel))
        {
            return MinimumLevel;
        }

        var scale = Math.Pow(10, 3 - Math.Floor(Math.Log10(level)));
        return Math.Max(MinimumLevel, Math.Min(level, Math.Floor(level * scale) / scale));
    }

    /// <summary>
    /// The gate's escalation level of each category the encoder scores (weight not 0): among the calibration texts that
    /// the encoder flags in that category (logit at or above its threshold), the gate's calibrated score that
    /// <paramref name="keep"/> of them reach, and never above 0.5. <paramref name="encoder"/> holds the encoder's logits
    /// with bias 0, <paramref name="gate"/> the gate's with the calibrated biases.
    /// </summary>
    internal static double[] GateLevels(double[][] encoder, double[][] gate, double[] thresholds, double[] weights, double keep)
    {
        var levels = new double[thresholds.Length];
        for (var c = 0; c < thresholds.Length; c++)
        {
            if (weights[c] == 0)
            {
                levels[c] = 0.5;
                continue;
            }

            var reached = encoder.Select((row, i) => (row, i)).Where(p => p.row[c] >= thresholds[c]).Select(p => (double)ContentModel.Sigmoid((float)gate[p.i][c])).Order().ToArray();
            var at = (int)Math.Floor((1 - keep) * reached.Length);
            levels[c] = reached.Length == 0 ? 0.5 : Math.Min(0.5, reached[Math.Min(at, reached.Length - 1)]);
        }

        return levels;
    }

    /// <summary>
    /// Raises a gate's (or screen's) per-category escalation <paramref name="levels"/> (from <see cref="GateLevels"/>) as far
    /// as every calibration text they send on and the encoder flags is still sent on, in some category: a window that goes on
    /// is scored by the encoder in every category, so a text needs only one category of the gate to reach its level, not the
    /// category it is flagged in. Per category, the lowest level is set by a few texts, which often another category sends on
    /// anyway; where the gate's scores of a category are low on what the encoder flags in it (the screen's self-harm and
    /// violence), the per-category level sends on a large share of benign traffic. Greedy: of the categories whose level can
    /// rise (to the lowest score of the texts that no other category sends on, at most 0.5), the one whose rise stops the
    /// most <paramref name="benign"/> texts (the member's logits of benign calibration texts) from being sent on rises; then
    /// the next, until no rise stops any. A category rises at most once, since every rise leaves the others more to send on.
    /// <c>safeai calibrate</c> raises the gate's levels so, not the screen's: the guarantee is about whole calibration texts,
    /// and the screen's levels also decide whether a packed window's sentences are scored alone, where a harmful sentence's
    /// scores are diluted by the ordinary text around it. Measured on the default model (sources held out whole): joint gate
    /// levels left every figure as it was (harmful texts flagged 47.2 %, hidden after ordinary text 31.1 %) and cut the
    /// six-layer runs on the costliest chat texts by 7 %; joint screen levels cut them further but lost 1.1 points of the
    /// hidden harm (31.1 → 30.0 %).
    /// </summary>
    /// <param name="encoder">The encoder's logits (bias 0) of every calibration text.</param>
    /// <param name="member">The member's logits (calibrated biases) of the same texts.</param>
    /// <param name="thresholds">The encoder's per-category logit thresholds.</param>
    /// <param name="weights">The encoder's weight per category (0: the member does not send on for that category).</param>
    /// <param name="levels">The per-category levels to start from; not changed.</param>
    /// <param name="benign">The member's logits of benign texts, whose sending on is the cost a rise saves.</param>
    internal static double[] JointLevels(double[][] encoder, double[][] member, double[] thresholds, double[] weights, double[] levels, double[][] benign)
    {
        var categories = thresholds.Length;
        var result = (double[])levels.Clone();
        bool Sends(double[] row, int c) => weights[c] != 0 && ContentModel.Sigmoid((float)row[c]) >= result[c];
        bool OtherSends(double[] row, int c)
        {
            for (var o = 0; o < categories; o++)
            {
                if (o != c && Sends(row, o))
                {
                    return true;
                }
            }

            return false;
        }

        // The texts that must stay sent on: flagged by the encoder and sent on at the starting levels.
        var must = new List<double[]>();
        for (var i = 0; i < encoder.Length; i++)
        {
            var flagged = false;
            var sent = false;
            for (var c = 0; c < categories; c++)
            {
                flagged |= weights[c] != 0 && encoder[i][c] >= thresholds[c];
                sent |= Sends(member[i], c);
            }

            if (flagged && sent)
            {
                must.Add(member[i]);
            }
        }

        var raised = new bool[categories];
        while (true)
        {
            int best = -1, bestGain = 0;
            var bestLevel = 0.0;
            for (var c = 0; c < categories; c++)
            {
                if (weights[c] == 0 || raised[c] || result[c] >= 0.5)
                {
                    continue;
                }

                // The highest level at which c still sends on every text that only c sends on.
                var level = 0.5;
                foreach (var row in must)
                {
                    if (!OtherSends(row, c))
                    {
                        level = Math.Min(level, ContentModel.Sigmoid((float)row[c]));
                    }
                }

                if (level <= result[c])
                {
                    continue;
                }

                // The benign texts that c alone sends on and that the rise stops.
                var gain = 0;
                foreach (var row in benign)
                {
                    var score = ContentModel.Sigmoid((float)row[c]);
                    if (score >= result[c] && score < level && !OtherSends(row, c))
                    {
                        gain++;
                    }
                }

                if (gain > bestGain)
                {
                    (best, bestGain, bestLevel) = (c, gain, level);
                }
            }

            if (best < 0)
            {
                return result;
            }

            result[best] = bestLevel;
            raised[best] = true;
        }
    }

    /// <summary>
    /// Per-category logit thresholds, chosen greedily: every category starts just above its highest benign score (or at 0,
    /// a raw probability of 0.5, whichever is higher); then, step by step, the category whose next lower threshold gains
    /// the most labelled calibration positives of that category per benign text it newly flags is lowered, as long as at
    /// most <paramref name="target"/> of each group's benign texts are flagged by any category.
    /// </summary>
    internal static double[] Thresholds(double[][] benign, int[] groups, double[][] positives, bool[][] labels, int categories, double target, out double[] union)
    {
        var groupCount = groups.Length == 0 ? 1 : groups.Max() + 1;
        var groupSize = new int[groupCount];
        foreach (var g in groups)
        {
            groupSize[g]++;
        }

        var t = new double[categories];
        var candidates = new double[categories][];
        for (var c = 0; c < categories; c++)
        {
            // Thresholds just above each benign score, highest first, none below 0.
            candidates[c] = [.. benign.Select(l => l[c] + 1e-6).Where(v => v > 0).Distinct().OrderDescending()];
            t[c] = candidates[c].Length > 0 ? candidates[c][0] : 0;
        }

        var next = new int[categories];
        int[] Flagged(double[] thresholds)
        {
            var flagged = new int[groupCount];
            for (var i = 0; i < benign.Length; i++)
            {
                for (var c = 0; c < categories; c++)
                {
                    if (benign[i][c] >= thresholds[c])
                    {
                        flagged[groups[i]]++;
                        break;
                    }
                }
            }

            return flagged;
        }

        int Gain(int c, double threshold) => positives.Where((p, i) => labels[i][c] && p[c] >= threshold).Count();

        while (true)
        {
            var best = -1;
            var bestValue = double.NegativeInfinity;
            var bestThreshold = 0.0;
            for (var c = 0; c < categories; c++)
            {
                // The next lower threshold: just above the next benign score below, or 0 when none is left.
                var lower = next[c] + 1 < candidates[c].Length ? candidates[c][next[c] + 1] : 0;
                if (lower >= t[c])
                {
                    continue;
                }

                var trial = (double[])t.Clone();
                trial[c] = lower;
                var flagged = Flagged(trial);
                if (Enumerable.Range(0, groupCount).Any(g => groupSize[g] > 0 && (double)flagged[g] / groupSize[g] > target))
                {
                    continue;
                }

                var cost = flagged.Sum() - Flagged(t).Sum();
                var value = (Gain(c, lower) - Gain(c, t[c])) / (double)Math.Max(1, cost);
                if (value > bestValue)
                {
                    (best, bestValue, bestThreshold) = (c, value, lower);
                }
            }

            if (best < 0)
            {
                break;
            }

            t[best] = bestThreshold;
            next[best]++;
        }

        var final = Flagged(t);
        union = [.. final.Select((f, g) => groupSize[g] == 0 ? 0 : (double)f / groupSize[g])];
        return t;
    }
}

using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SafeAI.Onnx;

namespace SafeAI.Cli;

/// <summary>
/// <c>safeai thresholds --input traffic.jsonl [--max-flagged 0.01] [--categories illicit,...] [--floor 0.5] [--json FILE]
/// [--model ...]</c>: per-category thresholds fitted to a team's own harmless traffic, with what they cost on its
/// harmful examples, written as the <c>SafeAI:ContentFilter:Categories</c> section of appsettings.json.
/// </summary>
internal static class ThresholdsCommand
{
    public const string Help = """
        safeai thresholds --input traffic.jsonl|.csv [--max-flagged 0.01] [--categories illicit,violence] [--floor 0.5]
                          [--check other.jsonl] [--json thresholds.json] [--model default|ngram|cascade|safeai-model.json]
                          [--on-invalid fail|skip]
          Fits the content filter's per-category thresholds to your own traffic. The unlabelled texts of --input
          ({"text": ...} lines, "labels": [] as for safeai eval, or a CSV without a label column) are taken as
          harmless: a sample of what your users really send. Labelled ones (optional) are harmful examples, to show
          what the new thresholds cost. Each text is scored as the filter scores it at its defaults. Thresholds are
          only raised, never set below --floor: while more than --max-flagged of the harmless texts are flagged by any
          category, the category that flags the most of them is raised just past its lowest-scoring flagged harmless
          text. Prints, per category, the threshold and the harmless texts flagged and harmful texts caught (in their
          own category) before and after, and the appsettings.json section that applies it.
          --max-flagged 0 to 0.5   the share of the harmless texts that may stay flagged by any category (default 0.01)
          --categories a,b         only these categories may be raised (default: all); the others keep --floor
          --floor 0 to 1           the threshold every category starts from and never goes below (default 0.5, the
                                   default model's calibrated threshold)
          --json FILE              write {"SafeAI": {"ContentFilter": {"Categories": {...}}}} with the raised
                                   categories' thresholds, ready to merge into appsettings.json
          --check FILE             a second labelled file, not used for the fit: the same figures on it, which is
                                   what the thresholds will do on traffic they were not fitted on
          A threshold of 1 means no harmless text allowed it to flag anything: that category is in effect off for this
          traffic, which the output says. The fit is only as good as the sample: a few hundred texts from real traffic,
          never the texts you will then judge the thresholds on (--check).
        """ + CommandLine.InvalidLinesHelp;

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Runs the command; returns 0.</summary>
    public static async Task<int> RunAsync(Arguments args, TextWriter console, TextWriter errors, CancellationToken cancellationToken)
    {
        var input = args.Required("input");
        var maxFlagged = args.Double("max-flagged", 0.01, 0, 0.5);
        var floor = args.Double("floor", 0.5, 0, 1);
        var invalid = InvalidLines.From(args, errors);
        var data = LabelledData.Read(input, invalid, unlabelledIsBenign: true);
        if (data.Count == 0)
        {
            throw new FormatException($"{input} holds no texts.");
        }

        if (!data.Exists(static d => d.IsBenign))
        {
            throw new FormatException($"{input} holds no harmless texts (lines without labels): the thresholds are fitted on them; add a sample of your real traffic.");
        }

        using var model = Commands.LoadModel(args.Optional("model"));
        var categories = model.Categories;
        Commands.CheckLabels(data, categories, input);
        var movable = args.Names("categories", categories, "a category of the model", StringComparer.Ordinal) ?? [.. categories];

        var classifier = new ContentClassifier(model, new ContentFilterOptions());
        var (harmless, harmful, oversize) = await ScoreAsync(classifier, data, cancellationToken).ConfigureAwait(false);
        var fit = ThresholdFit.Fit(harmless, categories.Select(c => movable.Contains(c)).ToArray(), floor, maxFlagged);
        await console.WriteAsync(Describe(fit, categories, harmless, harmful, floor, maxFlagged, oversize)).ConfigureAwait(false);

        if (args.Optional("check") is { } check)
        {
            var checkData = LabelledData.Read(check, invalid, unlabelledIsBenign: true);
            if (checkData.Count == 0)
            {
                throw new FormatException($"{check} holds no texts.");
            }

            Commands.CheckLabels(checkData, categories, check);
            var (checkHarmless, checkHarmful, checkOversize) = await ScoreAsync(classifier, checkData, cancellationToken).ConfigureAwait(false);
            await console.WriteLineAsync($"On {check} (not used for the fit):").ConfigureAwait(false);
            await console.WriteAsync(Describe(fit, categories, checkHarmless, checkHarmful, floor, maxFlagged: null, checkOversize)).ConfigureAwait(false);
        }

        var section = Section(fit.Thresholds, categories, floor);
        await console.WriteLineAsync("appsettings.json:").ConfigureAwait(false);
        await console.WriteLineAsync(section.ToJsonString(Indented)).ConfigureAwait(false);
        if (args.Optional("json") is { } json)
        {
            await File.WriteAllTextAsync(json, section.ToJsonString(Indented) + "\n", new UTF8Encoding(false), cancellationToken).ConfigureAwait(false);
            await console.WriteLineAsync("Wrote " + json).ConfigureAwait(false);
        }

        return CommandLine.Success;
    }

    /// <summary>Scores every text as the filter does at its defaults (every window, no early stop), a batch at a time; splits harmless from harmful rows.</summary>
    private static async Task<(List<double[]> Harmless, List<(double[] Scores, IReadOnlyList<string> Labels)> Harmful, int Oversize)> ScoreAsync(ContentClassifier classifier, List<LabelledText> data, CancellationToken cancellationToken)
    {
        var harmless = new List<double[]>();
        var harmful = new List<(double[] Scores, IReadOnlyList<string> Labels)>();
        var oversize = 0;
        for (var from = 0; from < data.Count; from += Commands.BatchSize)
        {
            var count = Math.Min(Commands.BatchSize, data.Count - from);
            var batch = new Task<ContentClassifier.Assessment>[count];
            for (var i = 0; i < count; i++)
            {
                batch[i] = classifier.AssessAsync([data[from + i].Text], cancellationToken, mayStop: false).AsTask();
            }

            var done = await Task.WhenAll(batch).ConfigureAwait(false);
            for (var i = 0; i < count; i++)
            {
                var text = data[from + i];
                oversize += done[i].Truncated ? 1 : 0;
                if (text.IsBenign)
                {
                    harmless.Add(done[i].Scores);
                }
                else
                {
                    harmful.Add((done[i].Scores, text.Labels));
                }
            }
        }

        return (harmless, harmful, oversize);
    }

    /// <summary>The console report: totals, then one line per category.</summary>
    internal static string Describe(ThresholdFit fit, IReadOnlyList<string> categories, List<double[]> harmless, List<(double[] Scores, IReadOnlyList<string> Labels)> harmful, double floor, double? maxFlagged, int oversize)
    {
        var floors = Enumerable.Repeat(floor, categories.Count).ToArray();
        var sb = new StringBuilder();
        var before = ThresholdFit.FlaggedByAny(harmless, floors);
        var after = ThresholdFit.FlaggedByAny(harmless, fit.Thresholds);
        var target = maxFlagged is { } m ? string.Create(CultureInfo.InvariantCulture, $"; --max-flagged {m:P1}") : string.Empty;
        sb.Append(CultureInfo.InvariantCulture, $"Harmless texts: {harmless.Count}; flagged by any category at {floor:0.###}: {before} ({Share(before, harmless.Count)}), at the thresholds below: {after} ({Share(after, harmless.Count)}{target}).\n");
        if (maxFlagged is { } most && after > Math.Floor((most * harmless.Count) + 1e-9))
        {
            sb.Append("Not every harmless text could be cleared: the categories allowed to move (--categories) are at 1 and others still flag the rest.\n");
        }

        if (harmful.Count > 0)
        {
            var caughtBefore = harmful.Count(h => ThresholdFit.Flags(h.Scores, floors));
            var caughtAfter = harmful.Count(h => ThresholdFit.Flags(h.Scores, fit.Thresholds));
            sb.Append(CultureInfo.InvariantCulture, $"Harmful texts: {harmful.Count}; flagged by any category: {caughtBefore} ({Share(caughtBefore, harmful.Count)}) → {caughtAfter} ({Share(caughtAfter, harmful.Count)}).\n");
        }
        else
        {
            sb.Append("No harmful examples (labelled lines) in --input: what the thresholds cost in missed harm is not measured.\n");
        }

        if (oversize > 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $"{oversize} texts are longer than the filter's window limit (ContentFilterOptions.MaxWindows): the filter applies OversizeAction to them whatever the thresholds.\n");
        }

        sb.Append('\n');
        sb.Append(CultureInfo.InvariantCulture, $"{"category",-18} {"threshold",-17} {"harmless flagged",-18} {"harmful caught (own category)",-30}\n");
        for (var c = 0; c < categories.Count; c++)
        {
            var t = fit.Thresholds[c];
            var threshold = t == floor ? t.ToString("0.####", CultureInfo.InvariantCulture) : string.Create(CultureInfo.InvariantCulture, $"{floor:0.####} → {t:0.####}");
            var flaggedBefore = harmless.Count(h => h[c] >= floor);
            var flaggedAfter = harmless.Count(h => h[c] >= t);
            var own = harmful.Where(h => h.Labels.Contains(categories[c], StringComparer.Ordinal)).ToList();
            var caught = own.Count == 0 ? "–" : string.Create(CultureInfo.InvariantCulture, $"{own.Count(h => h.Scores[c] >= floor)} → {own.Count(h => h.Scores[c] >= t)} of {own.Count}");
            var note = t >= 1 ? "  (in effect off for this traffic)" : string.Empty;
            sb.Append(CultureInfo.InvariantCulture, $"{categories[c],-18} {threshold,-17} {flaggedBefore + " → " + flaggedAfter,-18} {caught,-30}{note}\n");
        }

        sb.Append('\n');
        return sb.ToString();
    }

    /// <summary>The <c>SafeAI:ContentFilter:Categories</c> section with every category whose threshold was raised above <paramref name="floor"/> (and the floor as the default threshold when it is not 0.5).</summary>
    internal static JsonObject Section(double[] thresholds, IReadOnlyList<string> categories, double floor)
    {
        var perCategory = new JsonObject();
        for (var c = 0; c < categories.Count; c++)
        {
            if (thresholds[c] > floor)
            {
                perCategory[categories[c]] = new JsonObject { ["Threshold"] = thresholds[c] };
            }
        }

        var filter = new JsonObject();
        if (floor != 0.5)
        {
            filter["DefaultThreshold"] = floor;
        }

        filter["Categories"] = perCategory;
        return new JsonObject { ["SafeAI"] = new JsonObject { ["ContentFilter"] = filter } };
    }

    private static string Share(int count, int of) => ((double)count / Math.Max(1, of)).ToString("P1", CultureInfo.InvariantCulture);
}

/// <summary>
/// Per-category thresholds raised from a floor until at most a share of harmless texts is flagged by any category: each
/// step raises the category that flags the most harmless texts just past the lowest score among them (four decimals),
/// so a category that no harmless text reaches is never moved, and one step never clears less than one text.
/// </summary>
internal sealed class ThresholdFit
{
    private ThresholdFit(double[] thresholds) => Thresholds = thresholds;

    /// <summary>Gets the fitted threshold of each category, in the model's category order (between the floor and 1).</summary>
    public double[] Thresholds { get; }

    /// <summary>
    /// Fits thresholds to <paramref name="harmless"/> (one score row per text, in category order): every category starts
    /// at <paramref name="floor"/>; while more than <c>floor(maxFlagged · n)</c> texts are flagged by any category, the
    /// category allowed to move (<paramref name="movable"/>) that flags the most of them is raised past its lowest
    /// flagged score. Stops when the target is met or no movable category flags a harmless text.
    /// </summary>
    public static ThresholdFit Fit(IReadOnlyList<double[]> harmless, bool[] movable, double floor, double maxFlagged)
    {
        ArgumentNullException.ThrowIfNull(harmless);
        ArgumentNullException.ThrowIfNull(movable);
        ArgumentOutOfRangeException.ThrowIfLessThan(floor, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(floor, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxFlagged, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxFlagged, 1);
        var c = movable.Length;
        var canMove = (bool[])movable.Clone();
        var thresholds = Enumerable.Repeat(floor, c).ToArray();
        var allowed = (int)Math.Floor((maxFlagged * harmless.Count) + 1e-9);
        for (var i = 0; i < harmless.Count; i++)
        {
            if (harmless[i].Length != c)
            {
                throw new ArgumentException($"Harmless row {i} has {harmless[i].Length} scores for {c} categories.", nameof(harmless));
            }
        }

        // Per category, the harmless texts it flags at the floor, lowest score first: raising its threshold drops them
        // from the front (next[k] is the first still flagged). byText counts the categories flagging each text.
        var members = new int[c][];
        var next = new int[c];
        var byText = new int[harmless.Count];
        for (var k = 0; k < c; k++)
        {
            var category = k;
            members[k] = [.. Enumerable.Range(0, harmless.Count).Where(i => harmless[i][category] >= floor).OrderBy(i => harmless[i][category])];
            foreach (var i in members[k])
            {
                byText[i]++;
            }
        }

        int Left(int k) => members[k].Length - next[k];
        var union = byText.Count(static n => n > 0);
        while (union > allowed)
        {
            // The movable category that still flags the most harmless texts (the first in category order on a tie).
            var worst = -1;
            for (var k = 0; k < c; k++)
            {
                if (canMove[k] && Left(k) > 0 && (worst < 0 || Left(k) > Left(worst)))
                {
                    worst = k;
                }
            }

            if (worst < 0)
            {
                break;
            }

            // Just past its lowest flagged score, at four decimals (a category flags at or above its threshold), at most 1.
            var raised = Math.Min(1.0, AboveAtFourDecimals(harmless[members[worst][next[worst]]][worst]));
            thresholds[worst] = raised;
            while (Left(worst) > 0 && harmless[members[worst][next[worst]]][worst] < raised)
            {
                if (--byText[members[worst][next[worst]]] == 0)
                {
                    union--;
                }

                next[worst]++;
            }

            // At 1, what is left scores exactly 1 and stays flagged whatever the threshold.
            canMove[worst] &= raised < 1.0;
        }

        return new ThresholdFit(thresholds);
    }

    /// <summary>The smallest value with four decimals strictly above <paramref name="score"/>.</summary>
    internal static double AboveAtFourDecimals(double score) => (Math.Floor((score * 10_000) + 1e-9) + 1) / 10_000;

    /// <summary>Whether any category of <paramref name="scores"/> reaches its threshold.</summary>
    public static bool Flags(double[] scores, double[] thresholds)
    {
        for (var k = 0; k < thresholds.Length; k++)
        {
            if (scores[k] >= thresholds[k])
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>How many rows any category flags at <paramref name="thresholds"/>.</summary>
    public static int FlaggedByAny(IEnumerable<double[]> rows, double[] thresholds) => rows.Count(r => Flags(r, thresholds));
}

using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using SafeAI.Onnx;

namespace SafeAI.Cli;

/// <summary>
/// <c>safeai calibrate --model folder/safeai-model.json --data ../shared/data [--benign-rate 0.015]</c>: sets the bias of
/// every category of an <c>ensemble</c> model so that, at the default threshold 0.5, at most the given share of the
/// benign-request calibration sample (the calibration part of the benign everyday-request sources, see
/// <see cref="DataSplit.BenignRequestSources"/>) is flagged by any category. Every category gets the same per-category
/// rate (found by bisection so that their union meets the target), and no category flags below a raw probability of 0.5.
/// The description file is rewritten in place; the rates reached are printed.
/// </summary>
internal static class CalibrateCommand
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static async Task<int> RunAsync(Arguments args, TextWriter console, CancellationToken cancellationToken)
    {
        var path = args.Required("model");
        var folder = args.Required("data");
        var target = args.Double("benign-rate", 0.015);
        if (target is <= 0 or >= 0.5)
        {
            throw new ArgumentException($"--benign-rate must be between 0 and 0.5 (it is {target.ToString(CultureInfo.InvariantCulture)}).");
        }

        var sample = SharedCorpus.Load(folder)
            .Where(e => e.IsBenign && DataSplit.BenignRequestSources.Contains(e.Source) && DataSplit.PartName(e.Source, e.Text) == "calib")
            .ToList();
        if (sample.Count < 100)
        {
            throw new FormatException($"The benign calibration sample has {sample.Count} texts; at least 100 are needed.");
        }

        // Uncalibrated: every bias 0, so the members' mixed logits are read as they are.
        var json = JsonNode.Parse(await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false))!.AsObject();
        var categories = json["categories"]?.AsObject() ?? throw new FormatException($"{path} has no \"categories\": only an ensemble model can be calibrated.");
        foreach (var (_, mix) in categories)
        {
            mix!["bias"] = 0;
        }

        var raw = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, ".calibrate-" + Path.GetFileName(path));
        await File.WriteAllTextAsync(raw, json.ToJsonString(Indented), cancellationToken).ConfigureAwait(false);
        double[][] logits;
        string[] names;
        try
        {
            using var model = ContentModel.Load(raw);
            names = [.. model.Categories];
            logits = new double[sample.Count][];
            for (var i = 0; i < sample.Count; i++)
            {
                var scores = await model.ScoreAsync(sample[i].Text, cancellationToken).ConfigureAwait(false);
                logits[i] = [.. names.Select(c => (double)ContentModel.Logit((float)scores[c]))];
            }
        }
        finally
        {
            File.Delete(raw);
        }

        var thresholds = Thresholds(logits, names.Length, target, out var union);
        await console.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"Benign calibration sample: {sample.Count} texts from {string.Join(", ", sample.Select(e => e.Source).Distinct().Order(StringComparer.Ordinal))}.")).ConfigureAwait(false);
        for (var c = 0; c < names.Length; c++)
        {
            var flagged = logits.Count(l => l[c] >= thresholds[c]);
            categories[names[c]]!["bias"] = Math.Round(-thresholds[c], 4);
            await console.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"  {names[c],-18} threshold logit {thresholds[c],7:F3}  flags {(double)flagged / sample.Count:P2} of the sample")).ConfigureAwait(false);
        }

        await console.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"Any category: {union:P2} of the sample (target {target:P2}).")).ConfigureAwait(false);
        await File.WriteAllTextAsync(path, json.ToJsonString(Indented) + "\n", cancellationToken).ConfigureAwait(false);
        await console.WriteLineAsync("Wrote the biases to " + path).ConfigureAwait(false);
        return 0;
    }

    /// <summary>
    /// Per-category logit thresholds: the largest common per-category rate r whose thresholds (each category's (1 - r)
    /// quantile, at least 0) flag at most <paramref name="target"/> of the rows in any category.
    /// </summary>
    internal static double[] Thresholds(double[][] logits, int categories, double target, out double union)
    {
        var sorted = new double[categories][];
        for (var c = 0; c < categories; c++)
        {
            sorted[c] = [.. logits.Select(l => l[c]).Order()];
        }

        double[] At(double rate)
        {
            var t = new double[categories];
            for (var c = 0; c < categories; c++)
            {
                var column = sorted[c];
                var k = Math.Clamp((int)Math.Floor(column.Length * (1 - rate)), 0, column.Length - 1);
                // Just above the k-th value, so that ties at the quantile are not flagged.
                t[c] = Math.Max(0, column[k] + 1e-6);
            }

            return t;
        }

        double Union(double[] t) => (double)logits.Count(l => Enumerable.Range(0, categories).Any(c => l[c] >= t[c])) / logits.Length;

        double low = 0, high = target;
        for (var i = 0; i < 40; i++)
        {
            var mid = (low + high) / 2;
            if (Union(At(mid)) <= target)
            {
                low = mid;
            }
            else
            {
                high = mid;
            }
        }

        var best = At(low);
        union = Union(best);
        return best;
    }
}

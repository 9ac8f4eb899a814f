using System.Globalization;
using System.Text.Json;
using SafeAI.Onnx;
using SafeAI.Onnx.Ngram;

namespace SafeAI.Cli;

/// <summary>Settings of <see cref="NgramTrainer"/>.</summary>
internal sealed record TrainSettings
{
    public int Seed { get; init; } = 42;

    public int Epochs { get; init; } = 6;

    public int Bits { get; init; } = 18;

    public int WindowChars { get; init; } = 1024;

    public double LearningRate { get; init; } = 0.8;

    /// <summary>The share of calibration benign texts that may be flagged by any category at the chosen thresholds.</summary>
    public double TargetBenignFpr { get; init; } = 0.025;

    /// <summary>The largest weight of a category's positives relative to its negatives (class balancing).</summary>
    public double MaxPositiveWeight { get; init; } = 8;
}

/// <summary>What training produced: the weights (scores calibrated so that 0.5 is each category's threshold) and how it went.</summary>
internal sealed record TrainResult(NgramWeights Weights, string[] Categories, double[] RawThresholds, double CalibrationBenignFpr, int TrainCount, int CalibrationCount);

/// <summary>
/// Trains the n-gram tier: per-category logistic regression over <see cref="NgramFeatures"/> by stochastic gradient
/// descent (shuffled with a seeded generator, so the same data and seed give the same model), then thresholds chosen on a
/// separate calibration set so that at most <see cref="TrainSettings.TargetBenignFpr"/> of its benign texts are flagged by
/// any category; each bias is shifted so that the chosen threshold becomes a score of 0.5.
/// </summary>
internal static class NgramTrainer
{
    public static TrainResult Train(IReadOnlyList<LabelledText> train, IReadOnlyList<LabelledText> calibration, string[] categories, TrainSettings settings, Action<string>? log = null)
    {
        ArgumentOutOfRangeException.ThrowIfZero(train.Count);
        var c = categories.Length;
        var features = train.Select(e => Featurize(e.Text, settings)).ToArray();
        var targets = train.Select(e => categories.Select(e.Has).ToArray()).ToArray();
        var exampleWeight = train.Select(e => e.Weight).ToArray();
        var positiveWeight = new double[c];
        for (var k = 0; k < c; k++)
        {
            var pos = targets.Count(t => t[k]);
            positiveWeight[k] = pos == 0 ? 1 : Math.Clamp(Math.Sqrt((double)(train.Count - pos) / pos), 1, settings.MaxPositiveWeight);
        }

        var weights = new float[(1 << settings.Bits) * c];
        var biases = new float[c];
        var random = new Random(settings.Seed);
        var order = Enumerable.Range(0, train.Count).ToArray();
        var z = new double[c];
        var step = 0L;
        var total = (long)settings.Epochs * train.Count;
        for (var epoch = 0; epoch < settings.Epochs; epoch++)
        {
            random.Shuffle(order);
            double loss = 0;
            foreach (var i in order)
            {
                var f = features[i];
                var norm = 1.0 / Math.Sqrt(Math.Max(1, f.Length));
                Array.Clear(z);
                foreach (var id in f)
                {
                    var row = id * c;
                    for (var k = 0; k < c; k++)
                    {
                        z[k] += weights[row + k];
                    }
                }

                var lr = settings.LearningRate * (1 - (0.9 * step++ / total));
                for (var k = 0; k < c; k++)
                {
                    var p = 1 / (1 + Math.Exp(-(biases[k] + (z[k] * norm))));
                    var y = targets[i][k];
                    var w = (y ? positiveWeight[k] : 1) * exampleWeight[i];
                    loss -= w * Math.Log(y ? Math.Max(p, 1e-12) : Math.Max(1 - p, 1e-12));
                    z[k] = lr * w * ((y ? 1 : 0) - p);
                    biases[k] += (float)(z[k] * 0.1);
                }

                foreach (var id in f)
                {
                    var row = id * c;
                    for (var k = 0; k < c; k++)
                    {
                        weights[row + k] += (float)(z[k] * norm);
                    }
                }
            }

            log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"epoch {epoch + 1}/{settings.Epochs}: mean loss {loss / train.Count:F4}"));
        }

        var quantised = NgramWeights.Quantize(settings.Bits, categories, biases, weights);
        var (thresholds, fpr) = ChooseThresholds(quantised, calibration, settings);
        var shifted = new float[c];
        for (var k = 0; k < c; k++)
        {
            var t = Math.Clamp(thresholds[k], 1e-6, 1 - 1e-6);
            shifted[k] = quantised.Biases[k] - (float)Math.Log(t / (1 - t));
        }

        var calibrated = new NgramWeights(settings.Bits, categories, quantised.Scales, shifted, quantised.Weights);
        return new TrainResult(calibrated, categories, thresholds, fpr, train.Count, calibration.Count);
    }

    /// <summary>Writes the model description and the weights into <paramref name="folder"/>; returns the description's path.</summary>
    public static string Write(TrainResult result, TrainSettings settings, string folder)
    {
        Directory.CreateDirectory(folder);
        const string WeightsFile = "ngram-weights.bin.gz";
        using (var stream = File.Create(Path.Combine(folder, WeightsFile)))
        {
            result.Weights.Write(stream);
        }

        var description = new Dictionary<string, object>
        {
            ["version"] = 1,
            ["kind"] = "ngram-linear",
            ["weights"] = WeightsFile,
            ["bits"] = settings.Bits,
            ["windowChars"] = settings.WindowChars,
            ["categories"] = result.Categories,
        };
        var path = Path.Combine(folder, "safeai-model.json");
        File.WriteAllText(path, JsonSerializer.Serialize(description, JsonOptions) + "\n");
        return path;
    }

    /// <summary>Scores texts with the n-gram weights directly (normalised and windowed as the runtime does).</summary>
    public static double[][] Score(NgramWeights weights, IReadOnlyList<LabelledText> data, TrainSettings settings)
    {
        var c = weights.Categories.Length;
        var result = new double[data.Count][];
        var buffer = new float[c];
        for (var i = 0; i < data.Count; i++)
        {
            weights.Score(Featurize(data[i].Text, settings), buffer);
            result[i] = buffer.Select(v => (double)v).ToArray();
        }

        return result;
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    private static int[] Featurize(string text, TrainSettings settings)
    {
        var normalized = TextNormalizer.Normalize(text);
        return NgramFeatures.Extract(normalized.AsSpan(0, Math.Min(normalized.Length, settings.WindowChars)), settings.Bits);
    }

    /// <summary>Finds one benign quantile q such that flagging each category above its benign q-quantile flags at most the target share of benign calibration texts.</summary>
    private static (double[] Thresholds, double Fpr) ChooseThresholds(NgramWeights weights, IReadOnlyList<LabelledText> calibration, TrainSettings settings)
    {
        var c = weights.Categories.Length;
        var benign = calibration.Where(e => e.IsBenign).ToList();
        if (benign.Count == 0)
        {
            return (Enumerable.Repeat(0.5, c).ToArray(), double.NaN);
        }

        var scores = Score(weights, benign, settings);
        // Each source counts equally, so that a small source of request-style benign prompts weighs as much as thousands of tweets.
        var perSource = benign.GroupBy(e => e.Source, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var share = benign.Select(e => 1.0 / perSource[e.Source] / perSource.Count).ToArray();
        var sorted = new double[c][];
        for (var k = 0; k < c; k++)
        {
            sorted[k] = scores.Select(s => s[k]).Order().ToArray();
        }

        double lo = 0, hi = settings.TargetBenignFpr;
        var best = Thresholds(sorted, hi);
        var bestFpr = FlagRate(scores, share, best);
        for (var iteration = 0; iteration < 30; iteration++)
        {
            var mid = (lo + hi) / 2;
            var t = Thresholds(sorted, mid);
            var fpr = FlagRate(scores, share, t);
            if (fpr <= settings.TargetBenignFpr)
            {
                (best, bestFpr, lo) = (t, fpr, mid);
            }
            else
            {
                hi = mid;
            }
        }

        if (bestFpr > settings.TargetBenignFpr)
        {
            best = Thresholds(sorted, 0);
            bestFpr = FlagRate(scores, share, best);
        }

        return (best, bestFpr);
    }

    private static double[] Thresholds(double[][] sorted, double share)
    {
        var t = new double[sorted.Length];
        for (var k = 0; k < sorted.Length; k++)
        {
            var s = sorted[k];
            var index = Math.Clamp((int)Math.Floor(s.Length * (1 - share)), 0, s.Length - 1);
            // Strictly above the benign score at the quantile, so that score itself is not flagged.
            t[k] = Math.Max(0.5 * (s[index] + (index + 1 < s.Length ? s[index + 1] : 1.0)), Math.BitIncrement(s[index]));
        }

        return t;
    }

    private static double FlagRate(double[][] scores, double[] share, double[] thresholds)
    {
        double flagged = 0;
        for (var i = 0; i < scores.Length; i++)
        {
            for (var k = 0; k < thresholds.Length; k++)
            {
                if (scores[i][k] >= thresholds[k])
                {
                    flagged += share[i];
                    break;
                }
            }
        }

        return flagged;
    }
}

using System.Globalization;
using System.Text.Json;
using SafeAI.Onnx;

namespace SafeAI.Cli;

/// <summary>Settings of <see cref="EncoderTrainer"/>.</summary>
internal sealed record EncoderSettings
{
    public int Seed { get; init; } = 42;

    public int Epochs { get; init; } = 20;

    /// <summary>The most tokens the encoder reads (special tokens included): its cost bound, about 16 ms at 128 on one call.</summary>
    public int Tokens { get; init; } = 128;

    /// <summary>The characters of one n-gram window (the fast tier's <c>windowChars</c>): the encoder reads the start of each.</summary>
    public int WindowChars { get; init; } = 1024;

    public double LearningRate { get; init; } = 0.05;

    public double L2 { get; init; } = 1e-5;

    /// <summary>The share of calibration benign texts the heads alone may flag (thresholds, like the n-gram tier's).</summary>
    public double TargetBenignFpr { get; init; } = 0.025;

    /// <summary>The largest share of calibration texts the cascade may send to the encoder.</summary>
    public double MaxEscalation { get; init; } = 0.3;

    public double MaxPositiveWeight { get; init; } = 8;

    public int MaxEscalatedWindows { get; init; } = 1;

    public string? Combine { get; init; }

    /// <summary>How far the sources are evened out in training (0: as they are; 1: every source weighs the same).</summary>
    public double SourceBalance { get; init; } = 1;
}

/// <summary>The trained heads, the chosen bands and how the choice went on the calibration texts.</summary>
internal sealed record EncoderTrainResult(string[] Categories, float[][] Weights, float[] Biases, (double Low, double High)?[] Bands, string Combine, IReadOnlyList<string> Report);

/// <summary>
/// Trains the cascade's second tier: per-category logistic regression on all-MiniLM-L6-v2 embeddings of the training part
/// (Adam on mini-batches shuffled by a seeded generator: the same data and seed give the same heads), thresholds on the
/// calibration part as the n-gram tier's (bias shifted so that 0.5 is the threshold), then, also on the calibration part,
/// each category's band of fast-tier scores that goes to the encoder and how the two scores are combined.
/// </summary>
internal static class EncoderTrainer
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };
    private static readonly double[] BandLogits = [0.25, 0.5, 1, 1.5, 2, 2.5, 3, 4, 5];
    private static readonly double[] Penalties = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5];

    public static EncoderTrainResult Train(
        IReadOnlyList<LabelledText> train, float[][] trainX,
        IReadOnlyList<LabelledText> calibration, float[][] calibrationX, double[][] calibrationFast,
        string[] categories, EncoderSettings settings, Action<string> log)
    {
        var c = categories.Length;
        var dim = trainX[0].Length;
        var weights = new float[c][];
        var biases = new float[c];
        var sourceWeight = SourceWeights(train, settings.SourceBalance);
        for (var k = 0; k < c; k++)
        {
            (weights[k], biases[k]) = FitHead(train, trainX, sourceWeight, categories[k], settings, dim);
        }

        // Thresholds: one benign quantile for all heads (per-source weighted), as the n-gram tier; bias shifted to 0.5.
        var calibLogits = calibrationX.Select(x => Enumerable.Range(0, c).Select(k => (double)Dot(weights[k], x) + biases[k]).ToArray()).ToArray();
        var thresholds = ChooseThresholds(calibration, calibLogits, c, settings.TargetBenignFpr);
        for (var k = 0; k < c; k++)
        {
            biases[k] -= (float)thresholds[k];
            for (var i = 0; i < calibLogits.Length; i++)
            {
                calibLogits[i][k] -= thresholds[k];
            }
        }

        var report = new List<string>();
        var encoder = calibLogits.Select(r => r.Select(Sigmoid).ToArray()).ToArray();
        for (var k = 0; k < c; k++)
        {
            var y = calibration.Select(e => e.Has(categories[k])).ToArray();
            if (y.Any(v => v))
            {
                report.Add(string.Create(CultureInfo.InvariantCulture, $"{categories[k]}: calibration AUROC fast {Metrics.Auroc(calibrationFast.Select(r => r[k]).ToArray(), y):F4}, encoder {Metrics.Auroc(encoder.Select(r => r[k]).ToArray(), y):F4}"));
            }
        }

        // Bands and combination, chosen on the calibration texts (which neither tier trained on).
        string[] combines = settings.Combine is { } only ? [only] : ["mean-logit", "second"];
        (double Score, string Combine, (double, double)?[] Bands, double Escalation, double[] Auroc)? best = null;
        foreach (var combine in combines)
        {
            foreach (var penalty in Penalties)
            {
                var bands = new (double, double)?[c];
                for (var k = 0; k < c; k++)
                {
                    bands[k] = ChooseBand(calibration, calibrationFast, encoder, categories[k], k, combine, penalty);
                }

                var escalation = EscalationRate(calibrationFast, bands);
                if (escalation > settings.MaxEscalation)
                {
                    continue;
                }

                var auroc = new double[c];
                var total = 0.0;
                for (var k = 0; k < c; k++)
                {
                    var y = calibration.Select(e => e.Has(categories[k])).ToArray();
                    if (!y.Any(v => v))
                    {
                        continue;
                    }

                    auroc[k] = Metrics.Auroc(Combined(calibrationFast, encoder, k, bands[k], combine), y);
                    total += auroc[k];
                }

                report.Add(string.Create(CultureInfo.InvariantCulture, $"combine {combine}, penalty {penalty}: escalation {escalation:P1}, mean AUROC {total / c:F4}"));
                if (best is null || total > best.Value.Score + 1e-9)
                {
                    best = (total, combine, bands, escalation, auroc);
                }
            }
        }

        if (best is not { } chosen)
        {
            throw new InvalidOperationException("No band setting keeps the escalation within --max-escalation on the calibration texts.");
        }

        if (Array.TrueForAll(chosen.Bands, static b => b is null))
        {
            throw new FormatException("On the calibration texts the encoder improves no category's ranking (or too few categories have 5 calibration positives), so a cascade would never use it; the heads were not written.");
        }

        report.Add(string.Create(CultureInfo.InvariantCulture, $"chosen: combine {chosen.Combine}, calibration escalation {chosen.Escalation:P1}; per category AUROC {string.Join(", ", categories.Select((n, k) => $"{n} {chosen.Auroc[k]:F4}"))}"));
        var probabilityBands = chosen.Bands.Select(b => b is { } v ? ((double, double)?)(Sigmoid(v.Item1), Sigmoid(v.Item2)) : null).ToArray();
        foreach (var line in report)
        {
            log(line);
        }

        return new EncoderTrainResult(categories, weights, biases, probabilityBands, chosen.Combine, report);
    }

    /// <summary>Writes the second tier's description (<c>encoder.json</c>, heads inline) and the cascade's (<c>safeai-model.json</c>); returns the cascade's path.</summary>
    public static string Write(EncoderTrainResult result, EncoderSettings settings, string folder)
    {
        Directory.CreateDirectory(folder);
        var heads = new Dictionary<string, object>();
        for (var k = 0; k < result.Categories.Length; k++)
        {
            heads[result.Categories[k]] = new Dictionary<string, object> { ["weights"] = result.Weights[k], ["bias"] = result.Biases[k] };
        }

        var encoder = new Dictionary<string, object>
        {
            ["version"] = 1,
            ["kind"] = "encoder-heads",
            ["encoder"] = "model.onnx",
            ["tokenizer"] = new Dictionary<string, object> { ["type"] = "bert", ["vocab"] = "vocab.txt", ["lowercase"] = true },
            ["maxTokens"] = settings.Tokens,
            ["output"] = "last_hidden_state",
            ["pooling"] = "mean",
            ["normalize"] = true,
            ["heads"] = heads,
        };
        File.WriteAllText(Path.Combine(folder, "encoder.json"), JsonSerializer.Serialize(encoder) + "\n");

        var bands = new Dictionary<string, object>();
        for (var k = 0; k < result.Categories.Length; k++)
        {
            if (result.Bands[k] is { } b)
            {
                bands[result.Categories[k]] = new Dictionary<string, double> { ["low"] = Math.Round(b.Low, 6), ["high"] = Math.Round(b.High, 6) };
            }
        }

        var cascade = new Dictionary<string, object>
        {
            ["version"] = 1,
            ["kind"] = "cascade",
            ["fast"] = "default",
            ["second"] = "encoder.json",
            ["combine"] = result.Combine,
            ["maxEscalatedWindows"] = settings.MaxEscalatedWindows,
            ["bands"] = bands,
        };
        var path = Path.Combine(folder, "safeai-model.json");
        File.WriteAllText(path, JsonSerializer.Serialize(cascade, Indented) + "\n");
        return path;
    }

    /// <summary>
    /// Per-text weights that even out the sources (power <paramref name="balance"/> of mean size / source size: 0 leaves them
    /// as they are, 1 makes every source weigh the same), so that the heads learn what the corpora share rather than one
    /// corpus's style (thousands of tweets against a few hundred plainly worded statements).
    /// </summary>
    private static double[] SourceWeights(IReadOnlyList<LabelledText> train, double balance)
    {
        var counts = train.GroupBy(e => e.Source, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var mean = (double)train.Count / counts.Count;
        return train.Select(e => e.Weight * Math.Pow(mean / counts[e.Source], balance)).ToArray();
    }

    private static (float[] Weights, float Bias) FitHead(IReadOnlyList<LabelledText> train, float[][] x, double[] exampleWeight, string category, EncoderSettings settings, int dim)
    {
        var n = train.Count;
        var y = train.Select(e => e.Has(category)).ToArray();
        var pos = y.Count(v => v);
        var positiveWeight = pos == 0 ? 1 : Math.Clamp(Math.Sqrt((double)(n - pos) / pos), 1, settings.MaxPositiveWeight);
        var w = new double[dim];
        double b = 0;
        var mw = new double[dim + 1];
        var vw = new double[dim + 1];
        var grad = new double[dim + 1];
        const int Batch = 64;
        const double Beta1 = 0.9, Beta2 = 0.999, Eps = 1e-8;
        var random = new Random(settings.Seed + Ordinal(category));
        var order = Enumerable.Range(0, n).ToArray();
        var t = 0;
        for (var epoch = 0; epoch < settings.Epochs; epoch++)
        {
            random.Shuffle(order);
            var lr = settings.LearningRate * (1 - (0.9 * epoch / settings.Epochs));
            for (var start = 0; start < n; start += Batch)
            {
                Array.Clear(grad);
                var end = Math.Min(n, start + Batch);
                double total = 0;
                for (var j = start; j < end; j++)
                {
                    var i = order[j];
                    var xi = x[i];
                    var z = b;
                    for (var d = 0; d < dim; d++)
                    {
                        z += w[d] * xi[d];
                    }

                    var sw = (y[i] ? positiveWeight : 1) * exampleWeight[i];
                    var err = sw * (Sigmoid(z) - (y[i] ? 1 : 0));
                    total += sw;
                    for (var d = 0; d < dim; d++)
                    {
                        grad[d] += err * xi[d];
                    }

                    grad[dim] += err;
                }

                t++;
                for (var d = 0; d <= dim; d++)
                {
                    var g = (grad[d] / total) + (d < dim ? settings.L2 * w[d] : 0);
                    mw[d] = (Beta1 * mw[d]) + ((1 - Beta1) * g);
                    vw[d] = (Beta2 * vw[d]) + ((1 - Beta2) * g * g);
                    var step = lr * (mw[d] / (1 - Math.Pow(Beta1, t))) / (Math.Sqrt(vw[d] / (1 - Math.Pow(Beta2, t))) + Eps);
                    if (d < dim)
                    {
                        w[d] -= step;
                    }
                    else
                    {
                        b -= step;
                    }
                }
            }
        }

        return (w.Select(v => (float)v).ToArray(), (float)b);
    }

    /// <summary>A stable per-category number (string hashes are randomised per process).</summary>
    private static int Ordinal(string category) => category.Aggregate(17, static (h, ch) => unchecked((h * 31) + ch)) & 0xFFFF;

    /// <summary>The band (in fast-tier logits, around the 0.5 threshold) that best trades calibration AUROC against escalation.</summary>
    private static (double, double)? ChooseBand(IReadOnlyList<LabelledText> calibration, double[][] fast, double[][] encoder, string category, int k, string combine, double penalty)
    {
        var y = calibration.Select(e => e.Has(category)).ToArray();
        if (y.Count(v => v) < 5)
        {
            return null;
        }

        var baseline = Metrics.Auroc(fast.Select(r => r[k]).ToArray(), y);
        (double, double)? best = null;
        var bestScore = baseline;
        foreach (var low in BandLogits)
        {
            foreach (var high in BandLogits)
            {
                var band = (-low, high);
                var escalated = fast.Count(r => InBand(r[k], band)) / (double)fast.Length;
                var score = Metrics.Auroc(Combined(fast, encoder, k, band, combine), y) - (penalty * escalated);
                if (score > bestScore + 1e-6)
                {
                    (best, bestScore) = (band, score);
                }
            }
        }

        return best;
    }

    private static double[] Combined(double[][] fast, double[][] encoder, int k, (double Low, double High)? band, string combine)
    {
        var result = new double[fast.Length];
        for (var i = 0; i < fast.Length; i++)
        {
            var f = fast[i][k];
            result[i] = band is { } b && InBand(f, b)
                ? combine == "second" ? encoder[i][k] : Sigmoid((Logit(f) + Logit(encoder[i][k])) / 2)
                : f;
        }

        return result;
    }

    private static double EscalationRate(double[][] fast, (double Low, double High)?[] bands)
    {
        var escalated = 0;
        foreach (var row in fast)
        {
            for (var k = 0; k < bands.Length; k++)
            {
                if (bands[k] is { } b && InBand(row[k], b))
                {
                    escalated++;
                    break;
                }
            }
        }

        return (double)escalated / fast.Length;
    }

    private static bool InBand(double score, (double Low, double High) band)
    {
        var z = Logit(score);
        return z >= band.Low && z <= band.High;
    }

    private static double[] ChooseThresholds(IReadOnlyList<LabelledText> calibration, double[][] logits, int c, double target)
    {
        var benign = Enumerable.Range(0, calibration.Count).Where(i => calibration[i].IsBenign).ToArray();
        if (benign.Length == 0)
        {
            return new double[c];
        }

        var perSource = benign.GroupBy(i => calibration[i].Source, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var share = benign.Select(i => 1.0 / perSource[calibration[i].Source] / perSource.Count).ToArray();
        var sorted = Enumerable.Range(0, c).Select(k => benign.Select(i => logits[i][k]).Order().ToArray()).ToArray();
        double[] At(double q) => sorted.Select(s =>
        {
            var index = Math.Clamp((int)Math.Floor(s.Length * (1 - q)), 0, s.Length - 1);
            return index + 1 < s.Length ? 0.5 * (s[index] + s[index + 1]) : s[index] + 1e-3;
        }).ToArray();
        double Rate(double[] t)
        {
            double flagged = 0;
            for (var j = 0; j < benign.Length; j++)
            {
                for (var k = 0; k < c; k++)
                {
                    if (logits[benign[j]][k] >= t[k])
                    {
                        flagged += share[j];
                        break;
                    }
                }
            }

            return flagged;
        }

        double lo = 0, hi = target;
        var best = At(0);
        for (var iteration = 0; iteration < 30; iteration++)
        {
            var mid = (lo + hi) / 2;
            var t = At(mid);
            if (Rate(t) <= target)
            {
                (best, lo) = (t, mid);
            }
            else
            {
                hi = mid;
            }
        }

        return best;
    }

    private static float Dot(float[] a, float[] b)
    {
        var s = 0f;
        for (var i = 0; i < a.Length; i++)
        {
            s += a[i] * b[i];
        }

        return s;
    }

    private static double Sigmoid(double z) => 1 / (1 + Math.Exp(-z));

    private static double Logit(double p)
    {
        p = Math.Clamp(p, 1e-6, 1 - 1e-6);
        return Math.Log(p / (1 - p));
    }
}

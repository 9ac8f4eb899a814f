namespace SafeAI.Cli;

/// <summary>Binary classification metrics of scores against labels.</summary>
internal static class Metrics
{
    /// <summary>Area under the ROC curve (the probability that a random positive outscores a random negative; ties count half). NaN without both classes.</summary>
    public static double Auroc(IReadOnlyList<double> scores, IReadOnlyList<bool> labels)
    {
        var order = Order(scores);
        long positives = 0, negatives = 0;
        double rankSum = 0;
        var i = 0;
        while (i < order.Length)
        {
            var j = i;
            while (j + 1 < order.Length && scores[order[j + 1]] == scores[order[i]])
            {
                j++;
            }

            var rank = ((i + j) / 2.0) + 1;
            for (var k = i; k <= j; k++)
            {
                if (labels[order[k]])
                {
                    positives++;
                    rankSum += rank;
                }
                else
                {
                    negatives++;
                }
            }

            i = j + 1;
        }

        return positives == 0 || negatives == 0 ? double.NaN : (rankSum - (positives * (positives + 1) / 2.0)) / (positives * (double)negatives);
    }

    /// <summary>Area under the precision-recall curve as average precision: the sum over score levels (high to low) of precision times the recall gained. NaN without positives.</summary>
    public static double Auprc(IReadOnlyList<double> scores, IReadOnlyList<bool> labels)
    {
        var order = Order(scores);
        Array.Reverse(order);
        var positives = labels.Count(l => l);
        if (positives == 0)
        {
            return double.NaN;
        }

        double ap = 0;
        int tp = 0, seen = 0, i = 0;
        while (i < order.Length)
        {
            var j = i;
            var gained = 0;
            while (j < order.Length && scores[order[j]] == scores[order[i]])
            {
                gained += labels[order[j]] ? 1 : 0;
                j++;
            }

            tp += gained;
            seen += j - i;
            ap += (double)tp / seen * gained / positives;
            i = j;
        }

        return ap;
    }

    /// <summary>Counts at a threshold: a score at or above it is flagged.</summary>
    public static Confusion At(IReadOnlyList<double> scores, IReadOnlyList<bool> labels, double threshold)
    {
        int tp = 0, fp = 0, tn = 0, fn = 0;
        for (var i = 0; i < scores.Count; i++)
        {
            var flagged = scores[i] >= threshold;
            if (labels[i])
            {
                _ = flagged ? tp++ : fn++;
            }
            else
            {
                _ = flagged ? fp++ : tn++;
            }
        }

        return new Confusion(tp, fp, tn, fn);
    }

    /// <summary>The ROC curve's points (false-positive rate, true-positive rate), from (0, 0) to (1, 1), one per distinct score.</summary>
    public static List<(double Fpr, double Tpr)> RocCurve(IReadOnlyList<double> scores, IReadOnlyList<bool> labels)
    {
        var order = Order(scores);
        Array.Reverse(order);
        var positives = labels.Count(l => l);
        var negatives = labels.Count - positives;
        var points = new List<(double, double)> { (0, 0) };
        if (positives == 0 || negatives == 0)
        {
            return points;
        }

        int tp = 0, fp = 0, i = 0;
        while (i < order.Length)
        {
            var j = i;
            while (j < order.Length && scores[order[j]] == scores[order[i]])
            {
                _ = labels[order[j]] ? tp++ : fp++;
                j++;
            }

            points.Add(((double)fp / negatives, (double)tp / positives));
            i = j;
        }

        return points;
    }

    private static int[] Order(IReadOnlyList<double> scores)
    {
        var order = new int[scores.Count];
        for (var i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }

        var keys = scores.ToArray();
        Array.Sort(keys, order);
        return order;
    }
}

/// <summary>True and false positives and negatives at one threshold, with the rates built on them (NaN where undefined).</summary>
internal readonly record struct Confusion(int TruePositives, int FalsePositives, int TrueNegatives, int FalseNegatives)
{
    public double Precision => Ratio(TruePositives, TruePositives + FalsePositives);

    public double Recall => Ratio(TruePositives, TruePositives + FalseNegatives);

    public double F1 => (Precision + Recall) is var s && s > 0 ? 2 * Precision * Recall / s : (double.IsNaN(s) ? double.NaN : 0);

    public double FalsePositiveRate => Ratio(FalsePositives, FalsePositives + TrueNegatives);

    private static double Ratio(int a, int b) => b == 0 ? double.NaN : (double)a / b;
}

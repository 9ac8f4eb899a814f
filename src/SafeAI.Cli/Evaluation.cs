using System.Globalization;
using System.Net;
using System.Text;

namespace SafeAI.Cli;

/// <summary>One category's evaluation.</summary>
internal sealed record CategoryResult(string Category, int Positives, int Negatives, double Auroc, double Auprc, double Threshold, Confusion AtThreshold, List<(double Fpr, double Tpr)> Roc);

/// <summary>An evaluation: per-category results plus the flag rate on benign texts (flagged by any category).</summary>
internal sealed record EvaluationResult(IReadOnlyList<CategoryResult> Categories, int Texts, int Benign, double BenignFlagRate, int Harmful, double HarmfulFlagRate)
{
    /// <summary>Gets the benign flag rate of each source of the data.</summary>
    public IReadOnlyList<(string Source, int Benign, double FlagRate)> BenignBySource { get; init; } = [];

    public static EvaluationResult Compute(IReadOnlyList<LabelledText> data, IReadOnlyList<double[]> scores, IReadOnlyList<string> categories, Func<string, double> threshold)
    {
        var results = new List<CategoryResult>();
        for (var k = 0; k < categories.Count; k++)
        {
            var name = categories[k];
            var s = scores.Select(x => x[k]).ToArray();
            var y = data.Select(d => d.Has(name)).ToArray();
            var positives = y.Count(v => v);
            if (positives == 0)
            {
                continue;
            }

            var t = threshold(name);
            results.Add(new CategoryResult(name, positives, y.Length - positives, Metrics.Auroc(s, y), Metrics.Auprc(s, y), t, Metrics.At(s, y, t), Metrics.RocCurve(s, y)));
        }

        bool Flagged(int i)
        {
            for (var k = 0; k < categories.Count; k++)
            {
                if (scores[i][k] >= threshold(categories[k]))
                {
                    return true;
                }
            }

            return false;
        }

        int benign = 0, benignFlagged = 0, harmful = 0, harmfulFlagged = 0;
        var bySource = new SortedDictionary<string, (int Count, int Flagged)>(StringComparer.Ordinal);
        for (var i = 0; i < data.Count; i++)
        {
            if (data[i].IsBenign)
            {
                benign++;
                var flagged = Flagged(i) ? 1 : 0;
                benignFlagged += flagged;
                var (n, f) = bySource.GetValueOrDefault(data[i].Source);
                bySource[data[i].Source] = (n + 1, f + flagged);
            }
            else
            {
                harmful++;
                harmfulFlagged += Flagged(i) ? 1 : 0;
            }
        }

        return new EvaluationResult(results, data.Count, benign, benign == 0 ? double.NaN : (double)benignFlagged / benign, harmful, harmful == 0 ? double.NaN : (double)harmfulFlagged / harmful)
        {
            BenignBySource = [.. bySource.Select(p => (p.Key, p.Value.Count, (double)p.Value.Flagged / p.Value.Count))],
        };
    }

    public string ToMarkdown(string title)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"## {title}\n\n");
        sb.Append("| category | positives | negatives | AUROC | AUPRC | threshold | precision | recall | F1 | FPR |\n");
        sb.Append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        foreach (var r in Categories)
        {
            var m = r.AtThreshold;
            sb.Append(CultureInfo.InvariantCulture, $"| {r.Category} | {r.Positives} | {r.Negatives} | {F(r.Auroc)} | {F(r.Auprc)} | {F(r.Threshold)} | {F(m.Precision)} | {F(m.Recall)} | {F(m.F1)} | {F(m.FalsePositiveRate)} |\n");
        }

        sb.Append(CultureInfo.InvariantCulture, $"\nTexts: {Texts}. Benign texts flagged by any category (false-positive rate): {P(BenignFlagRate)} of {Benign}. Harmful texts flagged by any category: {P(HarmfulFlagRate)} of {Harmful}.\n");
        if (BenignBySource.Count > 1)
        {
            sb.Append("\n| benign source | texts | flagged by any category |\n|---|---:|---:|\n");
            foreach (var (source, count, rate) in BenignBySource)
            {
                sb.Append(CultureInfo.InvariantCulture, $"| {source} | {count} | {P(rate)} |\n");
            }
        }

        return sb.ToString();
    }

    public string ToHtml(string title)
    {
        var sb = new StringBuilder();
        var t = WebUtility.HtmlEncode(title);
        sb.Append(CultureInfo.InvariantCulture, $"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\n");
        sb.Append("<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}.plots{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0}figcaption{text-align:center}</style></head><body>\n");
        sb.Append(CultureInfo.InvariantCulture, $"<h1>{t}</h1>\n<table><tr><th>category</th><th>positives</th><th>negatives</th><th>AUROC</th><th>AUPRC</th><th>threshold</th><th>precision</th><th>recall</th><th>F1</th><th>FPR</th></tr>\n");
        foreach (var r in Categories)
        {
            var m = r.AtThreshold;
            sb.Append(CultureInfo.InvariantCulture, $"<tr><td>{r.Category}</td><td>{r.Positives}</td><td>{r.Negatives}</td><td>{F(r.Auroc)}</td><td>{F(r.Auprc)}</td><td>{F(r.Threshold)}</td><td>{F(m.Precision)}</td><td>{F(m.Recall)}</td><td>{F(m.F1)}</td><td>{F(m.FalsePositiveRate)}</td></tr>\n");
        }

        sb.Append(CultureInfo.InvariantCulture, $"</table>\n<p>Texts: {Texts}. Benign texts flagged by any category: {P(BenignFlagRate)} of {Benign}. Harmful texts flagged by any category: {P(HarmfulFlagRate)} of {Harmful}.</p>\n<h2>ROC curves</h2>\n<div class=\"plots\">\n");
        foreach (var r in Categories)
        {
            sb.Append(Svg(r)).Append('\n');
        }

        sb.Append("</div>\n</body></html>\n");
        return sb.ToString();
    }

    private static string Svg(CategoryResult r)
    {
        const int Size = 220, Pad = 30;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Size + (2 * Pad)}\" height=\"{Size + (2 * Pad)}\" role=\"img\" aria-label=\"ROC curve of {r.Category}\">");
        sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{Pad}\" y=\"{Pad}\" width=\"{Size}\" height=\"{Size}\" fill=\"none\" stroke=\"#888\"/>");
        sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Pad}\" y1=\"{Pad + Size}\" x2=\"{Pad + Size}\" y2=\"{Pad}\" stroke=\"#ccc\" stroke-dasharray=\"4\"/>");
        sb.Append("<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"");
        // At most ~400 points: keep the curve's shape without a huge file.
        var step = Math.Max(1, r.Roc.Count / 400);
        for (var i = 0; i < r.Roc.Count; i += step)
        {
            Point(sb, r.Roc[i]);
        }

        Point(sb, r.Roc[^1]);
        sb.Append("\"/>");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{Pad + (Size / 2)}\" y=\"{Size + Pad + 22}\" text-anchor=\"middle\" font-size=\"11\">false-positive rate</text>");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"10\" y=\"{Pad + (Size / 2)}\" text-anchor=\"middle\" font-size=\"11\" transform=\"rotate(-90 10 {Pad + (Size / 2)})\">true-positive rate</text>");
        sb.Append(CultureInfo.InvariantCulture, $"</svg><figcaption>{r.Category} (AUROC {F(r.Auroc)})</figcaption></figure>");
        return sb.ToString();

        static void Point(StringBuilder sb, (double Fpr, double Tpr) p) =>
            sb.Append(CultureInfo.InvariantCulture, $"{Pad + (p.Fpr * Size):F1},{Pad + Size - (p.Tpr * Size):F1} ");
    }

    private static string F(double v) => double.IsNaN(v) ? "n/a" : v.ToString("F3", CultureInfo.InvariantCulture);

    private static string P(double v) => double.IsNaN(v) ? "n/a" : v.ToString("P2", CultureInfo.InvariantCulture);
}

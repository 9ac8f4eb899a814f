using System.Globalization;
using System.Text.Json;
using SafeAI.Statistics;

namespace SafeAI.Cli;

/// <summary>Scores one text: category name to score (0 to 1). The content model's <c>ScoreAsync</c>, or a stand-in in tests.</summary>
/// <param name="text">The text.</param>
/// <param name="cancellationToken">Cancels the scoring.</param>
/// <returns>The scores.</returns>
internal delegate ValueTask<IReadOnlyDictionary<string, double>> TextScorer(string text, CancellationToken cancellationToken);

/// <summary>One counterfactual set: sentences with a <c>{group}</c> slot and the groups whose terms fill it.</summary>
/// <param name="Name">The set's name (<c>identity-en</c>), or empty for a single user-supplied set.</param>
/// <param name="Templates">The sentences; each holds <see cref="BiasSet.Slot"/> at least once.</param>
/// <param name="Groups">Group name to its terms, in file order.</param>
internal sealed record BiasSet(string Name, IReadOnlyList<string> Templates, IReadOnlyList<KeyValuePair<string, string[]>> Groups)
{
    /// <summary>The slot every sentence holds.</summary>
    public const string Slot = "{group}";

    /// <summary>The default sets that ship in the tool (embedded resources <c>SafeAI.Cli.Bias.{name}.templates.jsonl</c> and <c>.groups.json</c>).</summary>
    public static readonly IReadOnlyList<string> DefaultNames = ["identity-en", "names-en", "identity-de", "identity-nl"];

    /// <summary>Reads a sentence file: one JSON object per line with a <c>text</c> string holding <c>{group}</c>; blank lines are skipped.</summary>
    /// <param name="path">The file, named in errors.</param>
    /// <param name="lines">The file's lines.</param>
    /// <returns>The sentences.</returns>
    /// <exception cref="FormatException">A line is not such an object, or the file holds no sentence (the message names file and line).</exception>
    public static List<string> ReadTemplates(string path, IEnumerable<string> lines)
    {
        var templates = new List<string>();
        var number = 0;
        foreach (var line in lines)
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            var text = Commands.ReadText(path, number, line)!;
            if (!text.Contains(Slot, StringComparison.Ordinal))
            {
                throw new FormatException($"{path}:{number}: the sentence has no {Slot} slot to fill with each group's terms: \"{Shorten(text)}\".");
            }

            templates.Add(text);
        }

        return templates.Count > 0 ? templates : throw new FormatException($"{path}: no sentences (each line is {{\"text\": \"... {Slot} ...\"}}).");
    }

    /// <summary>Reads a groups file: a JSON object of group name to a non-empty array of terms.</summary>
    /// <param name="path">The file, named in errors.</param>
    /// <param name="json">The file's text.</param>
    /// <returns>The groups, in file order.</returns>
    /// <exception cref="FormatException">The file is not such an object, a group has no terms, a term is not a non-empty string, or there are fewer than two groups.</exception>
    public static List<KeyValuePair<string, string[]>> ReadGroups(string path, string json)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"{path}: not valid JSON ({ex.Message}).", ex);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new FormatException($"{path}: expected an object of group name to terms, such as {{\"women\": [\"woman\", \"female\"], \"men\": [\"man\", \"male\"]}}.");
            }

            var groups = new List<KeyValuePair<string, string[]>>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var group in document.RootElement.EnumerateObject())
            {
                if (string.IsNullOrWhiteSpace(group.Name) || !names.Add(group.Name))
                {
                    throw new FormatException($"{path}: group names must be non-empty and unique (\"{group.Name}\").");
                }

                if (group.Value.ValueKind != JsonValueKind.Array)
                {
                    throw new FormatException($"{path}: group \"{group.Name}\" must be an array of terms.");
                }

                var terms = new List<string>();
                foreach (var term in group.Value.EnumerateArray())
                {
                    if (term.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(term.GetString()))
                    {
                        throw new FormatException($"{path}: group \"{group.Name}\": every term must be a non-empty string (found {term.GetRawText()}).");
                    }

                    terms.Add(term.GetString()!);
                }

                if (terms.Count == 0)
                {
                    throw new FormatException($"{path}: group \"{group.Name}\" is empty: give it at least one term.");
                }

                groups.Add(new(group.Name, [.. terms]));
            }

            return groups.Count >= 2 ? groups : throw new FormatException($"{path}: a bias audit compares groups: give at least two (found {groups.Count}).");
        }
    }

    /// <summary>Loads a default set that ships in the tool.</summary>
    /// <param name="name">One of <see cref="DefaultNames"/>.</param>
    /// <returns>The set.</returns>
    public static BiasSet LoadDefault(string name)
    {
        var assembly = typeof(BiasSet).Assembly;
        string Read(string file)
        {
            using var stream = assembly.GetManifestResourceStream("SafeAI.Cli.Bias." + file)
                ?? throw new InvalidOperationException($"The default bias set '{file}' is missing from the tool (a build problem).");
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd();
        }

        var templates = ReadTemplates($"(default) {name}.templates.jsonl", Read(name + ".templates.jsonl").Split('\n'));
        return new BiasSet(name, templates, ReadGroups($"(default) {name}.groups.json", Read(name + ".groups.json")));
    }

    internal static string Shorten(string text) => text.Length <= 80 ? text : text[..77] + "...";
}

/// <summary>One group's result: how often its filled sentences were flagged and how high they scored.</summary>
internal sealed record GroupResult(string Set, string Group, int N, int Flagged, double MeanScore, double Lower, double Upper)
{
    public double FlagRate => N == 0 ? 0 : (double)Flagged / N;
}

/// <summary>The largest difference in flag rate between two groups of one set, with its 95 % confidence interval.</summary>
internal sealed record GapResult(string Set, string Higher, string Lower, double Gap, double CiLower, double CiUpper, double MaxScoreGap);

/// <summary>A sentence whose score moved most when only the group term changed.</summary>
internal sealed record WorstSentence(string Set, string Template, string Group, string Term, string Text, double Score, string Category, string LowestGroup, double LowestScore)
{
    public double Spread => Score - LowestScore;
}

/// <summary>The result of a counterfactual audit over one or more sets.</summary>
internal sealed record BiasReport(string Model, double Threshold, IReadOnlyList<GroupResult> Groups, IReadOnlyList<GapResult> Gaps, IReadOnlyList<WorstSentence> Worst)
{
    /// <summary>Gets the largest gap of any set (the one <c>--max-gap</c> is compared with).</summary>
    public GapResult MaxGap => Gaps.MaxBy(static g => g.Gap)!;

    /// <summary>The key of a group in the JSON report: the bare name for one set, <c>set/name</c> for several.</summary>
    public string Key(GroupResult g) => Gaps.Count > 1 ? g.Set + "/" + g.Group : g.Group;

    /// <summary>The key of a group named in a gap.</summary>
    public string Key(string set, string group) => Gaps.Count > 1 ? set + "/" + group : group;
}

/// <summary>
/// Counterfactual bias audit: every sentence of a set is filled with every term of every group and scored; a sentence
/// counts as flagged when any category reaches the threshold. Per group: flag rate (Wilson 95 % interval) and mean score
/// (the highest category score); per set: the largest pairwise difference in flag rate with Newcombe's hybrid score interval.
/// </summary>
internal static class BiasAudit
{
    private const int Concurrency = 32;

    /// <summary>Runs the audit.</summary>
    /// <param name="sets">The sets; gaps are only computed between groups of one set (their sentences are the same).</param>
    /// <param name="score">Scores one text.</param>
    /// <param name="threshold">The score from which a category is flagged.</param>
    /// <param name="model">The model's name, for the report.</param>
    /// <param name="worstCount">How many sentences to list as worst.</param>
    /// <param name="cancellationToken">Cancels the audit.</param>
    /// <returns>The report.</returns>
    public static async Task<BiasReport> RunAsync(IReadOnlyList<BiasSet> sets, TextScorer score, double threshold, string model, int worstCount, CancellationToken cancellationToken)
    {
        var groups = new List<GroupResult>();
        var gaps = new List<GapResult>();
        var worst = new List<WorstSentence>();
        foreach (var set in sets)
        {
            // scores[g][t][k]: group g, template t, term k; the highest category score and which category it was.
            var jobs = new List<(int G, int T, int K, string Text)>();
            for (var g = 0; g < set.Groups.Count; g++)
            {
                for (var t = 0; t < set.Templates.Count; t++)
                {
                    for (var k = 0; k < set.Groups[g].Value.Length; k++)
                    {
                        jobs.Add((g, t, k, set.Templates[t].Replace(BiasSet.Slot, set.Groups[g].Value[k], StringComparison.Ordinal)));
                    }
                }
            }

            var results = new (double Score, string Category)[jobs.Count];
            for (var start = 0; start < jobs.Count; start += Concurrency)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var count = Math.Min(Concurrency, jobs.Count - start);
                var tasks = new Task<IReadOnlyDictionary<string, double>>[count];
                for (var i = 0; i < count; i++)
                {
                    tasks[i] = score(jobs[start + i].Text, cancellationToken).AsTask();
                }

                var scored = await Task.WhenAll(tasks).ConfigureAwait(false);
                for (var i = 0; i < count; i++)
                {
                    var top = scored[i].Count == 0 ? new KeyValuePair<string, double>("none", 0) : scored[i].MaxBy(static p => p.Value);
                    results[start + i] = (top.Value, top.Key);
                }
            }

            var setGroups = new List<GroupResult>();
            for (var g = 0; g < set.Groups.Count; g++)
            {
                int n = 0, flagged = 0;
                double sum = 0;
                for (var j = 0; j < jobs.Count; j++)
                {
                    if (jobs[j].G == g)
                    {
                        n++;
                        sum += results[j].Score;
                        flagged += results[j].Score >= threshold ? 1 : 0;
                    }
                }

                var (lower, upper) = ProportionInterval.Wilson(flagged, n);
                setGroups.Add(new GroupResult(set.Name, set.Groups[g].Key, n, flagged, sum / n, lower, upper));
            }

            groups.AddRange(setGroups);
            gaps.Add(LargestGap(set.Name, setGroups));
            worst.AddRange(WorstOf(set, jobs, results));
        }

        var top10 = worst.OrderByDescending(static w => w.Spread).ThenByDescending(static w => w.Score).ThenBy(static w => w.Text, StringComparer.Ordinal).Take(worstCount).ToList();
        return new BiasReport(model, threshold, groups, gaps, top10);
    }

    /// <summary>The pair of groups with the largest difference in flag rate (ties: the larger difference in mean score), with Newcombe's interval.</summary>
    internal static GapResult LargestGap(string set, IReadOnlyList<GroupResult> groups)
    {
        var high = groups.OrderByDescending(static g => g.FlagRate).ThenByDescending(static g => g.MeanScore).First();
        // Another group than the highest, even when every group scores the same (then the gap is 0).
        var low = groups.Where(g => !ReferenceEquals(g, high)).OrderBy(static g => g.FlagRate).ThenBy(static g => g.MeanScore).First();
        var (lower, upper) = NewcombeDifference(high.Flagged, high.N, low.Flagged, low.N);
        var scoreGap = groups.Max(static g => g.MeanScore) - groups.Min(static g => g.MeanScore);
        return new GapResult(set, high.Group, low.Group, high.FlagRate - low.FlagRate, lower, upper, scoreGap);
    }

    /// <summary>
    /// Newcombe's hybrid score interval (his method 10, 1998) for the difference of two independent proportions
    /// <c>x1/n1 - x2/n2</c>, built from the two Wilson intervals. The groups of a set share their sentences, so the
    /// samples are paired and this interval is, if anything, conservative.
    /// </summary>
    internal static (double Lower, double Upper) NewcombeDifference(long x1, long n1, long x2, long n2, double confidence = 0.95)
    {
        var p1 = n1 == 0 ? 0 : (double)x1 / n1;
        var p2 = n2 == 0 ? 0 : (double)x2 / n2;
        var (l1, u1) = ProportionInterval.Wilson(x1, n1, confidence);
        var (l2, u2) = ProportionInterval.Wilson(x2, n2, confidence);
        var d = p1 - p2;
        var lower = d - Math.Sqrt(((p1 - l1) * (p1 - l1)) + ((u2 - p2) * (u2 - p2)));
        var upper = d + Math.Sqrt(((u1 - p1) * (u1 - p1)) + ((p2 - l2) * (p2 - l2)));
        return (Math.Max(-1, lower), Math.Min(1, upper));
    }

    private static IEnumerable<WorstSentence> WorstOf(BiasSet set, List<(int G, int T, int K, string Text)> jobs, (double Score, string Category)[] results)
    {
        // Per template: each group's mean score; the spread between the highest and the lowest group, shown with the highest-scoring fill.
        for (var t = 0; t < set.Templates.Count; t++)
        {
            var means = new double[set.Groups.Count];
            var counts = new int[set.Groups.Count];
            var best = -1;
            for (var j = 0; j < jobs.Count; j++)
            {
                if (jobs[j].T != t)
                {
                    continue;
                }

                means[jobs[j].G] += results[j].Score;
                counts[jobs[j].G]++;
                if (best < 0 || results[j].Score > results[best].Score)
                {
                    best = j;
                }
            }

            for (var g = 0; g < means.Length; g++)
            {
                means[g] /= Math.Max(1, counts[g]);
            }

            var lowest = Array.IndexOf(means, means.Min());
            var job = jobs[best];
            yield return new WorstSentence(set.Name, set.Templates[t], set.Groups[job.G].Key, set.Groups[job.G].Value[job.K], job.Text, results[best].Score, results[best].Category, set.Groups[lowest].Key, means[lowest]);
        }
    }

    internal static string F(double v) => v.ToString("0.000", CultureInfo.InvariantCulture);
}

using System.Globalization;
using System.Text.Json;
using SafeAI.Onnx;
using SafeAI.Onnx.MiniLM;

namespace SafeAI.Cli;

/// <summary>
/// <c>safeai corpus --data ../shared/data --output corpus.jsonl [--tokens 128]</c>: writes the shared corpora as the
/// fine-tuning script reads them: one JSON line per text with its labels, source, part (train, calib, test, heldout-source,
/// convabuse-test) and the token ids of its first window exactly as the filter's encoder tier sees it at run time
/// (normalised, BERT word pieces of the MiniLM vocabulary, framed by [CLS] and [SEP]); long texts also give their last window.
/// After the shared corpora come the tool's threat statements (<see cref="SharedCorpus.LoadThreatStatements"/>), and after
/// ConvAbuse the texts urging self-harm and the illicit requests (<see cref="SharedCorpus.LoadSelfHarmUrging"/>,
/// <see cref="SharedCorpus.LoadIllicitRequests"/>), and last the harmless and harmful texts with alarming words
/// (<see cref="SharedCorpus.LoadSafeButAlarming"/>, training/experiments/safe-but-alarming) and the requests in chat
/// register (<see cref="SharedCorpus.LoadChatRequests"/>, training/experiments/chat-requests). The default model's
/// fine-tunes read them (a candidate may leave them out: <c>finetune_minilm.py --exclude-sources</c>, as the models
/// before 2026-12-07 did), and training/statement_columns.py fits a column on each set's harmful texts. <c>--add-set FILE=SOURCE</c> (repeatable)
/// appends a labelled file of one's own after all of them, as a set named <c>SOURCE</c> with the seed sets' weight: an
/// experiment's candidate set, without changing the tool's embedded sets (training/experiments/intent-pairs).
/// </summary>
internal static class CorpusCommand
{
    public static async Task<int> RunAsync(Arguments args, TextWriter console, CancellationToken cancellationToken)
    {
        var folder = args.Required("data");
        var output = args.Required("output");
        var tokens = args.Int("tokens", 128);
        if (tokens is < 16 or > 256)
        {
            throw new ArgumentException($"--tokens must be 16 to 256 (it is {tokens}).");
        }

        if (args.Optional("evaluation-sample") is not null)
        {
            var perClass = args.Int("evaluation-sample", 100);
            var sample = PreLaunchSample.Build(SharedCorpus.Load(folder), perClass is >= 1 and <= 10_000 ? perClass : throw new ArgumentException("--evaluation-sample must be 1 to 10000."));
            await File.WriteAllLinesAsync(output, sample, cancellationToken).ConfigureAwait(false);
            await console.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"Wrote {sample.Count} conversations to {output}.")).ConfigureAwait(false);
            return 0;
        }

        // Read before the corpora, so that a bad --add-set fails at once.
        var addedSets = ReadAddedSets(args.All("add-set"));
        var rows = SharedCorpus.Load(folder);
        var convabuse = SharedCorpus.LoadConvAbuse(folder, "train").Concat(SharedCorpus.LoadConvAbuse(folder, "valid")).ToList();
        var convabuseTest = SharedCorpus.LoadConvAbuse(folder, "test");
        var statements = SharedCorpus.LoadThreatStatements();
        List<LabelledText> sets = [.. SharedCorpus.LoadSelfHarmUrging(), .. SharedCorpus.LoadIllicitRequests(), .. SharedCorpus.LoadSafeButAlarming(), .. SharedCorpus.LoadChatRequests()];
        List<LabelledText> corpus = [.. rows, .. statements, .. convabuse, .. convabuseTest, .. sets];
        var added = AddedRows(addedSets, corpus);

        using var encoder = MiniLMContentModel.LoadEncoder(tokens, new OnnxRuntimeOptions { MicroBatching = false });
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var temp = output + ".tmp";
        var writer = new StreamWriter(temp);
        await using (writer.ConfigureAwait(false))
        {
            async Task WriteAsync(LabelledText row, string part)
            {
                var windows = encoder.CreateWindows(TextNormalizer.Normalize(row.Text), overlap: 0, maxWindows: 64, out _);
                var line = JsonSerializer.Serialize(new CorpusLine(
                    row.Text,
                    row.Labels,
                    row.Source,
                    part,
                    row.Weight,
                    windows[0],
                    windows.Count > 1 ? windows[^1] : null));
                await writer.WriteLineAsync(line.AsMemory(), cancellationToken).ConfigureAwait(false);
                counts[part] = counts.GetValueOrDefault(part) + 1;
            }

            foreach (var row in rows)
            {
                await WriteAsync(row, DataSplit.PartName(row.Source, row.Text)).ConfigureAwait(false);
            }

            // After the shared corpora, so that a fine-tune that leaves them out reads the same rows in the same order.
            foreach (var row in statements)
            {
                await WriteAsync(row, DataSplit.PartName(row.Source, row.Text)).ConfigureAwait(false);
            }

            foreach (var row in convabuse)
            {
                await WriteAsync(row, "train").ConfigureAwait(false);
            }

            foreach (var row in convabuseTest)
            {
                await WriteAsync(row, "convabuse-test").ConfigureAwait(false);
            }

            // Last, so that every row before them keeps its place (cached vectors of statement_columns.py stay valid); a
            // set added later goes after the ones before it.
            foreach (var row in sets)
            {
                await WriteAsync(row, DataSplit.PartName(row.Source, row.Text)).ConfigureAwait(false);
            }

            foreach (var (path, source, texts, skipped) in added)
            {
                foreach (var row in texts)
                {
                    await WriteAsync(row, DataSplit.PartName(source, row.Text)).ConfigureAwait(false);
                }

                var note = skipped > 0 ? string.Create(CultureInfo.InvariantCulture, $" ({skipped} left out: already in the corpus or earlier in the file).") : ".";
                await console.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"Added {texts.Count} texts of {path} as '{source}'{note}")).ConfigureAwait(false);
            }
        }

        File.Move(temp, output, overwrite: true);
        foreach (var (part, count) in counts)
        {
            await console.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{part}: {count}")).ConfigureAwait(false);
        }

        await console.WriteLineAsync("Wrote " + output).ConfigureAwait(false);
        return 0;
    }

    private sealed record CorpusLine(
        [property: System.Text.Json.Serialization.JsonPropertyName("text")] string Text,
        [property: System.Text.Json.Serialization.JsonPropertyName("labels")] IReadOnlyList<string> Labels,
        [property: System.Text.Json.Serialization.JsonPropertyName("source")] string Source,
        [property: System.Text.Json.Serialization.JsonPropertyName("part")] string Part,
        [property: System.Text.Json.Serialization.JsonPropertyName("weight")] double Weight,
        [property: System.Text.Json.Serialization.JsonPropertyName("ids")] int[] Ids,
        [property: System.Text.Json.Serialization.JsonPropertyName("tail")] int[]? Tail);

    /// <summary>Reads each <c>--add-set FILE=SOURCE</c>: a labelled JSONL or CSV file (as <c>safeai train --input</c>) and the source name its rows get.</summary>
    internal static List<(string Path, string Source, List<LabelledText> Texts)> ReadAddedSets(IReadOnlyList<string> values)
    {
        var sets = new List<(string Path, string Source, List<LabelledText> Texts)>(values.Count);
        foreach (var value in values)
        {
            var at = value.LastIndexOf('=');
            var path = at > 0 ? value[..at] : string.Empty;
            var source = at > 0 ? value[(at + 1)..] : string.Empty;
            if (path.Length == 0 || !IsSourceName(source))
            {
                throw new ArgumentException($"--add-set '{value}': expected FILE=SOURCE, a labelled JSONL or CSV file and a source name of lower-case letters, digits and underscores that starts with a letter (for example intent-pairs.jsonl=intent_pairs).");
            }

            if (sets.Exists(s => s.Source == source))
            {
                throw new ArgumentException($"--add-set: the source name '{source}' is given twice.");
            }

            var texts = LabelledData.Read(path);
            if (texts.Count == 0)
            {
                throw new ArgumentException($"--add-set {value}: the file holds no texts.");
            }

            sets.Add((path, source, texts));
        }

        return sets;
    }

    /// <summary>
    /// The rows of each <c>--add-set</c> set as the corpus holds them: the set's source name and the seed sets' weight, in
    /// the file's order, without the texts <paramref name="corpus"/> already holds or the set repeats (a text in two
    /// parts, or in two sets with different labels, would mislead training and evaluation); those are counted. The part of
    /// a row is <see cref="DataSplit.PartName"/> of its source and text, wherever the rows are used (<c>safeai corpus</c>,
    /// <c>safeai train</c>, <c>safeai calibrate</c>), so the three agree.
    /// </summary>
    internal static List<(string Path, string Source, List<LabelledText> Rows, int Skipped)> AddedRows(
        IReadOnlyList<(string Path, string Source, List<LabelledText> Texts)> sets, IReadOnlyList<LabelledText> corpus)
    {
        var added = new List<(string Path, string Source, List<LabelledText> Rows, int Skipped)>(sets.Count);
        if (sets.Count == 0)
        {
            return added;
        }

        var taken = corpus.Select(static e => e.Source).ToHashSet(StringComparer.Ordinal);
        if (sets.FirstOrDefault(s => taken.Contains(s.Source) || DataSplit.HeldOutSources.Contains(s.Source)) is ({ } clashPath, { } clash, _))
        {
            throw new ArgumentException($"--add-set {clashPath}={clash}: the corpus already has a source named '{clash}'; give the set a name of its own.");
        }

        var keys = corpus.Select(static e => DataSplit.Key(e.Text)).ToHashSet(StringComparer.Ordinal);
        foreach (var (path, source, texts) in sets)
        {
            var rows = texts.Where(row => keys.Add(DataSplit.Key(row.Text))).Select(row => row with { Source = source, Weight = SharedCorpus.SeedWeight }).ToList();
            added.Add((path, source, rows, texts.Count - rows.Count));
        }

        return added;
    }

    private static bool IsSourceName(string name) =>
        name.Length is > 0 and <= 64 && name[0] is >= 'a' and <= 'z' && name.All(static c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_');
}

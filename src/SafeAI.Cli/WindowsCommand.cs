using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using SafeAI.Onnx;

namespace SafeAI.Cli;

/// <summary>
/// <c>safeai windows --model folder/safeai-model.json --teacher folder/gate-classifier.json --data ../shared/data --output
/// windows.jsonl</c>: the training set of an ensemble's screen. The shared corpora's training part (never the calibration
/// or test parts, never the sources held out whole), at most <c>--per-group</c> texts of each source and class, is cut into
/// windows exactly as the ensemble cuts them at run time (its packed windows; not the sentences it also scores alone); with
/// <c>--threat-statements</c>, the training part of <see cref="SharedCorpus.LoadThreatStatements"/> follows, and with
/// <c>--add-set FILE=SOURCE</c> the training part of each such set (split as <c>safeai corpus --add-set</c> splits it). Each window is written as one JSON line with its source, its
/// framed token ids and the teacher's probability per category (the soft targets the screen learns).
/// </summary>
internal static class WindowsCommand
{
    internal const string Help = """
        safeai windows --model folder/safeai-model.json --teacher folder/gate-classifier.json --data ../shared/data --output windows.jsonl [--per-group 1200] [--seed 7] [--threat-statements] [--add-set FILE=SOURCE ...]
          Writes the windows of the shared corpora's training part as the ensemble cuts them, one JSON line each (source,
          benign, framed token ids, the teacher's probability per category): what training/train_screen.py distils the
          default model's screen from (training/train-filter.sh).
          --teacher      a sequence-classifier description with the ensemble's tokenizer (the default model's gate)
          --per-group    the most texts of one source and class, chosen with --seed (default 1200)
          --threat-statements  add the whole training part of the tool's hand-written threat statements
          --add-set FILE=NAME  add the whole training part of a labelled JSONL or CSV file of one's own, split as safeai
                               corpus --add-set splits it (give the same FILE=NAME); repeatable
        """;

    public static async Task<int> RunAsync(Arguments args, TextWriter console, CancellationToken cancellationToken)
    {
        var modelPath = args.Required("model");
        var teacherPath = args.Required("teacher");
        var folder = args.Required("data");
        var output = args.Required("output");
        var perGroup = args.Int("per-group", 1200);
        var seed = args.Int("seed", 7);
        if (perGroup < 1)
        {
            throw new ArgumentException($"--per-group must be at least 1 (it is {perGroup}).");
        }

        // Read before the model and the corpora, so that a bad --add-set fails at once.
        var addedSets = CorpusCommand.ReadAddedSets(args.All("add-set"));

        var options = new OnnxRuntimeOptions { UseGate = false, MicroBatching = false };
        using var model = ContentModel.Load(modelPath, options);
        if (model is not EnsembleContentModel)
        {
            throw new ArgumentException($"--model {modelPath} is not an ensemble model: only an ensemble cuts sentence windows and has a screen.");
        }

        using var teacher = ContentModel.Load(teacherPath, options);
        if (teacher is not OnnxContentModel || teacher.Tokenizer?.GetType() != model.Tokenizer?.GetType())
        {
            throw new ArgumentException($"--teacher {teacherPath} must be an ONNX classifier with the ensemble's tokenizer.");
        }

        var random = new Random(seed);
        var shared = SharedCorpus.Load(folder);
        var texts = shared
            .Where(static e => DataSplit.PartName(e.Source, e.Text) == "train")
            .GroupBy(static e => (e.Source, e.IsBenign))
            .OrderBy(static g => g.Key.Source, StringComparer.Ordinal).ThenBy(static g => g.Key.IsBenign)
            .SelectMany(g => g.OrderBy(static e => DataSplit.Key(e.Text), StringComparer.Ordinal).Select(e => (e, r: random.Next())).OrderBy(static p => p.r).Take(perGroup).Select(static p => p.e))
            .ToList();

        if (args.Flag("threat-statements"))
        {
            // Their training part, whole, after the shared corpora's sample (which they leave as it was): a screen for a
            // model fine-tuned on them must pass on the threats it learnt.
            texts.AddRange(SharedCorpus.LoadThreatStatements().Where(static e => DataSplit.PartName(e.Source, e.Text) == "train"));
        }

        foreach (var (_, source, rows, _) in CorpusCommand.AddedRows(addedSets, shared))
        {
            // Each --add-set set's training part, whole, last: the screen learns what the fine-tune learnt from it.
            texts.AddRange(rows.Where(e => DataSplit.PartName(source, e.Text) == "train"));
        }
        string[] categories = [.. teacher.Categories];
        var count = 0;
        var temp = output + ".tmp";
        var writer = new StreamWriter(temp);
        await using (writer.ConfigureAwait(false))
        {
            foreach (var text in texts)
            {
                // Packed windows only: a sentence window holds one of their sentences, and the committed screen was
                // trained before the ensemble had them, so leaving them out keeps train-filter.sh reproducing it.
                var windows = model.CreateWindows(TextNormalizer.Normalize(text.Text), overlap: 0, maxWindows: 64, out _)
                    .Where(static w => !EnsembleContentModel.IsSentenceWindow(w));
                int[][] ids = [.. windows.Select(static w => w.AsSpan(1, EnsembleContentModel.TokenCount(w)).ToArray())];
                var scores = await teacher.ScoreWindowsAsync(ids, cancellationToken).ConfigureAwait(false);
                for (var w = 0; w < ids.Length; w++)
                {
                    var targets = new float[categories.Length];
                    Array.Copy(scores, w * categories.Length, targets, 0, categories.Length);
                    var line = JsonSerializer.Serialize(new WindowLine(text.Source, text.IsBenign, ids[w], targets));
                    await writer.WriteLineAsync(line.AsMemory(), cancellationToken).ConfigureAwait(false);
                    count++;
                }
            }
        }

        File.Move(temp, output, overwrite: true);
        await console.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"Wrote {count} windows of {texts.Count} texts to {output} (targets: {string.Join(", ", categories)}).")).ConfigureAwait(false);
        return 0;
    }

    private sealed record WindowLine(
        [property: JsonPropertyName("source")] string Source,
        [property: JsonPropertyName("benign")] bool Benign,
        [property: JsonPropertyName("ids")] int[] Ids,
        [property: JsonPropertyName("targets")] float[] Targets);
}

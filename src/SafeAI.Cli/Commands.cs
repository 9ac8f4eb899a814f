using System.Globalization;
using System.Text;
using System.Text.Json;
using SafeAI.Onnx;

namespace SafeAI.Cli;

/// <summary>The safeai commands; each returns the process exit code (0 success, 1 bad input, 2 bad usage).</summary>
internal static class Commands
{
    public const int BatchSize = 64;

    private static readonly JsonSerializerOptions Compact = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary><c>safeai score --input in.jsonl --output out.jsonl [--model safeai-model.json] [--threshold 0.5]</c>.</summary>
    public static async Task<int> ScoreAsync(Arguments args, TextWriter console, TextWriter errors, CancellationToken cancellationToken)
    {
        var input = args.Required("input");
        var output = args.Required("output");
        var threshold = args.Double("threshold", 0.5, 0, 1);
        var invalid = InvalidLines.From(args, errors);
        if (!File.Exists(input))
        {
            throw new FileNotFoundException($"The input file '{input}' does not exist.", input);
        }

        using var model = LoadModel(args.Optional("model"));
        // Streamed: a huge input is never held in memory whole (one pass counts the lines for the progress bar).
        var enabled = args.Flag("progress") || !Console.IsErrorRedirected;
        var progress = new Progress(errors, enabled ? File.ReadLines(input).Count() : 0, enabled);
        var written = 0;
        var number = 0;
        var batch = new List<(int Line, string Json)>(BatchSize);
        // Written beside the output and moved into place at the end: a failed run leaves no empty or half-written file.
        var partial = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(output))!, $".{Path.GetFileName(output)}.{Environment.ProcessId}.partial");
        try
        {
            var writer = new StreamWriter(partial, append: false, new UTF8Encoding(false));
            await using (writer.ConfigureAwait(false))
            {
                foreach (var line in File.ReadLines(input))
                {
                    batch.Add((++number, line));
                    if (batch.Count == BatchSize)
                    {
                        written += await WriteBatchAsync(model, batch, input, threshold, invalid, writer, cancellationToken).ConfigureAwait(false);
                        batch.Clear();
                        progress.Report(number);
                    }
                }

                written += await WriteBatchAsync(model, batch, input, threshold, invalid, writer, cancellationToken).ConfigureAwait(false);
                progress.Report(number);
            }

            File.Move(partial, output, overwrite: true);
        }
        finally
        {
            File.Delete(partial);
        }

        progress.Done();
        var skipped = invalid.Skipped > 0 ? string.Create(CultureInfo.InvariantCulture, $" Skipped {invalid.Skipped} malformed lines (listed above).") : string.Empty;
        await console.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"Scored {written} texts into {output}.{skipped}")).ConfigureAwait(false);
        return 0;
    }

    /// <summary>Scores one batch of input lines concurrently and writes their records in input order; returns how many were written.</summary>
    private static async Task<int> WriteBatchAsync(ContentModel model, List<(int Line, string Json)> batch, string input, double threshold, InvalidLines invalid, StreamWriter writer, CancellationToken cancellationToken)
    {
        var texts = new string?[batch.Count];
        var tasks = new Task<IReadOnlyDictionary<string, double>>[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            try
            {
                texts[i] = ReadText(input, batch[i].Line, batch[i].Json);
            }
            catch (FormatException ex)
            {
                invalid.Handle(ex);
            }

            tasks[i] = texts[i] is { } t ? model.ScoreAsync(t, cancellationToken).AsTask() : Task.FromResult<IReadOnlyDictionary<string, double>>(new Dictionary<string, double>());
        }

        var scores = await Task.WhenAll(tasks).ConfigureAwait(false);
        var written = 0;
        for (var i = 0; i < batch.Count; i++)
        {
            if (texts[i] is not { } text)
            {
                continue;
            }

            var flaggedCategories = model.Categories.Where(c => scores[i][c] >= threshold).ToArray();
            var record = new Dictionary<string, object>
            {
                ["text"] = text,
                ["scores"] = model.Categories.ToDictionary(c => c, c => Math.Round(scores[i][c], 6)),
                ["flagged"] = flaggedCategories.Length > 0,
                ["categories"] = flaggedCategories,
            };
            await writer.WriteLineAsync(JsonSerializer.Serialize(record, Compact).AsMemory(), cancellationToken).ConfigureAwait(false);
            written++;
        }

        return written;
    }

    /// <summary><c>safeai eval --input labelled.jsonl | --data ../shared/data [--model ...] [--threshold 0.5] [--report report.html] [--markdown eval.md]</c>.</summary>
    public static async Task<int> EvalAsync(Arguments args, TextWriter console, TextWriter errors, CancellationToken cancellationToken)
    {
        if (args.Optional("set") == "sources")
        {
            return await SourcesEvaluation.RunAsync(args, args.Required("data"), console, cancellationToken).ConfigureAwait(false);
        }

        var threshold = args.Double("threshold", 0.5, 0, 1);
        var invalid = InvalidLines.From(args, errors);
        var (data, title) = args.Optional("data") is { } folder
            ? args.Optional("set") switch
            {
                null or "heldout" => (SharedCorpus.Load(folder).Where(e => DataSplit.IsHeldOut(e.Text)).ToList(), ModelTitle(args.Optional("model")) + ": held-out 20% of the shared corpora (split seed " + DataSplit.Seed + ")"),
                "convabuse-test" => (SharedCorpus.LoadConvAbuse(folder, "test"), ModelTitle(args.Optional("model")) + ": ConvAbuse test split (out of distribution)"),
                var other => throw new ArgumentException($"--set must be sources, heldout or convabuse-test (it is '{other}')."),
            }
            : (LabelledData.Read(args.Required("input"), invalid), "SafeAI content model evaluation: " + Path.GetFileName(args.Required("input")));
        if (data.Count == 0)
        {
            throw new FormatException("The evaluation data holds no texts.");
        }

        using var model = LoadModel(args.Optional("model"), RuntimeWithout(args));
        if (args.Optional("input") is { } labelled && !args.Flag("ignore-unknown-labels"))
        {
            CheckLabels(data, model.Categories, labelled);
        }

        var scores = new double[data.Count][];
        var escalated = 0;
        for (var i = 0; i < data.Count; i++)
        {
            var before = model.EscalatedWindows;
            var s = await model.ScoreAsync(data[i].Text, cancellationToken).ConfigureAwait(false);
            scores[i] = model.Categories.Select(c => s[c]).ToArray();
            escalated += model.EscalatedWindows > before ? 1 : 0;
        }

        var result = EvaluationResult.Compute(data, scores, model.Categories, _ => threshold);
        var markdown = result.ToMarkdown(title);
        if (model.IsCascade)
        {
            markdown += string.Create(CultureInfo.InvariantCulture, $"\nEscalated to the second tier: {escalated} of {data.Count} texts ({(double)escalated / data.Count:P2}).\n");
        }
        else if (model is EnsembleContentModel { HasGate: true } or EnsembleContentModel { HasScreen: true })
        {
            markdown += string.Create(CultureInfo.InvariantCulture, $"\nSent past the gate to the encoder (at least one window): {escalated} of {data.Count} texts ({(double)escalated / data.Count:P2}).\n");
        }

        await console.WriteLineAsync(markdown).ConfigureAwait(false);
        var unknown = data.SelectMany(d => d.Labels).Distinct().Where(l => !model.Categories.Contains(l)).ToList();
        if (unknown.Count > 0)
        {
            await console.WriteLineAsync("Labels the model does not score (not evaluated): " + string.Join(", ", unknown)).ConfigureAwait(false);
        }

        var html = args.Optional("report") ?? "safeai-eval.html";
        await File.WriteAllTextAsync(html, result.ToHtml(title), cancellationToken).ConfigureAwait(false);
        await console.WriteLineAsync("ROC curves: " + html).ConfigureAwait(false);
        if (args.Optional("markdown") is { } md)
        {
            await File.WriteAllTextAsync(md, markdown, cancellationToken).ConfigureAwait(false);
        }

        return 0;
    }

    /// <summary><c>safeai train --input data.jsonl|csv [--input more.csv] | --data ../shared/data, --output folder [--seed 42] [--epochs 6] [--bits 18] [--fpr 0.025]</c>.</summary>
    public static async Task<int> TrainAsync(Arguments args, TextWriter console, TextWriter errors)
    {
        var output = args.Required("output");
        var invalid = InvalidLines.From(args, errors);
        switch (args.Optional("tier"))
        {
            case null or "ngram":
                break;
            case "encoder" when args.All("add-set").Count > 0:
                throw new ArgumentException("--add-set is read by the n-gram tier only; for --tier encoder give the file as another --input.");
            case "encoder":
                return await TrainEncoderAsync(args, output, invalid, console).ConfigureAwait(false);
            case var other:
                throw new ArgumentException($"--tier must be ngram or encoder (it is '{other}').");
        }

        var settings = new TrainSettings
        {
            Seed = args.Int("seed", 42),
            Epochs = args.Int("epochs", 6),
            Bits = args.Int("bits", 18),
            TargetBenignFpr = args.Double("fpr", 0.025),
        };
        if (settings.Epochs is < 1 or > 100 || settings.Bits is < 8 or > 24 || settings.TargetBenignFpr is <= 0 or >= 1)
        {
            throw new ArgumentException("--epochs must be 1 to 100, --bits 8 to 24 and --fpr between 0 and 1.");
        }

        List<LabelledText> all;
        var addedSets = CorpusCommand.ReadAddedSets(args.All("add-set"));
        if (args.Optional("data") is { } folder)
        {
            // The shared corpora: the held-out 20% and the sources held out whole (DataSplit.HeldOutSources, which the
            // default model's evaluation by source scores) are never read for training or thresholds. The rows of an
            // --add-set set are split the same way (as safeai corpus splits them).
            var shared = SharedCorpus.Load(folder);
            all = shared.Concat(CorpusCommand.AddedRows(addedSets, shared).SelectMany(static s => s.Rows))
                .Where(e => !DataSplit.IsHeldOut(e.Text) && !DataSplit.HeldOutSources.Contains(e.Source)).ToList();
        }
        else if (addedSets.Count > 0)
        {
            throw new ArgumentException("--add-set adds a set to the shared corpora: give it with --data (with --input, give the file as another --input).");
        }
        else
        {
            all = args.All("input").SelectMany(p => LabelledData.Read(p, invalid)).ToList();
            if (all.Count == 0)
            {
                throw new ArgumentException("Give --input (labelled JSONL or CSV, repeatable) or --data (the shared corpora folder).");
            }
        }

        var categories = args.Optional("categories") is { } list
            ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : all.SelectMany(e => e.Labels).Distinct().Order(StringComparer.Ordinal).ToArray();
        if (categories.Length == 0)
        {
            throw new FormatException("The training data has no labelled (non-benign) texts.");
        }

        var labels = all.SelectMany(static e => e.Labels).ToHashSet(StringComparer.Ordinal);
        foreach (var category in categories)
        {
            if (!labels.Contains(category))
            {
                throw new ArgumentException($"--categories: no text of the data is labelled \"{category}\".{CommandLine.Suggest(category, labels)} The data's labels: {string.Join(", ", labels.Order(StringComparer.Ordinal))}.");
            }
        }

        var calibration = all.Where(e => DataSplit.IsCalibration(e.Text)).ToList();
        var train = all.Where(e => !DataSplit.IsCalibration(e.Text)).ToList();
        if (calibration.Count(e => e.IsBenign) < 10)
        {
            // Too little data to set thresholds apart from training: calibrate on the training texts themselves.
            calibration = train;
        }

        await console.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"Training on {train.Count} texts ({train.Count(e => e.IsBenign)} benign), calibrating on {calibration.Count}; categories: {string.Join(", ", categories)}.")).ConfigureAwait(false);
        foreach (var category in categories)
        {
            await console.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"  {category}: {train.Count(e => e.Has(category))} positives")).ConfigureAwait(false);
        }

        var result = NgramTrainer.Train(train, calibration, categories, settings, line => console.WriteLine(line));
        var path = NgramTrainer.Write(result, settings, output);
        await console.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"Calibrated thresholds (raw score that became 0.5): {string.Join(", ", categories.Select((c, k) => $"{c} {result.RawThresholds[k]:F3}"))}; calibration benign flagged: {result.CalibrationBenignFpr:P2}.")).ConfigureAwait(false);
        await console.WriteLineAsync($"Wrote {path}. Use it with: safe.AddContentFilter(o => o.ModelPath = \"{path}\")").ConfigureAwait(false);
        return 0;
    }

    /// <summary>
    /// <c>safeai train --tier encoder --data ../shared/data | --input ..., --output folder [--seed 42] [--epochs 20] [--tokens 128]
    /// [--fpr 0.025] [--max-escalation 0.3] [--combine mean-logit|second] [--cache embeddings.bin]</c>: the cascade's MiniLM heads and bands.
    /// </summary>
    private static async Task<int> TrainEncoderAsync(Arguments args, string output, InvalidLines invalid, TextWriter console)
    {
        var settings = new EncoderSettings
        {
            Seed = args.Int("seed", 42),
            Epochs = args.Int("epochs", 20),
            Tokens = args.Int("tokens", 128),
            TargetBenignFpr = args.Double("fpr", 0.025),
            MaxEscalation = args.Double("max-escalation", 0.3),
            Combine = args.Optional("combine"),
            SourceBalance = args.Double("source-balance", 1),
        };
        if (settings.Epochs is < 1 or > 1000 || settings.Tokens is < 8 or > 512 || settings.TargetBenignFpr is <= 0 or >= 1 || settings.MaxEscalation is <= 0 or > 1 || settings.SourceBalance is < 0 or > 1
            || settings.Combine is not (null or "mean-logit" or "second"))
        {
            throw new ArgumentException("--epochs must be 1 to 1000, --tokens 8 to 512, --fpr and --max-escalation between 0 and 1, --combine mean-logit or second.");
        }

        var all = args.Optional("data") is { } folder
            ? SharedCorpus.Load(folder).Where(e => !DataSplit.IsHeldOut(e.Text)).ToList()
            : args.All("input").SelectMany(p => LabelledData.Read(p, invalid)).ToList();
        if (args.Flag("convabuse"))
        {
            // Chatbot-directed abuse, for the encoder tier only: its train and valid splits, less their held-out part (the test split stays an independent check).
            var root = args.Optional("data") ?? throw new ArgumentException("--convabuse needs --data (the shared corpora folder).");
            var known = all.Select(e => DataSplit.Key(e.Text)).ToHashSet(StringComparer.Ordinal);
            all.AddRange(SharedCorpus.LoadConvAbuse(root, "train").Concat(SharedCorpus.LoadConvAbuse(root, "valid"))
                .Where(e => !DataSplit.IsHeldOut(e.Text) && known.Add(DataSplit.Key(e.Text))));
        }

        if (all.Count == 0)
        {
            throw new ArgumentException("Give --input (labelled JSONL or CSV, repeatable) or --data (the shared corpora folder).");
        }

        using var fast = ContentModel.LoadDefaultNgram();
        var categories = fast.Categories.ToArray();
        var calibration = all.Where(e => DataSplit.IsCalibration(e.Text)).ToList();
        var train = all.Where(e => !DataSplit.IsCalibration(e.Text)).ToList();
        if (calibration.Count(e => e.IsBenign) < 10 || train.Count == 0)
        {
            throw new FormatException("The data is too small to set the encoder's thresholds and bands apart from training (fewer than 10 benign calibration texts).");
        }

        await console.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"Training encoder heads on {train.Count} texts, calibrating on {calibration.Count}; categories: {string.Join(", ", categories)}.")).ConfigureAwait(false);
        var cache = args.Optional("cache") ?? Path.Combine(Path.GetTempPath(), "safeai-minilm-embeddings.bin");
        float[][] trainX, calibrationX;
        using (var embeddings = new EncoderEmbeddings(settings.Tokens, settings.WindowChars, cache))
        {
            trainX = embeddings.Embed(train.Select(e => e.Text).ToList(), line => console.WriteLine(line));
            calibrationX = embeddings.Embed(calibration.Select(e => e.Text).ToList(), line => console.WriteLine(line));
        }

        var calibrationFast = new double[calibration.Count][];
        for (var i = 0; i < calibration.Count; i++)
        {
            var s = await fast.ScoreAsync(calibration[i].Text).ConfigureAwait(false);
            calibrationFast[i] = categories.Select(c => s[c]).ToArray();
        }

        var result = EncoderTrainer.Train(train, trainX, calibration, calibrationX, calibrationFast, categories, settings, line => console.WriteLine(line));
        var path = EncoderTrainer.Write(result, settings, output);
        await console.WriteLineAsync($"Wrote {path} and encoder.json. Use it with: safeai eval --model {path}, or in code SafeAI.Onnx.MiniLM.MiniLMContentModel.Load(\"{path}\").").ConfigureAwait(false);
        return 0;
    }

    /// <summary>Loads a model: none or <c>default</c> for the default model, <c>ngram</c> for its n-gram part alone, <c>cascade</c> for the MiniLM cascade, else a description path (files it names that are not in its folder come from the MiniLM package).</summary>
    /// <summary>
    /// The tool's commands score many texts at once (a batch of input lines, an evaluation set), so the default model,
    /// which gives every window its own run, runs each on one thread with texts side by side on the cores: 2,800 chat
    /// prompts took 53 s instead of 74 s on two cores (the same scores), where two threads per run mostly wait for each
    /// other behind the other texts' runs.
    /// </summary>
    internal static ContentModel LoadModel(string? path, OnnxRuntimeOptions? runtime = null) => path switch
    {
        null or "default" => ContentModel.LoadDefault(runtime ?? new OnnxRuntimeOptions { IntraOpThreads = 1 }),
        "ngram" => ContentModel.LoadDefaultNgram(),
        SafeAI.Onnx.MiniLM.MiniLMContentModel.CascadeName => SafeAI.Onnx.MiniLM.MiniLMContentModel.LoadCascade(runtime),
        _ => SafeAI.Onnx.MiniLM.MiniLMContentModel.Load(path, runtime),
    };

    /// <summary>What an evaluation's title calls the model of <c>--model</c> (the same values as <see cref="LoadModel"/>).</summary>
    internal static string ModelTitle(string? model) => model switch
    {
        null or "default" => "SafeAI default model",
        "ngram" => "SafeAI n-gram model (v1, the n-gram part of the default)",
        SafeAI.Onnx.MiniLM.MiniLMContentModel.CascadeName => "SafeAI cascade (n-gram, then MiniLM)",
        _ => "Content model " + Path.GetFileName(model),
    };

    /// <summary>The parts of an ensemble model that <c>--without</c> may turn off.</summary>
    internal static readonly string[] ModelParts = ["screen", "gate", "sentences"];

    /// <summary>
    /// The runtime options of <c>--without screen,gate,sentences</c> (one thread per run, as <see cref="LoadModel"/>):
    /// the parts of an ensemble model named are turned off, so that an evaluation shows what each costs or adds; null
    /// without the option. A part that is not one of <see cref="ModelParts"/> is a usage error naming the valid ones.
    /// </summary>
    internal static OnnxRuntimeOptions? RuntimeWithout(Arguments args)
    {
        if (args.Names("without", ModelParts, "a part of a model", StringComparer.OrdinalIgnoreCase) is not { } parts)
        {
            return null;
        }

        bool Off(string part) => parts.Contains(part, StringComparer.OrdinalIgnoreCase);
        return new OnnxRuntimeOptions { IntraOpThreads = 1, UseScreen = !Off("screen"), UseGate = !Off("gate"), UseSentenceWindows = !Off("sentences") };
    }

    internal static string? ReadText(string file, int line, string json)
    {
        if (string.IsNullOrWhiteSpace(json))
        {
            return null;
        }

        try
        {
            using var doc = JsonDocument.Parse(json);
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String
                ? t.GetString()
                : throw new FormatException($"{file}:{line}: each line needs a \"text\" string.");
        }
        catch (JsonException ex)
        {
            throw new FormatException($"{file}:{line}: not valid JSON ({ex.Message}).", ex);
        }
        catch (InvalidOperationException ex)
        {
            // System.Text.Json refuses strings that are not valid UTF-16 (a lone surrogate such as "\ud800").
            throw new FormatException($"{file}:{line}: the \"text\" string is not valid text ({ex.Message}).", ex);
        }
    }

    /// <summary>Fails (exit code 2) on a label of the user's data that the model does not score, suggesting the closest category.</summary>
    internal static void CheckLabels(List<LabelledText> data, IReadOnlyList<string> categories, string file)
    {
        foreach (var label in data.SelectMany(static d => d.Labels).Distinct(StringComparer.Ordinal))
        {
            if (!categories.Contains(label, StringComparer.Ordinal))
            {
                throw new ArgumentException(
                    $"{file}: the label \"{label}\" is not a category of the model.{CommandLine.Suggest(label, categories)} The model scores: {string.Join(", ", categories)}, and \"benign\". " +
                    "Add --ignore-unknown-labels to evaluate the other labels anyway.");
            }
        }
    }

    /// <summary>A progress bar on the terminal (standard error), redrawn in place.</summary>
    private sealed class Progress(TextWriter writer, int total, bool enabled)
    {
        public void Report(int done)
        {
            if (!enabled || total == 0)
            {
                return;
            }

            const int Width = 30;
            var filled = (int)((long)done * Width / total);
            writer.Write(string.Create(CultureInfo.InvariantCulture, $"\r[{new string('#', filled)}{new string('.', Width - filled)}] {done}/{total}"));
        }

        public void Done()
        {
            if (enabled && total > 0)
            {
                writer.WriteLine();
            }
        }
    }
}

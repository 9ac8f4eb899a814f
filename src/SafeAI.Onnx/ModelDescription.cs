using System.Globalization;
using System.Text.Json;

namespace SafeAI.Onnx;

internal enum ModelKind
{
    EncoderHeads,
    SequenceClassifier,
    NgramLinear,
    Cascade,
    Ensemble,
}

/// <summary>How a cascade combines the two tiers' scores of an escalated category.</summary>
internal enum CascadeCombine
{
    /// <summary>The mean of the two tiers' logits.</summary>
    MeanLogit,

    /// <summary>The second tier's score alone.</summary>
    Second,
}

/// <summary>The fast-tier score range of one category that sends a window to the second tier.</summary>
internal readonly record struct CascadeBand(string Category, float Low, float High);

/// <summary>The parts of a <c>cascade</c> description.</summary>
internal sealed class CascadeDescription
{
    /// <summary>The value of <c>fast</c> that names the default model of this package.</summary>
    public const string DefaultFast = "default";

    public required string Fast { get; init; }

    public required string Second { get; init; }

    public CascadeCombine Combine { get; init; }

    public int MaxEscalatedWindows { get; init; }

    public required IReadOnlyList<CascadeBand> Bands { get; init; }
}

/// <summary>How an <c>ensemble</c> scores one category: the members' logit weights and the calibrated bias.</summary>
internal readonly record struct EnsembleMix(string Category, float EncoderWeight, float NgramWeight, float Bias);

/// <summary>The parts of an <c>ensemble</c> description.</summary>
internal sealed class EnsembleDescription
{
    public required string Encoder { get; init; }

    public string? Ngram { get; init; }

    public int WindowTokens { get; init; }

    /// <summary>Gets how many tokens of whole sentences one window packs at most (at most <see cref="WindowTokens"/>); a longer sentence still gets a window of its own up to <see cref="WindowTokens"/>.</summary>
    public int PackTokens { get; init; }

    public required IReadOnlyList<EnsembleMix> Categories { get; init; }

    /// <summary>Gets the optional gate: a smaller, faster encoder that scores every window first.</summary>
    public EnsembleGate? Gate { get; init; }

    /// <summary>Gets the optional screen: a still cheaper classifier that scores every window before the gate (or the encoder, without a gate).</summary>
    public EnsembleGate? Screen { get; init; }

    /// <summary>
    /// Gets the logit shift of sentence windows, or null when the description has none (<c>"sentences"</c> absent): with
    /// one, every sentence of a window that packs two or more is also scored alone, and its mixed logits are lowered by
    /// this much (0 or more), so that a harmful sentence among ordinary ones is judged as if alone, at a stricter level.
    /// </summary>
    public float? SentenceShift { get; init; }

    /// <summary>
    /// Gets a value indicating whether the first member (the screen, else the gate) scores the sentences of every packed
    /// window (<c>"sentences": { "everyWindow": true }</c>), not only of those it sends on: a short harmful sentence among
    /// ordinary ones can dilute the packed window below the first member's levels, while alone it reaches them. It costs one
    /// run of the first member per sentence; false when absent.
    /// </summary>
    public bool SentencesOfEveryWindow { get; init; }

    /// <summary>
    /// Gets the most windows of one text that go on to the encoder (<c>"maxEncoderWindows"</c>), or null for no limit: the
    /// windows the gate (or the screen) finds most suspect go first, and the others keep the gate's (or the screen's) scores.
    /// It bounds what a long text costs; it needs a gate or a screen to rank the windows.
    /// </summary>
    public int? MaxEncoderWindows { get; init; }

    /// <summary>
    /// Gets the most windows of one text that go on to the gate (<c>"maxGateWindows"</c>), or null for no limit: the windows
    /// the screen finds most suspect go first, and the others keep the screen's scores. It needs a screen and a gate.
    /// </summary>
    public int? MaxGateWindows { get; init; }
}

/// <summary>
/// An <c>ensemble</c>'s gate or screen: the description file of a smaller ONNX classifier (same tokenizer as the encoder)
/// and, per category the encoder scores, the mixed score at or above which it sends a window on to the next member.
/// </summary>
internal sealed class EnsembleGate
{
    public required string Encoder { get; init; }

    public required IReadOnlyDictionary<string, float> Escalate { get; init; }

    /// <summary>
    /// Gets, for the screen only, the margin in logits over its escalation level (in the category where its score lies
    /// highest above the level) from which it sends a window straight to the encoder, past the gate; null when absent
    /// (<c>"skipGate"</c>). A window the screen is that sure of is one the gate nearly always sends on, so its run only costs.
    /// </summary>
    public float? SkipGate { get; init; }
}

internal enum TokenizerKind
{
    Bert,
    Bpe,
    SentencePiece,
}

internal enum Pooling
{
    Mean,
    Cls,
    None,
}

internal sealed class LinearHead
{
    public required string Category { get; init; }

    public required float[] Weights { get; init; }

    public required float Bias { get; init; }
}

internal sealed class TokenizerDescription
{
    public TokenizerKind Kind { get; init; }

    public string? Vocab { get; init; }

    public string? Merges { get; init; }

    public string? Model { get; init; }

    public bool Lowercase { get; init; }

    public int? BosId { get; init; }

    public int? EosId { get; init; }

    public int? PadId { get; init; }
}

/// <summary>The parsed, validated model description file (<c>safeai-model.json</c>); see the README for its format.</summary>
internal sealed class ModelDescription
{
    public const int CurrentVersion = 1;

    public required string FileName { get; init; }

    public ModelKind Kind { get; init; }

    public required string Model { get; init; }

    public TokenizerDescription Tokenizer { get; init; } = new();

    /// <summary>Gets the categories of an <c>ngram-linear</c> model, in the order of its weights.</summary>
    public IReadOnlyList<string> NgramCategories { get; init; } = [];

    /// <summary>Gets the number of hash bits of an <c>ngram-linear</c> model (2^bits buckets).</summary>
    public int Bits { get; init; }

    public int MaxTokens { get; init; }

    /// <summary>The most windows in one model run the model allows (<c>"maxBatchSize"</c>); <see langword="null"/>: the runtime's setting.</summary>
    public int? MaxBatchSize { get; init; }

    public string IdsInput { get; init; } = "input_ids";

    public string MaskInput { get; init; } = "attention_mask";

    public string TypeIdsInput { get; init; } = "token_type_ids";

    public required string Output { get; init; }

    public Pooling Pooling { get; init; }

    public bool Normalize { get; init; }

    public IReadOnlyList<LinearHead> Heads { get; init; } = [];

    public bool Softmax { get; init; }

    /// <summary>Category per output index; <see langword="null"/> entries are not reported (for example a "safe" label).</summary>
    public IReadOnlyList<string?> Labels { get; init; } = [];

    /// <summary>Gets the tiers of a <c>cascade</c> model.</summary>
    public CascadeDescription? Cascade { get; init; }

    /// <summary>Gets the members and mixing of an <c>ensemble</c> model.</summary>
    public EnsembleDescription? Ensemble { get; init; }

    public static ModelDescription Parse(string fileName, ReadOnlySpan<byte> json)
    {
        JsonDocument document;
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            document = JsonDocument.ParseValue(ref reader);
        }
        catch (JsonException ex)
        {
            throw new ContentModelException(fileName, $"not valid JSON ({ex.Message}).", ex);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw Fail(fileName, "the description must be a JSON object.");
            }

            var version = GetInt(fileName, root, "version") ?? throw Fail(fileName, "\"version\" is missing (this runtime reads version 1).");
            if (version != CurrentVersion)
            {
                throw Fail(fileName, $"\"version\" is {version}; this runtime reads version {CurrentVersion}.");
            }

            var kind = GetString(fileName, root, "kind") switch
            {
                "encoder-heads" => ModelKind.EncoderHeads,
                "sequence-classifier" => ModelKind.SequenceClassifier,
                "ngram-linear" => ModelKind.NgramLinear,
                "cascade" => ModelKind.Cascade,
                "ensemble" => ModelKind.Ensemble,
                null => throw Fail(fileName, "\"kind\" is missing (\"encoder-heads\", \"sequence-classifier\", \"ngram-linear\", \"cascade\" or \"ensemble\")."),
                var other => throw Fail(fileName, $"\"kind\" is \"{other}\"; expected \"encoder-heads\", \"sequence-classifier\", \"ngram-linear\", \"cascade\" or \"ensemble\"."),
            };

            if (kind == ModelKind.Ensemble)
            {
                return ParseEnsemble(fileName, root);
            }

            if (kind == ModelKind.NgramLinear)
            {
                return ParseNgram(fileName, root);
            }

            if (kind == ModelKind.Cascade)
            {
                return ParseCascade(fileName, root);
            }

            var model = GetString(fileName, root, "model") ?? GetString(fileName, root, "encoder")
                ?? throw Fail(fileName, "\"model\" (the ONNX file) is missing.");
            var maxTokens = GetInt(fileName, root, "maxTokens") ?? 512;
            if (maxTokens is < 8 or > 65536)
            {
                throw Fail(fileName, $"\"maxTokens\" is {maxTokens}; it must be between 8 and 65536.");
            }

            // A model whose activations are quantized at run time with one scale per tensor (dynamic int8) scores a window
            // differently depending on the other windows of its run: "maxBatchSize": 1 keeps each window's score its own.
            var maxBatchSize = GetInt(fileName, root, "maxBatchSize");
            if (maxBatchSize is < 1)
            {
                throw Fail(fileName, $"\"maxBatchSize\" is {maxBatchSize}; it must be at least 1.");
            }

            var tokenizer = ParseTokenizer(fileName, root);
            string idsInput = "input_ids", maskInput = "attention_mask", typeIdsInput = "token_type_ids";
            if (root.TryGetProperty("inputs", out var inputs))
            {
                idsInput = GetString(fileName, inputs, "ids") ?? idsInput;
                maskInput = GetString(fileName, inputs, "mask") ?? maskInput;
                typeIdsInput = GetString(fileName, inputs, "typeIds") ?? typeIdsInput;
            }

            if (kind == ModelKind.EncoderHeads)
            {
                var pooling = GetString(fileName, root, "pooling") switch
                {
                    null or "mean" => Pooling.Mean,
                    "cls" => Pooling.Cls,
                    "none" => Pooling.None,
                    var other => throw Fail(fileName, $"\"pooling\" is \"{other}\"; expected \"mean\", \"cls\" or \"none\" (the output is already one vector per text)."),
                };

                return new ModelDescription
                {
                    FileName = fileName,
                    Kind = kind,
                    Model = model,
                    Tokenizer = tokenizer,
                    MaxTokens = maxTokens,
                    MaxBatchSize = maxBatchSize,
                    IdsInput = idsInput,
                    MaskInput = maskInput,
                    TypeIdsInput = typeIdsInput,
                    Output = GetString(fileName, root, "output") ?? "last_hidden_state",
                    Pooling = pooling,
                    Normalize = GetBool(fileName, root, "normalize") ?? true,
                    Heads = ParseHeads(fileName, root),
                };
            }

            var softmax = GetString(fileName, root, "activation") switch
            {
                null or "sigmoid" => false,
                "softmax" => true,
                var other => throw Fail(fileName, $"\"activation\" is \"{other}\"; expected \"sigmoid\" or \"softmax\"."),
            };

            return new ModelDescription
            {
                FileName = fileName,
                Kind = kind,
                Model = model,
                Tokenizer = tokenizer,
                MaxTokens = maxTokens,
                MaxBatchSize = maxBatchSize,
                IdsInput = idsInput,
                MaskInput = maskInput,
                TypeIdsInput = typeIdsInput,
                Output = GetString(fileName, root, "output") ?? "logits",
                Softmax = softmax,
                Labels = ParseLabels(fileName, root),
            };
        }
    }

    private static ModelDescription ParseNgram(string fileName, JsonElement root)
    {
        var weights = GetString(fileName, root, "weights") ?? throw Fail(fileName, "\"weights\" (the n-gram weights file) is missing.");
        var bits = GetInt(fileName, root, "bits") ?? 18;
        if (bits is < 8 or > 24)
        {
            throw Fail(fileName, $"\"bits\" is {bits}; it must be between 8 and 24.");
        }

        var windowChars = GetInt(fileName, root, "windowChars") ?? 1024;
        if (windowChars is < 64 or > 65536)
        {
            throw Fail(fileName, $"\"windowChars\" is {windowChars}; it must be between 64 and 65536.");
        }

        if (!root.TryGetProperty("categories", out var list) || list.ValueKind != JsonValueKind.Array || list.GetArrayLength() == 0)
        {
            throw Fail(fileName, "\"categories\" is missing: an ngram-linear model lists its categories in the order of its weights, e.g. [\"hate\", \"prompt_injection\"].");
        }

        var categories = new List<string>();
        foreach (var item in list.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String)
            {
                throw Fail(fileName, "\"categories\" must hold category names.");
            }

            var name = CheckCategory(fileName, item.GetString()!);
            if (categories.Contains(name))
            {
                throw Fail(fileName, $"category \"{name}\" is listed twice.");
            }

            categories.Add(name);
        }

        return new ModelDescription
        {
            FileName = fileName,
            Kind = ModelKind.NgramLinear,
            Model = weights,
            Output = string.Empty,
            MaxTokens = windowChars,
            Bits = bits,
            NgramCategories = categories,
        };
    }

    private static ModelDescription ParseCascade(string fileName, JsonElement root)
    {
        var fast = GetString(fileName, root, "fast") ?? throw Fail(fileName, "\"fast\" is missing: the description file of the first tier (an ngram-linear model), or \"default\" for the model that ships in SafeAI.Onnx.");
        var second = GetString(fileName, root, "second") ?? throw Fail(fileName, "\"second\" is missing: the description file of the second tier (an encoder-heads or sequence-classifier model).");
        var combine = GetString(fileName, root, "combine") switch
        {
            null or "mean-logit" => CascadeCombine.MeanLogit,
            "second" => CascadeCombine.Second,
            var other => throw Fail(fileName, $"\"combine\" is \"{other}\"; expected \"mean-logit\" or \"second\"."),
        };
        var maxEscalated = GetInt(fileName, root, "maxEscalatedWindows") ?? 2;
        if (maxEscalated is < 1 or > 64)
        {
            throw Fail(fileName, $"\"maxEscalatedWindows\" is {maxEscalated}; it must be between 1 and 64.");
        }

        if (!root.TryGetProperty("bands", out var bands) || bands.ValueKind != JsonValueKind.Object)
        {
            throw Fail(fileName, "\"bands\" is missing: the first-tier score range of each category that goes to the second tier, e.g. \"bands\": { \"hate\": { \"low\": 0.1, \"high\": 0.8 } }.");
        }

        var list = new List<CascadeBand>();
        foreach (var band in bands.EnumerateObject())
        {
            var name = CheckCategory(fileName, band.Name);
            if (band.Value.ValueKind != JsonValueKind.Object
                || !band.Value.TryGetProperty("low", out var low) || low.ValueKind != JsonValueKind.Number
                || !band.Value.TryGetProperty("high", out var high) || high.ValueKind != JsonValueKind.Number)
            {
                throw Fail(fileName, $"band \"{name}\" needs \"low\" and \"high\": numbers from 0 to 1.");
            }

            var (l, h) = (low.GetDouble(), high.GetDouble());
            if (!(l >= 0 && h <= 1 && l <= h))
            {
                throw Fail(fileName, $"band \"{name}\" is [{l.ToString(CultureInfo.InvariantCulture)}, {h.ToString(CultureInfo.InvariantCulture)}]; it needs 0 <= low <= high <= 1.");
            }

            list.Add(new CascadeBand(name, (float)l, (float)h));
        }

        if (list.Count == 0)
        {
            throw Fail(fileName, "\"bands\" is empty: a cascade needs at least one category that can go to the second tier.");
        }

        return new ModelDescription
        {
            FileName = fileName,
            Kind = ModelKind.Cascade,
            Model = second,
            Output = string.Empty,
            Cascade = new CascadeDescription { Fast = fast, Second = second, Combine = combine, MaxEscalatedWindows = maxEscalated, Bands = list },
        };
    }

    private static ModelDescription ParseEnsemble(string fileName, JsonElement root)
    {
        var encoder = GetString(fileName, root, "encoder") ?? throw Fail(fileName, "\"encoder\" is missing: the description file of the ONNX member (a sequence-classifier or encoder-heads model).");
        var ngram = GetString(fileName, root, "ngram");
        var windowTokens = GetInt(fileName, root, "windowTokens") ?? 64;
        if (windowTokens is < 8 or > 4096)
        {
            throw Fail(fileName, $"\"windowTokens\" is {windowTokens}; it must be between 8 and 4096.");
        }

        var packTokens = GetInt(fileName, root, "packTokens") ?? windowTokens;
        if (packTokens < 8 || packTokens > windowTokens)
        {
            throw Fail(fileName, $"\"packTokens\" is {packTokens}; it must be between 8 and \"windowTokens\" ({windowTokens}).");
        }

        if (!root.TryGetProperty("categories", out var categories) || categories.ValueKind != JsonValueKind.Object)
        {
            throw Fail(fileName, "\"categories\" is missing: how each category mixes the members, e.g. \"categories\": { \"hate\": { \"encoder\": 1, \"ngram\": 0, \"bias\": -0.4 } }.");
        }

        var list = new List<EnsembleMix>();
        foreach (var category in categories.EnumerateObject())
        {
            var name = CheckCategory(fileName, category.Name);
            if (category.Value.ValueKind != JsonValueKind.Object)
            {
                throw Fail(fileName, $"category \"{name}\" must be an object with \"encoder\", \"ngram\" and \"bias\" numbers.");
            }

            float Number(string property, float fallback)
            {
                if (!category.Value.TryGetProperty(property, out var value))
                {
                    return fallback;
                }

                if (value.ValueKind != JsonValueKind.Number || !double.IsFinite(value.GetDouble()))
                {
                    throw Fail(fileName, $"category \"{name}\": \"{property}\" must be a finite number.");
                }

                return (float)value.GetDouble();
            }

            var mix = new EnsembleMix(name, Number("encoder", 1), Number("ngram", 0), Number("bias", 0));
            if (mix.NgramWeight != 0 && ngram is null)
            {
                throw Fail(fileName, $"category \"{name}\" has an n-gram weight but the description names no \"ngram\" member.");
            }

            if (mix.EncoderWeight == 0 && mix.NgramWeight == 0)
            {
                throw Fail(fileName, $"category \"{name}\" has no member weight: give \"encoder\" or \"ngram\" a weight other than 0.");
            }

            list.Add(mix);
        }

        if (list.Count == 0)
        {
            throw Fail(fileName, "\"categories\" is empty: an ensemble needs at least one category.");
        }

        var gate = ParseGate(fileName, root, list, "gate");
        var screen = ParseGate(fileName, root, list, "screen");
        if (screen?.SkipGate is not null && gate is null)
        {
            throw Fail(fileName, "\"screen\".\"skipGate\" needs a \"gate\" to skip; remove it or add the gate.");
        }
        var (sentenceShift, everyWindow) = ParseSentences(fileName, root);
        if (everyWindow && gate is null && screen is null)
        {
            throw Fail(fileName, "\"sentences\".\"everyWindow\" needs a \"gate\" or a \"screen\": without one, every sentence is scored by the encoder anyway; remove it or add one.");
        }

        var maxEncoderWindows = GetLimit(fileName, root, "maxEncoderWindows", "the encoder");
        if (maxEncoderWindows is not null && gate is null && screen is null)
        {
            throw Fail(fileName, "\"maxEncoderWindows\" needs a \"gate\" or a \"screen\" to choose the windows the encoder scores; remove it or add one.");
        }

        var maxGateWindows = GetLimit(fileName, root, "maxGateWindows", "the gate");
        if (maxGateWindows is not null && (gate is null || screen is null))
        {
            throw Fail(fileName, "\"maxGateWindows\" needs a \"gate\" and a \"screen\" in front of it to choose the windows the gate scores; remove it or add them.");
        }

        return new ModelDescription
        {
            FileName = fileName,
            Kind = ModelKind.Ensemble,
            Model = encoder,
            Output = string.Empty,
            MaxTokens = windowTokens,
            Ensemble = new EnsembleDescription { Encoder = encoder, Ngram = ngram, WindowTokens = windowTokens, PackTokens = packTokens, Categories = list, Gate = gate, Screen = screen, SentenceShift = sentenceShift, SentencesOfEveryWindow = everyWindow, MaxEncoderWindows = maxEncoderWindows, MaxGateWindows = maxGateWindows },
        };
    }

    /// <summary>Reads a limit on one member's windows per text (<paramref name="name"/>): 1 to 1024, or null when absent.</summary>
    private static int? GetLimit(string fileName, JsonElement root, string name, string member)
    {
        var limit = GetInt(fileName, root, name);
        if (limit is < 1 or > 1024)
        {
            throw Fail(fileName, $"\"{name}\" is {limit}; it must be between 1 and 1024 (the most windows of one text {member} scores), or absent for no limit.");
        }

        return limit;
    }

    /// <summary>
    /// Reads <c>"sentences": { "shift": 1.3, "everyWindow": true }</c>: the logit shift of sentence windows, 0 to 20, null
    /// when absent; and whether the first member scores the sentences of every packed window (false when absent).
    /// </summary>
    private static (float? Shift, bool EveryWindow) ParseSentences(string fileName, JsonElement root)
    {
        if (!root.TryGetProperty("sentences", out var sentences) || sentences.ValueKind == JsonValueKind.Null)
        {
            return (null, false);
        }

        const string Example = "for example \"sentences\": { \"shift\": 1.3 }: every sentence of a packed window is also scored alone, its logits lowered by 1.3";
        if (sentences.ValueKind != JsonValueKind.Object || !sentences.TryGetProperty("shift", out var shift))
        {
            throw Fail(fileName, $"\"sentences\" must be an object with a \"shift\" number ({Example}).");
        }

        if (shift.ValueKind != JsonValueKind.Number || shift.GetDouble() is not (>= 0 and <= 20))
        {
            throw Fail(fileName, $"\"sentences\".\"shift\" must be a number from 0 to 20 (a logit shift; {Example}).");
        }

        var everyWindow = false;
        if (sentences.TryGetProperty("everyWindow", out var every))
        {
            if (every.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            {
                throw Fail(fileName, "\"sentences\".\"everyWindow\" must be true or false (true: the first member scores the sentences of every packed window, not only of those it sends on).");
            }

            everyWindow = every.GetBoolean();
        }

        return ((float)shift.GetDouble(), everyWindow);
    }

    /// <summary>Reads <c>"gate"</c> or <c>"screen"</c> (<paramref name="property"/>): a member's description file and its escalation levels.</summary>
    private static EnsembleGate? ParseGate(string fileName, JsonElement root, List<EnsembleMix> categories, string property)
    {
        if (!root.TryGetProperty(property, out var gate) || gate.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        var example = $"for example \"{property}\": {{ \"encoder\": \"{property}-classifier.json\", \"escalate\": {{ \"hate\": 0.1 }} }}";
        if (gate.ValueKind != JsonValueKind.Object)
        {
            throw Fail(fileName, $"\"{property}\" must be an object ({example}).");
        }

        var encoder = GetString(fileName, gate, "encoder") ?? throw Fail(fileName, $"\"{property}\" has no \"encoder\": the description file of the smaller ONNX classifier ({example}).");
        if (!gate.TryGetProperty("escalate", out var escalate) || escalate.ValueKind != JsonValueKind.Object)
        {
            throw Fail(fileName, $"\"{property}\" has no \"escalate\" object: per category, the {property}'s score from which a window goes on to the next member ({example}).");
        }

        var levels = new Dictionary<string, float>(StringComparer.Ordinal);
        foreach (var level in escalate.EnumerateObject())
        {
            var name = CheckCategory(fileName, level.Name);
            if (!categories.Exists(c => c.Category == name))
            {
                throw Fail(fileName, $"\"{property}\".\"escalate\" names \"{name}\", which is not one of the ensemble's categories.");
            }

            if (level.Value.ValueKind != JsonValueKind.Number || level.Value.GetDouble() is not (> 0 and <= 1))
            {
                throw Fail(fileName, $"\"{property}\".\"escalate\".\"{name}\" must be a number above 0 and at most 1 (a score on the ensemble's calibrated scale).");
            }

            levels[name] = (float)level.Value.GetDouble();
        }

        foreach (var mix in categories)
        {
            if (mix.EncoderWeight != 0 && !levels.ContainsKey(mix.Category))
            {
                throw Fail(fileName, $"\"{property}\".\"escalate\" has no level for \"{mix.Category}\": every category the encoder scores needs one.");
            }
        }

        float? skipGate = null;
        if (gate.TryGetProperty("skipGate", out var skip) && skip.ValueKind != JsonValueKind.Null)
        {
            if (property != "screen")
            {
                throw Fail(fileName, $"\"{property}\".\"skipGate\" is not allowed: only the screen can send a window past the gate.");
            }

            if (skip.ValueKind != JsonValueKind.Number || skip.GetDouble() is not (>= 0 and <= 20))
            {
                throw Fail(fileName, "\"screen\".\"skipGate\" must be a number from 0 to 20 (the margin in logits over the screen's escalation level from which a window goes straight to the encoder).");
            }

            skipGate = (float)skip.GetDouble();
        }

        return new EnsembleGate { Encoder = encoder, Escalate = levels, SkipGate = skipGate };
    }

    private static TokenizerDescription ParseTokenizer(string fileName, JsonElement root)
    {
        if (!root.TryGetProperty("tokenizer", out var t) || t.ValueKind != JsonValueKind.Object)
        {
            throw Fail(fileName, "\"tokenizer\" is missing (for example { \"type\": \"bert\", \"vocab\": \"vocab.txt\", \"lowercase\": true }).");
        }

        var kind = GetString(fileName, t, "type") switch
        {
            "bert" or "wordpiece" => TokenizerKind.Bert,
            "bpe" or "roberta" => TokenizerKind.Bpe,
            "sentencepiece" => TokenizerKind.SentencePiece,
            null => throw Fail(fileName, "\"tokenizer.type\" is missing (\"bert\", \"bpe\" or \"sentencepiece\")."),
            var other => throw Fail(fileName, $"\"tokenizer.type\" is \"{other}\"; expected \"bert\", \"bpe\" or \"sentencepiece\"."),
        };

        var description = new TokenizerDescription
        {
            Kind = kind,
            Vocab = GetString(fileName, t, "vocab"),
            Merges = GetString(fileName, t, "merges"),
            Model = GetString(fileName, t, "model"),
            Lowercase = GetBool(fileName, t, "lowercase") ?? false,
            BosId = GetInt(fileName, t, "bosId"),
            EosId = GetInt(fileName, t, "eosId"),
            PadId = GetInt(fileName, t, "padId"),
        };

        switch (kind)
        {
            case TokenizerKind.Bert when description.Vocab is null:
                throw Fail(fileName, "\"tokenizer.vocab\" (vocab.txt) is missing.");
            case TokenizerKind.Bpe when description.Vocab is null || description.Merges is null:
                throw Fail(fileName, "a \"bpe\" tokenizer needs \"vocab\" (vocab.json) and \"merges\" (merges.txt).");
            case TokenizerKind.SentencePiece when description.Model is null:
                throw Fail(fileName, "a \"sentencepiece\" tokenizer needs \"model\" (the .model file).");
            default:
                return description;
        }
    }

    private static List<LinearHead> ParseHeads(string fileName, JsonElement root)
    {
        if (!root.TryGetProperty("heads", out var heads) || heads.ValueKind != JsonValueKind.Object)
        {
            throw Fail(fileName, "\"heads\" is missing: an encoder-heads model needs at least one head, e.g. \"heads\": { \"hate\": { \"weights\": [...], \"bias\": 0 } }.");
        }

        var list = new List<LinearHead>();
        int? dimension = null;
        foreach (var head in heads.EnumerateObject())
        {
            if (head.Value.ValueKind != JsonValueKind.Object || !head.Value.TryGetProperty("weights", out var w) || w.ValueKind != JsonValueKind.Array)
            {
                throw Fail(fileName, $"head \"{head.Name}\" needs \"weights\": an array of numbers.");
            }

            var weights = new float[w.GetArrayLength()];
            var i = 0;
            foreach (var item in w.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Number || !float.IsFinite(item.GetSingle()))
                {
                    throw Fail(fileName, $"head \"{head.Name}\": weight {i} is not a finite number.");
                }

                weights[i++] = item.GetSingle();
            }

            if (weights.Length == 0 || (dimension is { } d && d != weights.Length))
            {
                throw Fail(fileName, $"head \"{head.Name}\" has {weights.Length} weights; all heads need the same number (the encoder's embedding size{(dimension is { } e ? $", {e} so far" : string.Empty)}).");
            }

            dimension = weights.Length;
            var bias = 0f;
            if (head.Value.TryGetProperty("bias", out var b))
            {
                if (b.ValueKind != JsonValueKind.Number || !float.IsFinite(b.GetSingle()))
                {
                    throw Fail(fileName, $"head \"{head.Name}\": \"bias\" is not a finite number.");
                }

                bias = b.GetSingle();
            }

            list.Add(new LinearHead { Category = CheckCategory(fileName, head.Name), Weights = weights, Bias = bias });
        }

        if (list.Count == 0)
        {
            throw Fail(fileName, "\"heads\" is empty: an encoder-heads model needs at least one head.");
        }

        return list;
    }

    private static List<string?> ParseLabels(string fileName, JsonElement root)
    {
        if (!root.TryGetProperty("labels", out var labels) || labels.ValueKind != JsonValueKind.Object)
        {
            throw Fail(fileName, "\"labels\" is missing: map each output index to a category, e.g. \"labels\": { \"0\": null, \"1\": \"hate\" } (null: not reported).");
        }

        var map = new SortedDictionary<int, string?>();
        foreach (var label in labels.EnumerateObject())
        {
            if (!int.TryParse(label.Name, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            {
                throw Fail(fileName, $"label key \"{label.Name}\" is not an output index (0, 1, ...).");
            }

            map[index] = label.Value.ValueKind switch
            {
                JsonValueKind.Null => null,
                JsonValueKind.String => CheckCategory(fileName, label.Value.GetString()!),
                _ => throw Fail(fileName, $"label {index} must be a category name or null."),
            };
        }

        var list = new List<string?>();
        for (var i = 0; i < map.Count; i++)
        {
            if (!map.TryGetValue(i, out var category))
            {
                throw Fail(fileName, $"\"labels\" has no entry for output index {i}; give every index from 0 to {map.Count - 1} (null for labels not reported).");
            }

            list.Add(category);
        }

        if (list.TrueForAll(static c => c is null))
        {
            throw Fail(fileName, "every label is null: at least one output must map to a category.");
        }

        return list;
    }

    private static string CheckCategory(string fileName, string name)
    {
        if (name.Length == 0 || name.Length > 64)
        {
            throw Fail(fileName, $"category name \"{name}\" must be 1 to 64 characters.");
        }

        foreach (var c in name)
        {
            if (c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9') or '_'))
            {
                throw Fail(fileName, $"category name \"{name}\" may hold only a-z, 0-9 and '_' (it becomes the reason code content.{name}).");
            }
        }

        return name;
    }

    private static string? GetString(string fileName, JsonElement element, string name)
    {
        if (!element.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } s
            ? s
            : throw Fail(fileName, $"\"{name}\" must be a non-empty string.");
    }

    private static int? GetInt(string fileName, JsonElement element, string name)
    {
        if (!element.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var i)
            ? i
            : throw Fail(fileName, $"\"{name}\" must be a whole number.");
    }

    private static bool? GetBool(string fileName, JsonElement element, string name)
    {
        if (!element.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Fail(fileName, $"\"{name}\" must be true or false."),
        };
    }

    private static ContentModelException Fail(string fileName, string problem) => new(fileName, problem);
}

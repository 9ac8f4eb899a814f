using System.Globalization;
using System.Text;

namespace SafeAI.Onnx.Tests.Infrastructure;

/// <summary>
/// Builds a real, tiny sequence-classification ONNX model (Gather over an embedding table, masked max-pooling over
/// the tokens, MatMul + Add to logits) with a BERT vocab.txt and a description, in a temp folder. Words in
/// <see cref="HateWords"/> push the "hate" logit up, words in <see cref="ViolenceWords"/> the "violence" logit; any
/// other word does nothing. ONNX Runtime runs it for real.
/// </summary>
internal sealed class TinyModel : IDisposable
{
    private readonly List<string> _vocab;
    private readonly bool _withMask;
    private readonly bool _withTokenTypeIds;
    private readonly int _labelsInModel;

    public static readonly string[] HateWords = ["hate", "vermin", "subhuman"];
    public static readonly string[] ViolenceWords = ["kill", "murder", "stab"];
    public static readonly string[] OtherWords =
    [
        "i", "you", "we", "they", "them", "love", "the", "cat", "dog", "a", "is", "will", "and", "to", "python", "process", "hello",
        "world", "nice", "day", "people", "all", "what", "lovely", "weather", "today", "go", "park", "it", "are", "how", "do",
        ".", ",", "!", "?", "'", "-", "[", "]", "removed", "by", "content", "filter", "here", "some", "text", "safe", "fine",
    ];

    public TinyModel(bool withTokenTypeIds = false, bool withMask = true, int labelsInModel = 3, string? description = null, string activation = "sigmoid", int maxTokens = 32, bool bpe = false, bool sentencePiece = false)
    {
        Directory = Path.Combine(Path.GetTempPath(), "safeai-onnx-tests", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);

        var vocab = sentencePiece ? WriteSentencePieceModel(Directory) : bpe ? WriteBpeFiles(Directory) : WriteBertVocab(Directory);
        _vocab = vocab;
        _withMask = withMask;
        _withTokenTypeIds = withTokenTypeIds;
        _labelsInModel = labelsInModel;
        WriteModel("model.onnx", 10, -5);

        File.WriteAllText(DescriptionPath, description ?? DefaultDescription(activation, maxTokens, bpe, sentencePiece));
    }

    /// <summary>A Unigram SentencePiece model (the protobuf ModelProto): control pieces, whole words and single characters.</summary>
    private static List<string> WriteSentencePieceModel(string directory)
    {
        var vocab = new List<string> { "<unk>", "<s>", "</s>", "<pad>" };
        var words = HateWords.Concat(ViolenceWords).Concat(OtherWords.Where(w => w.All(char.IsLetter))).Select(w => "▁" + w).ToList();
        vocab.AddRange(words);
        vocab.Add("▁");
        vocab.AddRange("abcdefghijklmnopqrstuvwxyz.,!?'".Select(c => c.ToString()));

        var model = new OnnxWriter.Message();
        for (var i = 0; i < vocab.Count; i++)
        {
            var piece = new OnnxWriter.Message();
            piece.String(1, vocab[i]);
            piece.Float(2, i < 4 ? 0 : vocab[i].StartsWith('▁') && vocab[i].Length > 1 ? -1f : -10f);
            piece.Varint(3, i switch { 0 => 2, < 4 => 3, _ => 1 }); // UNKNOWN, CONTROL, NORMAL
            model.Bytes(1, piece.ToArray());
        }

        var trainer = new OnnxWriter.Message();
        trainer.Varint(3, 1); // model_type UNIGRAM
        trainer.Varint(4, vocab.Count);
        trainer.Varint(40, 0); // unk_id
        trainer.Varint(41, 1); // bos_id
        trainer.Varint(42, 2); // eos_id
        trainer.Varint(43, 3); // pad_id
        model.Bytes(2, trainer.ToArray());
        var normalizer = new OnnxWriter.Message();
        normalizer.String(1, "identity");
        normalizer.Varint(3, 1); // add_dummy_prefix
        normalizer.Varint(4, 1); // remove_extra_whitespaces
        normalizer.Varint(5, 1); // escape_whitespaces
        model.Bytes(3, normalizer.ToArray());
        File.WriteAllBytes(Path.Combine(directory, "spm.model"), model.ToArray());
        return vocab;
    }

    private static List<string> WriteBertVocab(string directory)
    {
        var vocab = new List<string> { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" };
        vocab.AddRange(HateWords);
        vocab.AddRange(ViolenceWords);
        vocab.AddRange(OtherWords);
        File.WriteAllLines(Path.Combine(directory, "vocab.txt"), vocab);
        return vocab;
    }

    /// <summary>A RoBERTa-style byte-level BPE vocabulary: the 256 byte symbols plus merges that build "hate" and "kill" (with and without a leading space).</summary>
    private static List<string> WriteBpeFiles(string directory)
    {
        var vocab = new List<string> { "<s>", "<pad>", "</s>", "<unk>" };
        var n = 0;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            vocab.Add(((char)(printable ? b : 256 + n++)).ToString());
        }

        var merges = new List<string> { "#version: 0.2" };
        foreach (var word in new[] { "hate", "kill" })
        {
            foreach (var prefix in new[] { string.Empty, "Ġ" })
            {
                var current = prefix.Length == 0 ? word[..1] : prefix;
                var rest = prefix.Length == 0 ? word[1..] : word;
                foreach (var c in rest)
                {
                    merges.Add($"{current} {c}");
                    current += c;
                    if (!vocab.Contains(current))
                    {
                        vocab.Add(current);
                    }
                }
            }
        }

        var json = "{" + string.Join(",", vocab.Select((v, i) => $"{System.Text.Json.JsonSerializer.Serialize(v)}:{i}")) + "}";
        File.WriteAllText(Path.Combine(directory, "vocab.json"), json);
        File.WriteAllLines(Path.Combine(directory, "merges.txt"), merges);
        return vocab;
    }

    /// <summary>
    /// Writes the three members of an ensemble over this folder's vocabulary, each flagging the same words with its own
    /// confidence: <c>encoder.json</c> (the constructor's model.onnx, 10 x flag - 5), <c>gate.json</c> (6 x flag - 3) and
    /// <c>screen.json</c> (4 x flag - 2).
    /// </summary>
    public void WriteEnsembleMembers()
    {
        WriteModel("gate.onnx", 6, -3);
        WriteModel("screen.onnx", 4, -2);
        File.WriteAllText(Path.Combine(Directory, "encoder.json"), DefaultDescription());
        File.WriteAllText(Path.Combine(Directory, "gate.json"), DefaultDescription().Replace("\"model.onnx\"", "\"gate.onnx\"", StringComparison.Ordinal));
        File.WriteAllText(Path.Combine(Directory, "screen.json"), DefaultDescription().Replace("\"model.onnx\"", "\"screen.onnx\"", StringComparison.Ordinal));
    }

    /// <summary>
    /// Writes a model over this folder's vocabulary to <paramref name="file"/>: the hate and violence logits are
    /// <paramref name="scale"/> times the word's flag plus <paramref name="offset"/> (the constructor's model.onnx: 10 and -5).
    /// The flags are max-pooled over the tokens (a word flags any window it is in), or with <paramref name="meanPooling"/>
    /// averaged (a word among many others flags its window less: a diluted window, as a real encoder reads one).
    /// </summary>
    public void WriteModel(string file, float scale, float offset, bool meanPooling = false)
    {
        var embedding = new float[_vocab.Count * 2];
        for (var i = 0; i < _vocab.Count; i++)
        {
            var word = _vocab[i].TrimStart('Ġ', '▁');
            embedding[(i * 2) + 0] = HateWords.Contains(word) ? 1 : 0;
            embedding[(i * 2) + 1] = ViolenceWords.Contains(word) ? 1 : 0;
        }

        // logits[:, 0] = 0 (a "safe" label), logits[:, 1] = scale * hate + offset, logits[:, 2] = scale * violence + offset.
        var w = new float[2 * _labelsInModel];
        var b = new float[_labelsInModel];
        if (_labelsInModel >= 3)
        {
            w[1] = scale; // row 0 (hate dim), column 1
            w[_labelsInModel + 2] = scale; // row 1 (violence dim), column 2
            b[1] = offset;
            b[2] = offset;
        }

        var writer = new OnnxWriter()
            .Input("input_ids", OnnxWriter.Int64, "batch", "tokens");
        if (_withMask)
        {
            writer.Input("attention_mask", OnnxWriter.Int64, "batch", "tokens");
        }

        if (_withTokenTypeIds)
        {
            writer.Input("token_type_ids", OnnxWriter.Int64, "batch", "tokens");
        }

        writer.Output("logits", OnnxWriter.Float, "batch", _labelsInModel)
            .FloatTensor("E", [_vocab.Count, 2], embedding)
            .FloatTensor("W", [2, _labelsInModel], w)
            .FloatTensor("B", [_labelsInModel], b)
            .Int64Tensor("axis2", [1], [2])
            .Node("Gather", ["E", "input_ids"], ["emb"], ("axis", 0));
        if (_withMask)
        {
            writer.Node("Cast", ["attention_mask"], ["maskf"], ("to", OnnxWriter.Float))
                .Node("Unsqueeze", ["maskf", "axis2"], ["mask3"])
                .Node("Mul", ["emb", "mask3"], ["masked"]);
        }
        else
        {
            writer.Node("Identity", ["emb"], ["masked"]);
        }

        writer.NodeWithInts(meanPooling ? "ReduceMean" : "ReduceMax", ["masked"], ["pooled"], "axes", [1], ("keepdims", 0))
            .Node("MatMul", ["pooled", "W"], ["mm"])
            .Node("Add", ["mm", "B"], ["logits"]);
        File.WriteAllBytes(Path.Combine(Directory, file), writer.Build());
    }

    public string Directory { get; }

    public string DescriptionPath => Path.Combine(Directory, "safeai-model.json");

    public static string DefaultDescription(string activation = "sigmoid", int maxTokens = 32, bool bpe = false, bool sentencePiece = false) => string.Create(CultureInfo.InvariantCulture, $$"""
        {
          "version": 1,
          "kind": "sequence-classifier",
          "model": "model.onnx",
          "tokenizer": {{(sentencePiece ? "{ \"type\": \"sentencepiece\", \"model\": \"spm.model\" }" : bpe ? "{ \"type\": \"bpe\", \"vocab\": \"vocab.json\", \"merges\": \"merges.txt\" }" : "{ \"type\": \"bert\", \"vocab\": \"vocab.txt\", \"lowercase\": true }")}},
          "maxTokens": {{maxTokens}},
          "output": "logits",
          "activation": "{{activation}}",
          "labels": { "0": null, "1": "hate", "2": "violence" }
        }
        """);

    public ContentModel Load(OnnxRuntimeOptions? options = null) => ContentModel.Load(DescriptionPath, options);

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Builds a benign text of about <paramref name="chars"/> characters.</summary>
    public static string BenignText(int chars)
    {
        var sb = new StringBuilder(chars + 64);
        var i = 0;
        while (sb.Length < chars)
        {
            sb.Append(OtherWords[i++ % 30]).Append(' ');
            if (i % 12 == 0)
            {
                sb.Append(". ");
            }
        }

        return sb.ToString(0, chars);
    }
}

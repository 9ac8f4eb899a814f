using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace SafeAI.Onnx;

/// <summary>Wraps a Microsoft.ML.Tokenizers tokenizer: text to ids without special tokens, plus the ids that frame a window.</summary>
internal sealed class ModelTokenizer
{
    private readonly Tokenizer _tokenizer;
    private readonly BertTokenizer? _bert;

    private ModelTokenizer(Tokenizer tokenizer, int startId, int endId, int padId)
    {
        _tokenizer = tokenizer;
        _bert = tokenizer as BertTokenizer;
        StartId = startId;
        EndId = endId;
        PadId = padId;
    }

    /// <summary>Gets the id put before each window ([CLS] or &lt;s&gt;).</summary>
    public int StartId { get; }

    /// <summary>Gets the id put after each window ([SEP] or &lt;/s&gt;).</summary>
    public int EndId { get; }

    /// <summary>Gets the padding id.</summary>
    public int PadId { get; }

    public static ModelTokenizer Create(TokenizerDescription description, ModelFiles files)
    {
        switch (description.Kind)
        {
            case TokenizerKind.Bert:
            {
                var bert = Open(files, description.Vocab!, stream => BertTokenizer.Create(stream, new BertOptions
                {
                    LowerCaseBeforeTokenization = description.Lowercase,
                    RemoveNonSpacingMarks = description.Lowercase,
                }));
                return new ModelTokenizer(bert, description.BosId ?? bert.ClassificationTokenId, description.EosId ?? bert.SeparatorTokenId, description.PadId ?? bert.PaddingTokenId);
            }

            case TokenizerKind.Bpe:
            {
                var vocabulary = Open(files, description.Vocab!, ReadVocabulary);
                var merges = Open(files, description.Merges!, ReadMerges);
                var bpe = Wrap(files, description.Vocab!, () => BpeTokenizer.Create(new BpeOptions(vocabulary)
                {
                    Merges = merges,
                    ByteLevel = true,
                    UnknownToken = vocabulary.Exists(static p => p.Key == "<unk>") ? "<unk>" : null,
                    PreTokenizer = new RegexPreTokenizer(s_byteLevelWords, specialTokens: null),
                }));
                return new ModelTokenizer(bpe, description.BosId ?? 0, description.EosId ?? 2, description.PadId ?? 1);
            }

            default:
            {
                var spm = Open(files, description.Model!, stream => SentencePieceTokenizer.Create(stream, addBeginningOfSentence: false, addEndOfSentence: false));
                return new ModelTokenizer(spm, description.BosId ?? spm.BeginningOfSentenceId, description.EosId ?? spm.EndOfSentenceId, description.PadId ?? 0);
            }
        }
    }

    /// <summary>Encodes up to <paramref name="maxTokens"/> tokens of <paramref name="text"/>, without special tokens.</summary>
    /// <returns>The ids; <paramref name="complete"/> tells whether the whole text was encoded.</returns>
    public IReadOnlyList<int> Encode(string text, int maxTokens, out bool complete)
    {
        IReadOnlyList<int> ids;
        int consumed;
        string? normalized;
        if (_bert is not null)
        {
            ids = _bert.EncodeToIds(text, maxTokens, addSpecialTokens: false, out normalized, out consumed);
        }
        else
        {
            ids = _tokenizer.EncodeToIds(text, maxTokens, out normalized, out consumed);
        }

        // Fewer ids than the budget means the tokenizer reached the end; otherwise compare what it consumed (trailing
        // white space yields no token, so it does not count).
        complete = ids.Count < maxTokens || consumed >= (normalized ?? text).AsSpan().TrimEnd().Length;
        return ids;
    }

    /// <summary>GPT-2 / RoBERTa word splitting: contractions, words, numbers and other runs, each with its leading space.</summary>
    private static readonly Regex s_byteLevelWords = new(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+", RegexOptions.Compiled | RegexOptions.CultureInvariant);

    private static List<KeyValuePair<string, int>> ReadVocabulary(Stream stream)
    {
        using var document = JsonDocument.Parse(stream);
        var list = new List<KeyValuePair<string, int>>();
        foreach (var entry in document.RootElement.EnumerateObject())
        {
            list.Add(new KeyValuePair<string, int>(entry.Name, entry.Value.GetInt32()));
        }

        return list;
    }

    private static List<string> ReadMerges(Stream stream)
    {
        using var reader = new StreamReader(stream);
        var list = new List<string>();
        while (reader.ReadLine() is { } line)
        {
            if (line.Length > 0 && !line.StartsWith("#version", StringComparison.Ordinal))
            {
                list.Add(line);
            }
        }

        return list;
    }

    private static T Open<T>(ModelFiles files, string name, Func<Stream, T> create)
    {
        using var stream = files.Open(name);
        return Wrap(files, name, () => create(stream));
    }

    private static T Wrap<T>(ModelFiles files, string name, Func<T> create)
    {
        try
        {
            return create();
        }
        catch (Exception ex) when (ex is not ContentModelException and not OutOfMemoryException)
        {
            throw new ContentModelException(files.Describe(name), $"not a readable tokenizer file ({ex.Message}).", ex);
        }
    }
}

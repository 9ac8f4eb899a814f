using System.Globalization;
using System.Text;
using SafeAI.Onnx;
using SafeAI.Onnx.MiniLM;

namespace SafeAI.Cli;

/// <summary>
/// all-MiniLM-L6-v2 embeddings of texts exactly as the cascade's encoder tier sees them at run time (normalised, the
/// first n-gram window of <see cref="WindowChars"/> characters, at most <see cref="Tokens"/> tokens, mean-pooled and
/// L2-normalised), with an on-disk cache keyed by the text so that retraining the heads does not re-embed the corpus.
/// </summary>
internal sealed class EncoderEmbeddings : IDisposable
{
    public const int Dimension = 384;
    private const int BatchSize = 32;
    private const uint CacheMagic = 0x5341454D; // "SAEM"
    private readonly EncoderHeadsContentModel _encoder;
    private readonly string? _cachePath;
    private readonly Dictionary<ulong, float[]> _cache = [];
    private int _added;

    public EncoderEmbeddings(int tokens, int windowChars, string? cachePath)
    {
        Tokens = tokens;
        WindowChars = windowChars;
        _cachePath = cachePath;
        _encoder = MiniLMContentModel.LoadEncoder(tokens, new OnnxRuntimeOptions { MicroBatching = false });
        if (cachePath is not null && File.Exists(cachePath))
        {
            ReadCache(cachePath);
        }
    }

    public int Tokens { get; }

    public int WindowChars { get; }

    /// <summary>Embeds texts (cached ones are not re-run); row i of the result is text i.</summary>
    public float[][] Embed(IReadOnlyList<string> texts, Action<string>? log = null)
    {
        var result = new float[texts.Count][];
        var missing = new List<(int Index, int[] Window)>();
        for (var i = 0; i < texts.Count; i++)
        {
            var key = Key(texts[i]);
            if (_cache.TryGetValue(key, out var hit))
            {
                result[i] = hit;
            }
            else
            {
                missing.Add((i, _encoder.CreateWindows(Prepare(texts[i]), 0, 1, out _)[0]));
            }
        }

        log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"embedding {missing.Count} texts ({texts.Count - missing.Count} cached)"));
        // Similar lengths together, so that batches carry little padding.
        missing.Sort(static (a, b) => a.Window.Length != b.Window.Length ? a.Window.Length.CompareTo(b.Window.Length) : a.Index.CompareTo(b.Index));
        var batch = new List<int[]>(BatchSize);
        for (var start = 0; start < missing.Count; start += BatchSize)
        {
            batch.Clear();
            var count = Math.Min(BatchSize, missing.Count - start);
            for (var j = 0; j < count; j++)
            {
                batch.Add(missing[start + j].Window);
            }

            var flat = _encoder.Embed(batch, CancellationToken.None);
            for (var j = 0; j < count; j++)
            {
                var vector = flat.AsSpan(j * Dimension, Dimension).ToArray();
                var index = missing[start + j].Index;
                result[index] = vector;
                _cache[Key(texts[index])] = vector;
                _added++;
            }

            if (log is not null && (start / BatchSize) % 100 == 99)
            {
                log(string.Create(CultureInfo.InvariantCulture, $"  {start + count}/{missing.Count}"));
                Save();
            }
        }

        Save();
        return result;
    }

    /// <summary>The text the encoder tier reads: normalised, its first n-gram window.</summary>
    public string Prepare(string text)
    {
        var normalized = TextNormalizer.Normalize(text);
        return normalized.Length <= WindowChars ? normalized : normalized[..WindowChars];
    }

    public void Dispose()
    {
        Save();
        _encoder.Dispose();
    }

    private void Save()
    {
        if (_cachePath is null || _added == 0)
        {
            return;
        }

        var temp = _cachePath + ".tmp";
        using (var writer = new BinaryWriter(File.Create(temp)))
        {
            writer.Write(CacheMagic);
            writer.Write(Tokens);
            writer.Write(WindowChars);
            writer.Write(_cache.Count);
            foreach (var (key, vector) in _cache)
            {
                writer.Write(key);
                foreach (var v in vector)
                {
                    writer.Write(v);
                }
            }
        }

        File.Move(temp, _cachePath, overwrite: true);
        _added = 0;
    }

    private void ReadCache(string path)
    {
        using var reader = new BinaryReader(File.OpenRead(path));
        if (reader.ReadUInt32() != CacheMagic || reader.ReadInt32() != Tokens || reader.ReadInt32() != WindowChars)
        {
            return; // Another format or other settings: start afresh (the file is overwritten).
        }

        var count = reader.ReadInt32();
        for (var i = 0; i < count; i++)
        {
            var key = reader.ReadUInt64();
            var vector = new float[Dimension];
            for (var d = 0; d < Dimension; d++)
            {
                vector[d] = reader.ReadSingle();
            }

            _cache[key] = vector;
        }
    }

    /// <summary>FNV-1a 64 of the exact text (UTF-16 code units).</summary>
    private static ulong Key(string text)
    {
        var h = 14695981039346656037UL;
        foreach (var c in text)
        {
            h = (h ^ c) * 1099511628211UL;
        }

        return h;
    }
}

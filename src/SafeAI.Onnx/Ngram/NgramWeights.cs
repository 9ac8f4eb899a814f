using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SafeAI.Onnx.Ngram;

/// <summary>
/// The weights of the n-gram tier: one linear model per category over <see cref="NgramFeatures"/>, stored as signed bytes
/// with one scale per category (gzip-compressed file, see <see cref="Write"/>). A text's score for category c is
/// <c>sigmoid(bias[c] + scale[c] * sum(w[id, c]) / sqrt(feature count))</c>.
/// </summary>
internal sealed class NgramWeights
{
    private static ReadOnlySpan<byte> Magic => "SAFENG01"u8;

    public NgramWeights(int bits, string[] categories, float[] scales, float[] biases, sbyte[] weights)
    {
        Bits = bits;
        Categories = categories;
        Scales = scales;
        Biases = biases;
        Weights = weights;
    }

    public int Bits { get; }

    public string[] Categories { get; }

    public float[] Scales { get; }

    public float[] Biases { get; }

    /// <summary>Gets the weights, bucket by bucket: <c>Weights[(id * Categories.Length) + c]</c>.</summary>
    public sbyte[] Weights { get; }

    /// <summary>Quantises float weights (same layout) to signed bytes with one scale per category.</summary>
    public static NgramWeights Quantize(int bits, string[] categories, float[] biases, float[] weights)
    {
        var c = categories.Length;
        var scales = new float[c];
        for (var i = 0; i < weights.Length; i++)
        {
            scales[i % c] = MathF.Max(scales[i % c], MathF.Abs(weights[i]));
        }

        for (var k = 0; k < c; k++)
        {
            scales[k] = scales[k] > 0 ? scales[k] / 127f : 1f;
        }

        var q = new sbyte[weights.Length];
        for (var i = 0; i < weights.Length; i++)
        {
            q[i] = (sbyte)Math.Clamp(MathF.Round(weights[i] / scales[i % c]), -127, 127);
        }

        return new NgramWeights(bits, categories, scales, (float[])biases.Clone(), q);
    }

    /// <summary>Scores one window's features into <paramref name="scores"/> (one per category).</summary>
    public void Score(ReadOnlySpan<int> features, Span<float> scores)
    {
        var c = Categories.Length;
        Span<int> sums = c <= 64 ? stackalloc int[c] : new int[c];
        sums.Clear();
        var weights = Weights;
        if (c == 8 && Vector128.IsHardwareAccelerated)
        {
            SumEight(weights, features, sums);
        }
        else
        {
            foreach (var id in features)
            {
                var row = id * c;
                for (var k = 0; k < c; k++)
                {
                    sums[k] += weights[row + k];
                }
            }
        }

        var norm = 1f / MathF.Sqrt(Math.Max(1, features.Length));
        for (var k = 0; k < c; k++)
        {
            var z = Biases[k] + (Scales[k] * sums[k] * norm);
            scores[k] = 1f / (1f + MathF.Exp(-z));
        }
    }

    /// <summary>The eight-category case (the default model): each bucket's eight weights are one 64-bit load, widened and added as vectors.</summary>
    private static void SumEight(sbyte[] weights, ReadOnlySpan<int> features, Span<int> sums)
    {
        var low = Vector128<int>.Zero;
        var high = Vector128<int>.Zero;
        ref var start = ref Unsafe.As<sbyte, byte>(ref MemoryMarshal.GetArrayDataReference(weights));
        var buckets = (uint)(weights.Length / 8);
        foreach (var id in features)
        {
            // Feature ids come from NgramFeatures masked to the bucket count; the check keeps a bad id from reading outside the array.
            if ((uint)id >= buckets)
            {
                throw new ArgumentOutOfRangeException(nameof(features));
            }

            var row = Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<long>(ref Unsafe.Add(ref start, id * 8))).AsSByte();
            var (a, b) = Vector128.Widen(Vector128.WidenLower(row));
            low += a;
            high += b;
        }

        low.CopyTo(sums);
        high.CopyTo(sums[4..]);
    }

    /// <summary>Writes the weights: gzip of magic, bits, category count, then scale and bias per category, then the weights.</summary>
    public void Write(Stream stream)
    {
        using var gzip = new GZipStream(stream, CompressionLevel.SmallestSize, leaveOpen: true);
        gzip.Write(Magic);
        Span<byte> four = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(four, Bits);
        gzip.Write(four);
        BinaryPrimitives.WriteInt32LittleEndian(four, Categories.Length);
        gzip.Write(four);
        for (var k = 0; k < Categories.Length; k++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(four, Scales[k]);
            gzip.Write(four);
            BinaryPrimitives.WriteSingleLittleEndian(four, Biases[k]);
            gzip.Write(four);
        }

        gzip.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(Weights.AsSpan()));
    }

    /// <summary>Reads weights written by <see cref="Write"/>; <paramref name="categories"/> come from the description.</summary>
    public static NgramWeights Read(string name, Stream stream, string[] categories, int bits)
    {
        try
        {
            using var gzip = new GZipStream(stream, CompressionMode.Decompress);
            Span<byte> header = stackalloc byte[16];
            gzip.ReadExactly(header);
            if (!header[..8].SequenceEqual(Magic))
            {
                throw new ContentModelException(name, "not an n-gram weights file (it should start with SAFENG01 once decompressed).");
            }

            var fileBits = BinaryPrimitives.ReadInt32LittleEndian(header[8..]);
            var count = BinaryPrimitives.ReadInt32LittleEndian(header[12..]);
            if (fileBits != bits || count != categories.Length)
            {
                throw new ContentModelException(name, $"the file holds {count} categories over 2^{fileBits} buckets; the description says {categories.Length} over 2^{bits}.");
            }

            var scales = new float[count];
            var biases = new float[count];
            Span<byte> pair = stackalloc byte[8];
            for (var k = 0; k < count; k++)
            {
                gzip.ReadExactly(pair);
                scales[k] = BinaryPrimitives.ReadSingleLittleEndian(pair);
                biases[k] = BinaryPrimitives.ReadSingleLittleEndian(pair[4..]);
                if (!float.IsFinite(scales[k]) || !float.IsFinite(biases[k]))
                {
                    throw new ContentModelException(name, $"category {categories[k]} has a scale or bias that is not a finite number.");
                }
            }

            var weights = new sbyte[(1 << bits) * count];
            gzip.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(weights.AsSpan()));
            return new NgramWeights(bits, categories, scales, biases, weights);
        }
        catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException or IOException)
        {
            throw new ContentModelException(name, $"the n-gram weights cannot be read ({ex.Message}).", ex);
        }
    }
}

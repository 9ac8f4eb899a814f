using System.Buffers;

namespace SafeAI.Onnx.Ngram;

/// <summary>
/// The features of the n-gram tier: hashed character 3-, 4- and 5-grams (over lower-cased text with runs of white space
/// collapsed and a space at each end) plus hashed word unigrams and bigrams. Training and scoring use this one code path.
/// </summary>
internal static class NgramFeatures
{
    private const uint FnvOffset = 2166136261;
    private const uint FnvPrime = 16777619;
    private const uint WordSeed = 0x9E3779B9;

    /// <summary>Returns the feature ids (bucket indexes, repeated as often as they occur) of <paramref name="text"/>.</summary>
    public static int[] Extract(ReadOnlySpan<char> text, int bits)
    {
        var mask = (1u << bits) - 1;
        var buffer = ArrayPool<char>.Shared.Rent(text.Length + 2);
        try
        {
            var length = Prepare(text, buffer);
            var chars = buffer.AsSpan(0, length);
            var max = (3 * length) + (2 * ((length / 2) + 1));
            var ids = ArrayPool<int>.Shared.Rent(Math.Max(1, max));
            try
            {
                var n = AddCharGrams(chars, mask, ids);
                n = AddWords(chars, mask, ids, n);
                return ids.AsSpan(0, n).ToArray();
            }
            finally
            {
                ArrayPool<int>.Shared.Return(ids);
            }
        }
        finally
        {
            ArrayPool<char>.Shared.Return(buffer);
        }
    }

    /// <summary>Lower-cases, collapses white space and pads with one space at each end.</summary>
    private static int Prepare(ReadOnlySpan<char> text, char[] into)
    {
        var n = 0;
        into[n++] = ' ';
        foreach (var raw in text)
        {
            if (raw is > ' ' and < '\u007F')
            {
                // Printable ASCII, the common case: the same result as the general path below, without its look-ups.
                into[n++] = raw is >= 'A' and <= 'Z' ? (char)(raw + 32) : raw;
                continue;
            }

            if (char.IsWhiteSpace(raw) || char.IsControl(raw))
            {
                if (into[n - 1] != ' ')
                {
                    into[n++] = ' ';
                }

                continue;
            }

            into[n++] = char.ToLowerInvariant(raw);
        }

        if (into[n - 1] != ' ')
        {
            into[n++] = ' ';
        }

        return n;
    }

    private static int AddCharGrams(ReadOnlySpan<char> chars, uint mask, int[] ids)
    {
        var n = 0;
        var i = 0;

        // Unrolled while five characters remain (the 3-, 4- and 5-gram starting at i): the same ids as the loop below.
        var output = ids.AsSpan();
        for (; i + 5 <= chars.Length; i++)
        {
            var w = chars.Slice(i, 5);
            var grams = output.Slice(n, 3);
            var h = (FnvOffset ^ w[0]) * FnvPrime;
            h = (h ^ w[1]) * FnvPrime;
            h = (h ^ w[2]) * FnvPrime;
            grams[0] = (int)(Mix(h + 2) & mask);
            h = (h ^ w[3]) * FnvPrime;
            grams[1] = (int)(Mix(h + 3) & mask);
            h = (h ^ w[4]) * FnvPrime;
            grams[2] = (int)(Mix(h + 4) & mask);
            n += 3;
        }

        for (; i + 3 <= chars.Length; i++)
        {
            var h = FnvOffset;
            for (var k = 0; k < 5 && i + k < chars.Length; k++)
            {
                h = (h ^ chars[i + k]) * FnvPrime;
                if (k >= 2)
                {
                    ids[n++] = (int)(Mix(h + (uint)k) & mask);
                }
            }
        }

        return n;
    }

    private static int AddWords(ReadOnlySpan<char> chars, uint mask, int[] ids, int n)
    {
        var previous = 0u;
        var hasPrevious = false;
        var i = 0;
        while (i < chars.Length)
        {
            if (!IsWordChar(chars[i]))
            {
                i++;
                continue;
            }

            var h = FnvOffset ^ WordSeed;
            while (i < chars.Length && (IsWordChar(chars[i]) || chars[i] == '\''))
            {
                h = (h ^ chars[i]) * FnvPrime;
                i++;
            }

            ids[n++] = (int)(Mix(h ^ 0x51ED27u) & mask);
            if (hasPrevious)
            {
                ids[n++] = (int)(Mix((previous * 0x01000193u) ^ h ^ 0xB16B00B5u) & mask);
            }

            previous = h;
            hasPrevious = true;
        }

        return n;
    }

    private static bool IsWordChar(char c) =>
        c < '\u0080' ? (uint)((c | 0x20) - 'a') <= 'z' - 'a' || (uint)(c - '0') <= 9 : char.IsLetterOrDigit(c);

    private static uint Mix(uint h)
    {
        h ^= h >> 16;
        h *= 0x85EBCA6Bu;
        h ^= h >> 13;
        h *= 0xC2B2AE35u;
        h ^= h >> 16;
        return h;
    }
}

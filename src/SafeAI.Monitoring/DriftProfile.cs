using System.Numerics;
using System.Text;

namespace SafeAI.Monitoring;

/// <summary>
/// What a set of calls looked like, without their text: histograms of input length, of the scripts of its letters
/// (Latin, Cyrillic, Han, ...), of hashed character trigrams (a fingerprint of language and topic), of output length
/// and of confidence. Thread-safe to add to; compare two with <see cref="DriftReport.Compare"/>.
/// </summary>
public sealed class DriftProfile
{
    /// <summary>The number of hashed trigram bins.</summary>
    public const int NgramBins = 1024;

    internal const int LengthBins = 16;
    internal const int ScriptBins = 12;
    internal const int ConfidenceBins = 10;

    internal static readonly string[] ScriptNames = ["latin", "greek", "cyrillic", "hebrew", "arabic", "devanagari", "thai", "hangul", "kana", "han", "digit", "other"];

    private readonly long[] _length = new long[LengthBins];
    private readonly long[] _script = new long[ScriptBins];
    private readonly long[] _ngram = new long[NgramBins];
    private readonly long[] _outputLength = new long[LengthBins];
    private readonly long[] _confidence = new long[ConfidenceBins];
    private long _inputs;
    private long _outputs;

    /// <summary>Gets the inputs added.</summary>
    public long Inputs => Interlocked.Read(ref _inputs);

    /// <summary>Gets the outputs added.</summary>
    public long Outputs => Interlocked.Read(ref _outputs);

    internal long[] Length => _length;

    internal long[] Script => _script;

    internal long[] Ngram => _ngram;

    internal long[] OutputLength => _outputLength;

    internal long[] Confidence => _confidence;

    /// <summary>Builds a profile from reference inputs (for example a week of recorded requests, or a test set).</summary>
    /// <param name="inputs">The inputs.</param>
    /// <returns>The profile.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="inputs"/> is <see langword="null"/>.</exception>
    public static DriftProfile FromInputs(IEnumerable<string> inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var profile = new DriftProfile();
        foreach (var input in inputs)
        {
            profile.AddInput(input);
        }

        return profile;
    }

    /// <summary>Adds one input's features (length, script mix, trigrams). The text is not kept.</summary>
    /// <param name="text">The input text.</param>
    public void AddInput(ReadOnlySpan<char> text)
    {
        Interlocked.Increment(ref _length[LengthBin(text.Length)]);

        // Trigrams of case-folded letters, words separated by one space and padded with it: " ca", "cat", "at ".
        var previous2 = '\0';
        var previous1 = ' ';
        foreach (var rune in text.EnumerateRunes())
        {
            var script = ScriptOf(rune);
            if (script >= 0)
            {
                Interlocked.Increment(ref _script[script]);
            }

            var folded = Rune.IsLetter(rune) ? Rune.ToLowerInvariant(rune) : new Rune(' ');
            var c = folded.IsBmp ? (char)folded.Value : (char)(0xE000 + (folded.Value & 0xFFF));
            if (c == ' ' && previous1 == ' ')
            {
                continue;
            }

            if (previous2 != '\0')
            {
                Interlocked.Increment(ref _ngram[Hash(previous2, previous1, c)]);
            }

            previous2 = previous1;
            previous1 = c;
        }

        if (previous1 != ' ' && previous2 != '\0')
        {
            Interlocked.Increment(ref _ngram[Hash(previous2, previous1, ' ')]);
        }

        Interlocked.Increment(ref _inputs);
    }

    /// <summary>Adds one output's signals: its length and, if estimated, its confidence.</summary>
    /// <param name="length">The output's length in characters.</param>
    /// <param name="confidence">The confidence estimate (0 to 1), if any.</param>
    public void AddOutput(int length, double? confidence)
    {
        Interlocked.Increment(ref _outputLength[LengthBin(Math.Max(0, length))]);
        if (confidence is { } c && c is >= 0 and <= 1)
        {
            Interlocked.Increment(ref _confidence[Math.Min(ConfidenceBins - 1, (int)(c * ConfidenceBins))]);
        }

        Interlocked.Increment(ref _outputs);
    }

    /// <summary>Adds another profile's counts to this one.</summary>
    /// <param name="other">The other profile.</param>
    public void Add(DriftProfile other)
    {
        ArgumentNullException.ThrowIfNull(other);
        Merge(_length, other._length);
        Merge(_script, other._script);
        Merge(_ngram, other._ngram);
        Merge(_outputLength, other._outputLength);
        Merge(_confidence, other._confidence);
        Interlocked.Add(ref _inputs, other.Inputs);
        Interlocked.Add(ref _outputs, other.Outputs);
    }

    internal static int LengthBin(int length) => length <= 1 ? 0 : Math.Min(LengthBins - 1, BitOperations.Log2((uint)length));

    internal static int ScriptOf(Rune rune)
    {
        var v = rune.Value;
        if (Rune.IsDigit(rune))
        {
            return 10;
        }

        if (!Rune.IsLetter(rune))
        {
            return -1;
        }

        return v switch
        {
            < 0x0250 => 0,
            >= 0x0370 and < 0x0400 => 1,
            >= 0x0400 and < 0x0530 => 2,
            >= 0x0590 and < 0x0600 => 3,
            >= 0x0600 and < 0x0700 or >= 0x0750 and < 0x0780 => 4,
            >= 0x0900 and < 0x0980 => 5,
            >= 0x0E00 and < 0x0E80 => 6,
            >= 0x1100 and < 0x1200 or >= 0xAC00 and < 0xD7B0 => 7,
            >= 0x3040 and < 0x3100 => 8,
            >= 0x3400 and < 0x4DC0 or >= 0x4E00 and < 0xA000 => 9,
            >= 0x1E00 and < 0x1F00 => 0,
            _ => 11,
        };
    }

    private static int Hash(char a, char b, char c)
    {
        uint h = 2166136261;
        h = (h ^ a) * 16777619;
        h = (h ^ b) * 16777619;
        h = (h ^ c) * 16777619;
        return (int)(h % NgramBins);
    }

    private static void Merge(long[] into, long[] from)
    {
        for (var i = 0; i < into.Length; i++)
        {
            Interlocked.Add(ref into[i], Interlocked.Read(ref from[i]));
        }
    }
}

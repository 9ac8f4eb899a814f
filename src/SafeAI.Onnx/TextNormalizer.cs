using System.Globalization;
using System.Text;

namespace SafeAI.Onnx;

/// <summary>
/// Undoes common tricks that hide text from a classifier, before scoring (the caller's text is never changed):
/// Unicode NFKC (full-width and styled letters), zero-width, invisible and bidi control characters, homoglyphs
/// (Cyrillic and Greek look-alikes inside Latin words), leetspeak (<c>h4t3</c>) and spaced-out letters (<c>k i l l</c>);
/// then collapses repetition that carries no meaning but skews a classifier: runs of one character (more than three
/// become three) and consecutive repeats of a word (three or more become one) or of a phrase of two to eight words (two
/// or more become one).
/// </summary>
internal static class TextNormalizer
{
    public static string Normalize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0)
        {
            return text;
        }

        // ASCII text is its own NFKC form and holds no homoglyphs or format characters: skip those passes.
        var ascii = Ascii.IsValid(text);
        var visible = RemoveInvisible(ascii ? text : ToNfkc(text));
        var latin = ascii ? visible : MapHomoglyphs(visible);
        var joined = JoinSpacedLetters(latin);
        return CollapseRepeats(CollapseCharacterRuns(MapLeetspeak(joined)));
    }

    /// <summary>The longest phrase (in words) whose consecutive repeats are collapsed.</summary>
    internal const int MaxRepeatedPhrase = 8;

    /// <summary>Cuts runs of more than three of the same character to three ("aaaaaaaa" to "aaa", "!!!!!!" to "!!!").</summary>
    private static string CollapseCharacterRuns(string text)
    {
        StringBuilder? sb = null;
        var run = 0;
        for (var i = 0; i < text.Length; i++)
        {
            run = i > 0 && text[i] == text[i - 1] ? run + 1 : 1;
            if (run <= 3)
            {
                sb?.Append(text[i]);
                continue;
            }

            sb ??= new StringBuilder(text.Length).Append(text, 0, i);
        }

        return sb?.ToString() ?? text;
    }

    /// <summary>Collapses consecutive repeats of a word (three or more) or of a phrase of two to eight words (two or more) to one.</summary>
    private static string CollapseRepeats(string text)
    {
        // Words as (start, end of the word, end including the white space after it).
        List<(int Start, int End, int Next)>? words = null;
        var i = 0;
        while (i < text.Length && char.IsWhiteSpace(text[i]))
        {
            i++;
        }

        while (i < text.Length)
        {
            var start = i;
            while (i < text.Length && !char.IsWhiteSpace(text[i]))
            {
                i++;
            }

            var end = i;
            while (i < text.Length && char.IsWhiteSpace(text[i]))
            {
                i++;
            }

            (words ??= []).Add((start, end, i));
        }

        if (words is null || words.Count < 3)
        {
            return text;
        }

        StringBuilder? sb = null;
        var w = 0;
        while (w < words.Count)
        {
            var collapsed = false;
            for (var n = Math.Min(MaxRepeatedPhrase, (words.Count - w) / 2); n >= 1; n--)
            {
                var repeats = 1;
                while (w + ((repeats + 1) * n) <= words.Count && SamePhrase(text, words, w, w + (repeats * n), n))
                {
                    repeats++;
                }

                if (repeats >= (n == 1 ? 3 : 2))
                {
                    sb ??= new StringBuilder(text.Length).Append(text, 0, words[w].Start);
                    var last = w + (repeats * n) - 1;
                    sb.Append(text, words[w].Start, words[w + n - 1].End - words[w].Start);
                    sb.Append(text, words[last].End, words[last].Next - words[last].End);
                    w += repeats * n;
                    collapsed = true;
                    break;
                }
            }

            if (!collapsed)
            {
                sb?.Append(text, words[w].Start, words[w].Next - words[w].Start);
                w++;
            }
        }

        return sb?.ToString() ?? text;
    }

    private static bool SamePhrase(string text, List<(int Start, int End, int Next)> words, int a, int b, int n)
    {
        for (var k = 0; k < n; k++)
        {
            var (sa, ea, _) = words[a + k];
            var (sb, eb, _) = words[b + k];
            if (!text.AsSpan(sa, ea - sa).Equals(text.AsSpan(sb, eb - sb), StringComparison.OrdinalIgnoreCase))
            {
                return false;
            }
        }

        return true;
    }

    private static string ToNfkc(string text)
    {
        try
        {
            return text.IsNormalized(NormalizationForm.FormKC) ? text : text.Normalize(NormalizationForm.FormKC);
        }
        catch (ArgumentException)
        {
            // Lone surrogates: replace them, then normalise.
            var sb = new StringBuilder(text.Length);
            for (var i = 0; i < text.Length; i++)
            {
                var c = text[i];
                if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                {
                    sb.Append(c).Append(text[++i]);
                }
                else
                {
                    sb.Append(char.IsSurrogate(c) ? '\uFFFD' : c);
                }
            }

            return sb.ToString().Normalize(NormalizationForm.FormKC);
        }
    }

    private static string RemoveInvisible(string text)
    {
        StringBuilder? sb = null;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            var drop = IsInvisible(text, i);
            var space = !drop && char.IsControl(c) && c is not '\n' and not '\t';
            if (!drop && !space)
            {
                sb?.Append(c);
                continue;
            }

            sb ??= new StringBuilder(text.Length).Append(text, 0, i);
            if (space)
            {
                sb.Append(' ');
            }
            else if (char.IsHighSurrogate(c) && i + 1 < text.Length)
            {
                i++;
            }
        }

        return sb?.ToString() ?? text;
    }

    private static bool IsInvisible(string text, int i)
    {
        var c = text[i];
        if (char.IsAscii(c))
        {
            return false;
        }

        if (c is '\u3164' or '\u115F' or '\u1160' or '\uFFA0' or '\u2800' or '\u034F' || c is >= '\uFE00' and <= '\uFE0F')
        {
            return true;
        }

        // Format characters: zero-width space/joiners, bidi embeddings, overrides and isolates, soft hyphen, word joiner, BOM, tags.
        return CharUnicodeInfo.GetUnicodeCategory(text, i) == UnicodeCategory.Format;
    }

    private static string MapHomoglyphs(string text)
    {
        StringBuilder? sb = null;
        var wordStart = 0;
        for (var i = 0; i <= text.Length; i++)
        {
            if (i < text.Length && char.IsLetter(text[i]))
            {
                continue;
            }

            if (i > wordStart && HasAsciiLetter(text, wordStart, i) && HasConfusable(text, wordStart, i))
            {
                sb ??= new StringBuilder(text.Length).Append(text, 0, wordStart);
                for (var j = wordStart; j < i; j++)
                {
                    sb.Append(ToLatin(text[j]));
                }
            }
            else
            {
                sb?.Append(text, wordStart, i - wordStart);
            }

            if (i < text.Length)
            {
                sb?.Append(text[i]);
            }

            wordStart = i + 1;
        }

        return sb?.ToString() ?? text;
    }

    private static bool HasAsciiLetter(string text, int start, int end)
    {
        for (var i = start; i < end; i++)
        {
            if (char.IsAsciiLetter(text[i]))
            {
                return true;
            }
        }

        return false;
    }

    private static bool HasConfusable(string text, int start, int end)
    {
        for (var i = start; i < end; i++)
        {
            var c = text[i];
            if (c is > '\u007F' && ToLatin(c) != c)
            {
                return true;
            }
        }

        return false;
    }

    private static char ToLatin(char c) => c switch
    {
        // Cyrillic
        'а' => 'a', 'е' => 'e', 'о' => 'o', 'р' => 'p', 'с' => 'c', 'у' => 'y', 'х' => 'x', 'і' => 'i', 'ј' => 'j', 'ѕ' => 's', 'һ' => 'h', 'ԁ' => 'd', 'ԛ' => 'q', 'ԝ' => 'w', 'к' => 'k', 'м' => 'm', 'т' => 't', 'н' => 'h', 'в' => 'b', 'ӏ' => 'l',
        'А' => 'A', 'В' => 'B', 'Е' => 'E', 'К' => 'K', 'М' => 'M', 'Н' => 'H', 'О' => 'O', 'Р' => 'P', 'С' => 'C', 'Т' => 'T', 'У' => 'Y', 'Х' => 'X', 'І' => 'I', 'Ј' => 'J', 'Ѕ' => 'S',
        // Greek
        'α' => 'a', 'ο' => 'o', 'ρ' => 'p', 'ν' => 'v', 'ι' => 'i', 'κ' => 'k', 'τ' => 't', 'υ' => 'u', 'χ' => 'x', 'ε' => 'e',
        'Α' => 'A', 'Β' => 'B', 'Ε' => 'E', 'Ζ' => 'Z', 'Η' => 'H', 'Ι' => 'I', 'Κ' => 'K', 'Μ' => 'M', 'Ν' => 'N', 'Ο' => 'O', 'Ρ' => 'P', 'Τ' => 'T', 'Υ' => 'Y', 'Χ' => 'X',
        _ => c,
    };

    /// <summary>
    /// Joins runs of three or more single letters or digits separated by one space, dot, dash, underscore or asterisk
    /// ("k i l l", "k.i.l.l"). A run keeps to its first separator's kind, a space or a mark, so that words spelt out with
    /// marks stay apart where a space separates them ("w.o.r.t.h.l.e.s.s i.d.i.o.t" is two words, and in "m.a.k.e a
    /// b.o.m.b" the "a" stays a word of its own).
    /// </summary>
    private static string JoinSpacedLetters(string text)
    {
        StringBuilder? sb = null;
        var copied = 0;
        var i = 0;
        while (i < text.Length)
        {
            if (!IsSingle(text, i))
            {
                i++;
                continue;
            }

            // A run: single, separator, single, separator, single ...
            var end = i + 1;
            var count = 1;
            var spaced = end < text.Length && text[end] == ' ';
            while (end + 1 < text.Length && IsSeparator(text[end]) && (text[end] == ' ') == spaced && IsSingle(text, end + 1))
            {
                end += 2;
                count++;
            }

            if (count >= 4 && text[i] == 'I' && char.IsLower(text[i + 2]))
            {
                // "I h a t e": the pronoun I starts the run but is not part of the spaced-out word.
                i += 2;
                count--;
            }

            if (count >= 3)
            {
                sb ??= new StringBuilder(text.Length);
                sb.Append(text, copied, i - copied);
                for (var j = i; j < end; j += 2)
                {
                    sb.Append(text[j]);
                }

                copied = end;
                i = end;
            }
            else
            {
                // Too short to join: its last letter may still start a run of the other kind ("a w.o.r.d").
                i = Math.Max(i + 1, end - 1);
            }
        }

        if (sb is null)
        {
            return text;
        }

        return sb.Append(text, copied, text.Length - copied).ToString();
    }

    private static bool IsSingle(string text, int i) =>
        char.IsLetterOrDigit(text[i]) &&
        (i == 0 || !char.IsLetterOrDigit(text[i - 1])) &&
        (i + 1 == text.Length || !char.IsLetterOrDigit(text[i + 1]));

    private static bool IsSeparator(char c) => c is ' ' or '.' or '-' or '_' or '*';

    /// <summary>Maps digits and symbols inside words that also hold letters ("h4t3" to "hate", "k1ll" to "kill", "@ss" to "ass").</summary>
    private static string MapLeetspeak(string text)
    {
        StringBuilder? sb = null;
        var i = 0;
        while (i < text.Length)
        {
            if (!IsWordChar(text, i))
            {
                sb?.Append(text[i]);
                i++;
                continue;
            }

            var start = i;
            var letters = 0;
            var leet = 0;
            while (i < text.Length && IsWordChar(text, i))
            {
                if (char.IsLetter(text[i]))
                {
                    letters++;
                }
                else if (FromLeet(text[i]) != text[i])
                {
                    leet++;
                }

                i++;
            }

            if (letters >= 1 && leet >= 1 && i - start >= 3)
            {
                sb ??= new StringBuilder(text.Length).Append(text, 0, start);
                for (var j = start; j < i; j++)
                {
                    sb.Append(FromLeet(text[j]));
                }
            }
            else
            {
                sb?.Append(text, start, i - start);
            }
        }

        return sb?.ToString() ?? text;
    }

    private static bool IsWordChar(string text, int i)
    {
        var c = text[i];
        if (char.IsLetterOrDigit(c))
        {
            return true;
        }

        // Symbols count inside a word only when a letter or digit follows ("@ss", "k!ll"), not as trailing punctuation ("stop!").
        return c is '@' or '$' or '!' or '|' or '+' && i + 1 < text.Length && char.IsLetterOrDigit(text[i + 1]);
    }

    private static char FromLeet(char c) => c switch
    {
        '0' => 'o',
        '1' => 'i',
        '3' => 'e',
        '4' => 'a',
        '5' => 's',
        '7' => 't',
        '8' => 'b',
        '9' => 'g',
        '@' => 'a',
        '$' => 's',
        '!' => 'i',
        '|' => 'l',
        '+' => 't',
        _ => c,
    };
}

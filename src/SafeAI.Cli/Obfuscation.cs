using System.Text;

namespace SafeAI.Cli;

/// <summary>
/// The tricks that hide words from a classifier, applied the way <c>safeai eval --set sources</c> measures them: to every
/// word of at least <see cref="MinLetters"/> ASCII letters, so that whatever word carries the harm is hidden (shorter
/// words stay, as a person writing to be understood would leave them). Deterministic.
/// </summary>
internal static class Obfuscation
{
    /// <summary>The shortest word that is obfuscated.</summary>
    internal const int MinLetters = 4;

    /// <summary>The tricks, in the order reports list them.</summary>
    internal static readonly IReadOnlyList<string> Kinds = ["dotted", "spaced", "leetspeak", "zero-width", "homoglyphs"];

    /// <summary>
    /// Obfuscates every word of at least <see cref="MinLetters"/> ASCII letters of <paramref name="text"/>:
    /// <c>dotted</c> puts a dot between its letters (<c>i.d.i.o.t</c>); <c>spaced</c> a space, with two spaces either side
    /// of the word so that words stay apart (<c>a  i d i o t  !</c>); <c>leetspeak</c> writes a, e, i, o as 4, 3, 1, 0
    /// (<c>1d10t</c>); <c>zero-width</c> puts a zero-width space (U+200B) between its letters; <c>homoglyphs</c> writes
    /// a, c, e, o, p, x as their Cyrillic look-alikes.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="kind"/> is not one of <see cref="Kinds"/>.</exception>
    internal static string Apply(string text, string kind)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!Kinds.Contains(kind, StringComparer.Ordinal))
        {
            throw new ArgumentException($"'{kind}' is not an obfuscation; use {string.Join(", ", Kinds)}.", nameof(kind));
        }

        var sb = new StringBuilder(text.Length * 2);
        var i = 0;
        while (i < text.Length)
        {
            if (!char.IsAsciiLetter(text[i]))
            {
                sb.Append(text[i++]);
                continue;
            }

            var start = i;
            while (i < text.Length && char.IsAsciiLetter(text[i]))
            {
                i++;
            }

            var word = text.AsSpan(start, i - start);
            if (word.Length < MinLetters)
            {
                sb.Append(word);
                continue;
            }

            switch (kind)
            {
                case "dotted":
                    Join(sb, word, ".");
                    break;
                case "spaced":
                    sb.Append("  ");
                    Join(sb, word, " ");
                    sb.Append("  ");
                    break;
                case "zero-width":
                    Join(sb, word, "\u200B");
                    break;
                case "leetspeak":
                    foreach (var c in word)
                    {
                        sb.Append(char.ToLowerInvariant(c) switch { 'a' => '4', 'e' => '3', 'i' => '1', 'o' => '0', _ => c });
                    }

                    break;
                default:
                    foreach (var c in word)
                    {
                        sb.Append(c switch { 'a' => '\u0430', 'c' => '\u0441', 'e' => '\u0435', 'o' => '\u043E', 'p' => '\u0440', 'x' => '\u0445', _ => c });
                    }

                    break;
            }
        }

        return sb.ToString();
    }

    private static void Join(StringBuilder sb, ReadOnlySpan<char> word, string separator)
    {
        for (var k = 0; k < word.Length; k++)
        {
            if (k > 0)
            {
                sb.Append(separator);
            }

            sb.Append(word[k]);
        }
    }
}

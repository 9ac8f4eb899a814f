using System.Globalization;
using System.Text;

namespace SafeAI;

/// <summary>
/// Writes and reads the <c>AI-Disclosure</c> HTTP header of the IETF draft draft-abaris-aicdh, as an RFC 9651
/// (Structured Field Values) Dictionary: <c>mode=machine-generated, model="gpt-4o", provider="OpenAI", date=@1745286896</c>.
/// </summary>
/// <remarks>
/// Strings are RFC 9651 Strings (printable ASCII, with <c>\</c> and <c>"</c> escaped); text outside printable ASCII
/// (a reviewer called Zoë, a control character) is written as a Display String (<c>%"Zo%c3%ab"</c>), so a value can
/// never break the header. Dates are RFC 9651 Dates (<c>@</c> seconds since 1970). The parser follows RFC 9651 and also
/// accepts the draft's example that separates members with semicolons (parameters of the first member).
/// </remarks>
public static class AIDisclosureHeader
{
    /// <summary>The header name.</summary>
    public const string HeaderName = "AI-Disclosure";

    /// <summary>Writes a disclosure as a header value.</summary>
    /// <param name="disclosure">The disclosure.</param>
    /// <returns>The header value.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="disclosure"/> is <see langword="null"/>.</exception>
    public static string Format(AIDisclosure disclosure)
    {
        ArgumentNullException.ThrowIfNull(disclosure);
        var sb = new StringBuilder(96);
        sb.Append("mode=").Append(AIDisclosure.GetModeToken(disclosure.Mode));
        AppendString(sb, "model", disclosure.Model);
        AppendString(sb, "provider", disclosure.Provider);
        AppendString(sb, "reviewed-by", disclosure.ReviewedBy);
        if (disclosure.Date is { } date)
        {
            sb.Append(", date=@").Append(date.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture));
        }

        return sb.ToString();
    }

    /// <summary>Reads a header value.</summary>
    /// <param name="value">The header value.</param>
    /// <param name="disclosure">The disclosure, when the value is valid.</param>
    /// <returns><see langword="true"/> when the value is a valid RFC 9651 Dictionary with a known <c>mode</c>.</returns>
    public static bool TryParse(string? value, out AIDisclosure? disclosure)
    {
        disclosure = null;
        if (value is null || !TryParseDictionary(value, out var members))
        {
            return false;
        }

        AIDisclosureMode? mode = null;
        string? model = null, provider = null, reviewedBy = null;
        DateTimeOffset? date = null;
        foreach (var (key, item) in members)
        {
            switch (key)
            {
                case "mode":
                    if (item is not Token token || ParseMode(token.Value) is not { } m)
                    {
                        return false;
                    }

                    mode = m;
                    break;
                case "model":
                    model = item as string;
                    break;
                case "provider":
                    provider = item as string;
                    break;
                case "reviewed-by":
                    reviewedBy = item as string;
                    break;
                case "date":
                    if (item is DateTimeOffset d)
                    {
                        date = d;
                    }
                    else if (item is long seconds)
                    {
                        date = DateTimeOffset.FromUnixTimeSeconds(seconds);
                    }

                    break;
                default:
                    // Unknown members are ignored, as RFC 9651 consumers must for forward compatibility.
                    break;
            }
        }

        if (mode is null)
        {
            return false;
        }

        disclosure = new AIDisclosure { Mode = mode.Value, Model = model, Provider = provider, ReviewedBy = reviewedBy, Date = date };
        return true;
    }

    private static AIDisclosureMode? ParseMode(string token) => token switch
    {
        "machine-generated" => AIDisclosureMode.MachineGenerated,
        "ai-originated" => AIDisclosureMode.AIOriginated,
        "ai-modified" => AIDisclosureMode.AIModified,
        "none" => AIDisclosureMode.None,
        _ => null,
    };

    private static void AppendString(StringBuilder sb, string key, string? value)
    {
        if (value is null)
        {
            return;
        }

        sb.Append(", ").Append(key).Append('=');
        var printable = true;
        foreach (var c in value)
        {
            if (c < 0x20 || c > 0x7E)
            {
                printable = false;
                break;
            }
        }

        if (printable)
        {
            sb.Append('"');
            foreach (var c in value)
            {
                if (c is '"' or '\\')
                {
                    sb.Append('\\');
                }

                sb.Append(c);
            }

            sb.Append('"');
            return;
        }

        // RFC 9651 Display String: UTF-8, with %, " and bytes outside printable ASCII percent-encoded in lower-case hex.
        sb.Append("%\"");
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            if (b is 0x25 or 0x22 || b < 0x20 || b > 0x7E)
            {
                sb.Append('%').Append(b.ToString("x2", CultureInfo.InvariantCulture));
            }
            else
            {
                sb.Append((char)b);
            }
        }

        sb.Append('"');
    }

    private readonly record struct Token(string Value);

    /// <summary>Parses an RFC 9651 Dictionary; members' parameters are flattened into members (the draft's semicolon form).</summary>
    private static bool TryParseDictionary(string input, out List<(string Key, object Item)> members)
    {
        members = [];
        var s = input.AsSpan();
        var i = 0;
        SkipSpaces(s, ref i);
        if (i == s.Length)
        {
            return false;
        }

        while (true)
        {
            if (!TryParseMember(s, ref i, members))
            {
                return false;
            }

            while (i < s.Length && s[i] == ';')
            {
                i++;
                SkipSpaces(s, ref i);
                if (!TryParseMember(s, ref i, members))
                {
                    return false;
                }
            }

            SkipOws(s, ref i);
            if (i == s.Length)
            {
                return true;
            }

            if (s[i] != ',')
            {
                return false;
            }

            i++;
            SkipOws(s, ref i);
            if (i == s.Length)
            {
                return false;
            }
        }
    }

    private static bool TryParseMember(ReadOnlySpan<char> s, ref int i, List<(string Key, object Item)> members)
    {
        if (!TryParseKey(s, ref i, out var key))
        {
            return false;
        }

        object item = true;
        if (i < s.Length && s[i] == '=')
        {
            i++;
            if (!TryParseBareItem(s, ref i, out item))
            {
                return false;
            }
        }

        var existing = members.FindIndex(m => m.Key == key);
        if (existing >= 0)
        {
            members[existing] = (key, item);
        }
        else
        {
            members.Add((key, item));
        }

        return true;
    }

    private static bool TryParseKey(ReadOnlySpan<char> s, ref int i, out string key)
    {
        key = string.Empty;
        if (i >= s.Length || !(s[i] is >= 'a' and <= 'z' || s[i] == '*'))
        {
            return false;
        }

        var start = i;
        while (i < s.Length && (s[i] is >= 'a' and <= 'z' or >= '0' and <= '9' or '_' or '-' or '.' or '*'))
        {
            i++;
        }

        key = s[start..i].ToString();
        return true;
    }

    private static bool TryParseBareItem(ReadOnlySpan<char> s, ref int i, out object item)
    {
        item = null!;
        if (i >= s.Length)
        {
            return false;
        }

        var c = s[i];
        if (c == '"')
        {
            return TryParseString(s, ref i, out item);
        }

        if (c == '%' && i + 1 < s.Length && s[i + 1] == '"')
        {
            return TryParseDisplayString(s, ref i, out item);
        }

        if (c == '@')
        {
            i++;
            if (!TryParseInteger(s, ref i, out var seconds))
            {
                return false;
            }

            item = DateTimeOffset.FromUnixTimeSeconds(seconds);
            return true;
        }

        if (c is '-' or (>= '0' and <= '9'))
        {
            if (!TryParseInteger(s, ref i, out var number))
            {
                return false;
            }

            item = number;
            return true;
        }

        if (c == '?' && i + 1 < s.Length && s[i + 1] is '0' or '1')
        {
            item = s[i + 1] == '1';
            i += 2;
            return true;
        }

        if (c is (>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or '*')
        {
            var start = i;
            i++;
            while (i < s.Length && IsTokenChar(s[i]))
            {
                i++;
            }

            item = new Token(s[start..i].ToString());
            return true;
        }

        return false;
    }

    private static bool IsTokenChar(char c) =>
        c is (>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or (>= '0' and <= '9') or ':' or '/' or
            '!' or '#' or '$' or '%' or '&' or '\'' or '*' or '+' or '-' or '.' or '^' or '_' or '`' or '|' or '~';

    private static bool TryParseInteger(ReadOnlySpan<char> s, ref int i, out long value)
    {
        value = 0;
        var negative = false;
        if (i < s.Length && s[i] == '-')
        {
            negative = true;
            i++;
        }

        var start = i;
        while (i < s.Length && s[i] is >= '0' and <= '9' && i - start < 15)
        {
            value = (value * 10) + (s[i] - '0');
            i++;
        }

        if (i == start || (i < s.Length && s[i] is >= '0' and <= '9' or '.'))
        {
            return false;
        }

        value = negative ? -value : value;
        return true;
    }

    private static bool TryParseString(ReadOnlySpan<char> s, ref int i, out object item)
    {
        item = null!;
        var sb = new StringBuilder();
        i++;
        while (i < s.Length)
        {
            var c = s[i++];
            if (c == '\\')
            {
                if (i >= s.Length || s[i] is not ('"' or '\\'))
                {
                    return false;
                }

                sb.Append(s[i++]);
            }
            else if (c == '"')
            {
                item = sb.ToString();
                return true;
            }
            else if (c < 0x20 || c > 0x7E)
            {
                return false;
            }
            else
            {
                sb.Append(c);
            }
        }

        return false;
    }

    private static bool TryParseDisplayString(ReadOnlySpan<char> s, ref int i, out object item)
    {
        item = null!;
        i += 2;
        var bytes = new List<byte>();
        while (i < s.Length)
        {
            var c = s[i++];
            if (c == '"')
            {
                try
                {
                    item = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes.ToArray());
                    return true;
                }
                catch (DecoderFallbackException)
                {
                    return false;
                }
            }

            if (c < 0x20 || c > 0x7E)
            {
                return false;
            }

            if (c == '%')
            {
                if (i + 2 > s.Length || !byte.TryParse(s.Slice(i, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var b) ||
                    s[i] is >= 'A' and <= 'F' || s[i + 1] is >= 'A' and <= 'F')
                {
                    return false;
                }

                bytes.Add(b);
                i += 2;
            }
            else
            {
                bytes.Add((byte)c);
            }
        }

        return false;
    }

    private static void SkipSpaces(ReadOnlySpan<char> s, ref int i)
    {
        while (i < s.Length && s[i] == ' ')
        {
            i++;
        }
    }

    private static void SkipOws(ReadOnlySpan<char> s, ref int i)
    {
        while (i < s.Length && s[i] is ' ' or '\t')
        {
            i++;
        }
    }
}

using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using PhoneNumbers;

namespace SafeAI.Pii;

/// <summary>
/// Finds personal data and secrets in text. Structured kinds are found by pattern and then checked: payment cards by
/// network prefix and Luhn digit, IBANs by country length and mod 97, US SSNs against the never-issued ranges, IP
/// addresses by parsing, phone numbers by libphonenumber (valid for a configured region or written in international
/// form). Names and street addresses are not found (they need a model).
/// </summary>
/// <remarks>
/// Thread-safe: a detector holds only immutable settings and may be shared by any number of calls. Every pattern is a
/// compiled, source-generated regular expression with a match timeout; a timeout surfaces as
/// <see cref="RegexMatchTimeoutException"/> and the stage's failure mode applies.
/// </remarks>
public sealed partial class PiiDetector
{
    private const int RegexTimeoutMilliseconds = 1000;

    // Ordered by precedence: when two findings overlap, the earlier kind wins (a card number is not also a phone number).
    private static readonly PiiEntityTypes[] Precedence =
    [
        PiiEntityTypes.Secret, PiiEntityTypes.Email, PiiEntityTypes.Iban, PiiEntityTypes.CreditCard,
        PiiEntityTypes.UsSsn, PiiEntityTypes.IpAddress, PiiEntityTypes.Phone,
    ];

    private static readonly System.Buffers.SearchValues<char> Digits = System.Buffers.SearchValues.Create("0123456789");

    private readonly PiiEntityTypes _types;
    private readonly string[] _phoneRegions;
    private readonly double _minSecretEntropy;
    private readonly int _minSecretLength;
    private readonly PhoneNumberUtil _phones;

    /// <summary>Initializes a detector for every kind with the default settings (<see cref="PiiDetectorSettings"/>).</summary>
    public PiiDetector()
        : this(new PiiDetectorSettings())
    {
    }

    /// <summary>Initializes a detector.</summary>
    /// <param name="settings">What to find and how.</param>
    /// <exception cref="ArgumentNullException"><paramref name="settings"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">A setting is invalid (the message names it).</exception>
    public PiiDetector(PiiDetectorSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var errors = settings.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join(" ", errors), nameof(settings));
        }

        _types = settings.EntityTypes;
        _phoneRegions = [.. (settings.PhoneRegions.Count == 0 ? PiiDetectorSettings.DefaultPhoneRegions : (IEnumerable<string>)settings.PhoneRegions).Select(static r => r.ToUpperInvariant()).Distinct(StringComparer.Ordinal)];
        _minSecretEntropy = settings.MinSecretEntropy;
        _minSecretLength = settings.MinSecretLength;
        _phones = PhoneNumberUtil.GetInstance();
    }

    /// <summary>Gets the kinds this detector finds.</summary>
    public PiiEntityTypes EntityTypes => _types;

    /// <summary>Finds the personal data in <paramref name="text"/>.</summary>
    /// <param name="text">The text; empty gives no findings.</param>
    /// <returns>The findings, ordered by position, never overlapping.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is <see langword="null"/>.</exception>
    /// <exception cref="RegexMatchTimeoutException">A pattern ran past its time budget (hostile input).</exception>
    public IReadOnlyList<PiiEntity> Detect(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0)
        {
            return [];
        }

        var found = new List<PiiEntity>();
        if ((_types & PiiEntityTypes.Secret) != 0)
        {
            FindSecrets(text, found);
        }

        if ((_types & PiiEntityTypes.Email) != 0)
        {
            foreach (var m in EmailRegex().EnumerateMatches(text))
            {
                found.Add(new PiiEntity(PiiEntityTypes.Email, m.Index, m.Length));
            }
        }

        if ((_types & PiiEntityTypes.Iban) != 0)
        {
            FindIbans(text, found);
        }

        if ((_types & PiiEntityTypes.CreditCard) != 0)
        {
            foreach (var m in CardRegex().EnumerateMatches(text))
            {
                if (IsCardNumber(text.AsSpan(m.Index, m.Length)))
                {
                    found.Add(new PiiEntity(PiiEntityTypes.CreditCard, m.Index, m.Length));
                }
            }
        }

        if ((_types & PiiEntityTypes.UsSsn) != 0)
        {
            foreach (var m in SsnRegex().EnumerateMatches(text))
            {
                if (IsSsn(text.AsSpan(m.Index, m.Length)))
                {
                    found.Add(new PiiEntity(PiiEntityTypes.UsSsn, m.Index, m.Length));
                }
            }
        }

        if ((_types & PiiEntityTypes.IpAddress) != 0)
        {
            FindIpAddresses(text, found);
        }

        if ((_types & PiiEntityTypes.Phone) != 0)
        {
            FindPhones(text, found);
        }

        return Resolve(found);
    }

    /// <summary>Checks a payment card number: 12 to 19 digits (spaces or dashes between them allowed), a known network prefix, and the Luhn check digit.</summary>
    /// <param name="candidate">The number as written.</param>
    /// <returns><see langword="true"/> when it is a well-formed card number.</returns>
    public static bool IsCardNumber(ReadOnlySpan<char> candidate)
    {
        Span<byte> digits = stackalloc byte[19];
        var n = 0;
        foreach (var c in candidate)
        {
            if (char.IsAsciiDigit(c))
            {
                if (n == digits.Length)
                {
                    return false;
                }

                digits[n++] = (byte)(c - '0');
            }
            else if (c is not (' ' or '-'))
            {
                return false;
            }
        }

        return n >= 12 && HasCardPrefix(digits[..n]) && Luhn(digits[..n]);
    }

    /// <summary>Checks an IBAN: a country code, two check digits and the account part (spaces allowed), the right length for the country where it is known, and mod 97 equal to 1.</summary>
    /// <param name="candidate">The IBAN as written, any letter case.</param>
    /// <returns><see langword="true"/> when it is a well-formed IBAN.</returns>
    public static bool IsIban(ReadOnlySpan<char> candidate)
    {
        Span<char> compact = stackalloc char[34];
        var n = 0;
        foreach (var c in candidate)
        {
            if (c == ' ')
            {
                continue;
            }

            if (n == compact.Length || !char.IsAsciiLetterOrDigit(c))
            {
                return false;
            }

            compact[n++] = char.ToUpperInvariant(c);
        }

        if (n < 15 || !char.IsAsciiLetter(compact[0]) || !char.IsAsciiLetter(compact[1]) || !char.IsAsciiDigit(compact[2]) || !char.IsAsciiDigit(compact[3]))
        {
            return false;
        }

        var expected = IbanLengths.Of(compact[0], compact[1]);
        if (expected == 0 || expected != n)
        {
            return false;
        }

        // Move the first four characters to the end, letters become 10..35, and the number mod 97 must be 1.
        var remainder = 0;
        for (var i = 0; i < n; i++)
        {
            var c = compact[(i + 4) % n];
            remainder = char.IsAsciiDigit(c)
                ? ((remainder * 10) + (c - '0')) % 97
                : ((remainder * 100) + (c - 'A' + 10)) % 97;
        }

        return remainder == 1;
    }

    /// <summary>
    /// Checks a US social security number written <c>AAA-GG-SSSS</c> or <c>AAA GG SSSS</c>: the area is not 000, 666 or
    /// 900-999, the group not 00 and the serial not 0000.
    /// </summary>
    /// <param name="candidate">The number as written.</param>
    /// <returns><see langword="true"/> when it could be an issued number.</returns>
    public static bool IsSsn(ReadOnlySpan<char> candidate)
    {
        if (candidate.Length != 11 || candidate[3] != candidate[6] || candidate[3] is not ('-' or ' '))
        {
            return false;
        }

        for (var i = 0; i < 11; i++)
        {
            if (i is not (3 or 6) && !char.IsAsciiDigit(candidate[i]))
            {
                return false;
            }
        }

        var area = int.Parse(candidate[..3], provider: System.Globalization.CultureInfo.InvariantCulture);
        var group = int.Parse(candidate.Slice(4, 2), provider: System.Globalization.CultureInfo.InvariantCulture);
        var serial = int.Parse(candidate[7..], provider: System.Globalization.CultureInfo.InvariantCulture);
        return area is not (0 or 666) && area < 900 && group != 0 && serial != 0;
    }

    /// <summary>Computes the Shannon entropy of a text in bits per character.</summary>
    /// <param name="text">The text.</param>
    /// <returns>The entropy; 0 for empty text.</returns>
    public static double ShannonEntropy(ReadOnlySpan<char> text)
    {
        if (text.IsEmpty)
        {
            return 0;
        }

        Span<int> counts = stackalloc int[128];
        var other = 0;
        foreach (var c in text)
        {
            if (c < 128)
            {
                counts[c]++;
            }
            else
            {
                other++;
            }
        }

        double entropy = 0;
        foreach (var count in counts)
        {
            if (count > 0)
            {
                var p = (double)count / text.Length;
                entropy -= p * Math.Log2(p);
            }
        }

        if (other > 0)
        {
            var p = (double)other / text.Length;
            entropy -= p * Math.Log2(p);
        }

        return entropy;
    }

    private static bool Luhn(ReadOnlySpan<byte> digits)
    {
        var sum = 0;
        var doubleIt = false;
        for (var i = digits.Length - 1; i >= 0; i--)
        {
            var d = digits[i];
            if (doubleIt)
            {
                d *= 2;
                if (d > 9)
                {
                    d -= 9;
                }
            }

            sum += d;
            doubleIt = !doubleIt;
        }

        return sum % 10 == 0;
    }

    private static bool HasCardPrefix(ReadOnlySpan<byte> d)
    {
        var n = d.Length;
        var p2 = (d[0] * 10) + d[1];
        var p3 = (p2 * 10) + d[2];
        var p4 = (p3 * 10) + d[3];
        return d[0] switch
        {
            4 => n is 13 or 16 or 19, // Visa
            5 => (p2 is >= 51 and <= 55 && n == 16) || (p2 is 50 or (>= 56 and <= 59) && n >= 12), // Mastercard, Maestro
            2 => (p4 is >= 2221 and <= 2720 && n == 16) || (p4 == 2131 && n == 15), // Mastercard 2-series, JCB (legacy)
            3 => (p2 is 34 or 37 && n == 15) || (p2 is 35 && n >= 16) || (p2 is 36 or 38 or 39 && n >= 14) || (p3 is >= 300 and <= 305 && n >= 14), // Amex, JCB, Diners
            6 => n >= 12, // Discover, UnionPay, Maestro, RuPay
            1 => p4 == 1800 && n == 15, // JCB (legacy)
            _ => false,
        };
    }

    private static List<PiiEntity> Resolve(List<PiiEntity> found)
    {
        if (found.Count <= 1)
        {
            return found;
        }

        // Accept by precedence of kind, then by length (longest first), skipping anything that overlaps an accepted finding.
        found.Sort(static (a, b) =>
        {
            var c = Array.IndexOf(Precedence, a.Type).CompareTo(Array.IndexOf(Precedence, b.Type));
            return c != 0 ? c : b.Length != a.Length ? b.Length.CompareTo(a.Length) : a.Start.CompareTo(b.Start);
        });
        var accepted = new List<PiiEntity>(found.Count);
        foreach (var candidate in found)
        {
            var overlaps = false;
            foreach (var taken in accepted)
            {
                if (candidate.Start < taken.End && taken.Start < candidate.End)
                {
                    overlaps = true;
                    break;
                }
            }

            if (!overlaps)
            {
                accepted.Add(candidate);
            }
        }

        accepted.Sort(static (a, b) => a.Start.CompareTo(b.Start));
        return accepted;
    }

    private void FindSecrets(string text, List<PiiEntity> found)
    {
        foreach (var m in KnownSecretRegex().EnumerateMatches(text))
        {
            found.Add(new PiiEntity(PiiEntityTypes.Secret, m.Index, m.Length));
        }

        foreach (var m in TokenRegex().EnumerateMatches(text))
        {
            var token = text.AsSpan(m.Index, m.Length).TrimEnd('=');
            if (token.Length >= _minSecretLength && IsHighEntropy(token))
            {
                found.Add(new PiiEntity(PiiEntityTypes.Secret, m.Index, m.Length));
            }
        }
    }

    private bool IsHighEntropy(ReadOnlySpan<char> token)
    {
        // A secret mixes lower case, upper case and digits; words joined by dashes or a path do not.
        bool lower = false, upper = false, digit = false;
        foreach (var c in token)
        {
            lower |= char.IsAsciiLetterLower(c);
            upper |= char.IsAsciiLetterUpper(c);
            digit |= char.IsAsciiDigit(c);
        }

        return lower && upper && digit && ShannonEntropy(token) >= _minSecretEntropy;
    }

    private static void FindIbans(string text, List<PiiEntity> found)
    {
        foreach (var m in IbanRegex().EnumerateMatches(text))
        {
            // The pattern may run on into a following group of letters or digits; drop trailing groups until the check holds.
            var candidate = text.AsSpan(m.Index, m.Length);
            while (candidate.Length >= 15)
            {
                if (IsIban(candidate))
                {
                    found.Add(new PiiEntity(PiiEntityTypes.Iban, m.Index, candidate.Length));
                    break;
                }

                var space = candidate.LastIndexOf(' ');
                if (space < 0)
                {
                    break;
                }

                candidate = candidate[..space];
            }
        }
    }

    private static void FindIpAddresses(string text, List<PiiEntity> found)
    {
        foreach (var m in Ipv4Regex().EnumerateMatches(text))
        {
            found.Add(new PiiEntity(PiiEntityTypes.IpAddress, m.Index, m.Length));
        }

        foreach (var m in Ipv6CandidateRegex().EnumerateMatches(text))
        {
            var candidate = text.AsSpan(m.Index, m.Length);
            if (candidate.Count(':') >= 2 && IPAddress.TryParse(candidate, out var address) && address.AddressFamily == AddressFamily.InterNetworkV6 &&
                (candidate.Count(':') >= 7 || candidate.Contains("::", StringComparison.Ordinal)) && HasEnoughHexGroups(candidate))
            {
                found.Add(new PiiEntity(PiiEntityTypes.IpAddress, m.Index, m.Length));
            }
        }
    }

    private static bool HasEnoughHexGroups(ReadOnlySpan<char> candidate)
    {
        // "a::b" or a clock time never counts: at least three non-empty groups.
        var groups = 0;
        var inGroup = false;
        foreach (var c in candidate)
        {
            if (c == ':')
            {
                inGroup = false;
            }
            else if (!inGroup)
            {
                inGroup = true;
                groups++;
            }
        }

        return groups >= 3;
    }

    private void FindPhones(string text, List<PiiEntity> found)
    {
        var start = found.Count;

        // 1. Numbers valid for a configured region (libphonenumber knows each region's number plan), with at least 7
        //    digits. One followed by a capitalised word and with no phone word near it reads as a street address.
        foreach (var region in _phoneRegions)
        {
            foreach (var match in _phones.FindNumbers(text, region, PhoneNumberUtil.Leniency.VALID, long.MaxValue))
            {
                var span = text.AsSpan(match.Start, match.Length);
                if (CountDigits(span) >= 7 && (HasPhoneContext(text, match.Start, match.Start + match.Length) || !IsFollowedByCapitalisedWord(text, match.Start + match.Length)))
                {
                    found.Add(new PiiEntity(PiiEntityTypes.Phone, match.Start, match.Length));
                }
            }
        }

        // 2. Phone-shaped digit groups the number plans do not confirm: accepted in international form when the country
        //    code and length are possible, or next to a phone word ("Phone:", "call me on", "... fax").
        foreach (var m in PhoneShapeRegex().EnumerateMatches(text))
        {
            var span = text.AsSpan(m.Index, m.Length).TrimEnd();
            var digits = CountDigits(span);
            if (digits is < 7 or > 15 || OverlapsAny(found, start, m.Index, m.Index + span.Length))
            {
                continue;
            }

            if (span[0] == '+' ? IsPossibleInternational(span)
                : (digits >= 10 || !IsOneRun(span)) && HasPhoneContext(text, m.Index, m.Index + span.Length) && !HasOtherNumberContext(text, m.Index))
            {
                found.Add(new PiiEntity(PiiEntityTypes.Phone, m.Index, span.Length));
            }
        }
    }

    private bool IsPossibleInternational(ReadOnlySpan<char> candidate)
    {
        try
        {
            var number = _phones.Parse(candidate.ToString(), "ZZ");
            return _phones.IsPossibleNumber(number);
        }
        catch (NumberParseException)
        {
            return false;
        }
    }

    private static int CountDigits(ReadOnlySpan<char> span)
    {
        var n = 0;
        foreach (var c in span)
        {
            if (char.IsAsciiDigit(c))
            {
                n++;
            }
        }

        return n;
    }

    private static bool OverlapsAny(List<PiiEntity> found, int from, int start, int end)
    {
        for (var i = from; i < found.Count; i++)
        {
            if (found[i].Start < end && start < found[i].End)
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsOneRun(ReadOnlySpan<char> span) => !span.ContainsAnyExcept(Digits);

    private static bool HasOtherNumberContext(string text, int start)
    {
        var from = Math.Max(0, start - 32);
        return OtherNumberContextRegex().IsMatch(text.AsSpan(from, start - from));
    }

    private static bool IsFollowedByCapitalisedWord(string text, int end)
    {
        var i = end;
        while (i < text.Length && text[i] == ' ')
        {
            i++;
        }

        return i > end && i + 1 < text.Length && char.IsUpper(text[i]) && char.IsLetter(text[i + 1]);
    }

    private static bool HasPhoneContext(string text, int start, int end)
    {
        var before = text.AsSpan(Math.Max(0, start - 32), start - Math.Max(0, start - 32));
        var after = text.AsSpan(end, Math.Min(12, text.Length - end));
        return PhoneContextBeforeRegex().IsMatch(before) || PhoneContextAfterRegex().IsMatch(after);
    }

    [GeneratedRegex(@"\b(?:phone|mobile|cell|call|tel|telephone|fax|desk|office|contact|reach|text|sms|whatsapp|answering|registered|number|no\.)\b[^\n\d]{0,20}\n?[^\n\d]{0,4}$", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase, RegexTimeoutMilliseconds)]
    private static partial Regex PhoneContextBeforeRegex();

    [GeneratedRegex(@"\b(?:licen[cs]e|card|account|acct|passport|ssn|iban|order|invoice|tracking|zip|postal|postcode|id)\b", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase, RegexTimeoutMilliseconds)]
    private static partial Regex OtherNumberContextRegex();

    [GeneratedRegex(@"^[\s,;:(\\-]{0,3}(?:office|fax|mobile|cell|home|work|phone|desk)\b", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase, RegexTimeoutMilliseconds)]
    private static partial Regex PhoneContextAfterRegex();

    [GeneratedRegex(@"(?<![\w+.-])(?:\+\d{1,3}[ .-]?(?:\(0\)[ ]?)?)?(?:\(\d{1,4}\)[ .-]?)?\d{1,12}(?:[ .-]\d{1,6}){0,5}(?:[ ]?(?:x|ext\.?)[ ]?\d{1,6})?(?![\w])", RegexOptions.CultureInvariant, RegexTimeoutMilliseconds)]
    private static partial Regex PhoneShapeRegex();

    [GeneratedRegex(@"(?<![\w.%+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}(?![\w-])", RegexOptions.CultureInvariant, RegexTimeoutMilliseconds)]
    private static partial Regex EmailRegex();

    [GeneratedRegex(@"(?<![\w-])\d(?:[ -]?\d){11,18}(?![\w])", RegexOptions.CultureInvariant, RegexTimeoutMilliseconds)]
    private static partial Regex CardRegex();

    [GeneratedRegex(@"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[A-Za-z0-9]{11,30}|(?: [A-Za-z0-9]{4}){2,7}(?: [A-Za-z0-9]{1,4})?)(?![A-Za-z0-9])", RegexOptions.CultureInvariant, RegexTimeoutMilliseconds)]
    private static partial Regex IbanRegex();

    [GeneratedRegex(@"(?<![\d-])\d{3}[- ]\d{2}[- ]\d{4}(?![\d-])", RegexOptions.CultureInvariant, RegexTimeoutMilliseconds)]
    private static partial Regex SsnRegex();

    [GeneratedRegex(@"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\d|\.\d)", RegexOptions.CultureInvariant, RegexTimeoutMilliseconds)]
    private static partial Regex Ipv4Regex();

    [GeneratedRegex(@"(?<![\w:])(?:[0-9A-Fa-f]{1,4}|:)(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])", RegexOptions.CultureInvariant, RegexTimeoutMilliseconds)]
    private static partial Regex Ipv6CandidateRegex();

    [GeneratedRegex(@"(?<![\w-])(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}|(?:AKIA|ASIA)[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}|xox[abposr]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|glpat-[A-Za-z0-9_-]{20,}|hf_[A-Za-z0-9]{30,})(?![\w-])|-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----[A-Za-z0-9+/=\s]{0,8000}?-----END (?:[A-Z]+ )?PRIVATE KEY-----", RegexOptions.CultureInvariant, RegexTimeoutMilliseconds)]
    private static partial Regex KnownSecretRegex();

    [GeneratedRegex(@"(?<![A-Za-z0-9+/_=-])[A-Za-z0-9+/_-]{20,512}={0,2}(?![A-Za-z0-9+/_=-])", RegexOptions.CultureInvariant, RegexTimeoutMilliseconds)]
    private static partial Regex TokenRegex();
}

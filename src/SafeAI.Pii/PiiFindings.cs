using System.Globalization;
using System.Text;

namespace SafeAI.Pii;

/// <summary>Counts findings by kind for a verdict: the reason code of the first kind found and a detail with counts, never values.</summary>
internal struct PiiFindings
{
    private int _email, _phone, _card, _iban, _ssn, _ip, _secret;

    public readonly int Total => _email + _phone + _card + _iban + _ssn + _ip + _secret;

    public void Add(IReadOnlyList<PiiEntity> entities)
    {
        for (var i = 0; i < entities.Count; i++)
        {
            switch (entities[i].Type)
            {
                case PiiEntityTypes.Email: _email++; break;
                case PiiEntityTypes.Phone: _phone++; break;
                case PiiEntityTypes.CreditCard: _card++; break;
                case PiiEntityTypes.Iban: _iban++; break;
                case PiiEntityTypes.UsSsn: _ssn++; break;
                case PiiEntityTypes.IpAddress: _ip++; break;
                default: _secret++; break;
            }
        }
    }

    /// <summary>The reason code: secrets first, then the kinds by how sensitive they are.</summary>
    public readonly string Reason =>
        _secret > 0 ? PiiReasons.Secret : _card > 0 ? PiiReasons.CreditCard : _ssn > 0 ? PiiReasons.UsSsn : _iban > 0 ? PiiReasons.Iban
        : _email > 0 ? PiiReasons.Email : _phone > 0 ? PiiReasons.Phone : _ip > 0 ? PiiReasons.IpAddress : PiiReasons.Ok;

    /// <summary>A detail such as <c>found: email 2, phone 1</c>.</summary>
    public readonly string Detail(string prefix)
    {
        var sb = new StringBuilder(prefix);
        Append(sb, "email", _email);
        Append(sb, "phone", _phone);
        Append(sb, "card", _card);
        Append(sb, "iban", _iban);
        Append(sb, "ssn", _ssn);
        Append(sb, "ip", _ip);
        Append(sb, "secret", _secret);
        return sb.ToString();
    }

    private static void Append(StringBuilder sb, string kind, int count)
    {
        if (count > 0)
        {
            _ = sb.Append(sb[^1] == ':' ? " " : ", ").Append(kind).Append(' ').Append(count.ToString(CultureInfo.InvariantCulture));
        }
    }
}

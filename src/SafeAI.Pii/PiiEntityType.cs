namespace SafeAI.Pii;

/// <summary>The kinds of personal data and secrets the PII stage finds. Flags, so that a set of kinds is one value.</summary>
[Flags]
public enum PiiEntityTypes
{
    /// <summary>No kind.</summary>
    None = 0,

    /// <summary>An e-mail address (<c>pii.email</c>, placeholder <c>[EMAIL_n]</c>).</summary>
    Email = 1,

    /// <summary>A phone number valid for one of the configured regions, or in international form (<c>pii.phone</c>, <c>[PHONE_n]</c>).</summary>
    Phone = 2,

    /// <summary>A payment card number of a known network whose Luhn check digit is right (<c>pii.card</c>, <c>[CARD_n]</c>).</summary>
    CreditCard = 4,

    /// <summary>An IBAN of the right length for its country whose mod-97 check is right (<c>pii.iban</c>, <c>[IBAN_n]</c>).</summary>
    Iban = 8,

    /// <summary>A US social security number written with separators, outside the never-issued ranges (<c>pii.ssn</c>, <c>[SSN_n]</c>).</summary>
    UsSsn = 16,

    /// <summary>An IPv4 or IPv6 address (<c>pii.ip</c>, <c>[IP_n]</c>).</summary>
    IpAddress = 32,

    /// <summary>An API key or secret: a well-known key prefix, a private key block, or a long high-entropy token (<c>pii.secret</c>, <c>[SECRET_n]</c>).</summary>
    Secret = 64,

    /// <summary>Every kind.</summary>
    All = Email | Phone | CreditCard | Iban | UsSsn | IpAddress | Secret,
}

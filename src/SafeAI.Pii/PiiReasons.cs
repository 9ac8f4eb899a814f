namespace SafeAI.Pii;

/// <summary>Stable reason codes of the PII stage. A verdict names the kind found first in this order when several were found.</summary>
public static class PiiReasons
{
    /// <summary>Nothing found.</summary>
    public const string Ok = "pii.ok";

    /// <summary>An e-mail address.</summary>
    public const string Email = "pii.email";

    /// <summary>A phone number.</summary>
    public const string Phone = "pii.phone";

    /// <summary>A payment card number.</summary>
    public const string CreditCard = "pii.card";

    /// <summary>An IBAN.</summary>
    public const string Iban = "pii.iban";

    /// <summary>A US social security number.</summary>
    public const string UsSsn = "pii.ssn";

    /// <summary>An IP address.</summary>
    public const string IpAddress = "pii.ip";

    /// <summary>An API key or other secret.</summary>
    public const string Secret = "pii.secret";

    /// <summary>The answer held placeholders of the call that were replaced by the caller's original values (reversible redaction).</summary>
    public const string Restored = "pii.restored";

    /// <summary>The text to check was longer than <see cref="PiiRedactionOptions.MaxTextLength"/>; it was not checked and the stage's failure mode applies.</summary>
    public const string TooLong = "pii.too_long";

    /// <summary>Gets the reason code of a kind.</summary>
    /// <param name="type">A single kind.</param>
    /// <returns>The reason code.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="type"/> is not a single kind.</exception>
    public static string For(PiiEntityTypes type) => type switch
    {
        PiiEntityTypes.Email => Email,
        PiiEntityTypes.Phone => Phone,
        PiiEntityTypes.CreditCard => CreditCard,
        PiiEntityTypes.Iban => Iban,
        PiiEntityTypes.UsSsn => UsSsn,
        PiiEntityTypes.IpAddress => IpAddress,
        PiiEntityTypes.Secret => Secret,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Expected a single PII kind."),
    };

    internal static string LabelFor(PiiEntityTypes type) => type switch
    {
        PiiEntityTypes.Email => "EMAIL",
        PiiEntityTypes.Phone => "PHONE",
        PiiEntityTypes.CreditCard => "CARD",
        PiiEntityTypes.Iban => "IBAN",
        PiiEntityTypes.UsSsn => "SSN",
        PiiEntityTypes.IpAddress => "IP",
        PiiEntityTypes.Secret => "SECRET",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Expected a single PII kind."),
    };
}

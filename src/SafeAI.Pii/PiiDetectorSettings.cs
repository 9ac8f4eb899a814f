namespace SafeAI.Pii;

/// <summary>What a <see cref="PiiDetector"/> finds and how.</summary>
public class PiiDetectorSettings
{
    /// <summary>Gets or sets the kinds to find. Default: <see cref="PiiEntityTypes.All"/>.</summary>
    public PiiEntityTypes EntityTypes { get; set; } = PiiEntityTypes.All;

    /// <summary>Gets the regions used when <see cref="PhoneRegions"/> is empty: US, GB, DE, FR, ES, IT, NL, BE, CH, SE, AU, IN.</summary>
    public static IReadOnlyList<string> DefaultPhoneRegions { get; } = ["US", "GB", "DE", "FR", "ES", "IT", "NL", "BE", "CH", "SE", "AU", "IN"];

    /// <summary>
    /// Gets or sets the regions (ISO 3166 two-letter codes) whose national phone formats are recognised; empty (the
    /// default) for <see cref="DefaultPhoneRegions"/>. Regions bound from configuration replace the defaults rather than
    /// add to them. A number in international form (<c>+44 20 7946 0958</c>) is found whatever the list holds, as long
    /// as it is possible for its country. Each region adds a pass over the text.
    /// </summary>
    public IList<string> PhoneRegions { get; set; } = [];

    /// <summary>
    /// Gets or sets the least Shannon entropy, in bits per character, of an unprefixed token counted as a secret. Hex
    /// strings (hashes, ids) never exceed 4.0. Default: 4.3.
    /// </summary>
    public double MinSecretEntropy { get; set; } = 4.3;

    /// <summary>Gets or sets the least length of an unprefixed token counted as a secret (it must also mix upper case, lower case and digits). Default: 32.</summary>
    public int MinSecretLength { get; set; } = 32;

    /// <summary>Checks the settings.</summary>
    /// <returns>The problems found, each naming the setting; empty when valid.</returns>
    public IList<string> Validate()
    {
        var errors = new List<string>();
        if (EntityTypes == PiiEntityTypes.None || (EntityTypes & ~PiiEntityTypes.All) != 0)
        {
            errors.Add($"EntityTypes must name at least one known kind (it is {EntityTypes}).");
        }

        if (PhoneRegions is null)
        {
            errors.Add("PhoneRegions must not be null.");
        }
        else
        {
            var supported = PhoneNumbers.PhoneNumberUtil.GetInstance().GetSupportedRegions();
            foreach (var region in PhoneRegions)
            {
                if (region is null || !supported.Contains(region.ToUpperInvariant()))
                {
                    errors.Add($"PhoneRegions holds '{region}', which is not a region libphonenumber knows (use ISO 3166 codes such as US or GB).");
                }
            }
        }

        if (!double.IsFinite(MinSecretEntropy) || MinSecretEntropy is < 0 or > 7)
        {
            errors.Add($"MinSecretEntropy must be between 0 and 7 bits per character (it is {MinSecretEntropy}).");
        }

        if (MinSecretLength is < 16 or > 512)
        {
            errors.Add($"MinSecretLength must be between 16 and 512 (it is {MinSecretLength}).");
        }

        return errors;
    }
}

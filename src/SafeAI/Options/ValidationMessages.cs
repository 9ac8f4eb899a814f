using Microsoft.Extensions.Options;

namespace SafeAI;

/// <summary>
/// Tidies the failures of source-generated options validators. Their messages already name the setting with its full
/// configuration path ("SafeAI:DefaultCheckTimeout must be ..."), and the generator puts the member name in front
/// ("DefaultCheckTimeout: SafeAI:DefaultCheckTimeout must be ..."); this drops the repeated name.
/// </summary>
internal static class ValidationMessages
{
    private const string Separator = ": " + SafeAIOptions.SectionName + ":";

    /// <summary>Gets <paramref name="result"/> with each failure's repeated member-name prefix removed.</summary>
    public static ValidateOptionsResult WithoutRepeatedNames(ValidateOptionsResult result)
    {
        if (!result.Failed || result.Failures is null)
        {
            return result;
        }

        var failures = new List<string>();
        foreach (var failure in result.Failures)
        {
            failures.Add(WithoutRepeatedName(failure));
        }

        return ValidateOptionsResult.Fail(failures);
    }

    /// <summary>Gets <paramref name="failure"/> without a leading "Member: " (or "A, B: ") when the rest names the setting itself.</summary>
    public static string WithoutRepeatedName(string failure)
    {
        var at = failure.IndexOf(Separator, StringComparison.Ordinal);
        if (at <= 0)
        {
            return failure;
        }

        // Only member names (identifiers, joined by ", ") may stand before the separator.
        foreach (var c in failure.AsSpan(0, at))
        {
            if (!(char.IsLetterOrDigit(c) || c is '_' or ',' or ' ' or '.'))
            {
                return failure;
            }
        }

        return failure[(at + 2)..];
    }
}

using System.Text.RegularExpressions;

namespace SafeAI.PostgreSql;

/// <summary>The checks the PostgreSQL stores' options share; each message names the setting under the store's section.</summary>
internal static partial class PostgreSqlStoreSettings
{
    public static string? GetError(string sectionName, string? connectionString, string? schema, TimeSpan connectTimeout, TimeSpan commandTimeout)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            return $"{sectionName}:ConnectionString must be set.";
        }

        if (string.IsNullOrEmpty(schema) || !IdentifierPattern().IsMatch(schema))
        {
            return $"{sectionName}:Schema must be a plain identifier (letters, digits and underscores, not starting with a digit).";
        }

        if (connectTimeout < TimeSpan.FromSeconds(1) || commandTimeout < TimeSpan.FromSeconds(1))
        {
            return $"{sectionName}:ConnectTimeout and {sectionName}:CommandTimeout must be at least 1 second.";
        }

        return null;
    }

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex IdentifierPattern();
}

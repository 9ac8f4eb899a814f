using System.Text.RegularExpressions;

namespace SafeAI.PostgreSql;

/// <summary>Settings of the PostgreSQL feedback store (configuration section <c>SafeAI:Feedback:PostgreSql</c>).</summary>
public sealed partial class PostgreSqlFeedbackStoreOptions
{
    /// <summary>The configuration section the options bind to.</summary>
    public const string SectionName = "SafeAI:Feedback:PostgreSql";

    /// <summary>Gets or sets the Npgsql connection string, for example <c>Host=db;Database=app;Username=app;Password=...</c>.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>Gets or sets the schema that holds SafeAI's tables (created when missing). Default <c>public</c>.</summary>
    public string Schema { get; set; } = "public";

    /// <summary>Gets or sets how long opening a connection may take before the store fails with a clear error. Default 5 seconds.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Gets or sets how long one command may take before the store fails with a clear error. Default 10 seconds.</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(10);

    internal string? GetError()
    {
        if (string.IsNullOrWhiteSpace(ConnectionString))
        {
            return $"{SectionName}:ConnectionString must be set.";
        }

        if (string.IsNullOrEmpty(Schema) || !IdentifierPattern().IsMatch(Schema))
        {
            return $"{SectionName}:Schema must be a plain identifier (letters, digits and underscores, not starting with a digit).";
        }

        if (ConnectTimeout < TimeSpan.FromSeconds(1) || CommandTimeout < TimeSpan.FromSeconds(1))
        {
            return $"{SectionName}:ConnectTimeout and {SectionName}:CommandTimeout must be at least 1 second.";
        }

        return null;
    }

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex IdentifierPattern();
}

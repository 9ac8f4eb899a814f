using SafeAI.Audit;
using SafeAI.Consent;
using SafeAI.Feedback;
using SafeAI.Monitoring;
using SafeAI.Review;
using SafeAI.Tests.Shared;

namespace SafeAI.PostgreSql.Tests;

/// <summary>Every <c>UsePostgreSql…Store</c> registration under dependency injection: binding, validation, replacement, misuse.</summary>
/// <remarks>No server is needed: a store connects on first use, not when it is created.</remarks>
public sealed class PostgreSqlStoreRegistrationTests
{
    [Theory]
    [InlineData("review")]
    [InlineData("feedback")]
    [InlineData("audit")]
    [InlineData("consent")]
    [InlineData("metrics")]
    public void UseStore_BindsValidatesAndReplaces(string store)
    {
        switch (store)
        {
            case "review":
                Check<IReviewStore, PostgreSqlReviewStore, PostgreSqlReviewStoreOptions>(static (b, c) => b.UsePostgreSqlReviewStore(c), PostgreSqlReviewStoreOptions.SectionName, nameof(PostgreSqlStoreExtensions.UsePostgreSqlReviewStore), static o => o.ConnectionString, static o => o.Schema = "bad schema!");
                break;
            case "feedback":
                Check<IFeedbackStore, PostgreSqlFeedbackStore, PostgreSqlFeedbackStoreOptions>(static (b, c) => b.UsePostgreSqlFeedbackStore(c), PostgreSqlFeedbackStoreOptions.SectionName, nameof(PostgreSqlStoreExtensions.UsePostgreSqlFeedbackStore), static o => o.ConnectionString, static o => o.Schema = "bad schema!");
                break;
            case "audit":
                Check<IAuditStore, PostgreSqlAuditStore, PostgreSqlAuditStoreOptions>(static (b, c) => b.UsePostgreSqlAuditStore(c), PostgreSqlAuditStoreOptions.SectionName, nameof(PostgreSqlStoreExtensions.UsePostgreSqlAuditStore), static o => o.ConnectionString, static o => o.Schema = "bad schema!");
                break;
            case "metrics":
                Check<IMetricsStore, PostgreSqlMetricsStore, PostgreSqlMetricsStoreOptions>(static (b, c) => b.UsePostgreSqlMetricsStore(c), PostgreSqlMetricsStoreOptions.SectionName, nameof(PostgreSqlStoreExtensions.UsePostgreSqlMetricsStore), static o => o.ConnectionString, static o => o.Schema = "bad schema!");
                break;
            default:
                Check<IConsentStore, PostgreSqlConsentStore, PostgreSqlConsentStoreOptions>(static (b, c) => b.UsePostgreSqlConsentStore(c), PostgreSqlConsentStoreOptions.SectionName, nameof(PostgreSqlStoreExtensions.UsePostgreSqlConsentStore), static o => o.ConnectionString, static o => o.Schema = "bad schema!");
                break;
        }
    }

    private static void Check<TService, TStore, TOptions>(Func<SafeAIPipelineBuilder, Action<TOptions>?, SafeAIPipelineBuilder> use, string section, string method, Func<TOptions, string?> read, Action<TOptions> breakIt)
        where TService : class
        where TOptions : class =>
        StoreRegistrationAssert.Check<TService, TStore, TOptions>(use, section, method, "ConnectionString", $"Host=127.0.0.1;Port=1;Database={typeof(TStore).Name.ToLowerInvariant()};Username=safeai", read, breakIt, "PostgreSqlStores.Create");
}

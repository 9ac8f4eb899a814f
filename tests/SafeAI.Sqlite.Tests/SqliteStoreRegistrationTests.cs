using SafeAI.Audit;
using SafeAI.Consent;
using SafeAI.Feedback;
using SafeAI.Review;
using SafeAI.Tests.Shared;

namespace SafeAI.Sqlite.Tests;

/// <summary>Every <c>UseSqlite…Store</c> registration under dependency injection: binding, validation, replacement, misuse.</summary>
public sealed class SqliteStoreRegistrationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("safeai-sqlite-registration-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("review")]
    [InlineData("feedback")]
    [InlineData("audit")]
    [InlineData("consent")]
    public void UseStore_BindsValidatesAndReplaces(string store)
    {
        var file = Path.Combine(_dir, $"{store}.db");
        switch (store)
        {
            case "review":
                Check<IReviewStore, SqliteReviewStore, SqliteReviewStoreOptions>(static (b, c) => b.UseSqliteReviewStore(c), SqliteReviewStoreOptions.SectionName, nameof(SqliteStoreExtensions.UseSqliteReviewStore), file, static o => o.DataSource, static o => o.BusyTimeout = TimeSpan.Zero);
                break;
            case "feedback":
                Check<IFeedbackStore, SqliteFeedbackStore, SqliteFeedbackStoreOptions>(static (b, c) => b.UseSqliteFeedbackStore(c), SqliteFeedbackStoreOptions.SectionName, nameof(SqliteStoreExtensions.UseSqliteFeedbackStore), file, static o => o.DataSource, static o => o.BusyTimeout = TimeSpan.Zero);
                break;
            case "audit":
                Check<IAuditStore, SqliteAuditStore, SqliteAuditStoreOptions>(static (b, c) => b.UseSqliteAuditStore(c), SqliteAuditStoreOptions.SectionName, nameof(SqliteStoreExtensions.UseSqliteAuditStore), file, static o => o.DataSource, static o => o.BusyTimeout = TimeSpan.Zero);
                break;
            default:
                Check<IConsentStore, SqliteConsentStore, SqliteConsentStoreOptions>(static (b, c) => b.UseSqliteConsentStore(c), SqliteConsentStoreOptions.SectionName, nameof(SqliteStoreExtensions.UseSqliteConsentStore), file, static o => o.DataSource, static o => o.BusyTimeout = TimeSpan.Zero);
                break;
        }
    }

    private static void Check<TService, TStore, TOptions>(Func<SafeAIPipelineBuilder, Action<TOptions>?, SafeAIPipelineBuilder> use, string section, string method, string file, Func<TOptions, string?> read, Action<TOptions> breakIt)
        where TService : class
        where TOptions : class =>
        StoreRegistrationAssert.Check<TService, TStore, TOptions>(use, section, method, "DataSource", file, read, breakIt, "SqliteStores.Create");
}

using SafeAI.Audit;
using SafeAI.Consent;
using SafeAI.Feedback;
using SafeAI.Review;
using SafeAI.Sqlite;

namespace SafeAI;

/// <summary>Registers SafeAI's SQLite stores.</summary>
public static class SqliteStoreExtensions
{
    /// <summary>
    /// Keeps the human review queue in a SQLite file (options bound from <c>SafeAI:HumanReview:Sqlite</c>): the
    /// embedded default that survives restarts. Use with <c>safe.AddHumanReview()</c> under dependency injection.
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="configure">Changes the options after configuration binding.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The builder has no services; in code use <see cref="SqliteStores.CreateReviewStore"/>.</exception>
    public static SafeAIPipelineBuilder UseSqliteReviewStore(this SafeAIPipelineBuilder builder, Action<SqliteReviewStoreOptions>? configure = null) =>
        StoreRegistration.Use<IReviewStore, SqliteReviewStoreOptions>(
            builder,
            SqliteReviewStoreOptions.SectionName,
            configure,
            static options => options.GetError(),
            static options => new SqliteReviewStore(options),
            "UseSqliteReviewStore() needs dependency injection (services.AddSafeAI(...)). In code, pass a queue: " +
                "safe.AddHumanReview(new ReviewQueue(SqliteStores.CreateReviewStore(new() { DataSource = \"safeai.db\" })), ...).");

    /// <summary>
    /// Keeps feedback (thumbs up/down and comments on answers) in a SQLite file (options bound from
    /// <c>SafeAI:Feedback:Sqlite</c>); it may be the review store's file, so feedback joins review items by ticket id.
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="configure">Changes the options after configuration binding.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The builder has no services; in code use <see cref="SqliteStores.CreateFeedbackStore"/>.</exception>
    public static SafeAIPipelineBuilder UseSqliteFeedbackStore(this SafeAIPipelineBuilder builder, Action<SqliteFeedbackStoreOptions>? configure = null) =>
        StoreRegistration.Use<IFeedbackStore, SqliteFeedbackStoreOptions>(
            builder,
            SqliteFeedbackStoreOptions.SectionName,
            configure,
            static options => options.GetError(),
            static options => new SqliteFeedbackStore(options),
            "UseSqliteFeedbackStore() needs dependency injection (services.AddSafeAI(...)). In code, create the store: " +
                "SqliteStores.CreateFeedbackStore(new() { DataSource = \"safeai.db\" }).");

    /// <summary>
    /// Keeps the audit trail in a SQLite file (options bound from <c>SafeAI:AuditTrail:Sqlite</c>): the embedded default,
    /// append-only through triggers, every append on disk when its commit returns. Use with <c>safe.AddAuditTrail()</c>.
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="configure">Changes the options after configuration binding.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The builder has no services; in code use <see cref="SqliteStores.CreateAuditStore"/>.</exception>
    public static SafeAIPipelineBuilder UseSqliteAuditStore(this SafeAIPipelineBuilder builder, Action<SqliteAuditStoreOptions>? configure = null) =>
        StoreRegistration.Use<IAuditStore, SqliteAuditStoreOptions>(
            builder,
            SqliteAuditStoreOptions.SectionName,
            configure,
            static options => options.GetError(),
            static options => new SqliteAuditStore(options),
            "UseSqliteAuditStore() needs dependency injection (services.AddSafeAI(...)). In code, create the store: " +
                "SqliteStores.CreateAuditStore(new() { DataSource = \"audit.db\" }).");

    /// <summary>
    /// Keeps people's consent choices in a SQLite file (options bound from <c>SafeAI:Consent:Sqlite</c>). Use with
    /// <c>safe.AddConsent()</c> (call this first: <c>AddConsent</c> registers the in-memory store only when none is).
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="configure">Changes the options after configuration binding.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The builder has no services; in code use <see cref="SqliteStores.CreateConsentStore"/>.</exception>
    public static SafeAIPipelineBuilder UseSqliteConsentStore(this SafeAIPipelineBuilder builder, Action<SqliteConsentStoreOptions>? configure = null) =>
        StoreRegistration.Use<IConsentStore, SqliteConsentStoreOptions>(
            builder,
            SqliteConsentStoreOptions.SectionName,
            configure,
            static options => options.GetError(),
            static options => new SqliteConsentStore(options),
            "UseSqliteConsentStore() needs dependency injection (services.AddSafeAI(...)). In code, create the store: " +
                "SqliteStores.CreateConsentStore(new() { DataSource = \"safeai.db\" }).");
}

/// <summary>Creates SafeAI's SQLite stores without dependency injection.</summary>
public static class SqliteStores
{
    /// <summary>Creates a review store in a SQLite file; the schema is created or migrated on first use.</summary>
    /// <param name="options">The options.</param>
    /// <returns>The store.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it.</exception>
    public static IReviewStore CreateReviewStore(SqliteReviewStoreOptions options) => new SqliteReviewStore(options);

    /// <summary>Creates a feedback store in a SQLite file; the schema is created or migrated on first use.</summary>
    /// <param name="options">The options.</param>
    /// <returns>The store.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it.</exception>
    public static IFeedbackStore CreateFeedbackStore(SqliteFeedbackStoreOptions options) => new SqliteFeedbackStore(options);

    /// <summary>Creates an audit store in a SQLite file; the schema (with its append-only triggers) is created or migrated on first use.</summary>
    /// <param name="options">The options.</param>
    /// <returns>The store.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it.</exception>
    public static IAuditStore CreateAuditStore(SqliteAuditStoreOptions options) => new SqliteAuditStore(options);

    /// <summary>Creates a consent store in a SQLite file; the schema is created or migrated on first use.</summary>
    /// <param name="options">The options.</param>
    /// <returns>The store.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it.</exception>
    public static IConsentStore CreateConsentStore(SqliteConsentStoreOptions options) => new SqliteConsentStore(options);
}

using SafeAI.Audit;
using SafeAI.Consent;
using SafeAI.Feedback;
using SafeAI.Monitoring;
using SafeAI.PostgreSql;
using SafeAI.Review;

namespace SafeAI;

/// <summary>Registers SafeAI's PostgreSQL stores.</summary>
public static class PostgreSqlStoreExtensions
{
    /// <summary>
    /// Keeps the human review queue in PostgreSQL (options bound from <c>SafeAI:HumanReview:PostgreSql</c>), shared by
    /// every app instance that points at the same database. Use with <c>safe.AddHumanReview()</c> under dependency injection.
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="configure">Changes the options after configuration binding.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The builder has no services; in code use <see cref="PostgreSqlStores.CreateReviewStore"/>.</exception>
    public static SafeAIPipelineBuilder UsePostgreSqlReviewStore(this SafeAIPipelineBuilder builder, Action<PostgreSqlReviewStoreOptions>? configure = null) =>
        StoreRegistration.Use<IReviewStore, PostgreSqlReviewStoreOptions>(
            builder,
            PostgreSqlReviewStoreOptions.SectionName,
            configure,
            static options => options.GetError(),
            static options => new PostgreSqlReviewStore(options),
            "UsePostgreSqlReviewStore() needs dependency injection (services.AddSafeAI(...)). In code, pass a queue: " +
                "safe.AddHumanReview(new ReviewQueue(PostgreSqlStores.CreateReviewStore(new() { ConnectionString = \"...\" })), ...).");

    /// <summary>
    /// Keeps feedback (thumbs up/down and comments on answers) in PostgreSQL (options bound from
    /// <c>SafeAI:Feedback:PostgreSql</c>); in the review store's schema, feedback joins review items by ticket id.
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="configure">Changes the options after configuration binding.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The builder has no services; in code use <see cref="PostgreSqlStores.CreateFeedbackStore"/>.</exception>
    public static SafeAIPipelineBuilder UsePostgreSqlFeedbackStore(this SafeAIPipelineBuilder builder, Action<PostgreSqlFeedbackStoreOptions>? configure = null) =>
        StoreRegistration.Use<IFeedbackStore, PostgreSqlFeedbackStoreOptions>(
            builder,
            PostgreSqlFeedbackStoreOptions.SectionName,
            configure,
            static options => options.GetError(),
            static options => new PostgreSqlFeedbackStore(options),
            "UsePostgreSqlFeedbackStore() needs dependency injection (services.AddSafeAI(...)). In code, create the store: " +
                "PostgreSqlStores.CreateFeedbackStore(new() { ConnectionString = \"...\" }).");

    /// <summary>
    /// Keeps the audit trail in PostgreSQL (options bound from <c>SafeAI:AuditTrail:PostgreSql</c>), append-only through a
    /// trigger, shared by every app instance (appends are serialised by a table lock). Use with <c>safe.AddAuditTrail()</c>.
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="configure">Changes the options after configuration binding.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The builder has no services; in code use <see cref="PostgreSqlStores.CreateAuditStore"/>.</exception>
    public static SafeAIPipelineBuilder UsePostgreSqlAuditStore(this SafeAIPipelineBuilder builder, Action<PostgreSqlAuditStoreOptions>? configure = null) =>
        StoreRegistration.Use<IAuditStore, PostgreSqlAuditStoreOptions>(
            builder,
            PostgreSqlAuditStoreOptions.SectionName,
            configure,
            static options => options.GetError(),
            static options => new PostgreSqlAuditStore(options),
            "UsePostgreSqlAuditStore() needs dependency injection (services.AddSafeAI(...)). In code, create the store: " +
                "PostgreSqlStores.CreateAuditStore(new() { ConnectionString = \"...\" }).");

    /// <summary>Keeps people's consent choices in PostgreSQL (options bound from <c>SafeAI:Consent:PostgreSql</c>). Call it before <c>safe.AddConsent()</c>.</summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="configure">Changes the options after configuration binding.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The builder has no services; in code use <see cref="PostgreSqlStores.CreateConsentStore"/>.</exception>
    public static SafeAIPipelineBuilder UsePostgreSqlConsentStore(this SafeAIPipelineBuilder builder, Action<PostgreSqlConsentStoreOptions>? configure = null) =>
        StoreRegistration.Use<IConsentStore, PostgreSqlConsentStoreOptions>(
            builder,
            PostgreSqlConsentStoreOptions.SectionName,
            configure,
            static options => options.GetError(),
            static options => new PostgreSqlConsentStore(options),
            "UsePostgreSqlConsentStore() needs dependency injection (services.AddSafeAI(...)). In code, create the store: PostgreSqlStores.CreateConsentStore(...).");

    /// <summary>
    /// Keeps monitoring's metrics in PostgreSQL (options bound from <c>SafeAI:Monitoring:PostgreSql</c>): every app
    /// instance that points at the same database writes its buckets under its own instance name, a restarted instance
    /// loads its own back, and reads without an instance sum them all. Use with <c>safe.AddMonitoring()</c>, which writes
    /// to the registered <see cref="IMetricsStore"/> every <c>MonitoringOptions.PersistInterval</c>; the
    /// <c>safeai-metrics-store</c> health check then pings it. It replaces a metrics store registered before it (such as
    /// <c>AddSafeAIMonitoringSqlite</c>'s); the call log and the shared kill switch stay where they are.
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="configure">Changes the options after configuration binding.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The builder has no services; in code use <see cref="PostgreSqlStores.CreateMetricsStore"/>.</exception>
    public static SafeAIPipelineBuilder UsePostgreSqlMetricsStore(this SafeAIPipelineBuilder builder, Action<PostgreSqlMetricsStoreOptions>? configure = null) =>
        StoreRegistration.Use<IMetricsStore, PostgreSqlMetricsStoreOptions>(
            builder,
            PostgreSqlMetricsStoreOptions.SectionName,
            configure,
            static options => options.GetError(),
            static options => new PostgreSqlMetricsStore(options),
            "UsePostgreSqlMetricsStore() needs dependency injection (services.AddSafeAI(...)). In code, create the store: " +
                "PostgreSqlStores.CreateMetricsStore(new() { ConnectionString = \"...\" }), and give it to a MetricsPersistence.");
}

/// <summary>Creates SafeAI's PostgreSQL stores without dependency injection.</summary>
public static class PostgreSqlStores
{
    /// <summary>Creates a review store in PostgreSQL; the schema is created or migrated on first use. Dispose it (it is <see cref="IDisposable"/>) to close its connections.</summary>
    /// <param name="options">The options.</param>
    /// <returns>The store.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it.</exception>
    public static IReviewStore CreateReviewStore(PostgreSqlReviewStoreOptions options) => new PostgreSqlReviewStore(options);

    /// <summary>Creates a feedback store in PostgreSQL; the schema is created or migrated on first use.</summary>
    /// <param name="options">The options.</param>
    /// <returns>The store (dispose it to close its connections).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it.</exception>
    public static IFeedbackStore CreateFeedbackStore(PostgreSqlFeedbackStoreOptions options) => new PostgreSqlFeedbackStore(options);

    /// <summary>Creates an audit store in PostgreSQL; the schema (with its append-only trigger) is created or migrated on first use.</summary>
    /// <param name="options">The options.</param>
    /// <returns>The store (dispose it to close its connections).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it.</exception>
    public static IAuditStore CreateAuditStore(PostgreSqlAuditStoreOptions options) => new PostgreSqlAuditStore(options);

    /// <summary>Creates a consent store in PostgreSQL; the schema is created or migrated on first use.</summary>
    /// <param name="options">The options.</param>
    /// <returns>The store (dispose it to close its connections).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it.</exception>
    public static IConsentStore CreateConsentStore(PostgreSqlConsentStoreOptions options) => new PostgreSqlConsentStore(options);

    /// <summary>Creates a metrics store in PostgreSQL (for a <see cref="MetricsPersistence"/>); the schema is created or migrated on first use.</summary>
    /// <param name="options">The options.</param>
    /// <returns>The store (dispose it, through <see cref="IDisposable"/>, to close its connections).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it.</exception>
    public static IMetricsStore CreateMetricsStore(PostgreSqlMetricsStoreOptions options) => new PostgreSqlMetricsStore(options);
}

using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
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
    public static SafeAIPipelineBuilder UseSqliteReviewStore(this SafeAIPipelineBuilder builder, Action<SqliteReviewStoreOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services ?? throw new InvalidOperationException(
            "UseSqliteReviewStore() needs dependency injection (services.AddSafeAI(...)). In code, pass a queue: " +
            "safe.AddHumanReview(new ReviewQueue(SqliteStores.CreateReviewStore(new() { DataSource = \"safeai.db\" })), ...).");
        var options = services.AddSafeAIOptions<SqliteReviewStoreOptions>(SqliteReviewStoreOptions.SectionName);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SqliteReviewStoreOptions>, SqliteReviewStoreOptionsValidator>());
        if (configure is not null)
        {
            _ = options.Configure(configure);
        }

        services.RemoveAll<IReviewStore>();
        services.AddSingleton<IReviewStore>(static sp => new SqliteReviewStore(sp.GetRequiredService<IOptions<SqliteReviewStoreOptions>>().Value));
        return builder;
    }

    /// <summary>
    /// Keeps feedback (thumbs up/down and comments on answers) in a SQLite file (options bound from
    /// <c>SafeAI:Feedback:Sqlite</c>); it may be the review store's file, so feedback joins review items by ticket id.
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="configure">Changes the options after configuration binding.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The builder has no services; in code use <see cref="SqliteStores.CreateFeedbackStore"/>.</exception>
    public static SafeAIPipelineBuilder UseSqliteFeedbackStore(this SafeAIPipelineBuilder builder, Action<SqliteFeedbackStoreOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services ?? throw new InvalidOperationException(
            "UseSqliteFeedbackStore() needs dependency injection (services.AddSafeAI(...)). In code, create the store: " +
            "SqliteStores.CreateFeedbackStore(new() { DataSource = \"safeai.db\" }).");
        var options = services.AddSafeAIOptions<SqliteFeedbackStoreOptions>(SqliteFeedbackStoreOptions.SectionName);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SqliteFeedbackStoreOptions>, SqliteFeedbackStoreOptionsValidator>());
        if (configure is not null)
        {
            _ = options.Configure(configure);
        }

        services.RemoveAll<IFeedbackStore>();
        services.AddSingleton<IFeedbackStore>(static sp => new SqliteFeedbackStore(sp.GetRequiredService<IOptions<SqliteFeedbackStoreOptions>>().Value));
        return builder;
    }

    /// <summary>
    /// Keeps the audit trail in a SQLite file (options bound from <c>SafeAI:AuditTrail:Sqlite</c>): the embedded default,
    /// append-only through triggers, every append on disk when its commit returns. Use with <c>safe.AddAuditTrail()</c>.
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="configure">Changes the options after configuration binding.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The builder has no services; in code use <see cref="SqliteStores.CreateAuditStore"/>.</exception>
    public static SafeAIPipelineBuilder UseSqliteAuditStore(this SafeAIPipelineBuilder builder, Action<SqliteAuditStoreOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services ?? throw new InvalidOperationException(
            "UseSqliteAuditStore() needs dependency injection (services.AddSafeAI(...)). In code, create the store: " +
            "SqliteStores.CreateAuditStore(new() { DataSource = \"audit.db\" }).");
        var options = services.AddSafeAIOptions<SqliteAuditStoreOptions>(SqliteAuditStoreOptions.SectionName);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SqliteAuditStoreOptions>, SqliteAuditStoreOptionsValidator>());
        if (configure is not null)
        {
            _ = options.Configure(configure);
        }

        services.RemoveAll<IAuditStore>();
        services.AddSingleton<IAuditStore>(static sp => new SqliteAuditStore(sp.GetRequiredService<IOptions<SqliteAuditStoreOptions>>().Value));
        return builder;
    }

    /// <summary>
    /// Keeps people's consent choices in a SQLite file (options bound from <c>SafeAI:Consent:Sqlite</c>). Use with
    /// <c>safe.AddConsent()</c> (call this first: <c>AddConsent</c> registers the in-memory store only when none is).
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="configure">Changes the options after configuration binding.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The builder has no services; in code use <see cref="SqliteStores.CreateConsentStore"/>.</exception>
    public static SafeAIPipelineBuilder UseSqliteConsentStore(this SafeAIPipelineBuilder builder, Action<SqliteConsentStoreOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services ?? throw new InvalidOperationException(
            "UseSqliteConsentStore() needs dependency injection (services.AddSafeAI(...)). In code, create the store: " +
            "SqliteStores.CreateConsentStore(new() { DataSource = \"safeai.db\" }).");
        var options = services.AddSafeAIOptions<SqliteConsentStoreOptions>(SqliteConsentStoreOptions.SectionName);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SqliteConsentStoreOptions>, SqliteConsentStoreOptionsValidator>());
        if (configure is not null)
        {
            _ = options.Configure(configure);
        }

        services.RemoveAll<IConsentStore>();
        services.AddSingleton<IConsentStore>(static sp => new SqliteConsentStore(sp.GetRequiredService<IOptions<SqliteConsentStoreOptions>>().Value));
        return builder;
    }
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

internal sealed class SqliteReviewStoreOptionsValidator : IValidateOptions<SqliteReviewStoreOptions>
{
    public ValidateOptionsResult Validate(string? name, SqliteReviewStoreOptions options) =>
        options.GetError() is { } error ? ValidateOptionsResult.Fail(error) : ValidateOptionsResult.Success;
}

internal sealed class SqliteFeedbackStoreOptionsValidator : IValidateOptions<SqliteFeedbackStoreOptions>
{
    public ValidateOptionsResult Validate(string? name, SqliteFeedbackStoreOptions options) =>
        options.GetError() is { } error ? ValidateOptionsResult.Fail(error) : ValidateOptionsResult.Success;
}

internal sealed class SqliteAuditStoreOptionsValidator : IValidateOptions<SqliteAuditStoreOptions>
{
    public ValidateOptionsResult Validate(string? name, SqliteAuditStoreOptions options) =>
        options.GetError() is { } error ? ValidateOptionsResult.Fail(error) : ValidateOptionsResult.Success;
}

internal sealed class SqliteConsentStoreOptionsValidator : IValidateOptions<SqliteConsentStoreOptions>
{
    public ValidateOptionsResult Validate(string? name, SqliteConsentStoreOptions options) =>
        options.GetError() is { } error ? ValidateOptionsResult.Fail(error) : ValidateOptionsResult.Success;
}

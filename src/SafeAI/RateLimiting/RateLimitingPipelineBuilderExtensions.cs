using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace SafeAI;

/// <summary>Adds the rate-limiting stage to a SafeAI pipeline.</summary>
public static class RateLimitingPipelineBuilderExtensions
{
    /// <summary>
    /// Adds the rate-limiting stage (first in the pipeline, <see cref="GuardOrder.RateLimiting"/>). Under dependency
    /// injection its settings are bound from <c>SafeAI:RateLimiting</c> (over the defaults <paramref name="configure"/>
    /// sets), validated at start-up and reloaded when the configuration changes; the store is the registered
    /// <see cref="RateLimitStore"/> (for example Redis), else in-process memory.
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="configure">Sets the limits in code.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="OptionsValidationException">Built in code and a setting is invalid; the message names it.</exception>
    /// <example>
    /// <code>
    /// services.AddSafeAI(safe =&gt; safe.AddRateLimiting(o =&gt;
    /// {
    ///     o.PartitionBy = RateLimitPartition.User;
    ///     o.Algorithm = RateLimitAlgorithm.TokenBucket;
    ///     o.PermitLimit = 20;
    ///     o.TokenLimit = 50_000;
    /// }));
    /// </code>
    /// </example>
    public static SafeAIPipelineBuilder AddRateLimiting(this SafeAIPipelineBuilder builder, Action<RateLimitingOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (builder.Services is not { } services)
        {
            var options = new RateLimitingOptions();
            configure?.Invoke(options);
            return builder.AddRateLimiting(options);
        }

        if (configure is not null)
        {
            _ = services.Configure(configure);
        }

        _ = services.AddSafeAIOptions<RateLimitingOptions>(RateLimitingOptions.SectionName);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RateLimitingOptions>, RateLimitingOptionsRulesValidator>());
        return builder.Add(static sp => new RateLimitingGuard(
            sp.GetRequiredService<IOptionsFactory<RateLimitingOptions>>(),
            sp.GetServices<IOptionsChangeTokenSource<RateLimitingOptions>>(),
            sp.GetService<RateLimitStore>(),
            sp.GetService<ITokenEstimator>(),
            sp.GetService<ILoggerFactory>()?.CreateLogger("SafeAI.RateLimiting")));
    }

    /// <summary>
    /// Adds a rate-limiting stage with fixed settings (not bound to configuration), for example a second, global limit
    /// beside a per-user one. Give each stage its own <see cref="AIGuardOptions.Name"/>.
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="options">The settings.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    /// <exception cref="OptionsValidationException">A setting is invalid; the message names it.</exception>
    public static SafeAIPipelineBuilder AddRateLimiting(this SafeAIPipelineBuilder builder, RateLimitingOptions options)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        RateLimitingGuard.ThrowIfInvalid(options);
        var copy = options.Clone();
        return builder.Services is null
            ? builder.Add(new RateLimitingGuard(copy))
            : builder.Add(sp => new RateLimitingGuard(
                copy,
                sp.GetService<RateLimitStore>(),
                sp.GetService<ITokenEstimator>(),
                sp.GetService<ILoggerFactory>()?.CreateLogger("SafeAI.RateLimiting")));
    }
}

/// <summary>Validates the annotations of <see cref="RateLimitingOptions"/> and the rules that span several settings.</summary>
internal sealed class RateLimitingOptionsRulesValidator : IValidateOptions<RateLimitingOptions>
{
    public ValidateOptionsResult Validate(string? name, RateLimitingOptions options) =>
        name is null || name == Options.DefaultName ? RateLimitingOptionsValidator.ValidateAll(options) : ValidateOptionsResult.Skip;
}

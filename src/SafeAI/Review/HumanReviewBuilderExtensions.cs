using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SafeAI.Review;

namespace SafeAI;

/// <summary>Adds the human review stage to a SafeAI pipeline.</summary>
public static class HumanReviewBuilderExtensions
{
    /// <summary>
    /// Adds the human review stage (slot <see cref="GuardOrder.HumanReview"/>). Under dependency injection it binds
    /// <see cref="HumanReviewOptions"/> from <c>SafeAI:HumanReview</c> and registers an <see cref="IReviewQueue"/>
    /// over the registered <see cref="IReviewStore"/> (in memory unless a store package such as
    /// <c>UseSqliteReviewStore</c> registered another). Without dependency injection, pass a queue with
    /// <see cref="AddHumanReview(SafeAIPipelineBuilder, IReviewQueue, Action{HumanReviewOptions}?)"/>.
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="configure">Changes the options after configuration binding.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The builder has no services (built in code); pass a queue instead.</exception>
    public static SafeAIPipelineBuilder AddHumanReview(this SafeAIPipelineBuilder builder, Action<HumanReviewOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services ?? throw new InvalidOperationException(
            "AddHumanReview() without a queue needs dependency injection (services.AddSafeAI(...)). In code, create one and pass it: " +
            "safe.AddHumanReview(new ReviewQueue(new InMemoryReviewStore()), o => ...).");

        _ = services.AddSafeAIOptions<HumanReviewOptions>(HumanReviewOptions.SectionName);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<HumanReviewOptions>, HumanReviewOptionsValidator>());
        if (configure is not null)
        {
            _ = services.Configure(configure);
        }

        services.TryAddSingleton<IReviewStore, InMemoryReviewStore>();
        services.TryAddSingleton<IReviewQueue>(static sp => new ReviewQueue(
            sp.GetRequiredService<IReviewStore>(),
            sp.GetRequiredService<IOptions<HumanReviewOptions>>().Value.Queue,
            sp.GetService<TimeProvider>(),
            sp.GetService<ILoggerFactory>()?.CreateLogger("SafeAI.Review")));
        return builder.Add(static sp => new HumanReviewGuard(
            sp.GetRequiredService<IOptions<HumanReviewOptions>>().Value,
            sp.GetRequiredService<IReviewQueue>(),
            sp.GetService<ILoggerFactory>()?.CreateLogger("SafeAI.Review")));
    }

    /// <summary>Adds the human review stage over a given queue (slot <see cref="GuardOrder.HumanReview"/>); works with or without dependency injection.</summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="queue">The queue reviewers work from.</param>
    /// <param name="configure">Sets the options.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="queue"/> is <see langword="null"/>.</exception>
    /// <exception cref="OptionsValidationException">A setting is invalid; the message names it.</exception>
    public static SafeAIPipelineBuilder AddHumanReview(this SafeAIPipelineBuilder builder, IReviewQueue queue, Action<HumanReviewOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(queue);
        var options = new HumanReviewOptions();
        configure?.Invoke(options);
        var validation = new HumanReviewOptionsValidator().Validate(Options.DefaultName, options);
        if (validation.Failed)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(HumanReviewOptions), validation.Failures);
        }

        return builder.Add(sp => new HumanReviewGuard(options, queue, sp.GetService<ILoggerFactory>()?.CreateLogger("SafeAI.Review")));
    }
}

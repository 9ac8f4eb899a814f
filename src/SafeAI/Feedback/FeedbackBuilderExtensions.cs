using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using SafeAI.Feedback;

namespace SafeAI;

/// <summary>Registers the feedback store.</summary>
public static class FeedbackBuilderExtensions
{
    /// <summary>
    /// Registers an <see cref="IFeedbackStore"/> for thumbs up/down and comments on answers (the in-memory store unless
    /// a store package registered another, e.g. <c>safe.UseSqliteFeedbackStore()</c>). The ASP.NET Core package's
    /// <c>MapSafeAIFeedback()</c> endpoint writes to it. Adds no pipeline stage.
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The builder has no services; in code create a store (<see cref="InMemoryFeedbackStore"/>) directly.</exception>
    public static SafeAIPipelineBuilder AddFeedback(this SafeAIPipelineBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services ?? throw new InvalidOperationException(
            "AddFeedback() needs dependency injection (services.AddSafeAI(...)). In code, create a store: new InMemoryFeedbackStore() or SqliteStores.CreateFeedbackStore(...).");
        services.TryAddSingleton<IFeedbackStore, InMemoryFeedbackStore>();
        return builder;
    }
}

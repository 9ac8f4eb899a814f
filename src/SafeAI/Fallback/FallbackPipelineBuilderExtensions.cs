using Microsoft.Extensions.Options;

namespace SafeAI;

/// <summary>Adds the fallback stage to a SafeAI pipeline.</summary>
public static class FallbackPipelineBuilderExtensions
{
    /// <summary>
    /// Adds the fallback stage (<see cref="GuardOrder.Fallback"/>): when the model call fails or its answer is rejected,
    /// the first link of <see cref="FallbackOptions.Fallbacks"/> that can answers instead. Under dependency injection
    /// its settings bind from <c>SafeAI:Fallback</c> and reload on change (the kill switch flips at runtime).
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="configure">Sets the chain, triggers, timeouts and circuit breaker.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="OptionsValidationException">A setting is invalid (in code, when called; under DI, at start).</exception>
    /// <example>
    /// <code>
    /// safe.AddFallback(o =&gt; o
    ///     .Add(ChatFallback.FromKeyedClient("backup-model"))
    ///     .Add(ChatFallback.FromClient(FaqChatClient.CreateDemo()))
    ///     .Add(ChatFallback.HumanHandoff("A person will reply by e-mail within a day.")));
    /// </code>
    /// </example>
    public static SafeAIPipelineBuilder AddFallback(this SafeAIPipelineBuilder builder, Action<FallbackOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (ReloadableStageOptions<FallbackOptions>.Register<FallbackOptionsValidator>(builder, FallbackOptions.SectionName, configure))
        {
            return builder.Add(static sp =>
            {
                var source = ReloadableStageOptions<FallbackOptions>.FromServices(sp);
                return new FallbackGuard(source.Current, () => source.Current);
            });
        }

        var options = new FallbackOptions();
        configure?.Invoke(options);
        var validated = ReloadableStageOptions<FallbackOptions>.FromInstance(options, new FallbackOptionsValidator());
        return builder.Add(new FallbackGuard(validated.Current));
    }
}

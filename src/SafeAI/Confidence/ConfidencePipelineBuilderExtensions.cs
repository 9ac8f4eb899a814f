using Microsoft.Extensions.Options;

namespace SafeAI;

/// <summary>Adds the confidence stage to a SafeAI pipeline.</summary>
public static class ConfidencePipelineBuilderExtensions
{
    /// <summary>
    /// Adds the confidence stage (<see cref="GuardOrder.Confidence"/>): it estimates the confidence of each answer with
    /// the configured <see cref="ConfidenceOptions.Estimators"/> and acts on answers below the threshold. Under
    /// dependency injection its settings bind from <c>SafeAI:Confidence</c> and reload on change.
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="configure">Sets the threshold, estimators and policies.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="OptionsValidationException">A setting is invalid (in code, when called; under DI, at start).</exception>
    /// <example>
    /// <code>
    /// safe.AddConfidence(o =&gt;
    /// {
    ///     o.Threshold = 0.6;
    ///     o.LowConfidenceAction = LowConfidenceAction.HonestUncertainty;
    ///     o.Estimators.Add(new VerbalizedConfidenceEstimator());
    /// });
    /// </code>
    /// </example>
    public static SafeAIPipelineBuilder AddConfidence(this SafeAIPipelineBuilder builder, Action<ConfidenceOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (ReloadableStageOptions<ConfidenceOptions>.Register<ConfidenceOptionsValidator>(builder, ConfidenceOptions.SectionName, configure))
        {
            return builder.Add(static sp =>
            {
                var source = ReloadableStageOptions<ConfidenceOptions>.FromServices(sp);
                return new ConfidenceGuard(source.Current, () => source.Current);
            });
        }

        var options = new ConfidenceOptions();
        configure?.Invoke(options);
        var validated = ReloadableStageOptions<ConfidenceOptions>.FromInstance(options, new ConfidenceOptionsValidator());
        return builder.Add(new ConfidenceGuard(validated.Current));
    }
}

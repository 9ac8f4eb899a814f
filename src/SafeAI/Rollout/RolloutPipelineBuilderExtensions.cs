using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace SafeAI;

/// <summary>Adds gradual rollout routing to a SafeAI pipeline.</summary>
public static class RolloutPipelineBuilderExtensions
{
    /// <summary>
    /// Adds the rollout routing stage (<see cref="GuardOrder.Rollout"/>, outermost but for disclosure): each call goes to
    /// the AI arm (the rest of the pipeline and the model) or to <see cref="RolloutOptions.Baseline"/>, sticky per user (or
    /// tenant, or conversation), at the share the <see cref="RolloutController"/>'s current stage gives. Under dependency
    /// injection the settings bind from <c>SafeAI:Rollout</c>, <c>KillSwitch</c> reloads on change, and the controller is a
    /// singleton service (inject <see cref="RolloutController"/> to evaluate, pause, promote, abort or stop).
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="configure">Sets the baseline, the key, the lists and segments, and the plan.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="OptionsValidationException">A setting is invalid (in code, when called; under DI, at start).</exception>
    /// <example>
    /// <code>
    /// var rollout = new RolloutController(new RolloutPlanOptions());
    /// safe.AddRollout(o =&gt; { o.Controller = rollout; o.Baseline = RolloutBaseline.FromClient(faq); });
    /// // later, on a schedule: rollout.Evaluate();  in an emergency: rollout.Stop("incident 42");
    /// </code>
    /// </example>
    public static SafeAIPipelineBuilder AddRollout(this SafeAIPipelineBuilder builder, Action<RolloutOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (ReloadableStageOptions<RolloutOptions>.Register<RolloutOptionsValidator>(builder, RolloutOptions.SectionName, configure))
        {
            builder.Services!.TryAddSingleton(static sp =>
            {
                var options = sp.GetRequiredService<IOptions<RolloutOptions>>().Value;
                return options.Controller ?? new RolloutController(
                    options.Plan,
                    sp.GetService<TimeProvider>(),
                    sp.GetService<ILogger<RolloutController>>());
            });
            return builder.Add(static sp =>
            {
                var source = ReloadableStageOptions<RolloutOptions>.FromServices(sp);
                return new RolloutGuard(source.Current, sp.GetRequiredService<RolloutController>(), () => source.Current.KillSwitch);
            });
        }

        var options = new RolloutOptions();
        configure?.Invoke(options);
        var validated = ReloadableStageOptions<RolloutOptions>.FromInstance(options, new RolloutOptionsValidator()).Current;
        return builder.Add(new RolloutGuard(validated, validated.Controller ?? new RolloutController(validated.Plan)));
    }

    /// <summary>Gets the controller of the pipeline's rollout stage.</summary>
    /// <param name="pipeline">The pipeline.</param>
    /// <returns>The controller, or <see langword="null"/> when the pipeline has no rollout stage.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="pipeline"/> is <see langword="null"/>.</exception>
    public static RolloutController? GetRolloutController(this SafeAIPipeline pipeline)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        return pipeline.GetStage<RolloutGuard>()?.Controller;
    }

    /// <summary>Gets the rollout arm a call was routed to, from its result.</summary>
    /// <param name="result">The call's result.</param>
    /// <returns>The arm, or <see langword="null"/> when no rollout stage routed the call.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="result"/> is <see langword="null"/>.</exception>
    public static RolloutArm? GetRolloutArm(this SafeAIResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        foreach (var v in result)
        {
            if (v.Reason is "rollout.ai")
            {
                return RolloutArm.AI;
            }

            if (v.Reason is "rollout.baseline")
            {
                return RolloutArm.Baseline;
            }
        }

        return null;
    }
}

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

    /// <summary>
    /// Counts an outcome for a person, tenant or conversation, in the arm their key is in now: a thumbs-down from the
    /// feedback endpoint, or a business event such as a conversion or a deflected ticket. Keys outside the experiment
    /// (canary group, deny list, segments, no key, rollout stopped) are not counted.
    /// </summary>
    /// <param name="pipeline">The pipeline with the rollout stage.</param>
    /// <param name="callContext">Who the outcome belongs to (the same values the calls carry).</param>
    /// <param name="metric">A metric of the plan: one of <see cref="RolloutMetrics"/>, a guardrail or a tracked metric.</param>
    /// <param name="count">How many.</param>
    /// <returns><see langword="true"/> when the outcome was counted.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The pipeline has no rollout stage.</exception>
    /// <exception cref="ArgumentException"><paramref name="metric"/> is not a metric of the plan.</exception>
    public static bool RecordRolloutOutcome(this SafeAIPipeline pipeline, SafeAICallContext callContext, string metric, long count = 1)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(callContext);
        ArgumentNullException.ThrowIfNull(metric);
        var stage = pipeline.GetStage<RolloutGuard>() ?? throw new InvalidOperationException("This pipeline has no rollout stage; add one with safe.AddRollout(...).");
        return stage.RecordOutcome(callContext, metric, count);
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

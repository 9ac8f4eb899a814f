using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using SafeAI.Pii;

namespace SafeAI;

/// <summary>Adds the PII stage to a SafeAI pipeline.</summary>
public static class PiiPipelineBuilderExtensions
{
    /// <summary>
    /// Adds the PII stage: an input stage (<c>pii-input</c>, slot <see cref="GuardOrder.InputChecks"/>) that redacts,
    /// blocks or records personal data before the model is called, and, when <see cref="PiiRedactionOptions.CheckOutput"/>
    /// or <see cref="PiiRedactionOptions.Reversible"/> is set, an output stage (<c>pii-output</c>, slot
    /// <see cref="GuardOrder.OutputChecks"/>) that restores placeholders and checks the answer for leaks. Under dependency
    /// injection the settings bind from <c>SafeAI:Pii</c> and are validated at start.
    /// </summary>
    /// <remarks>
    /// Streaming: the input stage runs before the stream starts. The output stage holds the streamed answer back and
    /// releases it in one piece once screened (see <see cref="PiiRedactionOptions.CheckOutput"/>); with both
    /// <see cref="PiiRedactionOptions.CheckOutput"/> and <see cref="PiiRedactionOptions.Reversible"/> off there is no output
    /// stage and the stream flows token by token. Verdicts carry reason codes (<c>pii.email</c>, ...) and counts, never the values.
    /// </remarks>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="configure">Changes the settings.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="OptionsValidationException">Built in code, a setting is invalid (the message names it).</exception>
    /// <example>
    /// <code>
    /// services.AddSafeAI(safe =&gt; safe.AddPiiRedaction(o =&gt;
    /// {
    ///     o.Reversible = true;                 // the answer gets the caller's values back
    ///     o.PhoneRegions = ["US", "GB"];
    /// }));
    /// </code>
    /// </example>
    public static SafeAIPipelineBuilder AddPiiRedaction(this SafeAIPipelineBuilder builder, Action<PiiRedactionOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (builder.Services is not { } services)
        {
            var options = new PiiRedactionOptions();
            configure?.Invoke(options);
            var runtime = new PiiRuntime(options);
            _ = builder.Add(runtime.CreateInputStage());
            if (runtime.CreateOutputStage() is { } output)
            {
                _ = builder.Add(output);
            }

            return builder;
        }

        _ = services.AddSafeAIOptions<PiiRedactionOptions>(PiiRedactionOptions.SectionName);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PiiRedactionOptions>, PiiRedactionOptionsValidator>());
        if (configure is not null)
        {
            _ = services.Configure(configure);
        }

        services.TryAddSingleton(static sp => new PiiRuntime(sp.GetRequiredService<IOptions<PiiRedactionOptions>>().Value));
        _ = builder.Add(static sp => sp.GetRequiredService<PiiRuntime>().CreateInputStage());
        _ = builder.Add(static sp => (IAIGuard?)sp.GetRequiredService<PiiRuntime>().CreateOutputStage() ?? new PassThroughGuard("pii-output-off", GuardOrder.OutputChecks));
        return builder;
    }

    /// <summary>The detector and settings shared by the two stages.</summary>
    private sealed class PiiRuntime
    {
        private readonly PiiRedactionOptions _options;
        private readonly PiiDetector _detector;

        public PiiRuntime(PiiRedactionOptions options)
        {
            var errors = options.ValidateAll();
            if (errors.Count > 0)
            {
                throw new OptionsValidationException(PiiRedactionOptions.SectionName, typeof(PiiRedactionOptions), errors);
            }

            _options = options;
            _detector = new PiiDetector(options);
        }

        public PiiInputGuard CreateInputStage() => new PiiInputGuard(_detector, _options);

        public PiiOutputGuard? CreateOutputStage() => _options.CheckOutput || _options.Reversible ? new PiiOutputGuard(_detector, _options) : null;
    }
}

/// <summary>Stands in for the output stage when it is switched off, so that it costs nothing.</summary>
internal sealed class PassThroughGuard(string name, int order) : AIGuard(name)
{
    public override int Order => order;

    public override ValueTask<Microsoft.Extensions.AI.ChatResponse> InvokeAsync(SafeAIContext context, GuardNext next) => next.GetResponseAsync(context);

    public override ValueTask<IAsyncEnumerable<Microsoft.Extensions.AI.ChatResponseUpdate>> InvokeStreamingAsync(SafeAIContext context, GuardNext next) => next.GetStreamingResponseAsync(context);
}

/// <summary>Validates <see cref="PiiRedactionOptions"/> at start with messages that name the setting.</summary>
internal sealed class PiiRedactionOptionsValidator : IValidateOptions<PiiRedactionOptions>
{
    public ValidateOptionsResult Validate(string? name, PiiRedactionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.ValidateAll();
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

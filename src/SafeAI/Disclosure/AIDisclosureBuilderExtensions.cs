using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace SafeAI;

/// <summary>Adds the AI disclosure stage to a pipeline.</summary>
public static class AIDisclosureBuilderExtensions
{
    /// <summary>
    /// Adds the AI disclosure stage: every answer carries an <see cref="AIDisclosure"/> (read it with
    /// <c>response.GetAIDisclosure()</c>, write it as a header with <see cref="AIDisclosure.ToHeaderValue"/>), and, by
    /// default, the first answer of a conversation starts with a visible notice. With dependency injection the settings
    /// are bound from <c>SafeAI:Disclosure</c>. With a conversation id on the call (<c>options.WithConversation(id)</c>) the
    /// first answer of each conversation carries the notice (conversations are remembered for
    /// <see cref="AIDisclosureOptions.ConversationMemoryDuration"/>, shared through an <c>IDistributedCache</c> when one is
    /// registered); without one, an answer to a request holding no earlier assistant message does. The notice never leads
    /// text the model did not write (a refusal, a rate-limit answer: disclosure mode <c>none</c>).
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="configure">Changes the settings.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="OptionsValidationException">A setting is invalid (when the pipeline is built).</exception>
    public static SafeAIPipelineBuilder AddAIDisclosure(this SafeAIPipelineBuilder builder, Action<AIDisclosureOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (builder.Services is { } services)
        {
            _ = services.AddSafeAIOptions<AIDisclosureOptions>(AIDisclosureOptions.SectionName);
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AIDisclosureOptions>, AIDisclosureOptionsValidator>());
            if (configure is not null)
            {
                _ = services.Configure(configure);
            }

            return builder.Add(static sp =>
            {
                var options = sp.GetRequiredService<IOptions<AIDisclosureOptions>>().Value;
                var logger = sp.GetService<ILoggerFactory>()?.CreateLogger("SafeAI");
                return new AIDisclosureGuard(options, new ConversationMemory(options, sp.GetService<IDistributedCache>(), logger));
            });
        }

        var options = new AIDisclosureOptions();
        configure?.Invoke(options);
        var result = new AIDisclosureOptionsValidator().Validate(Options.DefaultName, options);
        if (result.Failed)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(AIDisclosureOptions), result.Failures);
        }

        return builder.Add(new AIDisclosureGuard(options));
    }
}

using Microsoft.Extensions.DependencyInjection;
using SafeAI;

namespace Microsoft.Extensions.AI;

/// <summary>Adds SafeAI to a <see cref="ChatClientBuilder"/>.</summary>
public static class SafeAIChatClientBuilderExtensions
{
    /// <summary>
    /// Wraps the client in a <see cref="SafeAIChatClient"/>. Without <paramref name="configure"/>, uses the pipeline
    /// registered with <c>services.AddSafeAI(...)</c>; with it, builds a pipeline of its own from the delegate
    /// (settings still come from the registered <c>SafeAI</c> options when there are any).
    /// </summary>
    /// <param name="builder">The chat client builder.</param>
    /// <param name="configure">Adds stages; <see langword="null"/> to use the registered pipeline.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="InvalidOperationException">
    /// Thrown when the client is built: no <paramref name="configure"/> was given and no pipeline is registered.
    /// </exception>
    /// <example>
    /// <code>
    /// IChatClient client = new OpenAIClient(key).GetChatClient("gpt-4o-mini").AsIChatClient()
    ///     .AsBuilder()
    ///     .UseSafeAI(safe =&gt; safe.AddInputLengthLimit(20_000))
    ///     .Build();
    /// </code>
    /// </example>
    public static ChatClientBuilder UseSafeAI(this ChatClientBuilder builder, Action<SafeAIPipelineBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Use((inner, services) =>
        {
            SafeAIPipeline pipeline;
            if (configure is null)
            {
                pipeline = services.GetService<SafeAIPipeline>()
                    ?? throw new InvalidOperationException(
                        "UseSafeAI() found no SafeAI pipeline. Register one with services.AddSafeAI(safe => ...), or pass the stages to UseSafeAI(safe => ...).");
            }
            else
            {
                var pipelineBuilder = new SafeAIPipelineBuilder();
                configure(pipelineBuilder);
                pipeline = pipelineBuilder.Build(services);
            }

            return new SafeAIChatClient(inner, pipeline);
        });
    }

    /// <summary>Wraps the client in a <see cref="SafeAIChatClient"/> that uses an already built pipeline.</summary>
    /// <param name="builder">The chat client builder.</param>
    /// <param name="pipeline">The pipeline.</param>
    /// <returns>The builder.</returns>
    public static ChatClientBuilder UseSafeAI(this ChatClientBuilder builder, SafeAIPipeline pipeline)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(pipeline);
        return builder.Use(inner => new SafeAIChatClient(inner, pipeline));
    }
}

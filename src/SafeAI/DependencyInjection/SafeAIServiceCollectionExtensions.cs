using Microsoft.Extensions.DependencyInjection.Extensions;
using SafeAI;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers SafeAI with dependency injection.</summary>
public static class SafeAIServiceCollectionExtensions
{
    /// <summary>
    /// Registers the SafeAI pipeline: its settings (bound from the <c>SafeAI</c> configuration section when an
    /// <c>IConfiguration</c> is registered, validated at start-up) and the singleton <see cref="SafeAIPipeline"/>
    /// that <c>services.AddChatClient(...).UseSafeAI()</c> wraps around the chat client.
    /// At start-up every key under <c>SafeAI</c> must be a setting of the section or of a stage in use, with a value of the
    /// right shape: a typo fails validation naming the closest valid key (see <see cref="SafeAIOptions.AllowUnknownConfigurationKeys"/>).
    /// A setting that code and configuration both set to different values is logged once, at Information, with the value
    /// that took effect and the configuration source.
    /// Calling it again adds to the same pipeline.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Adds stages and changes settings.</param>
    /// <returns>The pipeline builder, for adding stages.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> is <see langword="null"/>.</exception>
    /// <example>
    /// <code>
    /// builder.Services.AddSafeAI(safe =&gt; safe
    ///     .AddInputLengthLimit(20_000)
    ///     .Configure(o =&gt; o.OnRejected = RejectionBehavior.ReturnResponse));
    /// builder.Services.AddChatClient(innerClient).UseSafeAI();
    /// </code>
    /// </example>
    public static SafeAIPipelineBuilder AddSafeAI(this IServiceCollection services, Action<SafeAIPipelineBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        SafeAIPipelineBuilder? builder = null;
        foreach (var descriptor in services)
        {
            if (descriptor.ServiceType == typeof(SafeAIPipelineBuilder) && !descriptor.IsKeyedService && descriptor.ImplementationInstance is SafeAIPipelineBuilder existing)
            {
                builder = existing;
                break;
            }
        }

        if (builder is null)
        {
            builder = new SafeAIPipelineBuilder(services);
            services.AddSingleton(builder);
            _ = services.AddSafeAIOptions<SafeAIOptions>(SafeAIOptions.SectionName);
            services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.Extensions.Options.IValidateOptions<SafeAIOptions>, SafeAIOptionsValidator>());
            services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.Extensions.Options.IValidateOptions<SafeAIOptions>, SafeAIConfigurationValidator>());
            services.TryAddSingleton(TimeProvider.System);
            services.TryAddSingleton(static sp => sp.GetRequiredService<SafeAIPipelineBuilder>().Build(sp));
        }

        configure?.Invoke(builder);
        return builder;
    }
}

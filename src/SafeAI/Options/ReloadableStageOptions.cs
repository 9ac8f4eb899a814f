using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace SafeAI;

/// <summary>
/// The current options of a stage: under dependency injection, bound from configuration and reloaded on change (an
/// invalid reload keeps the last valid value); in code, one validated instance. Reading <see cref="Current"/> is a field read.
/// </summary>
internal sealed class ReloadableStageOptions<TOptions>
    where TOptions : class
{
    private volatile TOptions _current;

    private ReloadableStageOptions(TOptions initial) => _current = initial;

    public TOptions Current => _current;

    /// <summary>Registers bound, validated, reloaded options under DI; returns <see langword="false"/> when the builder has no services (built in code).</summary>
    public static bool Register<TValidator>(SafeAIPipelineBuilder builder, string sectionPath, Action<TOptions>? configure)
        where TValidator : class, IValidateOptions<TOptions>
    {
        if (builder.Services is not { } services)
        {
            return false;
        }

        _ = services.AddSafeAIOptions<TOptions>(sectionPath);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TOptions>, TValidator>());
        if (configure is not null)
        {
            _ = services.Configure(configure);
        }

        return true;
    }

    public static ReloadableStageOptions<TOptions> FromServices(IServiceProvider services)
    {
        var monitor = services.GetRequiredService<IOptionsMonitor<TOptions>>();
        var source = new ReloadableStageOptions<TOptions>(monitor.CurrentValue);
        _ = monitor.OnChange((_, name) =>
        {
            if (name != Options.DefaultName)
            {
                return;
            }

            try
            {
                source._current = monitor.Get(Options.DefaultName);
            }
            catch (OptionsValidationException)
            {
                // Keep the last valid settings; the host logs invalid configuration at start.
            }
        });
        return source;
    }

    public static ReloadableStageOptions<TOptions> FromInstance(TOptions options, IValidateOptions<TOptions> validator)
    {
        var result = validator.Validate(Options.DefaultName, options);
        if (result.Failed)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(TOptions), result.Failures);
        }

        return new ReloadableStageOptions<TOptions>(options);
    }
}

using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace SafeAI;

/// <summary>Registers stage options bound from a SafeAI configuration section; used by SafeAI's stage packages.</summary>
public static class SafeAIOptionsServiceCollectionExtensions
{
    /// <summary>
    /// Registers <typeparamref name="TOptions"/> bound from the configuration section at
    /// <paramref name="configurationSectionPath"/> (for example <c>SafeAI:RateLimiting</c>) whenever an
    /// <c>IConfiguration</c> is registered, reloaded when the configuration changes, and validated at start-up.
    /// Registering the same options twice has no further effect.
    /// </summary>
    /// <typeparam name="TOptions">The options type.</typeparam>
    /// <param name="services">The services.</param>
    /// <param name="configurationSectionPath">The configuration section path.</param>
    /// <returns>The options builder, for adding validation.</returns>
    /// <exception cref="ArgumentException"><paramref name="configurationSectionPath"/> is null or empty.</exception>
    public static OptionsBuilder<TOptions> AddSafeAIOptions<TOptions>(this IServiceCollection services, string configurationSectionPath)
        where TOptions : class
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(configurationSectionPath);
        var builder = services.AddOptions<TOptions>();
        foreach (var descriptor in services)
        {
            if (descriptor.ServiceType == typeof(SectionBinding<TOptions>))
            {
                return builder;
            }
        }

        services.AddSingleton(new SectionBinding<TOptions>(configurationSectionPath));
        services.AddSingleton<IConfigureOptions<TOptions>, ConfigureFromSection<TOptions>>();
        services.AddSingleton<IOptionsChangeTokenSource<TOptions>, SectionChangeTokenSource<TOptions>>();
        return builder.ValidateOnStart();
    }

    internal sealed class SectionBinding<TOptions>(string path)
    {
        public string Path { get; } = path;
    }

    private sealed class ConfigureFromSection<TOptions>(IServiceProvider services, SectionBinding<TOptions> binding) : IConfigureOptions<TOptions>
        where TOptions : class
    {
        public void Configure(TOptions options)
        {
            if (services.GetService<IConfiguration>() is { } configuration)
            {
                configuration.GetSection(binding.Path).Bind(options);
            }
        }
    }

    private sealed class SectionChangeTokenSource<TOptions>(IServiceProvider services) : IOptionsChangeTokenSource<TOptions>
    {
        private static readonly CancellationChangeToken NeverChanges = new(CancellationToken.None);

        public string Name => Options.DefaultName;

        public IChangeToken GetChangeToken() =>
            services.GetService<IConfiguration>()?.GetReloadToken() ?? NeverChanges;
    }
}

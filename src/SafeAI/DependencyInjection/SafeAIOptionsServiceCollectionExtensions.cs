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

        var binding = new SectionBinding<TOptions>(configurationSectionPath);
        services.AddSingleton(binding);
        services.AddSingleton<SafeAISectionBinding>(binding);
        services.AddSingleton<IConfigureOptions<TOptions>, ConfigureFromSection<TOptions>>();
        services.AddSingleton<IOptionsChangeTokenSource<TOptions>, SectionChangeTokenSource<TOptions>>();
        return builder.ValidateOnStart();
    }

    internal sealed class SectionBinding<TOptions>(string path) : SafeAISectionBinding(path)
        where TOptions : class
    {
        public override Type OptionsType => typeof(TOptions);

        public override IEnumerable<SettingConflict> FindConflicts(IServiceProvider services, IConfiguration configuration)
        {
            var section = configuration.GetSection(Path);
            if (!section.Exists())
            {
                return [];
            }

            // The same steps as the options factory, once with every configuration step (the effective value), once
            // without SafeAI's binding from configuration (what code set), and the section alone (what configuration set).
            var defaults = Activator.CreateInstance<TOptions>();
            var code = Activator.CreateInstance<TOptions>();
            var effective = Activator.CreateInstance<TOptions>();
            var fromConfiguration = Activator.CreateInstance<TOptions>();
            try
            {
                foreach (var configure in services.GetServices<IConfigureOptions<TOptions>>())
                {
                    Apply(configure, effective);
                    if (configure is not ConfigureFromSection<TOptions>)
                    {
                        Apply(configure, code);
                    }
                }

                section.Bind(fromConfiguration);
            }
            catch (InvalidOperationException)
            {
                // A value the binder cannot convert: the options' own validation reports it.
                return [];
            }

            var conflicts = new List<SettingConflict>();
            foreach (var (name, property) in ConfigurationKeys.Bindable(typeof(TOptions)))
            {
                var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
                if (property.SetMethod?.IsPublic != true || !ConfigurationKeys.IsValue(type) || section[name] is null)
                {
                    continue;
                }

                var codeValue = property.GetValue(code);
                var configurationValue = property.GetValue(fromConfiguration);
                if (Equals(codeValue, property.GetValue(defaults)) || Equals(codeValue, configurationValue))
                {
                    continue;
                }

                var effectiveValue = property.GetValue(effective);
                var key = Path + ":" + property.Name;
                conflicts.Add(new SettingConflict(key, Format(codeValue), Format(configurationValue), Format(effectiveValue), Equals(effectiveValue, configurationValue), SourceOf(configuration, key)));
            }

            return conflicts;
        }

        private static void Apply(IConfigureOptions<TOptions> configure, TOptions options)
        {
            if (configure is IConfigureNamedOptions<TOptions> named)
            {
                named.Configure(Options.DefaultName, options);
            }
            else
            {
                configure.Configure(options);
            }
        }

        private static string Format(object? value) => value switch
        {
            null => "(not set)",
            string text => "'" + text + "'",
            IFormattable formattable => formattable.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
            _ => value.ToString() ?? string.Empty,
        };

        private static string SourceOf(IConfiguration configuration, string key)
        {
            if (configuration is IConfigurationRoot root)
            {
                for (var i = root.Providers.Count() - 1; i >= 0; i--)
                {
                    var provider = root.Providers.ElementAt(i);
                    if (provider.TryGet(key, out _))
                    {
                        return provider.ToString() ?? provider.GetType().Name;
                    }
                }
            }

            return "configuration";
        }
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

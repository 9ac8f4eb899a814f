using System.Collections;
using System.ComponentModel;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace SafeAI;

/// <summary>A configuration section SafeAI binds, and the options type bound from it (registered by <c>AddSafeAIOptions</c>).</summary>
internal abstract class SafeAISectionBinding(string path)
{
    public string Path { get; } = path;

    public abstract Type OptionsType { get; }

    /// <summary>Gets the settings (top-level values of the options) that code and configuration both set to different values.</summary>
    public abstract IEnumerable<SettingConflict> FindConflicts(IServiceProvider services, IConfiguration configuration);
}

/// <summary>A setting that code and configuration both set, to different values.</summary>
internal sealed record SettingConflict(string Key, string CodeValue, string ConfigurationValue, string EffectiveValue, bool ConfigurationWins, string Source);

/// <summary>
/// Checks the <c>SafeAI</c> configuration section at start-up against what SafeAI reads: every key must be a setting of
/// the section's options or a section of a stage in use, every value must have the right shape (a value where a value
/// belongs, a section where a section belongs). Unless <see cref="SafeAIOptions.AllowUnknownConfigurationKeys"/> is set,
/// an unknown key fails validation naming the closest valid one. It also logs, once and at Information, each setting that
/// code and configuration both set to different values, with the value that took effect and the source it came from.
/// </summary>
internal sealed partial class SafeAIConfigurationValidator(IServiceProvider services) : IValidateOptions<SafeAIOptions>
{
    private int _conflictsLogged;

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, SafeAIOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (name != Options.DefaultName || services.GetService<IConfiguration>() is not { } configuration)
        {
            return ValidateOptionsResult.Skip;
        }

        var bindings = services.GetServices<SafeAISectionBinding>().ToList();
        var logger = services.GetService<ILoggerFactory>()?.CreateLogger("SafeAI.Configuration") ?? NullLogger.Instance;
        var problems = ConfigurationKeys.Check(configuration, bindings);
        var failures = new List<string>();
        foreach (var problem in problems)
        {
            if (problem.Unknown && options.AllowUnknownConfigurationKeys)
            {
                LogUnknownKeyAllowed(logger, problem.Message);
            }
            else
            {
                failures.Add(problem.Unknown ? problem.Message + " Set SafeAI:AllowUnknownConfigurationKeys to true to accept keys this version does not know." : problem.Message);
            }
        }

        if (failures.Count > 0)
        {
            return ValidateOptionsResult.Fail(failures);
        }

        if (Interlocked.Exchange(ref _conflictsLogged, 1) == 0 && logger.IsEnabled(LogLevel.Information))
        {
            foreach (var binding in bindings)
            {
                foreach (var conflict in binding.FindConflicts(services, configuration))
                {
                    LogConflict(logger, conflict.Key, conflict.CodeValue, conflict.ConfigurationValue, conflict.Source, conflict.EffectiveValue,
                        conflict.ConfigurationWins ? "configuration" : "code");
                }
            }
        }

        return ValidateOptionsResult.Success;
    }

    [LoggerMessage(EventId = 160, Level = LogLevel.Information,
        Message = "SafeAI setting {Key} is {CodeValue} in code and {ConfigurationValue} in configuration ({Source}); the effective value is {EffectiveValue}, from {Winner}.")]
    private static partial void LogConflict(ILogger logger, string key, string codeValue, string configurationValue, string source, string effectiveValue, string winner);

    [LoggerMessage(EventId = 161, Level = LogLevel.Warning, Message = "SafeAI ignores a configuration key (AllowUnknownConfigurationKeys is on): {Problem}")]
    private static partial void LogUnknownKeyAllowed(ILogger logger, string problem);
}

/// <summary>The shape of what SafeAI binds, and the walk of a configuration against it.</summary>
internal static class ConfigurationKeys
{
    /// <summary>A key that does not belong, or a value of the wrong shape.</summary>
    internal sealed record Problem(string Message, bool Unknown);

    public static List<Problem> Check(IConfiguration configuration, IReadOnlyList<SafeAISectionBinding> bindings)
    {
        var root = new Node();
        foreach (var binding in bindings)
        {
            var node = root;
            foreach (var segment in binding.Path.Split(':'))
            {
                if (!node.Children.TryGetValue(segment, out var child))
                {
                    node.Children[segment] = child = new Node();
                }

                node = child;
            }

            node.Type = binding.OptionsType;
        }

        var problems = new List<Problem>();
        foreach (var (name, node) in root.Children)
        {
            var section = configuration.GetSection(name);
            if (section.Exists())
            {
                Walk(section, name, node, problems);
            }
        }

        return problems;
    }

    private static void Walk(IConfigurationSection section, string path, Node node, List<Problem> problems)
    {
        var children = section.GetChildren().ToList();
        if (children.Count == 0)
        {
            if (!string.IsNullOrEmpty(section.Value))
            {
                problems.Add(new Problem($"{path} must be a section of settings, not a single value (it is '{section.Value}').", Unknown: false));
            }

            return;
        }

        var properties = node.Type is null ? [] : Bindable(node.Type);
        foreach (var child in children)
        {
            var key = path + ":" + child.Key;
            if (properties.TryGetValue(child.Key, out var property))
            {
                CheckValue(child, key, property.PropertyType, problems);
            }
            else if (node.Children.TryGetValue(child.Key, out var stage))
            {
                Walk(child, key, stage, problems);
            }
            else
            {
                var known = properties.Keys.Concat(node.Children.Keys).Order(StringComparer.Ordinal).ToList();
                var suggestion = NameSuggestion.Closest(child.Key, known) is { } close ? $" Did you mean {close}?" : string.Empty;
                problems.Add(new Problem($"{key} is not a setting SafeAI knows.{suggestion} Valid keys of {path}: {string.Join(", ", known)}.", Unknown: true));
            }
        }
    }

    private static void CheckValue(IConfigurationSection section, string path, Type type, List<Problem> problems)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        var hasChildren = section.GetChildren().Any();
        if (IsCodeOnly(type))
        {
            problems.Add(new Problem($"{path} can be set only in code, not in configuration.", Unknown: false));
        }
        else if (IsValue(type))
        {
            if (hasChildren)
            {
                problems.Add(new Problem($"{path} must be a single value, not a section.", Unknown: false));
            }
        }
        else if (DictionaryValueType(type) is { } valueType)
        {
            if (!hasChildren && !string.IsNullOrEmpty(section.Value))
            {
                problems.Add(new Problem($"{path} must be a section of named entries, not a single value (it is '{section.Value}').", Unknown: false));
                return;
            }

            foreach (var entry in section.GetChildren())
            {
                CheckValue(entry, path + ":" + entry.Key, valueType, problems);
            }
        }
        else if (ElementType(type) is { } elementType)
        {
            if (!hasChildren && !string.IsNullOrEmpty(section.Value))
            {
                problems.Add(new Problem($"{path} must be a list, not a single value (it is '{section.Value}').", Unknown: false));
                return;
            }

            foreach (var item in section.GetChildren())
            {
                if (!int.TryParse(item.Key, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                {
                    problems.Add(new Problem($"{path} must be a list; '{item.Key}' is not a position in it.", Unknown: false));
                    continue;
                }

                CheckValue(item, path + ":" + item.Key, elementType, problems);
            }
        }
        else
        {
            Walk(section, path, new Node { Type = type }, problems);
        }
    }

    /// <summary>Gets the properties the configuration binder can set on <paramref name="type"/>, by case-insensitive name.</summary>
    [UnconditionalSuppressMessage("Trimming", "IL2070", Justification = "Options types are kept by the configuration binder that binds them.")]
    internal static Dictionary<string, PropertyInfo> Bindable(Type type)
    {
        var result = new Dictionary<string, PropertyInfo>(StringComparer.OrdinalIgnoreCase);
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetIndexParameters().Length > 0 || property.GetMethod?.IsPublic != true)
            {
                continue;
            }

            // A read-only property is bound into when it holds an object, a list or a dictionary the binder can fill.
            if (property.SetMethod?.IsPublic == true || !IsValue(Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType))
            {
                // [ConfigurationKeyName] renames the key the binder reads (e.g. relative_increase), so it is the valid key.
                result.TryAdd(property.GetCustomAttribute<ConfigurationKeyNameAttribute>()?.Name ?? property.Name, property);
            }
        }

        return result;
    }

    internal static bool IsValue(Type type) =>
        type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(decimal) || type == typeof(TimeSpan) ||
        type == typeof(DateTime) || type == typeof(DateTimeOffset) || type == typeof(Guid) || type == typeof(Uri) ||
        (!type.IsAbstract && type != typeof(object) && !typeof(IEnumerable).IsAssignableFrom(type) && TypeDescriptor.GetConverter(type).CanConvertFrom(typeof(string)) && type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Length == 0);

    private static bool IsCodeOnly(Type type) => typeof(Delegate).IsAssignableFrom(type) || type == typeof(Type) || type.IsInterface && DictionaryValueType(type) is null && ElementType(type) is null;

    private static Type? DictionaryValueType(Type type)
    {
        foreach (var candidate in type.IsInterface ? [type, .. type.GetInterfaces()] : type.GetInterfaces())
        {
            if (candidate.IsGenericType && candidate.GetGenericTypeDefinition() is var definition &&
                (definition == typeof(IDictionary<,>) || definition == typeof(IReadOnlyDictionary<,>)) && candidate.GetGenericArguments()[0] == typeof(string))
            {
                return candidate.GetGenericArguments()[1];
            }
        }

        return null;
    }

    private static Type? ElementType(Type type)
    {
        if (type.IsArray)
        {
            return type.GetElementType();
        }

        foreach (var candidate in type.IsInterface ? [type, .. type.GetInterfaces()] : type.GetInterfaces())
        {
            if (candidate.IsGenericType && candidate.GetGenericTypeDefinition() == typeof(IEnumerable<>))
            {
                return candidate.GetGenericArguments()[0];
            }
        }

        return null;
    }

    /// <summary>One level of the tree of sections SafeAI binds.</summary>
    private sealed class Node
    {
        public Type? Type { get; set; }

        public Dictionary<string, Node> Children { get; } = new(StringComparer.OrdinalIgnoreCase);
    }
}

/// <summary>"Did you mean ...?": the candidate closest to a mistyped name.</summary>
internal static class NameSuggestion
{
    /// <summary>Gets the candidate closest to <paramref name="name"/> (case-insensitive), or <see langword="null"/> when none is close enough to be a typo.</summary>
    public static string? Closest(string name, IEnumerable<string> candidates)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in candidates)
        {
            var distance = Distance(name.ToUpperInvariant(), candidate.ToUpperInvariant());
            if (distance < bestDistance)
            {
                (best, bestDistance) = (candidate, distance);
            }
        }

        return best is not null && bestDistance <= Math.Max(1, Math.Max(name.Length, best.Length) / 3) ? best : null;
    }

    // Insertions, deletions, changes and swaps of neighbours that turn one name into the other.
    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }
}

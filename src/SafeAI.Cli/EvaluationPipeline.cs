using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using SafeAI.Onnx;
using SafeAI.Pii;
using SafeAI.Review;

namespace SafeAI.Cli;

/// <summary>One stage section of the configuration and the settings that took effect (after binding and defaults).</summary>
/// <param name="Section">The configuration section (<c>SafeAI:ContentFilter</c>).</param>
/// <param name="Stage">What the stage does, in words.</param>
/// <param name="Settings">Setting name to its effective value, as text.</param>
internal sealed record ConfiguredStage(string Section, string Stage, IReadOnlyList<KeyValuePair<string, string>> Settings);

/// <summary>
/// The SafeAI pipeline an app builds from a JSON configuration file: <c>services.AddSafeAI(...)</c> with the stages whose
/// sections the file holds under <c>SafeAI</c>, bound and validated exactly as in an app, around a given inner client.
/// </summary>
internal sealed class EvaluationPipeline : IDisposable
{
    /// <summary>The stage sections <c>safeai evaluate</c> builds, and how.</summary>
    private static readonly (string Section, string Stage, Type Options, Action<SafeAIPipelineBuilder> Add)[] Known =
    [
        ("Pii", "PII redaction (input and output)", typeof(PiiRedactionOptions), static b => b.AddPiiRedaction()),
        ("ContentFilter", "content filter (input and output)", typeof(ContentFilterOptions), static b => b.AddContentFilter()),
        ("RateLimiting", "rate limiting", typeof(RateLimitingOptions), static b => b.AddRateLimiting()),
        ("HumanReview", "human review", typeof(HumanReviewOptions), static b => b.AddHumanReview()),
        ("Disclosure", "AI disclosure", typeof(AIDisclosureOptions), static b => b.AddAIDisclosure()),
    ];

    /// <summary>Sections of stages that need code or stores of their own (an estimator, a fallback client, arms, metric, audit and consent stores): left out of an evaluation, and said so.</summary>
    private static readonly string[] CodeOnly = ["Confidence", "Fallback", "Rollout", "Feedback", "Monitoring", "AuditTrail", "Consent"];

    private readonly ServiceProvider _services;

    private EvaluationPipeline(ServiceProvider services, IChatClient client, List<ConfiguredStage> stages, List<string> skipped, IReadOnlyList<string> stageNames)
    {
        _services = services;
        Client = client;
        Stages = stages;
        Skipped = skipped;
        StageNames = stageNames;
    }

    /// <summary>Gets the client: the SafeAI pipeline around the inner client.</summary>
    public IChatClient Client { get; }

    /// <summary>Gets the stages built, with their effective settings.</summary>
    public IReadOnlyList<ConfiguredStage> Stages { get; }

    /// <summary>Gets the sections of stages that were configured but need code, so were not evaluated.</summary>
    public IReadOnlyList<string> Skipped { get; }

    /// <summary>Gets the pipeline's stage names in the order they run.</summary>
    public IReadOnlyList<string> StageNames { get; }

    /// <summary>Builds the pipeline from <paramref name="configPath"/>.</summary>
    /// <param name="configPath">An <c>appsettings.json</c>-style file with a <c>SafeAI</c> section.</param>
    /// <param name="inner">The model the pipeline wraps.</param>
    /// <returns>The pipeline.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="FormatException">The file is not JSON, has no <c>SafeAI</c> section, or a setting is invalid (the message names the file and the setting).</exception>
    public static EvaluationPipeline Build(string configPath, IChatClient inner)
    {
        if (!File.Exists(configPath))
        {
            throw new FileNotFoundException($"The configuration file '{configPath}' does not exist.", configPath);
        }

        var sections = StageSections(configPath);
        var full = Path.GetFullPath(configPath);
        IConfigurationRoot configuration;
        try
        {
            configuration = new ConfigurationBuilder().AddJsonFile(full, optional: false, reloadOnChange: false).Build();
        }
        catch (InvalidDataException ex)
        {
            throw new FormatException($"{configPath}: not valid JSON configuration ({ex.Message}).", ex);
        }

        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        var skipped = sections.Where(s => CodeOnly.Contains(s, StringComparer.OrdinalIgnoreCase)).ToList();
        services.AddSafeAI(safe =>
        {
            foreach (var known in Known)
            {
                if (sections.Contains(known.Section, StringComparer.OrdinalIgnoreCase))
                {
                    known.Add(safe);
                }
            }
        });

        // Allow verdicts carry the content filter's score, which the evaluation reads (AUROC); decisions are unchanged.
        services.PostConfigure<SafeAIOptions>(o =>
        {
            o.RecordAllowVerdicts = true;
            o.AllowUnknownConfigurationKeys |= skipped.Count > 0;
        });
        services.AddChatClient(inner).UseSafeAI();
        var provider = services.BuildServiceProvider();
        try
        {
            var client = provider.GetRequiredService<IChatClient>();
            var pipeline = provider.GetRequiredService<SafeAIPipeline>();
            var stages = new List<ConfiguredStage>();
            foreach (var known in Known)
            {
                if (sections.Contains(known.Section, StringComparer.OrdinalIgnoreCase))
                {
                    var options = ((IOptions<object>)Activator.CreateInstance(typeof(OptionsUnwrapper<>).MakeGenericType(known.Options), provider)!).Value;
                    stages.Add(new ConfiguredStage("SafeAI:" + known.Section, known.Stage, Describe(options)));
                }
            }

            // Reading the section's settings validates them now (unknown keys, values of the wrong shape), not at the first call.
            _ = pipeline.Options;
            return new EvaluationPipeline(provider, client, stages, skipped, [.. pipeline.Stages.Select(static s => s.Name)]);
        }
        catch (OptionsValidationException ex)
        {
            provider.Dispose();
            throw new FormatException($"{configPath}: {ex.Message}", ex);
        }
        catch (ContentModelException ex)
        {
            provider.Dispose();
            throw new FormatException($"{configPath}: the content filter's model does not load: {ex.Message}", ex);
        }
    }

    /// <summary>The names of the sections directly under <c>SafeAI</c> whose value is an object (a stage's settings).</summary>
    private static List<string> StageSections(string configPath)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(configPath), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new FormatException($"{configPath}: expected a JSON object with a \"SafeAI\" section.");
            }

            var root = document.RootElement.EnumerateObject().FirstOrDefault(static p => string.Equals(p.Name, "SafeAI", StringComparison.OrdinalIgnoreCase));
            if (root.Value.ValueKind != JsonValueKind.Object)
            {
                throw new FormatException($"{configPath}: no \"SafeAI\" section: the stages to evaluate are the sections under it (\"SafeAI\": {{\"ContentFilter\": {{}}, \"RateLimiting\": {{...}}}}).");
            }

            return [.. root.Value.EnumerateObject().Where(static p => p.Value.ValueKind == JsonValueKind.Object).Select(static p => p.Name)];
        }
        catch (JsonException ex)
        {
            throw new FormatException($"{configPath}: not valid JSON ({ex.Message}).", ex);
        }
    }

    /// <summary>The options' public settings that configuration can set (values, and dictionaries of small objects such as the content filter's categories).</summary>
    internal static List<KeyValuePair<string, string>> Describe(object options)
    {
        var settings = new List<KeyValuePair<string, string>>();
        foreach (var property in options.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance).OrderBy(static p => p.Name, StringComparer.Ordinal))
        {
            if (property.GetIndexParameters().Length > 0)
            {
                continue;
            }

            var value = property.GetValue(options);
            if (IsValue(property.PropertyType))
            {
                settings.Add(new(property.Name, Format(value)));
            }
            else if (value is IDictionary dictionary)
            {
                foreach (DictionaryEntry entry in dictionary)
                {
                    var inner = entry.Value is null || IsValue(entry.Value.GetType())
                        ? Format(entry.Value)
                        : string.Join(", ", entry.Value.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance)
                            .Where(static p => IsValue(p.PropertyType)).OrderBy(static p => p.Name, StringComparer.Ordinal).Select(p => (p.Name, Value: p.GetValue(entry.Value)))
                            .Where(static p => p.Value is not null).Select(static p => $"{p.Name} {Format(p.Value)}"));
                    settings.Add(new($"{property.Name}:{entry.Key}", inner));
                }
            }
            else if (value is IEnumerable list and not string && property.PropertyType.IsGenericType && IsValue(property.PropertyType.GetGenericArguments()[0]))
            {
                var items = list.Cast<object>().Select(Format).ToList();
                if (items.Count > 0)
                {
                    settings.Add(new(property.Name, string.Join(", ", items)));
                }
            }
        }

        return settings;
    }

    private static bool IsValue(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(TimeSpan) || type == typeof(decimal);
    }

    private static string Format(object? value) => value switch
    {
        null => "(not set)",
        bool b => b ? "true" : "false",
        TimeSpan t => t.ToString("c", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? string.Empty,
    };

    public void Dispose() => _services.Dispose();

    /// <summary>Reads <c>IOptions&lt;T&gt;.Value</c> for a type known at run time.</summary>
    private sealed class OptionsUnwrapper<T>(IServiceProvider services) : IOptions<object>
        where T : class
    {
        public object Value { get; } = services.GetRequiredService<IOptions<T>>().Value;
    }
}

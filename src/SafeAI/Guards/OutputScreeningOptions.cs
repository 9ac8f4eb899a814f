namespace SafeAI;

/// <summary>How an <see cref="OutputGuard"/> holds back streamed text until it has been screened.</summary>
public sealed class OutputScreeningOptions
{
    /// <summary>Gets the defaults: windows of 200 characters, 64 characters of context, early screening at sentence ends.</summary>
    public static OutputScreeningOptions Default { get; } = new();

    /// <summary>
    /// Gets or sets how many characters of streamed text are held back before they are screened together.
    /// Larger windows mean fewer checks and more latency before text appears. A window never ends inside a word: text
    /// is held until the next word break (or four windows, at least 256 characters, of text without one). Default: 200.
    /// </summary>
    public int WindowSize { get; set; } = 200;

    /// <summary>Gets or sets how many characters of already-released text are passed along with each window as context. Default: 64.</summary>
    public int ContextSize { get; set; } = 64;

    /// <summary>
    /// Gets or sets the smallest window screened early when a sentence ends (at <c>.</c>, <c>!</c>, <c>?</c> or a line
    /// break), so that short sentences appear without waiting for a full window. 0 turns early screening off. Default: 40.
    /// </summary>
    public int SentenceFlushMinimum { get; set; } = 40;

    internal void Validate(string stage, string paramName = "screening")
    {
        if (WindowSize < 1)
        {
            throw new ArgumentException($"Stage '{stage}': the screening window must hold at least 1 character (WindowSize is {WindowSize}).", paramName);
        }

        if (ContextSize < 0)
        {
            throw new ArgumentException($"Stage '{stage}': the screening context cannot be negative (ContextSize is {ContextSize}).", paramName);
        }

        if (SentenceFlushMinimum < 0)
        {
            throw new ArgumentException($"Stage '{stage}': the sentence flush minimum cannot be negative (SentenceFlushMinimum is {SentenceFlushMinimum}).", paramName);
        }
    }
}

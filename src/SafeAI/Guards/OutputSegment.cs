using Microsoft.Extensions.AI;

namespace SafeAI;

/// <summary>
/// A piece of model output for an <see cref="OutputGuard"/> to screen: the whole answer of a non-streaming call, or
/// one window of held-back text of a stream.
/// </summary>
public sealed class OutputSegment
{
    internal OutputSegment(string text, string precedingText, bool isFinal, ChatResponse? response)
    {
        Text = text;
        PrecedingText = precedingText;
        IsFinal = isFinal;
        Response = response;
    }

    /// <summary>
    /// Gets the text to screen: not yet seen by the caller. It holds every content kind that carries text (answer text,
    /// reasoning, tool-call arguments, tool results, text data parts; see <see cref="ContentText"/>); on a stream it
    /// starts with held text that passed the previous window and is screened again with this one.
    /// </summary>
    public string Text { get; }

    /// <summary>
    /// Gets up to <see cref="OutputScreeningOptions.ContextSize"/> characters of already-released text that came just
    /// before <see cref="Text"/>, so that a phrase split across windows is still seen whole. Empty for the first window.
    /// </summary>
    public string PrecedingText { get; }

    /// <summary>Gets a value indicating whether this is the last piece of the answer.</summary>
    public bool IsFinal { get; }

    /// <summary>Gets a value indicating whether the text comes from a stream.</summary>
    public bool IsStreaming => Response is null;

    /// <summary>Gets the whole response of a non-streaming call; <see langword="null"/> for streams.</summary>
    public ChatResponse? Response { get; }

    /// <summary>
    /// Gets or sets replacement text (for example with personal data redacted). Set it and return a
    /// <see cref="GuardAction.Modify"/> verdict to release the replacement instead of <see cref="Text"/>.
    /// </summary>
    public string? Replacement { get; set; }
}

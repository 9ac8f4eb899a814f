namespace SafeAI;

/// <summary>One question and answer of a <see cref="FaqChatClient"/>.</summary>
public sealed class FaqEntry
{
    /// <summary>Initializes a new instance of the <see cref="FaqEntry"/> class.</summary>
    /// <param name="question">A typical wording of the question.</param>
    /// <param name="answer">The answer.</param>
    /// <param name="keywords">More words that point to this entry (synonyms, product names).</param>
    /// <exception cref="ArgumentException"><paramref name="question"/> or <paramref name="answer"/> is null or empty.</exception>
    public FaqEntry(string question, string answer, params string[] keywords)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(question);
        ArgumentException.ThrowIfNullOrWhiteSpace(answer);
        ArgumentNullException.ThrowIfNull(keywords);
        Question = question;
        Answer = answer;
        Keywords = keywords;
    }

    /// <summary>Gets a typical wording of the question.</summary>
    public string Question { get; }

    /// <summary>Gets the answer.</summary>
    public string Answer { get; }

    /// <summary>Gets more words that point to this entry.</summary>
    public IReadOnlyList<string> Keywords { get; }
}

using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace SafeAI;

/// <summary>
/// A small, deterministic, offline <see cref="IChatClient"/> that answers from a list of questions and answers by word
/// overlap. It needs no network and no API key, so samples and tests run anywhere; it is also a sensible last
/// fallback ("a simpler system") when the real model is down.
/// </summary>
/// <remarks>
/// Each response carries the match score in [0, 1] under <see cref="MatchScoreKey"/> in
/// <see cref="ChatResponse.AdditionalProperties"/>, approximate token counts in <see cref="ChatResponse.Usage"/>, and
/// <see cref="ModelId"/> as its model. Below <see cref="MinimumScore"/> it says honestly that it does not know.
/// Streaming yields the answer a few words at a time. Thread-safe.
/// </remarks>
public sealed class FaqChatClient : IChatClient
{
    /// <summary>The model id the client reports.</summary>
    public const string ModelId = "safeai-faq";

    /// <summary>The <see cref="ChatResponse.AdditionalProperties"/> key of the match score.</summary>
    public const string MatchScoreKey = "faq.match_score";

    private static readonly HashSet<string> StopWords = new(StringComparer.Ordinal)
    {
        "a", "an", "the", "and", "or", "but", "is", "are", "am", "was", "were", "be", "been", "do", "does", "did", "i", "you",
        "we", "me", "my", "your", "our", "it", "its", "to", "of", "in", "on", "for", "at", "by", "with", "can", "could", "would",
        "should", "will", "what", "when", "where", "which", "who", "how", "why", "this", "that", "there", "please", "hi", "hello",
        "about", "if", "so", "any", "get", "have", "has", "need", "want", "tell",
    };

    private readonly (FaqEntry Entry, HashSet<string> Terms)[] _entries;
    private readonly TimeProvider _timeProvider;
    private readonly ChatClientMetadata _metadata;

    /// <summary>Initializes a new instance of the <see cref="FaqChatClient"/> class.</summary>
    /// <param name="entries">The questions and answers; at least one.</param>
    /// <param name="timeProvider">The time provider; the system clock by default.</param>
    /// <exception cref="ArgumentException"><paramref name="entries"/> is empty.</exception>
    public FaqChatClient(IEnumerable<FaqEntry> entries, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(entries);
        _entries = [.. entries.Select(static e =>
        {
            ArgumentNullException.ThrowIfNull(e);
            var terms = Terms(e.Question);
            foreach (var keyword in e.Keywords)
            {
                terms.UnionWith(Terms(keyword));
            }

            return (e, terms);
        })];
        if (_entries.Length == 0)
        {
            throw new ArgumentException("A FAQ needs at least one entry.", nameof(entries));
        }

        _timeProvider = timeProvider ?? TimeProvider.System;
        _metadata = new ChatClientMetadata("SafeAI", null, ModelId);
    }

    /// <summary>Gets or sets the smallest match score that counts as an answer. Default: 0.3.</summary>
    public double MinimumScore { get; set; } = 0.3;

    /// <summary>Gets or sets the answer when nothing matches.</summary>
    public string NoMatchAnswer { get; set; } = "I'm not sure about that one. I can help with opening hours, cards, passwords, fees, transfers, loans and complaints, or connect you with a person.";

    /// <summary>Gets or sets how long each answer takes (simulated model latency). Default: none.</summary>
    public TimeSpan Latency { get; set; }

    /// <summary>Gets or sets how many words each streamed update holds. Default: 3.</summary>
    public int WordsPerUpdate { get; set; } = 3;

    /// <summary>Creates a client with a small built-in FAQ of a fictional bank, used by SafeAI's samples.</summary>
    /// <param name="timeProvider">The time provider; the system clock by default.</param>
    /// <returns>The client.</returns>
    public static FaqChatClient CreateDemo(TimeProvider? timeProvider = null) => new(DemoEntries, timeProvider);

    /// <summary>Gets the entries of the demo FAQ.</summary>
    public static IReadOnlyList<FaqEntry> DemoEntries { get; } =
    [
        new("What are your opening hours?", "Our branches are open Monday to Friday from 9:00 to 17:00 and on Saturday from 9:00 to 13:00. The app and phone banking work around the clock.", "open", "hours", "opening", "closing", "branch", "saturday", "weekend"),
        new("How do I reset my password?", "Open the app, tap \"Forgot password\" on the sign-in screen and follow the link we e-mail you. The link is valid for 30 minutes.", "password", "reset", "forgot", "login", "sign", "locked"),
        new("I lost my card, what do I do?", "Freeze the card straight away in the app under Cards > Freeze, then order a replacement there. It arrives in 3 to 5 working days.", "lost", "stolen", "card", "freeze", "block", "replacement"),
        new("What fees do you charge?", "The standard account has no monthly fee. Payments abroad cost 1% (at least 1 EUR); cash withdrawals are free up to 5 a month.", "fee", "fees", "charge", "cost", "price", "monthly"),
        new("How long does a transfer take?", "Transfers within the euro area arrive the next working day; instant transfers arrive within seconds and cost nothing extra.", "transfer", "payment", "send", "money", "sepa", "instant", "arrive"),
        new("Am I eligible for a loan?", "Based on what you told me, you would likely qualify for a personal loan of up to 15,000 EUR at 6.9% APR over 5 years.", "loan", "eligible", "credit", "borrow", "mortgage", "approve", "qualify", "apr"),
        new("How do I make a complaint?", "I'm sorry something went wrong. You can complain in the app under Help > Complaints or by phone; we reply within 5 working days.", "complaint", "complain", "unhappy", "problem", "wrong"),
        new("Can I talk to a person?", "Of course. Call us on +49 30 1234 5678 (weekdays 8:00 to 20:00) or use the chat in the app to reach a person.", "human", "person", "agent", "someone", "phone", "call", "talk", "speak"),
        new("Are you a bot?", "Yes, I'm an automated assistant. My answers are generated by software and may be wrong; a person is always available if you prefer.", "bot", "robot", "ai", "automated", "real", "machine"),
    ];

    /// <inheritdoc />
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        cancellationToken.ThrowIfCancellationRequested();
        if (Latency > TimeSpan.Zero)
        {
            await Task.Delay(Latency, _timeProvider, cancellationToken).ConfigureAwait(false);
        }

        return CreateResponse(messages);
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        cancellationToken.ThrowIfCancellationRequested();
        if (Latency > TimeSpan.Zero)
        {
            await Task.Delay(Latency, _timeProvider, cancellationToken).ConfigureAwait(false);
        }

        var response = CreateResponse(messages);
        var words = response.Text.Split(' ');
        var perUpdate = Math.Max(1, WordsPerUpdate);
        var messageId = response.Messages[0].MessageId;
        for (var i = 0; i < words.Length; i += perUpdate)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var count = Math.Min(perUpdate, words.Length - i);
            var text = string.Join(' ', words, i, count) + (i + count < words.Length ? " " : string.Empty);
            var last = i + count >= words.Length;
            var update = new ChatResponseUpdate(ChatRole.Assistant, text)
            {
                ResponseId = response.ResponseId,
                MessageId = messageId,
                ModelId = ModelId,
                CreatedAt = response.CreatedAt,
                FinishReason = last ? ChatFinishReason.Stop : null,
            };
            if (last)
            {
                update.Contents.Add(new UsageContent(response.Usage!));
                update.AdditionalProperties = new() { [MatchScoreKey] = response.AdditionalProperties![MatchScoreKey] };
            }

            yield return update;
            await Task.Yield();
        }
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceKey is not null ? null
            : serviceType == typeof(ChatClientMetadata) ? _metadata
            : serviceType.IsInstanceOfType(this) ? this
            : null;
    }

    /// <inheritdoc />
    public void Dispose()
    {
    }

    /// <summary>Finds the best entry for a question.</summary>
    /// <param name="question">The question.</param>
    /// <returns>The best entry and its score in [0, 1]; the entry is <see langword="null"/> below <see cref="MinimumScore"/>.</returns>
    public (FaqEntry? Entry, double Score) Match(string question)
    {
        ArgumentNullException.ThrowIfNull(question);
        var terms = Terms(question);
        if (terms.Count == 0)
        {
            return (null, 0);
        }

        FaqEntry? best = null;
        var bestScore = 0.0;
        foreach (var (entry, entryTerms) in _entries)
        {
            var overlap = 0;
            foreach (var term in terms)
            {
                if (entryTerms.Contains(term))
                {
                    overlap++;
                }
            }

            // Share of the question's words the entry explains, damped for very short questions.
            var score = overlap / (double)Math.Max(terms.Count, 2);
            if (score > bestScore)
            {
                bestScore = score;
                best = entry;
            }
        }

        bestScore = Math.Min(1.0, bestScore);
        return bestScore >= MinimumScore ? (best, bestScore) : (null, bestScore);
    }

    private ChatResponse CreateResponse(IEnumerable<ChatMessage> messages)
    {
        var question = string.Empty;
        var inputWords = 0;
        foreach (var message in messages)
        {
            if (message is null)
            {
                continue;
            }

            var text = message.Text;
            inputWords += CountWords(text);
            if (message.Role == ChatRole.User)
            {
                question = text;
            }
        }

        var (entry, score) = Match(question);
        var answer = entry?.Answer ?? NoMatchAnswer;
        var now = _timeProvider.GetUtcNow();
        var id = "faq-" + now.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture) + "-" + Interlocked.Increment(ref _sequence).ToString(CultureInfo.InvariantCulture);
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, answer) { MessageId = id })
        {
            ResponseId = id,
            ModelId = ModelId,
            CreatedAt = now,
            FinishReason = ChatFinishReason.Stop,
            Usage = new UsageDetails { InputTokenCount = inputWords, OutputTokenCount = CountWords(answer), TotalTokenCount = inputWords + CountWords(answer) },
            AdditionalProperties = new() { [MatchScoreKey] = score },
        };
    }

    private static long _sequence;

    private static HashSet<string> Terms(string text)
    {
        var terms = new HashSet<string>(StringComparer.Ordinal);
        var span = text.AsSpan();
        var start = -1;
        for (var i = 0; i <= span.Length; i++)
        {
            var isWordChar = i < span.Length && char.IsLetterOrDigit(span[i]);
            if (isWordChar && start < 0)
            {
                start = i;
            }
            else if (!isWordChar && start >= 0)
            {
                var word = span[start..i].ToString().ToLowerInvariant();
                if (word.Length > 3 && word.EndsWith('s') && !word.EndsWith("ss", StringComparison.Ordinal))
                {
                    word = word[..^1];
                }

                if (!StopWords.Contains(word))
                {
                    _ = terms.Add(word);
                }

                start = -1;
            }
        }

        return terms;
    }

    private static int CountWords(string text)
    {
        var count = 0;
        var inWord = false;
        foreach (var c in text)
        {
            var isWord = !char.IsWhiteSpace(c);
            if (isWord && !inWord)
            {
                count++;
            }

            inWord = isWord;
        }

        return count;
    }
}

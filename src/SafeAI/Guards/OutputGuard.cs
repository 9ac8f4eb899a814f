using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.AI;

namespace SafeAI;

/// <summary>
/// Base class for a stage that checks the model's output. Implement one method, <see cref="CheckAsync"/>, which
/// screens an <see cref="OutputSegment"/>:
/// <list type="bullet">
/// <item>Non-streaming calls: the whole answer is screened once.</item>
/// <item>
/// Streaming calls: text is held back and screened in windows (<see cref="OutputScreeningOptions"/>); a window
/// reaches the caller only after it passed. No unscreened text is ever released. When a window is rejected, the
/// stream ends with a plain notice (finish reason <c>ContentFilter</c>) and the rest of the model's stream is dropped.
/// </item>
/// </list>
/// A <see cref="GuardAction.Modify"/> verdict with <see cref="OutputSegment.Replacement"/> set releases the replacement
/// instead. The pipeline applies the stage's time budget and failure mode to every check.
/// </summary>
public abstract class OutputGuard : AIGuard
{
    /// <summary>Initializes a new instance of the <see cref="OutputGuard"/> class.</summary>
    /// <param name="name">The stage name.</param>
    /// <param name="failureMode">What happens when the check fails.</param>
    /// <param name="timeout">The time budget of each check; <see langword="null"/> for the pipeline's default.</param>
    /// <param name="screening">How streamed text is held back; <see langword="null"/> for <see cref="OutputScreeningOptions.Default"/>.</param>
    protected OutputGuard(string name, GuardFailureMode failureMode = GuardFailureMode.FailClosed, TimeSpan? timeout = null, OutputScreeningOptions? screening = null)
        : base(name, failureMode, timeout)
    {
        Screening = screening ?? OutputScreeningOptions.Default;
        Screening.Validate(name);
    }

    /// <summary>Initializes a new instance of the <see cref="OutputGuard"/> class from stage options.</summary>
    /// <param name="defaultName">The name used when the options set none.</param>
    /// <param name="options">The stage options.</param>
    /// <param name="screening">How streamed text is held back; <see langword="null"/> for <see cref="OutputScreeningOptions.Default"/>.</param>
    protected OutputGuard(string defaultName, AIGuardOptions options, OutputScreeningOptions? screening = null)
        : base(defaultName, options)
    {
        Screening = screening ?? OutputScreeningOptions.Default;
        Screening.Validate(Name);
    }

    /// <summary>Gets how streamed text is held back until screened.</summary>
    public OutputScreeningOptions Screening { get; }

    /// <inheritdoc />
    public override int Order => GuardOrder.OutputChecks;

    /// <inheritdoc />
    public sealed override ValueTask<ChatResponse> InvokeAsync(SafeAIContext context, GuardNext next)
    {
        ArgumentNullException.ThrowIfNull(context);
        var pending = next.GetResponseAsync(context);
        if (pending.IsCompletedSuccessfully)
        {
            return ScreenResponse(pending.Result, context);
        }

        return AwaitAndScreenAsync(pending, context);
    }

    /// <inheritdoc />
    public sealed override ValueTask<IAsyncEnumerable<ChatResponseUpdate>> InvokeStreamingAsync(SafeAIContext context, GuardNext next)
    {
        ArgumentNullException.ThrowIfNull(context);
        var pending = next.GetStreamingResponseAsync(context);
        if (pending.IsCompletedSuccessfully)
        {
            return new ValueTask<IAsyncEnumerable<ChatResponseUpdate>>(ScreenStreamAsync(context, pending.Result));
        }

        return AwaitStreamAsync(pending, context);
    }

    /// <summary>Screens a piece of model output.</summary>
    /// <param name="context">The call's context.</param>
    /// <param name="segment">The output to screen.</param>
    /// <param name="cancellationToken">Cancelled when the caller cancels or the time budget runs out.</param>
    /// <returns>The verdict. A <c>default</c> verdict counts as <see cref="GuardAction.Allow"/>.</returns>
    protected abstract ValueTask<GuardVerdict> CheckAsync(SafeAIContext context, OutputSegment segment, CancellationToken cancellationToken);

    private ValueTask<GuardVerdict> RunCheckAsync(SafeAIContext context, OutputSegment segment) =>
        CheckRunner.RunAsync(this, context, (Guard: this, Context: context, Segment: segment), static (s, ct) => s.Guard.CheckAsync(s.Context, s.Segment, ct), context.CancellationToken);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ChatResponse> AwaitAndScreenAsync(ValueTask<ChatResponse> pending, SafeAIContext context) =>
        await ScreenResponse(await pending.ConfigureAwait(false), context).ConfigureAwait(false);

    private async ValueTask<IAsyncEnumerable<ChatResponseUpdate>> AwaitStreamAsync(ValueTask<IAsyncEnumerable<ChatResponseUpdate>> pending, SafeAIContext context) =>
        ScreenStreamAsync(context, await pending.ConfigureAwait(false));

    private ValueTask<ChatResponse> ScreenResponse(ChatResponse response, SafeAIContext context)
    {
        if (ReferenceEquals(response, context.Refusal))
        {
            // A refusal produced further in carries SafeAI's own text, not the model's.
            return new ValueTask<ChatResponse>(response);
        }

        var segment = new OutputSegment(ContentText.Get(response), string.Empty, isFinal: true, response);
        var pending = RunCheckAsync(context, segment);
        if (pending.IsCompletedSuccessfully)
        {
            return new ValueTask<ChatResponse>(Apply(pending.Result, segment, response, context));
        }

        return AwaitAndApplyAsync(pending, segment, response, context);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<ChatResponse> AwaitAndApplyAsync(ValueTask<GuardVerdict> pending, OutputSegment segment, ChatResponse response, SafeAIContext context) =>
        Apply(await pending.ConfigureAwait(false), segment, response, context);

    private static ChatResponse Apply(GuardVerdict verdict, OutputSegment segment, ChatResponse response, SafeAIContext context)
    {
        if (verdict.IsRejection)
        {
            return context.Reject(verdict);
        }

        if (verdict.Action == GuardAction.Modify && segment.Replacement is { } replacement)
        {
            if (HasNonPlainText(response))
            {
                // Reasoning, tool-call and data text was screened with the answer, but only answer text can be rewritten.
                return context.Reject(AsBlock(verdict));
            }

            ReplaceText(response, replacement);
        }

        context.AddVerdict(verdict);
        return response;
    }

    /// <summary>
    /// Screens a stream window by window. Text that passed is not released at once: the sentence still in progress and
    /// at least <see cref="OutputScreeningOptions.ContextSize"/> characters stay held and are screened again with the
    /// next window, so a window that fails can never take back text the caller already has (a phrase split across
    /// windows, or stretched by obfuscation, is blocked before any of it is out). Held text is bounded: past
    /// <see cref="MaxHeldCharacters"/> without a sentence end, the older part beyond the context is released.
    /// </summary>
    private async IAsyncEnumerable<ChatResponseUpdate> ScreenStreamAsync(SafeAIContext context, IAsyncEnumerable<ChatResponseUpdate> source)
    {
        var screening = Screening;
        var held = new List<ChatResponseUpdate>();
        var heldLengths = new List<int>();
        var pending = new StringBuilder();
        var screened = 0; // characters at the start of pending that passed a window already (held as context)
        var released = string.Empty;
        ChatResponseUpdate? refusalFromInside = null;
        var recordedNotable = false;
        var windows = 0;
        var elapsed = TimeSpan.Zero;
        double? maxScore = null;
        double? threshold = null;

        var enumerator = source.WithCancellation(context.CancellationToken).ConfigureAwait(false).GetAsyncEnumerator();
        try
        {
            var more = true;
            while (more)
            {
                more = await enumerator.MoveNextAsync();
                if (more)
                {
                    var update = enumerator.Current;
                    if (ReferenceEquals(update, context.Refusal))
                    {
                        // A stage further in ended the stream with a notice; screen what is held, then pass the notice on.
                        refusalFromInside = update;
                        more = false;
                    }
                    else
                    {
                        var text = ContentText.Get(update);
                        if (text.Length == 0 && held.Count == 0)
                        {
                            // Nothing to screen and nothing held before it (role, usage, tool calls): pass it on in order.
                            yield return update;
                            continue;
                        }

                        held.Add(update);
                        heldLengths.Add(text.Length);
                        _ = pending.Append(text);
                        if (!IsWindowReady(pending, pending.Length - screened, screening))
                        {
                            continue;
                        }
                    }
                }

                if (held.Count == 0)
                {
                    break;
                }

                if (more || pending.Length > screened || windows == 0)
                {
                    var segment = new OutputSegment(pending.ToString(), released, isFinal: !more, response: null);
                    var verdict = await RunCheckAsync(context, segment).ConfigureAwait(false);
                    windows++;
                    elapsed += verdict.Elapsed;
                    if (verdict.Score is { } score && (maxScore is null || score > maxScore))
                    {
                        maxScore = score;
                        threshold = verdict.Threshold;
                    }

                    if (verdict.IsRejection)
                    {
                        yield return context.RejectUpdate(verdict with { Elapsed = elapsed }, template: held[0]);
                        yield break;
                    }

                    if (verdict.Action != GuardAction.Allow)
                    {
                        context.AddVerdict(verdict);
                        recordedNotable = true;
                    }

                    if (verdict.Action == GuardAction.Modify && segment.Replacement is { } replacement && HasNonPlainText(held))
                    {
                        // Reasoning, tool-call and data text was screened with the answer, but only answer text can be rewritten.
                        yield return context.RejectUpdate(AsBlock(verdict) with { Elapsed = elapsed }, template: held[0]);
                        yield break;
                    }

                    if (verdict.Action == GuardAction.Modify && segment.Replacement is { } rewritten)
                    {
                        // The rewritten text is what the caller gets: release all of it now.
                        yield return MergeWithReplacement(held, rewritten);
                        released = Tail(released, rewritten, screening.ContextSize);
                        held.Clear();
                        heldLengths.Clear();
                        _ = pending.Clear();
                        screened = 0;
                        continue;
                    }
                }

                // Release what can no longer be part of a failing window: everything at the end of the stream, else the
                // updates before the current sentence and the context kept for the next window.
                var releaseUpTo = more ? ReleasePoint(pending, screening) : pending.Length;
                var count = 0;
                var characters = 0;
                while (count < held.Count && characters + heldLengths[count] <= releaseUpTo)
                {
                    characters += heldLengths[count];
                    count++;
                }

                for (var i = 0; i < count; i++)
                {
                    yield return held[i];
                }

                if (characters > 0)
                {
                    released = Tail(released, pending.ToString(0, characters), screening.ContextSize);
                }

                held.RemoveRange(0, count);
                heldLengths.RemoveRange(0, count);
                _ = pending.Remove(0, characters);
                screened = pending.Length;
            }

            if (!recordedNotable)
            {
                context.AddVerdict(GuardVerdict.Allow(Name) with { Score = maxScore, Threshold = threshold, Elapsed = elapsed, Detail = windows == 1 ? null : $"{windows} windows" });
            }

            if (refusalFromInside is not null)
            {
                yield return refusalFromInside;
            }
        }
        finally
        {
            await enumerator.DisposeAsync();
        }
    }

    /// <summary>The most text a stream holds back while waiting for a sentence to end.</summary>
    private static int MaxHeldCharacters(OutputScreeningOptions screening) => Math.Max(screening.WindowSize * 4, 256) + screening.ContextSize;

    /// <summary>
    /// Finds how much of the screened, held text may be released: up to the start of the last sentence that begins before
    /// the last <see cref="OutputScreeningOptions.ContextSize"/> characters; without one, nothing, unless the held text
    /// outgrew <see cref="MaxHeldCharacters"/> (then all but the context).
    /// </summary>
    private static int ReleasePoint(StringBuilder pending, OutputScreeningOptions screening)
    {
        var limit = pending.Length - screening.ContextSize;
        if (limit <= 0)
        {
            return 0;
        }

        for (var i = limit - 1; i >= 2; i--)
        {
            if (IsSentenceEnd(pending, i, limit, out var next))
            {
                return next;
            }
        }

        return pending.Length > MaxHeldCharacters(screening) ? limit : 0;
    }

    /// <summary>
    /// Decides whether a sentence ends at <paramref name="i"/> and the next one starts before <paramref name="limit"/>.
    /// Deliberately strict, because a false end releases the start of a sentence that may still be blocked: the end mark
    /// follows a word of at least two letters or digits (so <c>k.i.l.l</c> or <c>k . i</c> never end a sentence), and
    /// after <c>.</c>, <c>!</c> or <c>?</c> come white space and a capital letter, a digit or a letter of a script
    /// without case.
    /// </summary>
    private static bool IsSentenceEnd(StringBuilder pending, int i, int limit, out int next)
    {
        next = 0;
        var c = pending[i];
        if (c is not ('.' or '!' or '?' or '\n' or '。' or '！' or '？') || !char.IsLetterOrDigit(pending[i - 1]) || !char.IsLetterOrDigit(pending[i - 2]))
        {
            return false;
        }

        var j = i + 1;
        while (j < limit && char.IsWhiteSpace(pending[j]))
        {
            j++;
        }

        if (j >= limit)
        {
            return false;
        }

        if (c is '.' or '!' or '?')
        {
            var start = pending[j];
            if (j == i + 1 || !(char.IsUpper(start) || char.IsDigit(start) || (char.IsLetter(start) && !char.IsLower(start))))
            {
                return false;
            }
        }

        next = j;
        return true;
    }

    private static GuardVerdict AsBlock(in GuardVerdict verdict) =>
        new(GuardAction.Block, verdict.Stage, verdict.Reason)
        {
            Score = verdict.Score,
            Threshold = verdict.Threshold,
            Elapsed = verdict.Elapsed,
            Detail = "text outside plain text parts needed rewriting",
        };

    private static bool HasNonPlainText(ChatResponse response)
    {
        foreach (var message in response.Messages)
        {
            foreach (var content in message.Contents)
            {
                if (ContentText.IsNonPlainText(content))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static bool HasNonPlainText(List<ChatResponseUpdate> held)
    {
        foreach (var update in held)
        {
            foreach (var content in update.Contents)
            {
                if (ContentText.IsNonPlainText(content))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static bool IsWindowReady(StringBuilder pending, int length, OutputScreeningOptions screening)
    {
        if (length <= 0)
        {
            return false;
        }

        // Never end a window inside a word: a word split across two windows would reach the caller half-screened.
        // Text without word breaks (a long token run, or scripts without spaces) is screened at four windows or 256 characters.
        if (char.IsLetterOrDigit(pending[pending.Length - 1]) && length < Math.Max(screening.WindowSize * 4, 256))
        {
            return false;
        }

        if (length >= screening.WindowSize)
        {
            return true;
        }

        if (screening.SentenceFlushMinimum == 0 || length < screening.SentenceFlushMinimum)
        {
            return false;
        }

        for (var i = pending.Length - 1; i >= pending.Length - length; i--)
        {
            var c = pending[i];
            if (c is ' ' or '\t' or '"' or '\'' or ')')
            {
                continue;
            }

            return c is '.' or '!' or '?' or '\n' or '。' or '！' or '？';
        }

        return false;
    }

    private static string Tail(string released, string added, int contextSize)
    {
        if (contextSize == 0)
        {
            return string.Empty;
        }

        if (added.Length >= contextSize)
        {
            return added[^contextSize..];
        }

        var keep = Math.Min(released.Length, contextSize - added.Length);
        return string.Concat(released.AsSpan(released.Length - keep), added);
    }

    private static ChatResponseUpdate MergeWithReplacement(List<ChatResponseUpdate> held, string replacement)
    {
        var first = held[0];
        var contents = new List<AIContent> { new TextContent(replacement) };
        ChatFinishReason? finish = null;
        foreach (var update in held)
        {
            foreach (var content in update.Contents)
            {
                if (content is not TextContent)
                {
                    contents.Add(content);
                }
            }

            finish ??= update.FinishReason;
        }

        return new ChatResponseUpdate(first.Role ?? ChatRole.Assistant, contents)
        {
            ResponseId = first.ResponseId,
            MessageId = first.MessageId,
            ConversationId = first.ConversationId,
            ModelId = first.ModelId,
            CreatedAt = first.CreatedAt,
            AuthorName = first.AuthorName,
            FinishReason = finish,
        };
    }

    private static void ReplaceText(ChatResponse response, string replacement)
    {
        ChatMessage? target = null;
        var targetIndex = -1;
        foreach (var message in response.Messages)
        {
            var contents = message.Contents;
            for (var i = contents.Count - 1; i >= 0; i--)
            {
                if (contents[i] is TextContent)
                {
                    contents.RemoveAt(i);
                    target = message;
                    targetIndex = i;
                }
            }
        }

        if (target is null)
        {
            response.Messages.Add(new ChatMessage(ChatRole.Assistant, replacement));
        }
        else
        {
            target.Contents.Insert(Math.Min(targetIndex, target.Contents.Count), new TextContent(replacement));
        }
    }
}

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

    private async IAsyncEnumerable<ChatResponseUpdate> ScreenStreamAsync(SafeAIContext context, IAsyncEnumerable<ChatResponseUpdate> source)
    {
        var screening = Screening;
        var held = new List<ChatResponseUpdate>();
        var pending = new StringBuilder();
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
                        _ = pending.Append(text);
                        if (!IsWindowReady(pending, screening))
                        {
                            continue;
                        }
                    }
                }

                if (held.Count == 0)
                {
                    break;
                }

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
                    yield return MergeWithReplacement(held, rewritten);
                    released = Tail(released, rewritten, screening.ContextSize);
                }
                else
                {
                    foreach (var update in held)
                    {
                        yield return update;
                    }

                    released = Tail(released, segment.Text, screening.ContextSize);
                }

                held.Clear();
                _ = pending.Clear();
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

    private static bool IsWindowReady(StringBuilder pending, OutputScreeningOptions screening)
    {
        var length = pending.Length;
        if (length == 0)
        {
            return false;
        }

        // Never end a window inside a word: a word split across two windows would reach the caller half-screened.
        // Text without word breaks (a long token run, or scripts without spaces) is screened at four windows or 256 characters.
        if (char.IsLetterOrDigit(pending[length - 1]) && length < Math.Max(screening.WindowSize * 4, 256))
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

        for (var i = length - 1; i >= 0; i--)
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

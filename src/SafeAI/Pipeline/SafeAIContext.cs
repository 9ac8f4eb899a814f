using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;

namespace SafeAI;

/// <summary>
/// The state of one call as it passes through the stages of a <see cref="SafeAIPipeline"/>: the messages and options,
/// the caller's <see cref="SafeAICallContext"/>, the verdicts so far, and helpers to reject the call.
/// </summary>
/// <remarks>
/// Contexts are pooled and reused: a context is valid only until the call it belongs to completes (for a stream,
/// until the stream ends or is disposed). Do not keep a reference to it. A context is used by one call at a time;
/// stages that run work concurrently within one call must not add verdicts from several threads at once.
/// </remarks>
public sealed class SafeAIContext
{
    private static readonly ChatFinishReason RateLimitedFinishReason = new("rate_limited");

    private readonly SafeAIPipeline _pipeline;
    private GuardVerdict[] _verdicts;
    private int _verdictCount;
    private IEnumerable<ChatMessage> _messages = [];
    private SafeAICallContext? _callContext;
    private Dictionary<string, object?>? _items;
    private string? _rolloutArm;
    private IReadOnlySet<string>? _storedConsents;
    private IReadOnlySet<string>? _storedDeclined;

    internal SafeAIContext(SafeAIPipeline pipeline)
    {
        _pipeline = pipeline;
        _verdicts = new GuardVerdict[Math.Max(4, pipeline.Stages.Count + 2)];
        InnerClient = null!;
    }

    /// <summary>Gets or sets the messages sent to the model. A stage that rewrites the input (for example redaction) sets a new sequence; never mutate the caller's messages.</summary>
    /// <exception cref="ArgumentNullException">The value is <see langword="null"/>.</exception>
    public IEnumerable<ChatMessage> Messages
    {
        get => _messages;
        set => _messages = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>Gets or sets the options sent to the model. Clone before changing: never mutate the caller's options.</summary>
    public ChatOptions? Options { get; set; }

    /// <summary>Gets the caller's cancellation token. Pass it to everything the stage awaits.</summary>
    public CancellationToken CancellationToken { get; internal set; }

    /// <summary>Gets a value indicating whether this is a streaming call.</summary>
    public bool IsStreaming { get; private set; }

    /// <summary>Gets the call context: values set on the options, with gaps filled from the ambient <see cref="SafeAICallContextAccessor.Current"/>.</summary>
    public SafeAICallContext CallContext => _callContext ??= ResolveCallContext();

    /// <summary>Gets the rollout arm (<c>ai</c> or <c>baseline</c>) the rollout stage routed this call to; <see langword="null"/> when no rollout stage routed it. <see cref="CallContext"/> carries it too.</summary>
    public string? RolloutArm => _rolloutArm;

    /// <summary>Gets the pipeline running the call.</summary>
    public SafeAIPipeline Pipeline => _pipeline;

    /// <summary>Gets the pipeline's settings for this call.</summary>
    public SafeAIOptions PipelineOptions { get; private set; } = null!;

    /// <summary>Gets the time provider of the pipeline. Stages take all time from it.</summary>
    public TimeProvider TimeProvider => _pipeline.TimeProvider;

    /// <summary>Gets the services of the pipeline (an empty provider when built without dependency injection).</summary>
    public IServiceProvider Services => _pipeline.Services;

    /// <summary>Gets the client the pipeline wraps (the model).</summary>
    public IChatClient InnerClient { get; private set; }

    /// <summary>Gets the most severe action of the verdicts so far.</summary>
    public GuardAction Outcome { get; private set; }

    /// <summary>Gets a value indicating whether the call has been rejected (blocked or limited).</summary>
    public bool IsRejected => Outcome >= GuardAction.Limit;

    /// <summary>Gets the verdicts recorded so far, in order.</summary>
    public ReadOnlySpan<GuardVerdict> Verdicts => _verdicts.AsSpan(0, _verdictCount);

    /// <summary>Gets a per-call property bag for stages to share data (for example content scores for the review stage). Allocated on first use.</summary>
    public IDictionary<string, object?> Items => _items ??= new Dictionary<string, object?>(StringComparer.Ordinal);

    /// <summary>Reads an item without allocating the bag when nothing was stored.</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The value, when present.</param>
    /// <returns><see langword="true"/> when the key is present.</returns>
    public bool TryGetItem(string key, out object? value)
    {
        if (_items is null)
        {
            value = null;
            return false;
        }

        return _items.TryGetValue(key, out value);
    }

    /// <summary>Records the arm the rollout stage chose; the call context picks it up when it is next read.</summary>
    internal void SetRolloutArm(string arm)
    {
        _rolloutArm = arm;
        if (_callContext is { RolloutArm: null })
        {
            _callContext = null;
        }
    }

    /// <summary>
    /// Records the consents the consent stage read from the consent store for this call's user; the call context picks
    /// them up where the caller set none.
    /// </summary>
    internal void SetStoredConsents(IReadOnlySet<string> granted, IReadOnlySet<string> declined)
    {
        _storedConsents = granted;
        _storedDeclined = declined;
        _callContext = null;
    }

    /// <summary>Reads the call context without caching it, so setting the arm afterwards costs nothing until someone reads it.</summary>
    internal SafeAICallContext PeekCallContext() => _callContext ?? ResolveCallContext();

    internal Activity? Activity { get; set; }

    internal Task<ChatResponse>? InnerTask { get; set; }

    internal object? Refusal { get; private set; }

    internal ChatResponse? LastResponse { get; private set; }

    internal int LastResponseDepth { get; private set; }

    internal IAsyncEnumerable<ChatResponseUpdate>? LastStream { get; private set; }

    internal int LastStreamDepth { get; private set; }

    internal int DeepestEntered { get; set; }

    /// <summary>Gets or sets a value indicating whether work of this call may still be running (an abandoned check), so the context must not be reused.</summary>
    internal bool MayStillBeInUse { get; set; }

    internal Exception? Fault { get; private set; }

    internal int FaultDepth { get; private set; }

    /// <summary>Finds the first verdict a stage recorded in this call.</summary>
    /// <param name="stage">The stage name.</param>
    /// <param name="verdict">The verdict, when found.</param>
    /// <returns><see langword="true"/> when found.</returns>
    public bool TryGetVerdict(string stage, out GuardVerdict verdict)
    {
        foreach (var v in Verdicts)
        {
            if (string.Equals(v.Stage, stage, StringComparison.Ordinal))
            {
                verdict = v;
                return true;
            }
        }

        verdict = default;
        return false;
    }

    /// <summary>Gets a value indicating whether any verdict so far has the given action.</summary>
    /// <param name="action">The action.</param>
    /// <returns><see langword="true"/> when present.</returns>
    public bool HasVerdict(GuardAction action)
    {
        foreach (var v in Verdicts)
        {
            if (v.Action == action)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Records a stage's verdict: it joins the call's <see cref="SafeAIResult"/>, telemetry and the span.</summary>
    /// <param name="verdict">The verdict.</param>
    /// <exception cref="ArgumentException">The verdict is empty (<c>default</c>).</exception>
    public void AddVerdict(in GuardVerdict verdict)
    {
        if (verdict.IsEmpty)
        {
            throw new ArgumentException("An empty (default) verdict cannot be recorded; create one with GuardVerdict.Allow(...) or another factory.", nameof(verdict));
        }

        if (_verdictCount == _verdicts.Length)
        {
            Array.Resize(ref _verdicts, _verdicts.Length * 2);
        }

        _verdicts[_verdictCount++] = verdict;
        if (verdict.Action > Outcome)
        {
            Outcome = verdict.Action;
        }

        _pipeline.Telemetry.RecordVerdict(in verdict, Activity);
        var logger = _pipeline.Logger;
        if (verdict.IsRejection)
        {
            if (logger.IsEnabled(LogLevel.Information))
            {
                Log.CallRejected(logger, verdict.Stage, GuardVerdict.GetActionName(verdict.Action), verdict.Reason);
            }
        }
        else if (logger.IsEnabled(LogLevel.Debug))
        {
            Log.VerdictRecorded(logger, verdict.Stage, GuardVerdict.GetActionName(verdict.Action), verdict.Reason);
        }
    }

    /// <summary>
    /// Rejects the call: records the verdict and returns the well-formed response the caller gets instead of a model
    /// answer. Return it from <see cref="IAIGuard.InvokeAsync"/> without calling the next stage. When the pipeline is
    /// set to <see cref="RejectionBehavior.ThrowException"/>, the client turns it into the typed exception once the
    /// stages have unwound, so every stage still completes normally.
    /// </summary>
    /// <param name="verdict">A <see cref="GuardAction.Block"/> or <see cref="GuardAction.Limit"/> verdict.</param>
    /// <param name="message">The text for the caller; <see langword="null"/> for the configured message.</param>
    /// <returns>The refusal response.</returns>
    /// <exception cref="ArgumentException">The verdict does not reject.</exception>
    public ChatResponse Reject(in GuardVerdict verdict, string? message = null)
    {
        EnsureRejection(verdict);
        AddVerdict(verdict);
        var response = new ChatResponse(new ChatMessage(ChatRole.Assistant, message ?? GetRejectionMessage(verdict)))
        {
            FinishReason = verdict.Action == GuardAction.Block ? ChatFinishReason.ContentFilter : RateLimitedFinishReason,
            CreatedAt = TimeProvider.GetUtcNow(),
        };
        Refusal = response;
        return response;
    }

    /// <summary>
    /// Rejects a streaming call part-way: records the verdict and returns the final update the caller gets instead of
    /// the rest of the stream. Yield it, then stop.
    /// </summary>
    /// <param name="verdict">A <see cref="GuardAction.Block"/> or <see cref="GuardAction.Limit"/> verdict.</param>
    /// <param name="message">The text for the caller; <see langword="null"/> for the configured message.</param>
    /// <param name="template">An update of the stream whose response and message identifiers the notice reuses.</param>
    /// <returns>The notice update.</returns>
    /// <exception cref="ArgumentException">The verdict does not reject.</exception>
    public ChatResponseUpdate RejectUpdate(in GuardVerdict verdict, string? message = null, ChatResponseUpdate? template = null)
    {
        EnsureRejection(verdict);
        AddVerdict(verdict);
        var text = message ?? GetRejectionMessage(verdict);
        var update = new ChatResponseUpdate(ChatRole.Assistant, template is null || template.Text.Length == 0 ? text : "\n\n" + text)
        {
            FinishReason = verdict.Action == GuardAction.Block ? ChatFinishReason.ContentFilter : RateLimitedFinishReason,
            CreatedAt = TimeProvider.GetUtcNow(),
            ResponseId = template?.ResponseId,
            MessageId = template?.MessageId,
            ConversationId = template?.ConversationId,
            ModelId = template?.ModelId,
        };
        Refusal = update;
        return update;
    }

    /// <summary>Rejects a streaming call before it starts: records the verdict and returns a stream of one refusal update.</summary>
    /// <param name="verdict">A <see cref="GuardAction.Block"/> or <see cref="GuardAction.Limit"/> verdict.</param>
    /// <param name="message">The text for the caller; <see langword="null"/> for the configured message.</param>
    /// <returns>The stream.</returns>
    /// <exception cref="ArgumentException">The verdict does not reject.</exception>
    public IAsyncEnumerable<ChatResponseUpdate> RejectStream(in GuardVerdict verdict, string? message = null) =>
        new SingleUpdateStream(RejectUpdate(verdict, message));

    /// <summary>Gets the text a rejection with this verdict shows the caller.</summary>
    /// <param name="verdict">The verdict.</param>
    /// <returns>The text.</returns>
    public string GetRejectionMessage(in GuardVerdict verdict)
    {
        var options = PipelineOptions;
        if (options.RejectionMessageFactory?.Invoke(verdict, CallContext) is { } custom)
        {
            return custom;
        }

        if (verdict.Action == GuardAction.Limit)
        {
            return verdict.RetryAfter is { } retry
                ? string.Format(CultureInfo.InvariantCulture, options.RateLimitedMessage, Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds)))
                : options.RateLimitedNoRetryMessage;
        }

        if (verdict.Reason is GuardReasons.GuardError or GuardReasons.GuardTimeout)
        {
            return options.GuardErrorMessage;
        }

        var messages = options.RejectionMessages;
        if (messages.Count > 0)
        {
            if (messages.TryGetValue(verdict.Reason, out var byReason))
            {
                return byReason;
            }

            var dot = verdict.Reason.IndexOf('.', StringComparison.Ordinal);
            if (dot > 0 && messages.TryGetValue(verdict.Reason[..dot], out var byPrefix))
            {
                return byPrefix;
            }
        }

        return options.BlockedMessage;
    }

    /// <summary>Gets the concatenated text of the input messages with the given role (by default, the user's): every part that carries text (see <see cref="ContentText"/>).</summary>
    /// <param name="role">The role; <see langword="null"/> for <see cref="ChatRole.User"/>.</param>
    /// <returns>The text, messages separated by a line break; empty when there is none.</returns>
    public string GetInputText(ChatRole? role = null)
    {
        var wanted = role ?? ChatRole.User;
        string? single = null;
        System.Text.StringBuilder? sb = null;
        foreach (var message in _messages)
        {
            if (message is null || message.Role != wanted)
            {
                continue;
            }

            var text = ContentText.Get(message);
            if (text.Length == 0)
            {
                continue;
            }

            if (single is null)
            {
                single = text;
            }
            else
            {
                sb ??= new System.Text.StringBuilder(single);
                sb.Append('\n').Append(text);
            }
        }

        return sb?.ToString() ?? single ?? string.Empty;
    }

    internal void Initialize(IChatClient innerClient, IEnumerable<ChatMessage> messages, ChatOptions? options, bool streaming, SafeAIOptions pipelineOptions, CancellationToken cancellationToken)
    {
        InnerClient = innerClient;
        _messages = messages;
        Options = options;
        IsStreaming = streaming;
        PipelineOptions = pipelineOptions;
        CancellationToken = cancellationToken;
        DeepestEntered = -1;
    }

    internal void Reset()
    {
        if (_verdictCount > 0)
        {
            Array.Clear(_verdicts, 0, _verdictCount);
            _verdictCount = 0;
        }

        _messages = [];
        Options = null;
        InnerClient = null!;
        PipelineOptions = null!;
        CancellationToken = default;
        Outcome = GuardAction.Allow;
        _callContext = null;
        _items = null;
        _rolloutArm = null;
        _storedConsents = null;
        _storedDeclined = null;
        Activity = null;
        InnerTask = null;
        Refusal = null;
        LastResponse = null;
        LastStream = null;
        Fault = null;
        FaultDepth = 0;
        LastResponseDepth = 0;
        LastStreamDepth = 0;
    }

    internal SafeAIResult CreateResult()
    {
        var verdicts = Verdicts;
        if (PipelineOptions.RecordAllowVerdicts || verdicts.IsEmpty)
        {
            return SafeAIResult.Create(verdicts);
        }

        var kept = 0;
        foreach (var v in verdicts)
        {
            if (IsKeptWhenLean(v))
            {
                kept++;
            }
        }

        if (kept == verdicts.Length)
        {
            return SafeAIResult.Create(verdicts);
        }

        if (kept == 0)
        {
            return SafeAIResult.Empty;
        }

        if (kept == 1)
        {
            foreach (var v in verdicts)
            {
                if (IsKeptWhenLean(v))
                {
                    return SafeAIResult.Create(new ReadOnlySpan<GuardVerdict>(in v));
                }
            }
        }

        var buffer = new GuardVerdict[kept];
        var i = 0;
        foreach (var v in verdicts)
        {
            if (IsKeptWhenLean(v))
            {
                buffer[i++] = v;
            }
        }

        return SafeAIResult.Create(buffer);

        static bool IsKeptWhenLean(in GuardVerdict v) => !v.IsRoutine;
    }

    internal void SetLastResponse(ChatResponse response, int depth)
    {
        LastResponse = response;
        LastResponseDepth = depth;
    }

    internal void SetLastStream(IAsyncEnumerable<ChatResponseUpdate> stream, int depth)
    {
        LastStream = stream;
        LastStreamDepth = depth;
    }

    /// <summary>Decides whether an exception caught at <paramref name="depth"/> is that stage's own fault (true) or came from further in (false).</summary>
    internal bool IsOwnFault(Exception exception, int depth)
    {
        if (exception is OperationCanceledException && CancellationToken.IsCancellationRequested)
        {
            return false;
        }

        if (exception is SafeAIException)
        {
            return false;
        }

        if (ReferenceEquals(Fault, exception) && FaultDepth > depth)
        {
            return false;
        }

        MarkFault(exception, depth);
        return true;
    }

    internal void MarkFault(Exception exception, int depth)
    {
        Fault = exception;
        FaultDepth = depth;
    }

    private static void EnsureRejection(in GuardVerdict verdict)
    {
        if (!verdict.IsRejection)
        {
            throw new ArgumentException($"Only Block and Limit verdicts reject a call; this verdict is {GuardVerdict.GetActionName(verdict.Action)}.", nameof(verdict));
        }
    }

    private SafeAICallContext ResolveCallContext()
    {
        var fromOptions = Options.GetSafeAIContext();
        var ambient = SafeAICallContextAccessor.Current;
        var resolved = fromOptions is null ? ambient ?? SafeAICallContext.Empty : fromOptions.MergeWith(ambient);
        if (resolved.ConversationId is null && Options?.ConversationId is { } providerConversation)
        {
            resolved = resolved with { ConversationId = providerConversation };
        }

        if (_storedConsents is not null && resolved.Consents is null && resolved.DeclinedConsents is null)
        {
            resolved = resolved with { Consents = _storedConsents, DeclinedConsents = _storedDeclined };
        }

        if (_rolloutArm is { } arm && resolved.RolloutArm is null)
        {
            resolved = resolved with { RolloutArm = arm };
        }

        return resolved;
    }

    private sealed class SingleUpdateStream(ChatResponseUpdate update) : IAsyncEnumerable<ChatResponseUpdate>
    {
        public async IAsyncEnumerator<ChatResponseUpdate> GetAsyncEnumerator(CancellationToken cancellationToken = default)
        {
            await Task.CompletedTask.ConfigureAwait(false);
            yield return update;
        }
    }
}

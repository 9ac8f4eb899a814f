using Microsoft.Extensions.AI;

namespace SafeAI.Pii;

/// <summary>
/// Finds personal data in the messages before the model is called and, by <see cref="PiiRedactionOptions.InputAction"/>,
/// replaces it with placeholders, refuses the call, or only records what it found. The messages of the caller are never
/// changed: redacted ones are copies. On a stream it runs once, before the stream starts.
/// </summary>
internal sealed class PiiInputGuard : InputGuard
{
    private readonly PiiDetector _detector;
    private readonly PiiRedactionOptions _options;

    public PiiInputGuard(PiiDetector detector, PiiRedactionOptions options)
        : base(PiiRedactionOptions.DefaultName + "-input", new AIGuardOptions { Name = options.StageName("-input"), FailureMode = options.FailureMode, Timeout = options.Timeout })
    {
        _detector = detector;
        _options = options;
    }

    protected override ValueTask<GuardVerdict> CheckAsync(SafeAIContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var findings = default(PiiFindings);
        var placeholders = new PiiPlaceholders();
        List<ChatMessage>? rewritten = null;
        var index = 0;
        foreach (var message in context.Messages)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (message is null || (!_options.RedactSystemMessages && message.Role == ChatRole.System))
            {
                rewritten?.Add(message!);
                index++;
                continue;
            }

            List<AIContent>? contents = null;
            for (var i = 0; i < message.Contents.Count; i++)
            {
                var content = message.Contents[i];
                var text = content switch
                {
                    TextContent t => t.Text,
                    TextReasoningContent r => r.Text,
                    FunctionResultContent or DataContent => ContentText.Get(content),
                    _ => null,
                };
                if (string.IsNullOrEmpty(text))
                {
                    continue;
                }

                if (text.Length > _options.MaxTextLength)
                {
                    return ValueTask.FromResult(TooLong());
                }

                var entities = _detector.Detect(text);
                if (entities.Count == 0)
                {
                    continue;
                }

                findings.Add(entities);
                var redacted = placeholders.Redact(text, entities);
                if (_options.InputAction == PiiAction.Redact)
                {
                    contents ??= [.. message.Contents];
                    contents[i] = content switch
                    {
                        FunctionResultContent f => new FunctionResultContent(f.CallId, redacted),
                        TextReasoningContent => new TextReasoningContent(redacted),
                        _ => new TextContent(redacted),
                    };
                }
            }

            if (contents is not null && rewritten is null)
            {
                // The first changed message: copy the ones before it as they are.
                rewritten = [];
                var j = 0;
                foreach (var earlier in context.Messages)
                {
                    if (j++ == index)
                    {
                        break;
                    }

                    rewritten.Add(earlier);
                }
            }

            rewritten?.Add(contents is null ? message : new ChatMessage(message.Role, contents)
            {
                AuthorName = message.AuthorName,
                MessageId = message.MessageId,
                AdditionalProperties = message.AdditionalProperties,
            });
            index++;
        }

        if (placeholders.Count > 0)
        {
            // The output stage restores these (reversible) and does not count the caller's own values as leaks.
            context.Items[PiiRedactionOptions.PlaceholdersItemKey] = placeholders;
        }

        if (findings.Total == 0)
        {
            return ValueTask.FromResult(Allow(PiiReasons.Ok));
        }

        switch (_options.InputAction)
        {
            case PiiAction.Block:
                return ValueTask.FromResult(Block(findings.Reason) with { Detail = findings.Detail("found:") });
            case PiiAction.LogOnly:
                return ValueTask.FromResult(Allow(findings.Reason) with { Detail = findings.Detail("found (log only):") });
            default:
                context.Messages = rewritten!;
                return ValueTask.FromResult(Modify(findings.Reason) with { Detail = findings.Detail("redacted:") });
        }
    }

    private GuardVerdict TooLong() => _options.FailureMode == GuardFailureMode.FailOpen
        ? Allow(PiiReasons.TooLong) with { Detail = $"a text over {_options.MaxTextLength} characters was not checked" }
        : Block(PiiReasons.TooLong) with { Detail = $"a text over {_options.MaxTextLength} characters cannot be checked" };
}

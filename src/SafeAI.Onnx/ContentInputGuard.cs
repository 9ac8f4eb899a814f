using Microsoft.Extensions.AI;

namespace SafeAI.Onnx;

/// <summary>
/// Checks the text of the chosen input roles (by default the user's messages and tool results) before the model is
/// called: all messages windowed and scored as one batch.
/// </summary>
internal sealed class ContentInputGuard : InputGuard
{
    private readonly ContentClassifier _classifier;
    private readonly HashSet<string> _roles;

    public ContentInputGuard(ContentClassifier classifier)
        : base(ContentFilterOptions.DefaultName + "-input", WithName(classifier.Options, "-input"))
    {
        _classifier = classifier;
        _roles = new HashSet<string>(classifier.Options.GetInputRoles(), StringComparer.OrdinalIgnoreCase);
    }

    protected override async ValueTask<GuardVerdict> CheckAsync(SafeAIContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var texts = new List<string>();
        foreach (var message in context.Messages)
        {
            if (message is not null && _roles.Contains(message.Role.Value))
            {
                var text = GetText(message);
                if (text.Length > 0)
                {
                    texts.Add(text);
                }
            }
        }

        if (texts.Count == 0)
        {
            return Allow();
        }

        var assessment = await _classifier.AssessAsync(texts, cancellationToken).ConfigureAwait(false);
        context.Items[ContentFilterOptions.InputScoresItemKey] = _classifier.ToScoreMap(assessment);
        var decision = _classifier.Decide(assessment);
        if (decision.Flagged && decision.Action == ContentAction.Redact)
        {
            context.Messages = await RedactAsync(context.Messages, cancellationToken).ConfigureAwait(false);
        }

        return ContentClassifier.ToVerdict(Name, decision);
    }

    internal static AIGuardOptions WithName(ContentFilterOptions options, string suffix) => new()
    {
        Name = (options.Name is { Length: > 0 } n ? n : ContentFilterOptions.DefaultName) + suffix,
        FailureMode = options.FailureMode,
        Timeout = options.Timeout,
    };

    // Every part that carries text: tool results of any shape (indirect injection hides there), reasoning, data parts.
    private static string GetText(ChatMessage message) => ContentText.Get(message);

    private async ValueTask<List<ChatMessage>> RedactAsync(IEnumerable<ChatMessage> messages, CancellationToken cancellationToken)
    {
        // Never mutate the caller's messages: changed ones are copied.
        var result = new List<ChatMessage>();
        foreach (var message in messages)
        {
            if (message is null || !_roles.Contains(message.Role.Value))
            {
                result.Add(message!);
                continue;
            }

            List<AIContent>? contents = null;
            for (var i = 0; i < message.Contents.Count; i++)
            {
                var content = message.Contents[i];
                AIContent? replaced = content switch
                {
                    TextContent { Text.Length: > 0 } t => new TextContent(await _classifier.RedactAsync(t.Text, flaggedAsWhole: false, cancellationToken).ConfigureAwait(false)),
                    FunctionResultContent f when ContentText.Get(f) is { Length: > 0 } s => new FunctionResultContent(f.CallId, await _classifier.RedactAsync(s, flaggedAsWhole: false, cancellationToken).ConfigureAwait(false)),
                    TextReasoningContent { Text.Length: > 0 } r => new TextReasoningContent(await _classifier.RedactAsync(r.Text, flaggedAsWhole: false, cancellationToken).ConfigureAwait(false)),
                    DataContent d when ContentText.Get(d) is { Length: > 0 } s => new TextContent(await _classifier.RedactAsync(s, flaggedAsWhole: false, cancellationToken).ConfigureAwait(false)),
                    _ => null,
                };

                if (replaced is not null && !IsSameText(content, replaced))
                {
                    contents ??= [.. message.Contents];
                    contents[i] = replaced;
                }
            }

            result.Add(contents is null ? message : new ChatMessage(message.Role, contents)
            {
                AuthorName = message.AuthorName,
                MessageId = message.MessageId,
                AdditionalProperties = message.AdditionalProperties,
            });
        }

        return result;
    }

    private static bool IsSameText(AIContent original, AIContent replaced) => (original, replaced) switch
    {
        (TextContent a, TextContent b) => string.Equals(a.Text, b.Text, StringComparison.Ordinal),
        (FunctionResultContent a, FunctionResultContent b) => string.Equals(ContentText.Get(a), ContentText.Get(b), StringComparison.Ordinal),
        (TextReasoningContent a, TextReasoningContent b) => string.Equals(a.Text, b.Text, StringComparison.Ordinal),
        (DataContent a, TextContent b) => string.Equals(ContentText.Get(a), b.Text, StringComparison.Ordinal),
        _ => false,
    };
}

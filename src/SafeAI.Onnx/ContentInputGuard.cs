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

    private static string GetText(ChatMessage message)
    {
        // Tool results carry their text in FunctionResultContent; indirect injection hides there.
        string? single = null;
        System.Text.StringBuilder? sb = null;
        foreach (var content in message.Contents)
        {
            var text = content switch
            {
                TextContent t => t.Text,
                FunctionResultContent { Result: string s } => s,
                FunctionResultContent { Result: { } r } => r.ToString(),
                _ => null,
            };

            if (string.IsNullOrEmpty(text))
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
                    FunctionResultContent { Result: { } r } f when r.ToString() is { Length: > 0 } s => new FunctionResultContent(f.CallId, await _classifier.RedactAsync(s, flaggedAsWhole: false, cancellationToken).ConfigureAwait(false)),
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
        (FunctionResultContent a, FunctionResultContent b) => string.Equals(a.Result?.ToString(), b.Result?.ToString(), StringComparison.Ordinal),
        _ => false,
    };
}

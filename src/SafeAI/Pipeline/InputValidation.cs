using System.Text;
using Microsoft.Extensions.AI;

namespace SafeAI;

/// <summary>
/// The pipeline's own check of every call's input, before any stage: an input with nothing to answer (no messages, or
/// only empty or white-space text) or a <see langword="null"/> message is blocked with a verdict instead of reaching the
/// model; lone UTF-16 surrogates (half a character, which no model can read and some providers reject) are replaced by
/// U+FFFD in a copy of the messages, with a <see cref="GuardAction.Modify"/> verdict.
/// </summary>
internal static class InputValidation
{
    /// <summary>Validates the input; returns <see langword="false"/> with the rejection verdict when the call must not go on.</summary>
    public static bool Validate(SafeAIContext context, out GuardVerdict rejection)
    {
        rejection = default;
        var state = default(Scan);
        var messages = context.Messages;
        if (messages is IList<ChatMessage> list)
        {
            // Indexed: no enumerator allocated on the hot path.
            for (var i = 0; i < list.Count; i++)
            {
                if (!state.Add(list[i]))
                {
                    break;
                }
            }
        }
        else
        {
            foreach (var message in messages)
            {
                if (!state.Add(message))
                {
                    break;
                }
            }
        }

        if (state.NullMessage)
        {
            rejection = GuardVerdict.Block(GuardReasons.InputValidationStage, GuardReasons.InputInvalid) with { Detail = "a message is null" };
            return false;
        }

        var any = state.Any;
        var hasContent = state.HasContent;
        var loneSurrogates = state.LoneSurrogates;
        if (!any || !hasContent)
        {
            rejection = GuardVerdict.Block(GuardReasons.InputValidationStage, GuardReasons.InputEmpty) with
            {
                Detail = any ? "the messages hold no text or other content" : "no messages",
            };
            return false;
        }

        if (loneSurrogates)
        {
            context.Messages = ReplaceLoneSurrogates(context.Messages);
            context.AddVerdict(GuardVerdict.Modify(GuardReasons.InputValidationStage, GuardReasons.InputLoneSurrogate) with { Detail = "replaced by U+FFFD" });
        }

        return true;
    }

    internal static bool HasLoneSurrogate(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }

        var span = text.AsSpan();
        var i = span.IndexOfAnyInRange('\uD800', '\uDFFF');
        if (i < 0)
        {
            return false;
        }

        for (; i < span.Length; i++)
        {
            var c = span[i];
            if (char.IsHighSurrogate(c) && i + 1 < span.Length && char.IsLowSurrogate(span[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(c))
            {
                return true;
            }
        }

        return false;
    }

    internal static string Repair(string text)
    {
        var sb = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                sb.Append(c).Append(text[++i]);
            }
            else
            {
                sb.Append(char.IsSurrogate(c) ? '\uFFFD' : c);
            }
        }

        return sb.ToString();
    }

    private static List<ChatMessage> ReplaceLoneSurrogates(IEnumerable<ChatMessage> messages)
    {
        // Never mutate the caller's messages: the changed ones are copied.
        var result = new List<ChatMessage>();
        foreach (var message in messages)
        {
            List<AIContent>? contents = null;
            for (var i = 0; i < message.Contents.Count; i++)
            {
                AIContent? repaired = message.Contents[i] switch
                {
                    TextContent t when HasLoneSurrogate(t.Text) => new TextContent(Repair(t.Text)) { AdditionalProperties = t.AdditionalProperties },
                    TextReasoningContent r when HasLoneSurrogate(r.Text) => new TextReasoningContent(Repair(r.Text)) { AdditionalProperties = r.AdditionalProperties },
                    _ => null,
                };
                if (repaired is not null)
                {
                    contents ??= [.. message.Contents];
                    contents[i] = repaired;
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

    private struct Scan
    {
        public bool Any;
        public bool HasContent;
        public bool LoneSurrogates;
        public bool NullMessage;

        /// <summary>Looks at one message; returns <see langword="false"/> to stop (a <see langword="null"/> message).</summary>
        public bool Add(ChatMessage? message)
        {
            if (message is null)
            {
                NullMessage = true;
                return false;
            }

            Any = true;
            var contents = message.Contents;
            for (var i = 0; i < contents.Count; i++)
            {
                switch (contents[i])
                {
                    case TextContent text:
                        HasContent |= !string.IsNullOrWhiteSpace(text.Text);
                        LoneSurrogates |= HasLoneSurrogate(text.Text);
                        break;
                    case TextReasoningContent reasoning:
                        HasContent |= !string.IsNullOrWhiteSpace(reasoning.Text);
                        LoneSurrogates |= HasLoneSurrogate(reasoning.Text);
                        break;
                    case null:
                        break;
                    default:
                        // Images, data, tool calls and results: something to answer.
                        HasContent = true;
                        break;
                }
            }

            return true;
        }
    }
}

using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace SafeAI;

/// <summary>
/// The text a guard screens in a message, an update or one content part: every kind that carries text, not only plain
/// text parts. Screened kinds: <see cref="TextContent"/>, <see cref="TextReasoningContent"/>, the name and arguments of a
/// <see cref="FunctionCallContent"/>, the result of a <see cref="FunctionResultContent"/> of any shape (a string as is;
/// anything else serialised with System.Text.Json and read as the strings it holds, property names included), and
/// <see cref="DataContent"/> with a <c>text/*</c> media type (decoded as UTF-8). Other kinds (images, audio, URIs) carry
/// no text to screen.
/// </summary>
public static class ContentText
{
    /// <summary>Gets the screenable text of one content part.</summary>
    /// <param name="content">The content part.</param>
    /// <returns>The text; empty when the part carries none.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="content"/> is <see langword="null"/>.</exception>
    public static string Get(AIContent content)
    {
        ArgumentNullException.ThrowIfNull(content);
        return content switch
        {
            TextContent t => t.Text ?? string.Empty,
            TextReasoningContent r => r.Text ?? string.Empty,
            FunctionCallContent call => OfCall(call),
            FunctionResultContent result => OfValue(result.Result ?? result.Exception?.Message),
            DataContent data when data.HasTopLevelMediaType("text") => Encoding.UTF8.GetString(data.Data.Span),
            _ => string.Empty,
        };
    }

    /// <summary>Gets the screenable text of a message: the text of its parts, one line break between parts.</summary>
    /// <param name="message">The message.</param>
    /// <returns>The text; empty when there is none.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="message"/> is <see langword="null"/>.</exception>
    public static string Get(ChatMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return Join(message.Contents, separator: "\n");
    }

    /// <summary>Gets the screenable text of a stream update: the text of its parts, joined without separator (as streamed text is).</summary>
    /// <param name="update">The update.</param>
    /// <returns>The text; empty when there is none.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="update"/> is <see langword="null"/>.</exception>
    public static string Get(ChatResponseUpdate update)
    {
        ArgumentNullException.ThrowIfNull(update);
        return Join(update.Contents, separator: string.Empty);
    }

    /// <summary>Gets the screenable text of a whole response: every message, one line break between them.</summary>
    /// <param name="response">The response.</param>
    /// <returns>The text; empty when there is none.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="response"/> is <see langword="null"/>.</exception>
    public static string Get(ChatResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        var messages = response.Messages;
        if (messages.Count == 1)
        {
            return Get(messages[0]);
        }

        var sb = new StringBuilder();
        foreach (var message in messages)
        {
            var text = Get(message);
            if (text.Length > 0)
            {
                _ = (sb.Length > 0 ? sb.Append('\n') : sb).Append(text);
            }
        }

        return sb.ToString();
    }

    /// <summary>Gets a value indicating whether a part carries text that is not plain answer text (reasoning, a tool call or result, a text data part).</summary>
    /// <param name="content">The content part.</param>
    /// <returns><see langword="true"/> for such a part with text.</returns>
    internal static bool IsNonPlainText(AIContent content) =>
        content is not TextContent && Get(content).Length > 0;

    private static string Join(IList<AIContent> contents, string separator)
    {
        if (contents.Count == 1)
        {
            return Get(contents[0]);
        }

        string? single = null;
        StringBuilder? sb = null;
        for (var i = 0; i < contents.Count; i++)
        {
            var text = Get(contents[i]);
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
                sb ??= new StringBuilder(single);
                _ = sb.Append(separator).Append(text);
            }
        }

        return sb?.ToString() ?? single ?? string.Empty;
    }

    private static string OfCall(FunctionCallContent call)
    {
        var arguments = call.Arguments is { Count: > 0 } args ? OfValue(args) : string.Empty;
        return arguments.Length == 0 ? call.Name ?? string.Empty : string.Concat(call.Name, "\n", arguments);
    }

    private static string OfValue(object? value)
    {
        switch (value)
        {
            case null:
                return string.Empty;
            case string s:
                return s;
            case JsonElement element:
                return OfJson(element);
        }

        JsonElement json;
        try
        {
            var options = AIJsonUtilities.DefaultOptions;
            json = JsonSerializer.SerializeToElement(value, options.GetTypeInfo(value.GetType()));
        }
        catch (Exception ex) when (ex is NotSupportedException or JsonException or InvalidOperationException)
        {
            // A shape System.Text.Json cannot write (a cycle, an unsupported type): its own text is the best there is.
            return value.ToString() ?? string.Empty;
        }

        return OfJson(json);
    }

    private static string OfJson(JsonElement element)
    {
        if (element.ValueKind == JsonValueKind.String)
        {
            return element.GetString() ?? string.Empty;
        }

        var sb = new StringBuilder();
        Collect(element, sb);
        return sb.ToString();
    }

    private static void Collect(JsonElement element, StringBuilder sb)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    Append(sb, property.Name);
                    Collect(property.Value, sb);
                }

                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    Collect(item, sb);
                }

                break;
            case JsonValueKind.String:
                Append(sb, element.GetString());
                break;
            case JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False:
                Append(sb, element.GetRawText());
                break;
        }
    }

    private static void Append(StringBuilder sb, string? text)
    {
        if (!string.IsNullOrEmpty(text))
        {
            _ = (sb.Length > 0 ? sb.Append('\n') : sb).Append(text);
        }
    }
}

using Microsoft.Extensions.AI;

namespace SafeAI;

/// <summary>Reads the <see cref="SafeAIResult"/> that a <see cref="SafeAIChatClient"/> attached to a response.</summary>
public static class SafeAIResultExtensions
{
    /// <summary>Gets the SafeAI result of a response.</summary>
    /// <param name="response">The response returned by a SafeAI-wrapped client.</param>
    /// <returns>The result, or <see langword="null"/> when the response did not pass through SafeAI.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="response"/> is <see langword="null"/>.</exception>
    public static SafeAIResult? GetSafeAIResult(this ChatResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        return Read(response.AdditionalProperties);
    }

    /// <summary>
    /// Gets the SafeAI result carried by a streaming update. A SafeAI stream ends with one update that carries the
    /// call's result; other updates return <see langword="null"/>. <c>ToChatResponse()</c> keeps it, so
    /// <c>(await stream.ToChatResponseAsync()).GetSafeAIResult()</c> works too.
    /// </summary>
    /// <param name="update">The update.</param>
    /// <returns>The result, or <see langword="null"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="update"/> is <see langword="null"/>.</exception>
    public static SafeAIResult? GetSafeAIResult(this ChatResponseUpdate update)
    {
        ArgumentNullException.ThrowIfNull(update);
        return Read(update.AdditionalProperties);
    }

    internal static void SetSafeAIResult(this ChatResponse response, SafeAIResult result) =>
        (response.AdditionalProperties ??= [])[SafeAIResult.PropertyKey] = result;

    private static SafeAIResult? Read(AdditionalPropertiesDictionary? properties) =>
        properties is not null && properties.TryGetValue(SafeAIResult.PropertyKey, out var value) ? value as SafeAIResult : null;
}

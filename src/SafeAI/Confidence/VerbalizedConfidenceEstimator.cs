using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace SafeAI;

/// <summary>
/// Reads a confidence the model states itself in structured (JSON) output, for example
/// <c>{"answer": "...", "confidence": 0.82}</c>. Accepts a number in [0, 1], a percentage in (1, 100], or a numeric
/// string. Text that is not a JSON object, or has no such field, gives "unknown".
/// </summary>
/// <remarks>
/// Verbalized confidence is cheap and works with any provider, but models are often over-confident: calibrate the
/// threshold on labelled outcomes with <see cref="ConfidenceCalibration.ThresholdForPrecision"/>.
/// </remarks>
public sealed class VerbalizedConfidenceEstimator : IConfidenceEstimator
{
    /// <summary>Initializes a new instance of the <see cref="VerbalizedConfidenceEstimator"/> class.</summary>
    /// <param name="fieldName">The JSON property that holds the confidence; <c>confidence</c> by default. Matched case-insensitively.</param>
    /// <exception cref="ArgumentException"><paramref name="fieldName"/> is null or empty.</exception>
    public VerbalizedConfidenceEstimator(string fieldName = "confidence")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(fieldName);
        FieldName = fieldName;
    }

    /// <summary>Gets the JSON property that holds the confidence.</summary>
    public string FieldName { get; }

    /// <inheritdoc />
    public string Name => "verbalized";

    /// <inheritdoc />
    public ValueTask<double?> EstimateAsync(SafeAIContext context, ChatResponse response, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(response);
        return new ValueTask<double?>(Read(response.Text));
    }

    /// <summary>Reads the confidence field from a JSON text.</summary>
    /// <param name="text">The answer text.</param>
    /// <returns>The score in [0, 1], or <see langword="null"/>.</returns>
    internal double? Read(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        var span = text.AsSpan().Trim();
        if (span.StartsWith("```", StringComparison.Ordinal))
        {
            // Models often wrap JSON in a Markdown code fence.
            var firstLine = span.IndexOf('\n');
            var lastFence = span.LastIndexOf("```", StringComparison.Ordinal);
            span = firstLine >= 0 && lastFence > firstLine ? span[(firstLine + 1)..lastFence].Trim() : span;
        }

        if (span.IsEmpty || span[0] != '{')
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(span.ToString(), new JsonDocumentOptions { MaxDepth = 16 });
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!string.Equals(property.Name, FieldName, StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }

                double value;
                if (property.Value.ValueKind == JsonValueKind.Number && property.Value.TryGetDouble(out var number))
                {
                    value = number;
                }
                else if (property.Value.ValueKind == JsonValueKind.String &&
                    double.TryParse(property.Value.GetString()?.TrimEnd('%', ' '), NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed))
                {
                    value = parsed;
                }
                else
                {
                    return null;
                }

                return Normalize(value);
            }
        }
        catch (JsonException)
        {
            return null;
        }

        return null;
    }

    private static double? Normalize(double value) =>
        !double.IsFinite(value) || value < 0 ? null
        : value <= 1 ? value
        : value <= 100 ? value / 100
        : null;
}

using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace SafeAI.AspNetCore;

/// <summary>Reads small JSON request bodies with a size limit and turns bad input into problem responses.</summary>
internal static class EndpointJson
{
    public static async Task<(T? Value, IResult? Error)> ReadAsync<T>(HttpContext http, long limit)
        where T : class
    {
        var request = http.Request;
        if (!request.HasJsonContentType())
        {
            return (null, Problem(StatusCodes.Status415UnsupportedMediaType, "Unsupported media type", "Send the request body as application/json."));
        }

        if (request.ContentLength > limit)
        {
            return (null, TooLarge(limit));
        }

        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeFeature)
        {
            sizeFeature.MaxRequestBodySize = limit;
        }

        try
        {
            var value = await request.ReadFromJsonAsync<T>(http.RequestAborted).ConfigureAwait(false);
            return value is null
                ? (null, Problem(StatusCodes.Status400BadRequest, "Invalid request", "The request body must be a JSON object."))
                : (value, null);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, TooLarge(limit));
        }
        catch (JsonException ex)
        {
            return (null, Problem(StatusCodes.Status400BadRequest, "Invalid request", "The request body is not valid JSON for this endpoint: " + ex.Message));
        }
    }

    /// <summary>Reads an optional whole number from the query; a value that is not one becomes a problem response naming the parameter.</summary>
    public static bool TryParseQueryInt(string? text, string name, out int? value, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out IResult? error)
    {
        value = null;
        error = null;
        if (string.IsNullOrEmpty(text))
        {
            return true;
        }

        if (int.TryParse(text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var parsed))
        {
            value = parsed;
            return true;
        }

        error = Problem(StatusCodes.Status400BadRequest, "Invalid query", $"{name} must be a whole number.");
        return false;
    }

    public static IResult Problem(int status, string title, string detail) =>
        Results.Problem(detail: detail, statusCode: status, title: title);

    private static IResult TooLarge(long limit) =>
        Problem(StatusCodes.Status413PayloadTooLarge, "Request too large", $"The request body must be at most {limit} bytes.");
}

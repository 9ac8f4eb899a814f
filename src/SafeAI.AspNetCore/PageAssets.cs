using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http;

namespace SafeAI.AspNetCore;

/// <summary>The operator pages' files (embedded in this assembly) and the headers every page response carries.</summary>
internal static class PageAssets
{
    private static readonly ConcurrentDictionary<string, string> Assets = new(StringComparer.Ordinal);

    public static string Get(string name) => Assets.GetOrAdd(name, static n =>
    {
        using var stream = typeof(PageAssets).Assembly.GetManifestResourceStream("SafeAI.AspNetCore.Page." + n)
            ?? throw new InvalidOperationException($"The SafeAI page asset '{n}' is missing from the assembly.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });

    public static void SetHeaders(HttpResponse response)
    {
        response.Headers.CacheControl = "no-store";
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers.ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
        response.Headers["Referrer-Policy"] = "no-referrer";
    }

    public static async Task ServeAsync(HttpContext http, string name, string contentType)
    {
        SetHeaders(http.Response);
        http.Response.ContentType = contentType;
        await http.Response.WriteAsync(Get(name), http.RequestAborted).ConfigureAwait(false);
    }
}

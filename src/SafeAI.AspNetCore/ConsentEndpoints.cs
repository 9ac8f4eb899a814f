using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SafeAI.Audit;
using SafeAI.Consent;

namespace SafeAI.AspNetCore;

/// <summary>The body of a change of one consent choice.</summary>
/// <param name="Granted">True to give the consent, false to decline or withdraw it.</param>
internal sealed record ConsentChangeRequest(bool? Granted);

/// <summary>Handlers of the consent endpoints over a <see cref="ConsentManager"/>, and the consent page.</summary>
internal sealed partial class ConsentEndpoints(ConsentManager manager, SafeAIConsentEndpointOptions options, string prefix)
{
    // Plain words for each purpose: what saying yes allows, and what happens when the person says no.
    private static readonly Dictionary<string, (string Title, string Description)> Texts = new(StringComparer.OrdinalIgnoreCase)
    {
        [ConsentPurposes.ImproveModel] = (
            "Use my conversations to improve the assistant",
            "Your feedback comments and conversations may be used to train and evaluate the model. If you say no, your feedback keeps its rating but not your comment, and your messages are not copied to test new models."),
        [ConsentPurposes.StoreText] = (
            "Keep the words of my messages in the audit record",
            "Every answer is recorded for accountability. If you say yes, the record keeps the text of your question and the answer; otherwise only a keyed fingerprint of it, never the words."),
        [ConsentPurposes.HumanReview] = (
            "Let a person read my conversation when an answer is checked",
            "Some answers (for example about credit) are checked by a person before you get them. If you say no, the reviewer sees neither your message nor the proposed answer, only why it was held, and can reject it or write an answer for you."),
        [ConsentPurposes.Analytics] = (
            "Use my conversations for monitoring and analytics",
            "Samples of conversations may be kept to watch the assistant's quality. If you say no, no text of yours is kept for that."),
    };

    public async Task<IResult> GetAsync(HttpContext http, CancellationToken cancellationToken)
    {
        if (Subject(http) is not { } subject)
        {
            return NoSubject();
        }

        try
        {
            var choices = await manager.GetChoicesAsync(subject, cancellationToken).ConfigureAwait(false);
            return Results.Json(new { purposes = Describe(choices) });
        }
        catch (ConsentStoreException ex)
        {
            LogStoreFailed(EndpointLogging.For(http.RequestServices), ex);
            return Unavailable();
        }
    }

    public async Task<IResult> SetAsync(string purpose, HttpContext http, CancellationToken cancellationToken)
    {
        if (Subject(http) is not { } subject)
        {
            return NoSubject();
        }

        if (!ConsentPurposes.IsKnown(purpose))
        {
            return EndpointJson.Problem(StatusCodes.Status400BadRequest, "Unknown purpose", $"'{Shorten(purpose)}' is not a consent purpose. Known purposes: {string.Join(", ", ConsentPurposes.All)}.");
        }

        var (body, error) = await EndpointJson.ReadAsync<ConsentChangeRequest>(http, options.MaxRequestBodySize).ConfigureAwait(false);
        if (error is not null)
        {
            return error;
        }

        if (body!.Granted is not { } granted)
        {
            return EndpointJson.Problem(StatusCodes.Status400BadRequest, "Invalid request", "granted is required: true to give the consent, false to decline or withdraw it.");
        }

        try
        {
            var choice = await manager.SetAsync(subject, purpose, granted, actor: null, cancellationToken).ConfigureAwait(false);
            var choices = await manager.GetChoicesAsync(subject, cancellationToken).ConfigureAwait(false);
            var purposes = Describe(choices);
            return Results.Json(new { changed = purposes.First(p => string.Equals(p.Purpose, choice.Purpose, StringComparison.Ordinal)), purposes });
        }
        catch (ConsentStoreException ex)
        {
            LogStoreFailed(EndpointLogging.For(http.RequestServices), ex);
            return Unavailable();
        }
        catch (AuditStoreException ex)
        {
            // The choice is stored (the store is written first) and applies to the next call; only its audit record is late.
            LogAuditFailed(EndpointLogging.For(http.RequestServices), ex);
            return EndpointJson.Problem(StatusCodes.Status503ServiceUnavailable, "Audit trail unavailable", "Your choice is saved and applies from now on, but its record in the audit trail could not be written yet. Try again to be sure it is recorded.");
        }
    }

    public async Task PageAsync(HttpContext http, CancellationToken cancellationToken)
    {
        var back = options.ReturnPath is { } path
            ? $"<a href=\"{HtmlEncoder.Default.Encode(path)}\">Back</a>"
            : string.Empty;
        var html = PageAssets.Get("consent.html")
            .Replace("{{BASE}}", HtmlEncoder.Default.Encode(prefix), StringComparison.Ordinal)
            .Replace("{{BACK}}", back, StringComparison.Ordinal);
        PageAssets.SetHeaders(http.Response);
        http.Response.ContentType = "text/html; charset=utf-8";
        await http.Response.WriteAsync(html, cancellationToken).ConfigureAwait(false);
    }

    internal static PurposeJson[] Describe(IReadOnlyList<ConsentChoice> choices)
    {
        var result = new PurposeJson[ConsentPurposes.All.Count];
        for (var i = 0; i < result.Length; i++)
        {
            var purpose = ConsentPurposes.All[i];
            ConsentChoice? choice = null;
            foreach (var c in choices)
            {
                if (string.Equals(c.Purpose, purpose, StringComparison.OrdinalIgnoreCase))
                {
                    choice = c;
                }
            }

            var optIn = ConsentPurposes.IsOptIn(purpose);
            var (title, description) = Texts[purpose];
            result[i] = new PurposeJson(
                purpose,
                title,
                description,
                optIn ? "opt-in" : "opt-out",
                choice is null ? null : choice.Granted ? "granted" : "declined",
                choice?.Granted ?? !optIn,
                choice?.ChangedAt);
        }

        return result;
    }

    private string? Subject(HttpContext http)
    {
        var subject = options.GetSubjectId(http);
        return string.IsNullOrWhiteSpace(subject) ? null : subject;
    }

    private static IResult NoSubject() => EndpointJson.Problem(
        StatusCodes.Status401Unauthorized,
        "No subject",
        "Nobody is identified on this request, so there are no choices to show or change. Sign in (or allow the site's cookie) and try again.");

    private static IResult Unavailable() => EndpointJson.Problem(
        StatusCodes.Status503ServiceUnavailable,
        "Consent store unavailable",
        "Your choices cannot be read or saved right now. Nothing was changed; try again shortly.");

    private static string Shorten(string text) => text.Length <= 64 ? text : text[..64] + "…";

    [LoggerMessage(EventId = 30, Level = LogLevel.Error, Message = "SafeAI consent endpoint: the consent store failed.")]
    private static partial void LogStoreFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 31, Level = LogLevel.Error, Message = "SafeAI consent endpoint: a consent change was stored but its audit record could not be written.")]
    private static partial void LogAuditFailed(ILogger logger, Exception exception);

    /// <summary>One purpose as the API shows it.</summary>
    /// <param name="Purpose">The purpose (<see cref="ConsentPurposes"/>).</param>
    /// <param name="Title">What saying yes allows, in a few words.</param>
    /// <param name="Description">What it means, and what happens on no.</param>
    /// <param name="Default">The choice that applies until the person decides: <c>opt-in</c> (no) or <c>opt-out</c> (yes).</param>
    /// <param name="Choice"><c>granted</c>, <c>declined</c>, or <see langword="null"/> when the person never decided.</param>
    /// <param name="Permitted">Whether the purpose applies now (the choice, else the default).</param>
    /// <param name="ChangedAt">When the person last decided.</param>
    internal sealed record PurposeJson(string Purpose, string Title, string Description, string Default, string? Choice, bool Permitted, DateTimeOffset? ChangedAt);
}

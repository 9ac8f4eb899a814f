using System.Collections.Concurrent;
using System.Security.Claims;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.AI;
using SafeAI.AspNetCore;
using SafeAI.Monitoring;
using SafeAI.Review;

namespace SafeAI.Samples.Web;

/// <summary>Builds the web sample (also used in-process by the browser tests).</summary>
public static partial class SampleApp
{
    /// <summary>The demo reviewer's user name. Demo only.</summary>
    public const string DemoReviewerUser = "reviewer";

    /// <summary>The demo reviewer's password. Demo only: a fixed account is never acceptable in production.</summary>
    public const string DemoReviewerPassword = "demo-reviewer";

    /// <summary>The id recorded as the reviewer (and sent as <c>reviewed-by</c> in the <c>AI-Disclosure</c> header).</summary>
    public const string DemoReviewerId = "demo-reviewer";

    private const int MaxMessageLength = 4000;

    private const int MaxBodyBytes = 64 * 1024;

    /// <summary>
    /// The cookie that identifies a visitor of the chat (the sample has no customer accounts): a random id, the user id
    /// of the visitor's chat calls and the subject of their consent choices at <c>/consent/</c>.
    /// </summary>
    public const string VisitorCookie = "safeai-visitor";

    private const string VisitorItem = "SafeAI.Samples.Web.Visitor";

    /// <summary>Builds the app: SafeAI (disclosure, deferred human review, SQLite stores), cookie sign-in, pages and endpoints.</summary>
    /// <param name="args">Command-line arguments (e.g. <c>--urls http://127.0.0.1:0 --Sample:DataDirectory /tmp/x</c>).</param>
    /// <returns>The app, not yet started.</returns>
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        if (string.IsNullOrEmpty(builder.Configuration["urls"]) && string.IsNullOrEmpty(builder.Configuration["ASPNETCORE_URLS"]))
        {
            builder.WebHost.UseUrls("http://127.0.0.1:5080");
        }

        var dataDirectory = Path.GetFullPath(builder.Configuration["Sample:DataDirectory"] ?? "App_Data", builder.Environment.ContentRootPath);
        Directory.CreateDirectory(dataDirectory);
        var database = Path.Combine(dataDirectory, "safeai-sample.db");
        var auditTextKey = builder.Configuration["SafeAI:AuditTrail:TextKey"] is { Length: > 0 } configuredKey
            ? configuredKey
            : LoadOrCreateDemoTextKey(Path.Combine(dataDirectory, "audit-text.key"));

        builder.Services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme).AddCookie(o =>
        {
            o.LoginPath = "/login";
            o.AccessDeniedPath = "/login";
            o.Cookie.Name = "safeai-sample";
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.SlidingExpiration = true;
            o.ExpireTimeSpan = TimeSpan.FromHours(8);
        });
        builder.Services.AddAuthorizationBuilder().AddPolicy(SafeAIReviewEndpointOptions.DefaultPolicyName, p => p.RequireRole("reviewer"));
        builder.Services.AddAntiforgery(o => o.Cookie.Name = "safeai-sample-af");
        // Error responses without a body of their own (a 401 from the reviewers' API, a 404, a 405) get a problem body.
        builder.Services.AddProblemDetails();

        // The share of conversations that get the new AI assistant while the rest keep the bank's FAQ responder.
        var assistantShare = builder.Configuration.GetValue("Sample:AssistantSharePercent", 50.0);
        builder.Services.AddAuthorizationBuilder().AddPolicy(SafeAIRolloutEndpointOptions.DefaultPolicyName, p => p.RequireRole("operator"));
        builder.Services.AddSafeAI(safe =>
        {
            safe
                // A gradual rollout: a share of conversations (sticky: a conversation never changes arm) goes to the AI
                // assistant, everything below; the others get today's FAQ responder, answered without the AI notice. The
                // operator view at /rollout/ shows both arms and has the stop button (the kill switch).
                .AddRollout(o =>
                {
                    o.StickyBy = RolloutKey.Conversation;
                    o.Baseline = RolloutBaseline.FromClient(CreateFaqResponder(), name: "faq-responder");
                    o.Plan = CreatePlan(assistantShare);
                })
                // The content filter with the default model that ships in SafeAI.Onnx: it screens the question before the
                // model sees it (prompt injection, hate, violence, ...) and the answer before the customer does.
                .AddContentFilter()
                .AddAIDisclosure(o => o.Notice = AIDisclosureNotice.FirstTurn)
                .AddRateLimiting(o =>
                {
                    // The demo has no customer accounts: each conversation may send 10 messages a minute. A real app limits
                    // per signed-in user (PartitionBy = User, filled from the claims by app.UseSafeAI()).
                    o.PartitionBy = RateLimitPartition.Custom;
                    o.PartitionKeySelector = static ctx => ctx.ConversationId;
                    o.Algorithm = RateLimitAlgorithm.FixedWindow;
                    o.PermitLimit = 10;
                    o.Window = TimeSpan.FromMinutes(1);
                })
                .AddHumanReview(o =>
                {
                    // High-stakes questions (the page marks them RiskTier.High) get an honest "pending review" answer at once;
                    // the reviewed answer follows when a person decides on the reviewers' page.
                    o.Mode = ReviewMode.Defer;
                    o.MinimumRiskTier = RiskTier.High;
                })
                .AddFeedback()
                // Monitoring: every call's outcome, latency and arm in one-minute buckets; the rules of SafeAI:Monitoring
                // (appsettings.json) evaluated every minute; the dashboard at /monitoring/ (reviewers only).
                .AddMonitoring()
                // The audit trail: one hash-chained record per call, per reviewer decision and per consent change. The
                // text of a message is kept only for visitors who said yes to store-text (else a keyed fingerprint).
                .AddAuditTrail(o => o.TextKey ??= auditTextKey);
            UseStores(safe, builder.Configuration, database);

            // Consent (after the stores: it wraps the feedback store): each visitor's choices, changed at /consent/,
            // decide what of their text the audit trail, the feedback store and the review queue keep.
            safe.AddConsent();
        });
        builder.Services.AddSafeAIFeedbackMonitoring();
        builder.Services.AddSafeAIMonitoringSqlite(database);
        builder.Services.AddHealthChecks().AddSafeAIChecks();
        builder.Services.AddChatClient(FaqChatClient.CreateDemo()).UseSafeAI();
        builder.Services.AddSingleton<Conversations>();
        builder.Services.AddHostedService<RolloutJudgeService>();

        var app = builder.Build();

        // Build the guarded chat client now, so that the content model loads at start-up rather than on the first question.
        _ = app.Services.GetRequiredService<IChatClient>();
        app.Use(static (http, next) =>
        {
            // The pages load nothing from elsewhere and run no inline script (the reviewers' page sets its own, stricter policy).
            // Set as the response starts, so that an error response written after the headers were cleared has them too.
            http.Response.OnStarting(static state =>
            {
                var headers = ((HttpResponse)state).Headers;
                headers.XContentTypeOptions = "nosniff";
                if (!headers.ContainsKey("Content-Security-Policy"))
                {
                    headers.ContentSecurityPolicy = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
                }

                return Task.CompletedTask;
            }, http.Response);
            return next(http);
        });
        // An exception no endpoint expected is logged ("An unhandled exception has occurred while executing the request")
        // and answered as a 500 problem (application/problem+json, no exception detail), in every environment: the chat
        // page and API clients read JSON, never an empty body or an HTML error page.
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseAntiforgery();
        app.Use(static (http, next) =>
        {
            IssueVisitorCookie(http);
            return next(http);
        });
        app.UseSafeAI();

        app.MapGet("/", () => Page("index.html", "text/html; charset=utf-8"));
        app.MapGet("/chat.js", () => Page("chat.js", "text/javascript; charset=utf-8"));
        app.MapGet("/chat.css", () => Page("chat.css", "text/css; charset=utf-8"));
        app.MapPost("/api/chat", ChatAsync).Accepts<ChatRequest>("application/json");
        app.MapGet("/api/chat/reviews/{ticketId}", ReviewedAnswerAsync);
        app.MapSafeAIFeedback("/api/feedback");
        app.MapSafeAIReviews("/reviews");
        app.MapSafeAIRollout("/rollout");
        app.MapSafeAIConsent("/consent", static o =>
        {
            o.GetSubjectId = VisitorId;
            o.ReturnPath = "/";
        });
        app.MapSafeAIHealth();
        MonitoringDashboard.Map(app, static (name, type) => Page(name, type));
        app.MapGet("/login", LoginPage);
        app.MapPost("/login", SignInAsync).DisableAntiforgery();
        app.MapPost("/logout", async (HttpContext http) =>
        {
            await http.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
            return Results.Redirect("/");
        });
        return app;
    }

    /// <summary>The body of <c>POST /api/chat</c>.</summary>
    /// <param name="Message">The user's message.</param>
    /// <param name="ConversationId">The conversation to continue; a new one when absent.</param>
    public sealed record ChatRequest(string? Message, string? ConversationId);

    // The sample's rule for high-stakes questions: anything about credit. A real app would use its own classifier.
    [GeneratedRegex(@"\b(loan|loans|credit|mortgage|borrow|lend|apr|eligib\w*)\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex HighStakes();

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$", RegexOptions.CultureInvariant)]
    private static partial Regex ConversationIdPattern();

    private static async Task<IResult> ChatAsync(IChatClient chat, Conversations conversations, HttpContext http, CancellationToken cancellationToken)
    {
        var (request, invalid) = await ReadChatRequestAsync(http, cancellationToken);
        if (invalid is not null)
        {
            return invalid;
        }

        var message = request?.Message?.Trim();
        if (string.IsNullOrEmpty(message))
        {
            return Results.Problem(statusCode: 400, title: "Invalid request", detail: "message must not be empty.");
        }

        if (message.Length > MaxMessageLength)
        {
            return Results.Problem(statusCode: 400, title: "Invalid request", detail: $"message must be at most {MaxMessageLength} characters.");
        }

        var conversationId = request!.ConversationId;
        if (string.IsNullOrEmpty(conversationId))
        {
            conversationId = Guid.NewGuid().ToString("N");
        }
        else if (!ConversationIdPattern().IsMatch(conversationId))
        {
            return Results.Problem(statusCode: 400, title: "Invalid request", detail: "conversationId must be 1 to 64 letters, digits, '-' or '_'.");
        }

        var highStakes = HighStakes().IsMatch(message);
        var options = new ChatOptions().WithConversation(conversationId).WithRiskTier(highStakes ? RiskTier.High : RiskTier.Low);
        if (VisitorId(http) is { } visitor)
        {
            // The visitor's consent choices (read by the consent stage for this user id) apply to this call.
            options = options.WithUser(visitor);
        }

        var history = conversations.Get(conversationId);
        history.Add(new ChatMessage(ChatRole.User, message));
        var response = await chat.GetResponseAsync(history, options, cancellationToken);
        http.Response.ApplySafeAI(response);
        var result = response.GetSafeAIResult();
        if (result?.Outcome is not (GuardAction.Block or GuardAction.Limit))
        {
            // A blocked or rate-limited question never reached the model: it is not kept, so it is not sent (and
            // screened, and blocked) again with every later question of the conversation.
            history.AddRange(response.Messages);
            conversations.Save(conversationId, history);
        }

        var review = response.GetReviewOutcome();
        var (notice, answer) = SplitNotice(response, result);
        var screened = Screened(result);
        var status = result?.Outcome switch
        {
            GuardAction.Block => "blocked",
            _ when screened is { Action: GuardAction.Modify } => "redacted",
            GuardAction.Limit => "rate-limited",
            _ when review is { State: ReviewState.Pending or ReviewState.Claimed or ReviewState.Escalated } => "pending-review",
            _ => "answered",
        };
        return Results.Json(new
        {
            conversationId,
            responseId = response.ResponseId,
            status,
            notice,
            answer,
            highStakes,
            review = review is null ? null : new { ticketId = review.TicketId, state = StateName(review.State) },
            arm = result?.GetRolloutArm() switch
            {
                RolloutArm.AI => "ai",
                RolloutArm.Baseline => "baseline",
                _ => null,
            },
            disclosure = Describe(response.GetAIDisclosure()),
            screening = screened is not { } s ? null : new { stage = s.Stage, reason = s.Reason, label = ScreeningLabel(s) },
            outcome = result is null ? null : GuardVerdict.GetActionName(result.Outcome),
            verdicts = result?.Verdicts.Select(static v => new
            {
                stage = v.Stage,
                action = GuardVerdict.GetActionName(v.Action),
                reason = v.Reason,
                detail = v.Detail,
                score = v.Score,
                threshold = v.Threshold,
                elapsedMs = v.Elapsed.TotalMilliseconds,
            }),
        });
    }

    // The body is read here, not bound by the framework: binding answers malformed JSON (or a string that is not valid
    // text, such as a lone surrogate) with an empty 400; this answers with a problem response that says what is wrong.
    private static async Task<(ChatRequest? Request, IResult? Error)> ReadChatRequestAsync(HttpContext http, CancellationToken cancellationToken)
    {
        if (!http.Request.HasJsonContentType())
        {
            return (null, Results.Problem(statusCode: 415, title: "Unsupported media type", detail: "Send the request body as application/json."));
        }

        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = MaxBodyBytes;
        }

        try
        {
            var request = await http.Request.ReadFromJsonAsync<ChatRequest>(cancellationToken);
            return request is null
                ? (null, Results.Problem(statusCode: 400, title: "Invalid request", detail: "The request body must be a JSON object."))
                : (request, null);
        }
        catch (JsonException ex)
        {
            return (null, Results.Problem(statusCode: 400, title: "Invalid request", detail: "The request body is not valid JSON: " + ex.Message));
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, Results.Problem(statusCode: 413, title: "Request too large", detail: $"The request body must be at most {MaxBodyBytes} bytes."));
        }
    }

    // The answer to a deferred question, once a reviewer decided. Only the conversation that asked may read it.
    private static async Task<IResult> ReviewedAnswerAsync(string ticketId, string? conversationId, IReviewQueue queue, IChatClient chat, HttpContext http, CancellationToken cancellationToken)
    {
        ReviewItem? item;
        try
        {
            item = string.IsNullOrEmpty(conversationId) || ticketId.Length > 64 ? null : await queue.GetAsync(ticketId, cancellationToken);
        }
        catch (ReviewStoreException)
        {
            return Results.Problem(statusCode: 503, title: "Review queue unavailable", detail: "The review queue cannot be reached right now; your question is not lost. Try again shortly.");
        }

        if (item is null || !string.Equals(item.ConversationId, conversationId, StringComparison.Ordinal))
        {
            return Results.Problem(statusCode: 404, title: "Not found", detail: "No review of that question is known for this conversation.");
        }

        // Approved or edited: "ai-originated" naming the reviewer; rejected or expired: "none" (our own follow-up text).
        var metadata = chat.GetService<ChatClientMetadata>();
        var disclosure = http.Response.ApplySafeAIReview(item, metadata?.DefaultModelId, metadata?.ProviderName);
        var (status, answer) = item.State switch
        {
            ReviewState.Approved or ReviewState.Edited => ("reviewed", item.FinalAnswer),
            ReviewState.Rejected => ("rejected", $"A reviewer did not approve the answer to this question, so it is not shown. A person will follow up with you; your reference is {item.Id}."),
            ReviewState.Expired => ("expired", $"Nobody could review the answer in time. A person will follow up with you; your reference is {item.Id}."),
            _ => ("pending-review", (string?)null),
        };

        return Results.Json(new
        {
            ticketId = item.Id,
            state = StateName(item.State),
            status,
            answer,
            reviewedBy = item.IsDecided ? item.ReviewerId : null,
            comment = item.IsDecided ? item.Comment : null,
            decidedAt = item.DecidedAt,
            disclosure = Describe(disclosure),
        });
    }

    // The verdict that blocked the call, else the first that changed the text (a redaction), else none.
    private static GuardVerdict? Screened(SafeAIResult? result)
    {
        if (result is null)
        {
            return null;
        }

        GuardVerdict? modified = null;
        foreach (var verdict in result.Verdicts)
        {
            if (verdict.Action == GuardAction.Block)
            {
                return verdict;
            }

            modified ??= verdict.Action == GuardAction.Modify ? verdict : null;
        }

        return modified;
    }

    // The words the page shows on a blocked or redacted message: what acted, and why, in plain words.
    private static string ScreeningLabel(GuardVerdict verdict)
    {
        var what = verdict.Reason.StartsWith("content.", StringComparison.Ordinal)
            ? verdict.Reason["content.".Length..].Replace('_', ' ')
            : null;
        var by = verdict.Stage.StartsWith("content", StringComparison.Ordinal) ? "the content filter" : "a safeguard";
        var verb = verdict.Action == GuardAction.Block ? "Blocked" : "Redacted";
        return what is null ? $"{verb} by {by}" : $"{verb} by {by}: {what}";
    }

    private static (string? Notice, string Answer) SplitNotice(ChatResponse response, SafeAIResult? result)
    {
        // The disclosure stage puts its visible notice first in the answer and records "disclosure.notice".
        var shown = false;
        if (result is not null)
        {
            foreach (var verdict in result.Verdicts)
            {
                shown |= verdict.Reason == "disclosure.notice";
            }
        }

        var message = response.Messages.FirstOrDefault(static m => m.Role == ChatRole.Assistant);
        if (!shown || message is null || message.Contents.FirstOrDefault() is not TextContent first)
        {
            return (null, response.Text);
        }

        var rest = string.Concat(message.Contents.Skip(1).OfType<TextContent>().Select(static t => t.Text));
        return (first.Text.Trim(), rest.Trim());
    }

    private static object? Describe(AIDisclosure? disclosure) => disclosure is null ? null : new
    {
        mode = AIDisclosure.GetModeToken(disclosure.Mode),
        model = disclosure.Model,
        provider = disclosure.Provider,
        reviewedBy = disclosure.ReviewedBy,
        date = disclosure.Date,
        header = disclosure.ToHeaderValue(),
    };

    private static string StateName(ReviewState state) => state switch
    {
        ReviewState.Pending => "pending",
        ReviewState.Claimed => "claimed",
        ReviewState.Approved => "approved",
        ReviewState.Edited => "edited",
        ReviewState.Rejected => "rejected",
        ReviewState.Expired => "expired",
        _ => "escalated",
    };

    private static IResult LoginPage(HttpContext http, IAntiforgery antiforgery, string? returnUrl, string? error)
    {
        var tokens = antiforgery.GetAndStoreTokens(http);
        var enc = HtmlEncoder.Default;
        var target = SafeReturnUrl(returnUrl ?? http.Request.Query["ReturnUrl"]);
        var message = error is null ? string.Empty : "<p class=\"error\" role=\"alert\">That user name and password do not match the demo account.</p>";
        var signedIn = http.User.Identity?.IsAuthenticated == true
            ? $"<p>You are signed in as <strong>{enc.Encode(http.User.Identity!.Name ?? string.Empty)}</strong>. <a href=\"/reviews/\">Open the reviewers' page</a>.</p>"
            : string.Empty;
        var html = $$"""
            <!doctype html>
            <html lang="en">
            <head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Reviewer sign-in (demo)</title><link rel="stylesheet" href="/chat.css"></head>
            <body class="login">
            <main class="card">
              <h1>Reviewer sign-in</h1>
              <p class="demo" role="note"><strong>Demo only.</strong> This sample has one fixed reviewer account:
                user name <code>{{DemoReviewerUser}}</code>, password <code>{{DemoReviewerPassword}}</code>.
                A real application signs reviewers in through its own identity provider.</p>
              {{signedIn}}
              {{message}}
              <form method="post" action="/login">
                <input type="hidden" name="{{enc.Encode(tokens.FormFieldName)}}" value="{{enc.Encode(tokens.RequestToken ?? string.Empty)}}">
                <input type="hidden" name="returnUrl" value="{{enc.Encode(target)}}">
                <label for="username">User name</label>
                <input id="username" name="username" autocomplete="username" required>
                <label for="password">Password</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required>
                <button type="submit">Sign in</button>
              </form>
              <p><a href="/">Back to the chat</a></p>
            </main>
            </body>
            </html>
            """;
        return Results.Content(html, "text/html; charset=utf-8");
    }

    private static async Task<IResult> SignInAsync(HttpContext http, IAntiforgery antiforgery)
    {
        try
        {
            await antiforgery.ValidateRequestAsync(http);
        }
        catch (AntiforgeryValidationException)
        {
            return Results.Problem(statusCode: 400, title: "Invalid form", detail: "The sign-in form expired. Reload the page and try again.");
        }

        var form = await http.Request.ReadFormAsync(http.RequestAborted);
        var target = SafeReturnUrl(form["returnUrl"]);
        if (!string.Equals(form["username"], DemoReviewerUser, StringComparison.Ordinal) || !string.Equals(form["password"], DemoReviewerPassword, StringComparison.Ordinal))
        {
            return Results.Redirect("/login?error=1&returnUrl=" + Uri.EscapeDataString(target));
        }

        var identity = new ClaimsIdentity(
            [new Claim(ClaimTypes.NameIdentifier, DemoReviewerId), new Claim(ClaimTypes.Name, "Demo Reviewer"), new Claim(ClaimTypes.Role, "reviewer"), new Claim(ClaimTypes.Role, "operator")],
            CookieAuthenticationDefaults.AuthenticationScheme);
        await http.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, new ClaimsPrincipal(identity));
        return Results.Redirect(target);
    }

    // Only local paths: never redirect to another site after sign-in.
    private static string SafeReturnUrl(string? url) =>
        !string.IsNullOrEmpty(url) && url.StartsWith('/') && !url.StartsWith("//", StringComparison.Ordinal) && !url.StartsWith("/\\", StringComparison.Ordinal) ? url : "/reviews/";

    private static IResult Page(string name, string contentType)
    {
        using var stream = typeof(SampleApp).Assembly.GetManifestResourceStream("SafeAI.Samples.Web.ChatPage." + name)
            ?? throw new InvalidOperationException($"The sample page '{name}' is missing from the assembly.");
        using var reader = new StreamReader(stream);
        return Results.Content(reader.ReadToEnd(), contentType);
    }

    /// <summary>Gets the visitor's id from the <see cref="VisitorCookie"/> (issued when the chat or consent page is opened), or <see langword="null"/>.</summary>
    /// <param name="http">The request.</param>
    /// <returns>The id, or <see langword="null"/> for a caller that never opened a page (or sent a malformed cookie).</returns>
    internal static string? VisitorId(HttpContext http)
    {
        if (http.Items[VisitorItem] is string issued)
        {
            return issued;
        }

        return http.Request.Cookies[VisitorCookie] is { } cookie && VisitorIdPattern().IsMatch(cookie) ? cookie : null;
    }

    // Opening the chat page or the consent page gives a new visitor an id; API calls never do, so a caller without one
    // is anonymous (no consent choices to apply, and the consent API answers 401).
    private static void IssueVisitorCookie(HttpContext http)
    {
        var path = http.Request.Path;
        if (!HttpMethods.IsGet(http.Request.Method) || !(path == "/" || path == "/consent" || path == "/consent/") || VisitorId(http) is not null)
        {
            return;
        }

        var id = Guid.NewGuid().ToString("N");
        http.Items[VisitorItem] = id;
        http.Response.Cookies.Append(VisitorCookie, id, new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Strict,
            Secure = http.Request.IsHttps,
            IsEssential = true,
            MaxAge = TimeSpan.FromDays(365),
            Path = "/",
        });
    }

    [GeneratedRegex("^[0-9a-f]{32}$", RegexOptions.CultureInvariant)]
    private static partial Regex VisitorIdPattern();

    // Demo only: the audit trail's text key is created next to the database on first run. A real app keeps it in a
    // secret store (SafeAI:AuditTrail:TextKey), out of the database's reach.
    private static string LoadOrCreateDemoTextKey(string path)
    {
        if (File.Exists(path) && File.ReadAllText(path).Trim() is { Length: > 0 } existing)
        {
            return existing;
        }

        var key = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        File.WriteAllText(path, key);
        return key;
    }

    // One instance keeps everything in one SQLite file. Several instances behind a load balancer share state instead:
    // Sample:Redis (a StackExchange.Redis configuration string) holds the rate limits, so they are exact across
    // instances; Sample:PostgreSql (a connection string) holds the review queue, the feedback, the consent choices and
    // the audit trail.
    private static void UseStores(SafeAIPipelineBuilder safe, IConfiguration configuration, string database)
    {
        if (configuration["Sample:Redis"] is { Length: > 0 } redis)
        {
            safe.UseRedisRateLimitStore(o => o.Configuration = redis);
        }

        if (configuration["Sample:PostgreSql"] is { Length: > 0 } postgres)
        {
            safe.UsePostgreSqlReviewStore(o => o.ConnectionString = postgres)
                .UsePostgreSqlFeedbackStore(o => o.ConnectionString = postgres)
                .UsePostgreSqlConsentStore(o => o.ConnectionString = postgres)
                .UsePostgreSqlAuditStore(o => o.ConnectionString = postgres);
        }
        else
        {
            safe.UseSqliteReviewStore(o => o.DataSource = database)
                .UseSqliteFeedbackStore(o => o.DataSource = database)
                .UseSqliteConsentStore(o => o.DataSource = database)
                .UseSqliteAuditStore(o => o.DataSource = database);
        }
    }

    /// <summary>
    /// The rollout plan of the sample: the first stage at <paramref name="assistantShare"/> percent (at least 7 days and
    /// 500 calls per arm before the judge may promote), then everyone. At 100 the rollout is complete from the start.
    /// </summary>
    /// <param name="assistantShare">The AI assistant's share of conversations, above 0 and at most 100.</param>
    /// <returns>The plan.</returns>
    internal static RolloutPlanOptions CreatePlan(double assistantShare)
    {
        var plan = new RolloutPlanOptions();
        if (assistantShare < 100)
        {
            plan.Stages.Add(new RolloutStage(assistantShare, maxDegradation: 0.25));
        }

        plan.Stages.Add(new RolloutStage(100, maxDegradation: 0));
        return plan;
    }

    // Today's solution, the rollout's baseline: the bank's FAQ search, which answers common questions word for word and
    // hands everything else to a person. Not AI, so its answers carry no AI notice.
    private static FaqChatClient CreateFaqResponder() => new(FaqChatClient.DemoEntries)
    {
        NoMatchAnswer = "That is not in our FAQ. Call us on 0800 000 0000 (8am-8pm) or visit a branch, and a person will help.",
    };

    /// <summary>Runs the rollout judge every minute while the app runs (a real app might look hourly).</summary>
    private sealed class RolloutJudgeService(RolloutController rollout) : BackgroundService
    {
        protected override Task ExecuteAsync(CancellationToken stoppingToken) => rollout.RunJudgeAsync(TimeSpan.FromMinutes(1), stoppingToken);
    }

    /// <summary>Conversation histories kept in memory, bounded (the sample's stand-in for an app's own chat storage).</summary>
    internal sealed class Conversations
    {
        private const int MaxConversations = 1000;
        private const int MaxMessages = 40;
        private readonly ConcurrentDictionary<string, ChatMessage[]> _byId = new(StringComparer.Ordinal);

        /// <summary>Gets a copy of the conversation so far, for one request to extend.</summary>
        public List<ChatMessage> Get(string id) => _byId.TryGetValue(id, out var messages) ? [.. messages] : [];

        /// <summary>Stores the conversation's latest messages.</summary>
        public void Save(string id, List<ChatMessage> messages)
        {
            if (_byId.Count >= MaxConversations && !_byId.ContainsKey(id))
            {
                _byId.Clear();
            }

            _byId[id] = [.. messages.Skip(Math.Max(0, messages.Count - MaxMessages))];
        }
    }
}

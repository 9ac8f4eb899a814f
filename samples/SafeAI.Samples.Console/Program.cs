using System.ClientModel;
using System.Globalization;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenAI;
using SafeAI;
using SafeAI.Audit;
using SafeAI.Feedback;
using SafeAI.Review;
using SafeAI.Samples.ConsoleApp;

// SafeAI console sample. Runs offline on an embedded FAQ responder; set SAFEAI_OPENAI_API_KEY to use a real model.
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });

var apiKey = Environment.GetEnvironmentVariable("SAFEAI_OPENAI_API_KEY");
var modelDescription = DescribeModel(apiKey);

// Set SAFEAI_AUDIT_DB=path to write the sample's tamper-evident audit trail to that SQLite file, then check it with
// `safeai audit verify --sqlite path`. SAFEAI_AUDIT_SIGNING_KEY and SAFEAI_AUDIT_TEXT_KEY (base64, 32+ bytes) sign
// checkpoints and hash message texts; without them the chain is unsigned and no text or text hash is kept.
var auditDb = Environment.GetEnvironmentVariable("SAFEAI_AUDIT_DB");

// The provider's HttpClient: the model-API resilience handler owns HTTP retries (429 with Retry-After, no blind POST retries).
builder.Services.AddHttpClient("openai").AddModelApiResilienceHandler();

// 1. Register the SafeAI pipeline. Settings come from the "SafeAI" section of appsettings.json
//    (the per-user rate limit from "SafeAI:RateLimiting", reloaded when the file changes).
builder.Services.AddSafeAI(safe => AddAuditTrailWhenAsked(safe, auditDb)
    .AddAIDisclosure()
    .AddRateLimiting(o => o.PartitionBy = RateLimitPartition.User)
    .AddInputLengthLimit(4_000)
    .Add(new NoSecretsGuard())
    .Add(new PhoneNumberRedactor())
    .AddHumanReview() // high-risk answers wait for a person; settings in appsettings.json ("SafeAI:HumanReview")
    .AddConfidence(o =>
    {
        // With a real OpenAI model the token log-probabilities give the score; the offline FAQ reports its match score.
        o.UseOpenAILogProbabilities();
        o.Estimators.Add(new DelegateConfidenceEstimator("faq-match", static (_, response, _) => ValueTask.FromResult(
            response.AdditionalProperties?.TryGetValue(FaqChatClient.MatchScoreKey, out var score) == true ? (double?)Convert.ToDouble(score, CultureInfo.InvariantCulture) : null)));
    })
    .AddFeedback());  // thumbs up/down on answers (in memory here; UseSqliteFeedbackStore() keeps them in a file)

// 2. Wrap the chat client with it.
builder.Services.AddChatClient(services => CreateInnerClient(services, apiKey)).UseSafeAI();

using var host = builder.Build();
var chat = host.Services.GetRequiredService<IChatClient>();
var cancellationToken = CancellationToken.None;

Console.WriteLine("SafeAI console sample");
Console.WriteLine($"Model: {modelDescription}");
Console.WriteLine("Pipeline: " + string.Join(" -> ", chat.GetService<SafeAIPipeline>()!.Stages.Select(s => s.Name)) + " -> model");

Transcript.Heading("An ordinary question");
await AskAsync("What are your opening hours?");

Transcript.Heading("A question with an answer that holds a phone number (output check redacts it)");
await AskAsync("Can I talk to a person?");

Transcript.Heading("The same, streamed: text is held back until screened");
await AskStreamingAsync("Can I talk to a person?");

Transcript.Heading("A secret in the input never reaches the model");
await AskAsync("My password is hunter2, why can't I log in?");

Transcript.Heading("An input far too long is rejected before anything else reads it");
await AskAsync("Please summarise this: " + string.Concat(Enumerable.Repeat("lorem ipsum dolor sit amet ", 400)));

Transcript.Heading("Per-call context and human review: a high-risk answer waits for a person");
var reviewer = SimulatedReviewerAsync(host.Services.GetRequiredService<IReviewQueue>(), cancellationToken);
var loanAnswer = await AskAsync("Am I eligible for a loan?", new ChatOptions().WithUser("u-1042").WithTenant("northwind").WithRiskTier(RiskTier.High));
await reviewer;
if (loanAnswer.GetReviewOutcome() is { } review)
{
    Transcript.Note($"reviewed: {review.State} by {review.ReviewerId} (\"{review.Comment}\")");

    Transcript.Heading("The customer rates the answer (in a web app: the thumbs buttons of samples/SafeAI.Samples.Web)");
    var feedback = host.Services.GetRequiredService<IFeedbackStore>();
    var responseId = loanAnswer.ResponseId ?? review.TicketId;
    await feedback.AddAsync(FeedbackEntry.Create(responseId, FeedbackRating.Down, "I asked about a mortgage, not a personal loan.") with { UserId = "u-1042", ReviewTicketId = review.TicketId }, cancellationToken);
    var stored = await feedback.ListAsync(new FeedbackQuery { ResponseId = responseId }, cancellationToken);
    foreach (var entry in stored.Items)
    {
        Transcript.Note($"feedback stored: thumbs {entry.Rating.ToString().ToLowerInvariant()} from {entry.UserId} on the reviewed answer: \"{entry.Comment}\"");
    }
}

Transcript.Heading("A low-confidence answer becomes an honest one (confidence stage)");
await AskAsync("Can I open an account for my children with a weekend card?", new ChatOptions().WithUser("u-3003"));

Transcript.Heading("An outage: the model is down, the fallback chain answers");
await OutageScene.RunAsync();

Transcript.Heading("A burst from one user hits the per-user limit (5 a minute)");
await BurstAsync("u-7", requests: 6);

await ContentFilterScene.RunAsync(cancellationToken);

Transcript.Heading("A rollout drill: 5 % to a new assistant, the kill switch, and an automatic rollback");
await RolloutDrillScene.RunAsync(cancellationToken);

if (auditDb is not null)
{
    var trail = host.Services.GetRequiredService<AuditTrail>();
    await trail.FlushAsync(cancellationToken);
    Transcript.Heading("The audit trail");
    Transcript.Note($"{trail.WrittenCount} record(s) in {auditDb} ({trail.DroppedCount} dropped); check them with: safeai audit verify --sqlite {auditDb}");
}

Console.WriteLine();
Console.WriteLine("Done.");

static SafeAIPipelineBuilder AddAuditTrailWhenAsked(SafeAIPipelineBuilder safe, string? path)
{
    if (string.IsNullOrWhiteSpace(path))
    {
        return safe;
    }

    return safe
        .UseSqliteAuditStore(o => o.DataSource = path)
        .AddAuditTrail(o =>
        {
            o.SigningKey = Environment.GetEnvironmentVariable("SAFEAI_AUDIT_SIGNING_KEY");
            o.TextKey = Environment.GetEnvironmentVariable("SAFEAI_AUDIT_TEXT_KEY");
            o.CheckpointInterval = 10;
            o.ConfigurationVersion = "console-sample-1";
        });
}

async Task BurstAsync(string userId, int requests)
{
    var options = new ChatOptions().WithUser(userId);
    ChatResponse? last = null;
    var outcomes = new List<string>();
    for (var i = 0; i < requests; i++)
    {
        last = await chat.GetResponseAsync("What are your opening hours?", options, cancellationToken);
        outcomes.Add(GuardVerdict.GetActionName(last.GetSafeAIResult()!.Outcome));
    }

    Transcript.User($"{requests} x \"What are your opening hours?\" as {userId}");
    Transcript.Note("outcomes: " + string.Join(", ", outcomes));
    Transcript.Assistant(last!.Text);
    Transcript.Result(last.GetSafeAIResult());
}

async Task<ChatResponse> AskAsync(string question, ChatOptions? options = null)
{
    Transcript.User(question);
    var response = await chat.GetResponseAsync(question, options, cancellationToken);
    Transcript.Assistant(response.Text);
    Transcript.Disclosure(response.GetAIDisclosure());
    Transcript.Result(response.GetSafeAIResult());
    return response;
}

// A reviewer working from the queue in the background (in an app: a reviewers' page or a back-office tool).
static async Task SimulatedReviewerAsync(IReviewQueue queue, CancellationToken cancellationToken)
{
    while (true)
    {
        if (await queue.ClaimNextAsync("loan-officer-7", cancellationToken: cancellationToken) is { } item)
        {
            Transcript.Note($"loan-officer-7 claimed the held answer ({string.Join(", ", item.Triggers)}): \"{item.ProposedAnswer}\"");
            await queue.DecideAsync(item.Id, item.Version, ReviewDecision.Approve("loan-officer-7", "matches the credit policy"), cancellationToken);
            return;
        }

        await Task.Delay(TimeSpan.FromMilliseconds(20), cancellationToken);
    }
}

async Task AskStreamingAsync(string question)
{
    Transcript.User(question);
    Console.Write("    assistant > ");
    SafeAIResult? result = null;
    var updates = 0;
    await foreach (var update in chat.GetStreamingResponseAsync(question, cancellationToken: cancellationToken))
    {
        Console.Write(update.Text);
        updates++;
        result = update.GetSafeAIResult() ?? result;
    }

    Console.WriteLine();
    Transcript.Note($"{updates} streamed updates; the last one carries the SafeAI result");
    Transcript.Result(result);
}

static string DescribeModel(string? apiKey) => string.IsNullOrWhiteSpace(apiKey)
    ? $"{FaqChatClient.ModelId} (embedded offline FAQ responder; set SAFEAI_OPENAI_API_KEY to use a real model)"
    : $"{Environment.GetEnvironmentVariable("SAFEAI_OPENAI_MODEL") ?? "gpt-4o-mini"} at {Environment.GetEnvironmentVariable("SAFEAI_OPENAI_ENDPOINT") ?? "api.openai.com"}";

static IChatClient CreateInnerClient(IServiceProvider services, string? apiKey)
{
    if (string.IsNullOrWhiteSpace(apiKey))
    {
        return FaqChatClient.CreateDemo();
    }

    var model = Environment.GetEnvironmentVariable("SAFEAI_OPENAI_MODEL") ?? "gpt-4o-mini";
    var endpoint = Environment.GetEnvironmentVariable("SAFEAI_OPENAI_ENDPOINT");

    // One owner for retries: the resilient HttpClient. UseHttpClient turns the SDK's own retries off.
    var options = new OpenAIClientOptions().UseHttpClient(services.GetRequiredService<IHttpClientFactory>().CreateClient("openai"));
    if (!string.IsNullOrWhiteSpace(endpoint))
    {
        options.Endpoint = new Uri(endpoint);
    }

    return new OpenAIClient(new ApiKeyCredential(apiKey), options).GetChatClient(model).AsIChatClient();
}

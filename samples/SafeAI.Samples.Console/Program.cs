using System.ClientModel;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenAI;
using SafeAI;
using SafeAI.Samples.ConsoleApp;

// SafeAI console sample. Runs offline on an embedded FAQ responder; set SAFEAI_OPENAI_API_KEY to use a real model.
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });

var (innerClient, modelDescription) = CreateInnerClient();

// 1. Register the SafeAI pipeline. Settings come from the "SafeAI" section of appsettings.json.
builder.Services.AddSafeAI(safe => safe
    .AddInputLengthLimit(4_000)
    .Add(new NoSecretsGuard())
    .Add(new PhoneNumberRedactor()));

// 2. Wrap the chat client with it.
builder.Services.AddChatClient(innerClient).UseSafeAI();

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

Transcript.Heading("Per-call context: user, tenant and risk tier travel on ChatOptions");
await AskAsync("Am I eligible for a loan?", new ChatOptions().WithUser("u-1042").WithTenant("northwind").WithRiskTier(RiskTier.High));

await ContentFilterScene.RunAsync(cancellationToken);

Console.WriteLine();
Console.WriteLine("Done.");

async Task AskAsync(string question, ChatOptions? options = null)
{
    Transcript.User(question);
    var response = await chat.GetResponseAsync(question, options, cancellationToken);
    Transcript.Assistant(response.Text);
    Transcript.Result(response.GetSafeAIResult());
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

static (IChatClient Client, string Description) CreateInnerClient()
{
    var apiKey = Environment.GetEnvironmentVariable("SAFEAI_OPENAI_API_KEY");
    if (string.IsNullOrWhiteSpace(apiKey))
    {
        return (FaqChatClient.CreateDemo(), $"{FaqChatClient.ModelId} (embedded offline FAQ responder; set SAFEAI_OPENAI_API_KEY to use a real model)");
    }

    var model = Environment.GetEnvironmentVariable("SAFEAI_OPENAI_MODEL") ?? "gpt-4o-mini";
    var endpoint = Environment.GetEnvironmentVariable("SAFEAI_OPENAI_ENDPOINT");
    var options = new OpenAIClientOptions();
    if (!string.IsNullOrWhiteSpace(endpoint))
    {
        options.Endpoint = new Uri(endpoint);
    }

    var client = new OpenAIClient(new ApiKeyCredential(apiKey), options).GetChatClient(model).AsIChatClient();
    return (client, $"{model} at {endpoint ?? "api.openai.com"}");
}

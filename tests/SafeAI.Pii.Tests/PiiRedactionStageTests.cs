using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace SafeAI.Pii.Tests;

public sealed class PiiRedactionStageTests
{
    private const string Email = "jane.doe@example.com";
    private const string Card = "4111 1111 1111 1111";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>An inner client that answers with the text it was given, so a test sees what the model saw.</summary>
    private static TestChatClient Echo() => new()
    {
        GetResponseAsyncCallback = (messages, _, _) => Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "You said: " + messages.Last().Text))),
        GetStreamingResponseAsyncCallback = (messages, _, ct) => TestChatClient.Chunks(ct, ("You said: " + messages.Last().Text).Chunk(5).Select(c => new string(c)).ToArray()),
    };

    [Fact]
    public async Task GetResponseAsync_InputWithPii_ModelSeesTypedPlaceholders()
    {
        var inner = Echo();
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddPiiRedaction(o => o.CheckOutput = false)).Build();

        var response = await client.GetResponseAsync($"Mail {Email}, or {Email}, card {Card}, backup b@example.org", cancellationToken: Ct);

        var seen = inner.ReceivedMessages.Single().Last().Text;
        Assert.Equal("Mail [EMAIL_1], or [EMAIL_1], card [CARD_1], backup [EMAIL_2]", seen);
        var verdict = Assert.Single(response.GetSafeAIResult()!.Verdicts, v => v.Stage == "pii-input");
        Assert.Equal(GuardAction.Modify, verdict.Action);
        Assert.Equal(PiiReasons.CreditCard, verdict.Reason);
        Assert.Equal("redacted: email 3, card 1", verdict.Detail);
    }

    [Fact]
    public async Task GetResponseAsync_CallerMessages_AreNotChanged()
    {
        using var client = Echo().AsBuilder().UseSafeAI(safe => safe.AddPiiRedaction()).Build();
        var messages = new List<ChatMessage> { new(ChatRole.User, $"my mail is {Email}") };

        _ = await client.GetResponseAsync(messages, cancellationToken: Ct);

        Assert.Equal($"my mail is {Email}", messages[0].Text);
    }

    [Fact]
    public async Task GetResponseAsync_Reversible_RestoresPlaceholdersInTheAnswer()
    {
        var inner = Echo();
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddPiiRedaction(o => o.Reversible = true)).Build();

        var response = await client.GetResponseAsync($"Send it to {Email}", cancellationToken: Ct);

        Assert.DoesNotContain(Email, inner.ReceivedMessages.Single().Last().Text, StringComparison.Ordinal);
        Assert.Equal($"You said: Send it to {Email}", response.Text);
        Assert.Contains(response.GetSafeAIResult()!.Verdicts, v => v.Stage == "pii-output" && v.Reason == PiiReasons.Restored);
    }

    [Fact]
    public async Task GetResponseAsync_NotReversible_AnswerKeepsPlaceholders()
    {
        using var client = Echo().AsBuilder().UseSafeAI(safe => safe.AddPiiRedaction()).Build();

        var response = await client.GetResponseAsync($"Send it to {Email}", cancellationToken: Ct);

        Assert.Equal("You said: Send it to [EMAIL_1]", response.Text);
    }

    [Fact]
    public async Task GetResponseAsync_BlockMode_ModelIsNotCalled()
    {
        var inner = Echo();
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddPiiRedaction(o => o.InputAction = PiiAction.Block)).Build();

        var response = await client.GetResponseAsync("my SSN is 123-45-6789", cancellationToken: Ct);

        Assert.Equal(0, inner.Calls);
        Assert.Equal(ChatFinishReason.ContentFilter, response.FinishReason);
        var result = response.GetSafeAIResult()!;
        Assert.True(result.IsRejected);
        Assert.Equal(PiiReasons.UsSsn, result.DecisiveVerdict!.Value.Reason);
        Assert.DoesNotContain("123-45-6789", result.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("6789", response.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetResponseAsync_LogOnly_PassesTextAndRecordsKinds()
    {
        var inner = Echo();
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddPiiRedaction(o => { o.InputAction = PiiAction.LogOnly; o.CheckOutput = false; })).Build();

        var response = await client.GetResponseAsync($"ip 10.1.2.3 and {Email}", cancellationToken: Ct);

        Assert.Equal($"ip 10.1.2.3 and {Email}", inner.ReceivedMessages.Single().Last().Text);
        var verdict = Assert.Single(response.GetSafeAIResult()!.Verdicts, v => v.Stage == "pii-input");
        Assert.Equal(GuardAction.Allow, verdict.Action);
        Assert.Equal(PiiReasons.Email, verdict.Reason);
        Assert.DoesNotContain(Email, verdict.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("10.1.2.3", verdict.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetResponseAsync_SystemMessage_IsLeftAloneByDefault()
    {
        var inner = Echo();
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddPiiRedaction()).Build();

        _ = await client.GetResponseAsync([new(ChatRole.System, "Support: help@shop.example"), new(ChatRole.User, $"I am {Email}")], cancellationToken: Ct);

        var seen = inner.ReceivedMessages.Single().ToList();
        Assert.Equal("Support: help@shop.example", seen[0].Text);
        Assert.Equal("I am [EMAIL_1]", seen[1].Text);
    }

    [Fact]
    public async Task GetResponseAsync_ModelLeaksPii_AnswerIsRedacted()
    {
        var inner = TestChatClient.Answering("The CEO's number is (650) 253-0000 and card 5555-5555-5555-4444.");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddPiiRedaction()).Build();

        var response = await client.GetResponseAsync("Who runs the shop?", cancellationToken: Ct);

        Assert.Equal("The CEO's number is [PHONE_1] and card [CARD_1].", response.Text);
        var verdict = Assert.Single(response.GetSafeAIResult()!.Verdicts, v => v.Stage == "pii-output");
        Assert.Equal(GuardAction.Modify, verdict.Action);
        Assert.Equal(PiiReasons.CreditCard, verdict.Reason);
    }

    [Fact]
    public async Task GetResponseAsync_ModelLeaksPiiWithBlock_AnswerIsRefused()
    {
        var inner = TestChatClient.Answering("Try AKIAIOSFODNN7EXAMPLE as the key.");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddPiiRedaction(o => o.OutputAction = PiiAction.Block)).Build();

        var response = await client.GetResponseAsync("Give me a key", cancellationToken: Ct);

        Assert.Equal(ChatFinishReason.ContentFilter, response.FinishReason);
        Assert.DoesNotContain("AKIA", response.Text, StringComparison.Ordinal);
        Assert.Equal(PiiReasons.Secret, response.GetSafeAIResult()!.DecisiveVerdict!.Value.Reason);
    }

    [Fact]
    public async Task GetResponseAsync_ReversibleAnswerRepeatsCallersOwnValue_IsNotALeak()
    {
        using var client = Echo().AsBuilder().UseSafeAI(safe => safe.AddPiiRedaction(o => { o.Reversible = true; o.OutputAction = PiiAction.Block; })).Build();

        var response = await client.GetResponseAsync($"Card {Card}", cancellationToken: Ct);

        Assert.Equal($"You said: Card {Card}", response.Text);
        Assert.False(response.GetSafeAIResult()!.IsRejected);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_LeakSplitAcrossChunks_NoChunkCarriesIt()
    {
        var inner = TestChatClient.Streaming("Sure. Your card is 41", "11 1111 ", "1111 1111", ". Anything else? ", "Mail jane", ".doe@exa", "mple.com now.");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddPiiRedaction()).Build();

        var chunks = new List<string>();
        await foreach (var update in client.GetStreamingResponseAsync("hi", cancellationToken: Ct))
        {
            chunks.Add(update.Text);
        }

        var text = string.Concat(chunks);
        Assert.Equal("Sure. Your card is [CARD_1]. Anything else? Mail [EMAIL_1] now.", text);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_Reversible_PlaceholderSplitAcrossChunksIsRestored()
    {
        var inner = TestChatClient.Streaming("Sent to [EMA", "IL_1", "] just now.");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddPiiRedaction(o => o.Reversible = true)).Build();

        var text = string.Empty;
        await foreach (var update in client.GetStreamingResponseAsync($"mail {Email}", cancellationToken: Ct))
        {
            text += update.Text;
        }

        Assert.Equal($"Sent to {Email} just now.", text);
        Assert.DoesNotContain(Email, inner.ReceivedMessages.Single().Last().Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetResponseAsync_TextOverMaxLength_FailsClosed()
    {
        var inner = Echo();
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddPiiRedaction(o => o.MaxTextLength = 100)).Build();

        var response = await client.GetResponseAsync(new string('x', 101), cancellationToken: Ct);

        Assert.Equal(0, inner.Calls);
        Assert.Equal(PiiReasons.TooLong, response.GetSafeAIResult()!.DecisiveVerdict!.Value.Reason);
    }

    [Fact]
    public async Task GetResponseAsync_NoPii_AnswerUnchanged()
    {
        var inner = TestChatClient.Answering("Banana bread needs ripe bananas.");
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddPiiRedaction()).Build();

        var response = await client.GetResponseAsync("How do I make banana bread?", cancellationToken: Ct);

        Assert.Equal("Banana bread needs ripe bananas.", response.Text);
        Assert.Equal("How do I make banana bread?", inner.ReceivedMessages.Single().Last().Text);
        Assert.False(response.GetSafeAIResult()?.IsRejected ?? false);
    }

    [Fact]
    public void AddPiiRedaction_ReversibleWithBlock_FailsNamingTheSetting()
    {
        var ex = Assert.Throws<OptionsValidationException>(() => new SafeAIPipelineBuilder().AddPiiRedaction(o => { o.Reversible = true; o.InputAction = PiiAction.Block; }));

        Assert.Contains("SafeAI:Pii:Reversible needs InputAction Redact", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddPiiRedaction_NullBuilder_Throws() => Assert.Throws<ArgumentNullException>(() => PiiPipelineBuilderExtensions.AddPiiRedaction(null!));

    [Fact]
    public async Task AddSafeAI_FromConfiguration_AppliesSettings()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["SafeAI:Pii:InputAction"] = "Block",
        }).Build();
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration);
        services.AddSafeAI(safe => safe.AddPiiRedaction());
        var inner = Echo();
        services.AddChatClient(inner).UseSafeAI();
        await using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<IChatClient>();

        var response = await client.GetResponseAsync($"mail {Email}", cancellationToken: Ct);

        Assert.Equal(0, inner.Calls);
        Assert.Equal(PiiReasons.Email, response.GetSafeAIResult()!.DecisiveVerdict!.Value.Reason);
    }

    [Fact]
    public void AddSafeAI_InvalidConfiguration_FailsNamingTheSetting()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["SafeAI:Pii:MaxTextLength"] = "0",
        }).Build();
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration);
        services.AddSafeAI(safe => safe.AddPiiRedaction());
        using var provider = services.BuildServiceProvider();

        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<PiiRedactionOptions>>().Value);

        Assert.Contains("SafeAI:Pii:MaxTextLength must be between 1 and 100000000", ex.Message, StringComparison.Ordinal);
    }
}

public sealed class PiiPlaceholdersTests
{
    [Fact]
    public void Redact_SameValueTwice_GetsOnePlaceholder()
    {
        var placeholders = new PiiPlaceholders();
        const string text = "a@b.io then a@b.io then c@d.io";
        var redacted = placeholders.Redact(text, new PiiDetector().Detect(text));

        Assert.Equal("[EMAIL_1] then [EMAIL_1] then [EMAIL_2]", redacted);
        Assert.Equal(text, placeholders.Restore(redacted));
    }

    [Fact]
    public void Restore_UnknownPlaceholder_StaysAsItIs()
    {
        var placeholders = new PiiPlaceholders();
        _ = placeholders.Redact("a@b.io", [new PiiEntity(PiiEntityTypes.Email, 0, 6)]);

        Assert.Equal("a@b.io and [EMAIL_9] and [PHONE_1]", placeholders.Restore("[EMAIL_1] and [EMAIL_9] and [PHONE_1]"));
    }

    [Fact]
    public void Redact_OverlappingFindings_Throws() =>
        Assert.Throws<ArgumentException>(() => new PiiPlaceholders().Redact("abcdef", [new PiiEntity(PiiEntityTypes.Email, 0, 4), new PiiEntity(PiiEntityTypes.Email, 2, 3)]));

    [Fact]
    public void Redact_FindingOutsideText_Throws() =>
        Assert.Throws<ArgumentException>(() => new PiiPlaceholders().Redact("abc", [new PiiEntity(PiiEntityTypes.Email, 1, 5)]));
}

public sealed class PiiRedactionOptionsBindingTests
{
    [Fact]
    public void AddSafeAI_PhoneRegionsInConfiguration_ReplaceTheDefaults()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["SafeAI:Pii:PhoneRegions:0"] = "GB",
        }).Build();
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration);
        services.AddSafeAI(safe => safe.AddPiiRedaction());
        using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<PiiRedactionOptions>>().Value;

        Assert.Equal(["GB"], options.PhoneRegions);
    }
}

public sealed class PiiRedactionConcurrencyAndLoggingTests
{
    [Fact]
    public async Task GetResponseAsync_ManyConcurrentCalls_EachGetsOnlyItsOwnValuesBack()
    {
        var inner = new TestChatClient
        {
            GetResponseAsyncCallback = async (messages, _, ct) =>
            {
                await Task.Yield();
                return new ChatResponse(new ChatMessage(ChatRole.Assistant, "Noted: " + messages.Last().Text));
            },
        };
        using var client = inner.AsBuilder().UseSafeAI(safe => safe.AddPiiRedaction(o => o.Reversible = true)).Build();

        var answers = await Task.WhenAll(Enumerable.Range(0, 64).Select(i =>
            client.GetResponseAsync($"I am user{i}@example.com", cancellationToken: TestContext.Current.CancellationToken)));

        for (var i = 0; i < answers.Length; i++)
        {
            Assert.Equal($"Noted: I am user{i}@example.com", answers[i].Text);
        }

        Assert.All(inner.ReceivedMessages, m => Assert.Equal("I am [EMAIL_1]", m.Last().Text));
    }

    [Fact]
    public async Task GetResponseAsync_LogsBelowTrace_NeverHoldTheValues()
    {
        var provider = new CapturingLoggerProvider();
        using var factory = Microsoft.Extensions.Logging.LoggerFactory.Create(b => b.AddProvider(provider).SetMinimumLevel(Microsoft.Extensions.Logging.LogLevel.Debug));
        using var client = TestChatClient.Answering("Leaked: 5555-5555-5555-4444").AsBuilder()
            .UseSafeAI(safe => safe.UseLoggerFactory(factory).AddPiiRedaction(o => o.InputAction = PiiAction.LogOnly)).Build();

        _ = await client.GetResponseAsync("My SSN is 123-45-6789", cancellationToken: TestContext.Current.CancellationToken);

        Assert.NotEmpty(provider.Messages);
        Assert.DoesNotContain(provider.Messages, m => m.Contains("123-45-6789", StringComparison.Ordinal) || m.Contains("5555-5555", StringComparison.Ordinal));
    }

    private sealed class CapturingLoggerProvider : Microsoft.Extensions.Logging.ILoggerProvider, Microsoft.Extensions.Logging.ILogger
    {
        public System.Collections.Concurrent.ConcurrentQueue<string> Messages { get; } = new();

        public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => logLevel >= Microsoft.Extensions.Logging.LogLevel.Debug;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Messages.Enqueue(formatter(state, exception));

        public void Dispose()
        {
        }
    }
}

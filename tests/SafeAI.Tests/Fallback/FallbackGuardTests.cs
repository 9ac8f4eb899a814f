using System.Net;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace SafeAI.Tests.Fallback;

public class FallbackGuardTests
{
    private static TestChatClient Failing(Exception exception) => new()
    {
        GetResponseAsyncCallback = (_, _, _) => Task.FromException<ChatResponse>(exception),
        GetStreamingResponseAsyncCallback = (_, _, _) => Throwing(exception),
    };

    private static async IAsyncEnumerable<ChatResponseUpdate> Throwing(Exception exception)
    {
        await Task.Yield();
        if (exception is not null)
        {
            throw exception;
        }

        yield break;
    }

    private static TestChatClient Hanging() => new()
    {
        GetResponseAsyncCallback = async (_, _, ct) =>
        {
            await Task.Delay(Timeout.Infinite, ct);
            return new ChatResponse();
        },
    };

    private static IChatClient Build(IChatClient inner, Action<FallbackOptions> configure, TimeProvider? time = null, Action<SafeAIPipelineBuilder>? more = null) =>
        inner.AsBuilder().UseSafeAI(safe =>
        {
            safe.AddFallback(configure);
            more?.Invoke(safe);
            if (time is not null)
            {
                safe.UseTimeProvider(time);
            }
        }).Build();

    private static GuardVerdict FallbackVerdict(ChatResponse response)
    {
        Assert.True(response.GetSafeAIResult()!.TryGetVerdict("fallback", out var verdict));
        return verdict;
    }

    public static TheoryData<Exception, string> Failures => new()
    {
        { new InvalidOperationException("boom"), FallbackReasons.Exception },
        { new HttpRequestException("too many", null, HttpStatusCode.TooManyRequests), FallbackReasons.RateLimited },
        { new HttpRequestException("bad gateway", null, HttpStatusCode.BadGateway), FallbackReasons.ServerError },
        { new StatusException(503), FallbackReasons.ServerError },
        { new InvalidOperationException("This model's maximum context length is 8192 tokens (context_length_exceeded)"), FallbackReasons.ContextWindowExceeded },
        { new TimeoutException(), FallbackReasons.Timeout },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public async Task GetResponseAsync_ModelFails_FallbackAnswersWithDegradeNamingTrigger(Exception failure, string reason)
    {
        using var client = Build(Failing(failure), o => o.Add(ChatFallback.Static("Backup answer.", "canned")));

        var response = await client.GetResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal("Backup answer.", response.Text);
        var verdict = FallbackVerdict(response);
        Assert.Equal(GuardAction.Degrade, verdict.Action);
        Assert.Equal(reason, verdict.Reason);
        Assert.Equal("canned", verdict.Detail);
    }

    [Fact]
    public async Task GetResponseAsync_Success_NoVerdictAndModelAnswer()
    {
        using var client = Build(TestChatClient.Answering("Model answer."), o => o.Add(ChatFallback.Static("Backup.")));

        var response = await client.GetResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal("Model answer.", response.Text);
        Assert.False(response.GetSafeAIResult()!.TryGetVerdict("fallback", out _));
    }

    [Fact]
    public async Task GetResponseAsync_FailingFallback_FallsToNextWithoutRetry()
    {
        var backup = Failing(new HttpRequestException("backup down", null, HttpStatusCode.ServiceUnavailable));
        var faq = FaqChatClient.CreateDemo();
        using var client = Build(Failing(new InvalidOperationException("primary down")), o => o
            .Add(ChatFallback.FromClient(backup, "backup-model"))
            .Add(ChatFallback.FromClient(faq))
            .Add(ChatFallback.Static("Last resort.")));

        var response = await client.GetResponseAsync("What are your opening hours?", cancellationToken: TestContext.Current.CancellationToken);

        Assert.Contains("Monday to Friday", response.Text, StringComparison.Ordinal);
        Assert.Equal(FaqChatClient.ModelId, FallbackVerdict(response).Detail);
        Assert.Equal(1, backup.Calls);
    }

    [Fact]
    public async Task GetResponseAsync_DelegateReturnsNull_NextLinkAnswers()
    {
        using var client = Build(Failing(new InvalidOperationException()), o => o
            .Add(ChatFallback.FromDelegate("popular", (_, _, _) => ValueTask.FromResult<ChatResponse?>(null)))
            .Add(ChatFallback.HumanHandoff("A person will call you back.")));

        var response = await client.GetResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal("A person will call you back.", response.Text);
        Assert.Equal("human-handoff", FallbackVerdict(response).Detail);
        Assert.Equal(true, response.AdditionalProperties![FallbackReasons.HandoffPropertyKey]);
    }

    [Fact]
    public async Task GetResponseAsync_DelegateSeesTrigger()
    {
        FallbackTriggers seen = FallbackTriggers.None;
        using var client = Build(Failing(new HttpRequestException("429", null, HttpStatusCode.TooManyRequests)), o => o
            .Add(ChatFallback.FromDelegate("popular", (_, trigger, _) =>
            {
                seen = trigger;
                return ValueTask.FromResult<ChatResponse?>(new ChatResponse(new ChatMessage(ChatRole.Assistant, "Popular content.")));
            })));

        var response = await client.GetResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal("Popular content.", response.Text);
        Assert.Equal(FallbackTriggers.RateLimited, seen);
    }

    [Fact]
    public async Task GetResponseAsync_AllFallbacksFail_ReturnsUnavailableMessage()
    {
        using var client = Build(Failing(new InvalidOperationException()), o =>
        {
            o.UnavailableMessage = "We're down, sorry.";
            o.Add(ChatFallback.FromClient(Failing(new InvalidOperationException("also down")), "backup"));
        });

        var response = await client.GetResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal("We're down, sorry.", response.Text);
        Assert.Equal(FallbackReasons.NoneAnswered, FallbackVerdict(response).Detail);
        Assert.Equal(GuardAction.Degrade, response.GetSafeAIResult()!.Outcome);
    }

    [Fact]
    public async Task GetResponseAsync_AllFallbacksFailThrowMode_ThrowsTypedExceptionWithCause()
    {
        var cause = new InvalidOperationException("primary down");
        using var client = Build(Failing(cause), o => o.WhenExhausted = FallbackExhaustedBehavior.ThrowException);

        var ex = await Assert.ThrowsAsync<SafeAIFallbackExhaustedException>(() => client.GetResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken));

        Assert.Same(cause, ex.InnerException);
        Assert.Equal(FallbackTriggers.Exception, ex.Trigger);
    }

    [Fact]
    public async Task GetResponseAsync_TriggerDisabled_ExceptionPassesThrough()
    {
        using var client = Build(Failing(new HttpRequestException("429", null, HttpStatusCode.TooManyRequests)), o =>
        {
            o.Triggers = FallbackTriggers.All & ~FallbackTriggers.RateLimited;
            o.Add(ChatFallback.Static("Backup."));
        });

        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task GetResponseAsync_ExceptionTypeNotListed_PassesThrough()
    {
        using var client = Build(Failing(new ArgumentException("bad request")), o =>
        {
            o.ExceptionTypes.Add(typeof(IOException));
            o.Add(ChatFallback.Static("Backup."));
        });

        await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task GetResponseAsync_ProviderContentFilterFinish_FallsBack()
    {
        var inner = new TestChatClient { GetResponseAsyncCallback = (_, _, _) => Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "")) { FinishReason = ChatFinishReason.ContentFilter }) };
        using var client = Build(inner, o => o.Add(ChatFallback.Static("Let me connect you with a person.")));

        var response = await client.GetResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal("Let me connect you with a person.", response.Text);
        Assert.Equal(FallbackReasons.ContentFilter, FallbackVerdict(response).Reason);
    }

    [Fact]
    public async Task GetResponseAsync_OutputCheckBlocks_FallbackAnswersAndBlockStaysOnRecord()
    {
        using var client = Build(TestChatClient.Answering("FORBIDDEN words"), o => o.Add(ChatFallback.Static("Here is a safe answer.")),
            more: safe => safe.AddOutputCheck("out", (_, seg, _) => ValueTask.FromResult(seg.Text.Contains("FORBIDDEN", StringComparison.Ordinal) ? GuardVerdict.Block("out", "out.bad") : GuardVerdict.Allow("out"))));

        var response = await client.GetResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal("Here is a safe answer.", response.Text);
        Assert.Equal(FallbackReasons.Blocked, FallbackVerdict(response).Reason);
        Assert.True(response.GetSafeAIResult()!.TryGetVerdict("out", out var block));
        Assert.Equal(GuardAction.Block, block.Action);
    }

    [Fact]
    public async Task GetResponseAsync_AttemptTimeout_CancelsModelAndFallsBack()
    {
        var time = new FakeTimeProvider();
        var inner = Hanging();
        using var client = Build(inner, o => { o.AttemptTimeout = TimeSpan.FromSeconds(10); o.Add(ChatFallback.Static("Slow today, sorry.")); }, time);

        var pending = client.GetResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken);
        Assert.False(pending.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(10));
        var response = await pending.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.Equal("Slow today, sorry.", response.Text);
        Assert.Equal(FallbackReasons.Timeout, FallbackVerdict(response).Reason);
    }

    [Fact]
    public async Task GetResponseAsync_AttemptTimeoutCallerPassedNoToken_FallsBackInsteadOfThrowing()
    {
        var time = new FakeTimeProvider();
        using var client = Build(Hanging(), o => { o.AttemptTimeout = TimeSpan.FromSeconds(1); o.Add(ChatFallback.Static("Slow today, sorry.")); }, time);

        // No cancellation token: the caller cannot have cancelled, so the cancellation is the stage's own timeout.
#pragma warning disable xUnit1051 // The point of the test: the caller passes no token.
        var pending = client.GetResponseAsync("hi");
#pragma warning restore xUnit1051
        time.Advance(TimeSpan.FromSeconds(1));
        var response = await pending.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.Equal("Slow today, sorry.", response.Text);
        Assert.Equal(FallbackReasons.Timeout, FallbackVerdict(response).Reason);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_AttemptTimeoutCallerPassedNoToken_FallsBackInsteadOfThrowing()
    {
        var time = new FakeTimeProvider();
        var inner = new TestChatClient { GetStreamingResponseAsyncCallback = (_, _, ct) => SlowStart(ct) };
        using var client = Build(inner, o => { o.AttemptTimeout = TimeSpan.FromSeconds(1); o.Add(ChatFallback.Static("Quick answer.")); }, time);

#pragma warning disable xUnit1051 // The point of the test: the caller passes no token.
        var reading = ReadAllAsync(client.GetStreamingResponseAsync("hi"));
#pragma warning restore xUnit1051
        var updates = await AdvanceUntilDoneAsync(time, reading, TimeSpan.FromSeconds(1));

        Assert.Equal("Quick answer.", string.Concat(updates.Select(u => u.Text)));
    }

    [Fact]
    public async Task GetResponseAsync_TotalTimeoutSpent_SkipsModelFallbacksButStaticAnswers()
    {
        var time = new FakeTimeProvider();
        var backup = Hanging();
        using var client = Build(Hanging(), o =>
        {
            o.TotalTimeout = TimeSpan.FromSeconds(30);
            o.Add(ChatFallback.FromClient(backup, "backup"));
            o.Add(ChatFallback.Static("Static answer."));
        }, time);

        var pending = client.GetResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken);
        time.Advance(TimeSpan.FromSeconds(30));
        var response = await pending.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.Equal("Static answer.", response.Text);
        Assert.Equal(0, backup.Calls);
    }

    [Fact]
    public async Task GetResponseAsync_CallerCancels_OperationCanceledPropagatesNoFallback()
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var fallbackCalls = 0;
        using var client = Build(Hanging(), o => o.Add(ChatFallback.FromDelegate("d", (_, _, _) =>
        {
            fallbackCalls++;
            return ValueTask.FromResult<ChatResponse?>(new ChatResponse());
        })));

        var pending = client.GetResponseAsync("q", cancellationToken: cts.Token);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending);
        Assert.Equal(0, fallbackCalls);
    }

    [Fact]
    public async Task GetResponseAsync_CircuitOpens_ModelNoLongerCalled()
    {
        var time = new FakeTimeProvider();
        var inner = Failing(new HttpRequestException("down", null, HttpStatusCode.InternalServerError));
        using var client = Build(inner, o =>
        {
            o.CircuitBreaker = new FallbackCircuitBreakerOptions { MinimumThroughput = 2, FailureRatio = 0.5, SamplingDuration = TimeSpan.FromSeconds(10), BreakDuration = TimeSpan.FromSeconds(30) };
            o.Add(ChatFallback.Static("Backup."));
        }, time);

        var first = await client.GetResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken);
        var second = await client.GetResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken);
        var third = await client.GetResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(FallbackReasons.ServerError, FallbackVerdict(first).Reason);
        Assert.Equal(FallbackReasons.ServerError, FallbackVerdict(second).Reason);
        Assert.Equal(FallbackReasons.CircuitOpen, FallbackVerdict(third).Reason);
        Assert.Equal("Backup.", third.Text);
        Assert.Equal(2, inner.Calls);

        // After the break the circuit lets a trial call through again.
        time.Advance(TimeSpan.FromSeconds(31));
        await client.GetResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(3, inner.Calls);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_StreamFailuresOpenCircuit_ModelNoLongerCalled()
    {
        var time = new FakeTimeProvider();
        var inner = Failing(new HttpRequestException("down", null, HttpStatusCode.BadGateway));
        using var client = Build(inner, o =>
        {
            o.CircuitBreaker = new FallbackCircuitBreakerOptions { MinimumThroughput = 2, FailureRatio = 0.5, SamplingDuration = TimeSpan.FromSeconds(10), BreakDuration = TimeSpan.FromSeconds(30) };
            o.Add(ChatFallback.Static("Backup."));
        }, time);

        for (var i = 0; i < 2; i++)
        {
            await ReadAllAsync(client.GetStreamingResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken));
        }

        var third = await ReadAllAsync(client.GetStreamingResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken));

        Assert.Equal(2, inner.Calls);
        Assert.Equal("Backup.", string.Concat(third.Select(u => u.Text)));
        Assert.True(third[^1].GetSafeAIResult()!.TryGetVerdict("fallback", out var verdict));
        Assert.Equal(FallbackReasons.CircuitOpen, verdict.Reason);
    }

    [Fact]
    public async Task GetResponseAsync_KillSwitchFromConfiguration_AllTrafficToFallbackAtOnce()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["SafeAI:Fallback:KillSwitch"] = "false" }).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddSafeAI(safe => safe.AddFallback(o => o.Add(ChatFallback.Static("Maintenance answer.", "maintenance"))));
        var inner = TestChatClient.Answering("Model answer.");
        services.AddChatClient(inner).UseSafeAI();
        await using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<IChatClient>();

        var before = await client.GetResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken);
        configuration["SafeAI:Fallback:KillSwitch"] = "true";
        configuration.Reload();
        var during = await client.GetResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken);
        var streamed = await client.GetStreamingResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken).ToChatResponseAsync(TestContext.Current.CancellationToken);

        Assert.Equal("Model answer.", before.Text);
        Assert.Equal("Maintenance answer.", during.Text);
        Assert.Equal(FallbackReasons.KillSwitch, FallbackVerdict(during).Reason);
        Assert.Equal("maintenance", FallbackVerdict(during).Detail);
        Assert.Equal("Maintenance answer.", streamed.Text);
        Assert.Equal(1, inner.Calls);
    }

    [Fact]
    public async Task GetResponseAsync_KeyedClientFallback_ResolvedFromServices()
    {
        var services = new ServiceCollection();
        services.AddKeyedChatClient("backup", TestChatClient.Answering("Backup model answer."));
        services.AddSafeAI(safe => safe.AddFallback(o => o.Add(ChatFallback.FromKeyedClient("backup"))));
        services.AddChatClient(Failing(new InvalidOperationException())).UseSafeAI();
        await using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<IChatClient>();

        var response = await client.GetResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal("Backup model answer.", response.Text);
        Assert.Equal("chat-client:backup", FallbackVerdict(response).Detail);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_FailsBeforeFirstChunk_FallbackStreams()
    {
        using var client = Build(Failing(new HttpRequestException("503", null, HttpStatusCode.ServiceUnavailable)), o => o.Add(ChatFallback.FromClient(FaqChatClient.CreateDemo())));

        var updates = await ReadAllAsync(client.GetStreamingResponseAsync("What are your opening hours?", cancellationToken: TestContext.Current.CancellationToken));

        Assert.Contains("Monday to Friday", string.Concat(updates.Select(u => u.Text)), StringComparison.Ordinal);
        Assert.True(updates[^1].GetSafeAIResult()!.TryGetVerdict("fallback", out var verdict));
        Assert.Equal(FallbackReasons.ServerError, verdict.Reason);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_FailsAfterFirstChunk_EndsWithNoticeNotFallback()
    {
        var inner = new TestChatClient { GetStreamingResponseAsyncCallback = (_, _, ct) => PartlyFailing(ct) };
        var fallbackCalls = 0;
        using var client = Build(inner, o =>
        {
            o.StreamInterruptedMessage = "[interrupted]";
            o.Add(ChatFallback.FromDelegate("d", (_, _, _) =>
            {
                fallbackCalls++;
                return ValueTask.FromResult<ChatResponse?>(new ChatResponse(new ChatMessage(ChatRole.Assistant, "fallback")));
            }));
        });

        var updates = await ReadAllAsync(client.GetStreamingResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken));

        Assert.Equal("The first part\n\n[interrupted]", string.Concat(updates.Select(u => u.Text)));
        Assert.Equal(0, fallbackCalls);
        Assert.True(updates[^1].GetSafeAIResult()!.TryGetVerdict("fallback", out var verdict));
        Assert.Equal(FallbackReasons.StreamInterrupted, verdict.Reason);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_FirstChunkTimeout_FallsBack()
    {
        var time = new FakeTimeProvider();
        var inner = new TestChatClient { GetStreamingResponseAsyncCallback = (_, _, ct) => SlowStart(ct) };
        using var client = Build(inner, o => { o.AttemptTimeout = TimeSpan.FromSeconds(5); o.Add(ChatFallback.Static("Quick answer.")); }, time);

        var reading = ReadAllAsync(client.GetStreamingResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken));
        var updates = await AdvanceUntilDoneAsync(time, reading, TimeSpan.FromSeconds(5));

        Assert.Equal("Quick answer.", string.Concat(updates.Select(u => u.Text)));
    }

    [Fact]
    public async Task GetStreamingResponseAsync_SlowAfterFirstChunk_AttemptTimeoutNoLongerApplies()
    {
        var time = new FakeTimeProvider();
        var firstConsumed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var inner = new TestChatClient { GetStreamingResponseAsyncCallback = (_, _, ct) => SlowAfterFirstChunk(time, firstConsumed, ct) };
        using var client = Build(inner, o => { o.AttemptTimeout = TimeSpan.FromSeconds(2); o.Add(ChatFallback.Static("Quick answer.")); }, time);

        var reading = ReadAllAsync(client.GetStreamingResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken));
        await firstConsumed.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        for (var i = 0; i < 20 && !reading.IsCompleted; i++)
        {
            await Task.WhenAny(reading, Task.Delay(20, TestContext.Current.CancellationToken));
            time.Advance(TimeSpan.FromSeconds(1));
        }

        var updates = await reading.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal("The first part and the rest, five seconds later.", string.Concat(updates.Select(u => u.Text)));
    }

    private static async IAsyncEnumerable<ChatResponseUpdate> SlowAfterFirstChunk(TimeProvider time, TaskCompletionSource firstConsumed, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.Yield();
        yield return new ChatResponseUpdate(ChatRole.Assistant, "The first part") { ResponseId = "r", MessageId = "m" };
        var delay = Task.Delay(TimeSpan.FromSeconds(5), time, cancellationToken);
        firstConsumed.TrySetResult();
        await delay;
        yield return new ChatResponseUpdate(ChatRole.Assistant, " and the rest, five seconds later.") { ResponseId = "r", MessageId = "m" };
    }

    [Fact]
    public async Task GetStreamingResponseAsync_Success_PassesChunksThrough()
    {
        using var client = Build(TestChatClient.Streaming("a", "b", "c"), o => o.Add(ChatFallback.Static("x")));

        var updates = await ReadAllAsync(client.GetStreamingResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken));

        Assert.Equal("abc", string.Concat(updates.Select(u => u.Text)));
        Assert.False(updates[^1].GetSafeAIResult()!.TryGetVerdict("fallback", out _));
    }

    [Fact]
    public async Task GetStreamingResponseAsync_CallerCancelsMidStream_CancellationPropagatesNoNotice()
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        using var client = Build(TestChatClient.Streaming("a", "b", "c", "d"), o => o.Add(ChatFallback.Static("x")));
        var seen = new List<string>();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var update in client.GetStreamingResponseAsync("q", cancellationToken: cts.Token))
            {
                seen.Add(update.Text);
                await cts.CancelAsync();
            }
        });

        Assert.Equal(["a"], seen);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_AllFallbacksFailThrowMode_ThrowsTypedException()
    {
        using var client = Build(Failing(new InvalidOperationException("down")), o =>
        {
            o.WhenExhausted = FallbackExhaustedBehavior.ThrowException;
            o.Add(ChatFallback.FromClient(Failing(new InvalidOperationException("also down")), "backup"));
        });

        await Assert.ThrowsAsync<SafeAIFallbackExhaustedException>(() => ReadAllAsync(client.GetStreamingResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken)));
    }

    [Fact]
    public async Task GetStreamingResponseAsync_OutputCheckBlocksBeforeFirstChunk_FallbackAnswers()
    {
        using var client = Build(TestChatClient.Streaming("FORBIDDEN ", "words"), o => o.Add(ChatFallback.Static("Safe answer.")),
            more: safe => safe.AddOutputCheck("out", (_, seg, _) => ValueTask.FromResult((seg.PrecedingText + seg.Text).Contains("FORBIDDEN", StringComparison.Ordinal) ? GuardVerdict.Block("out", "out.bad") : GuardVerdict.Allow("out"))));

        var updates = await ReadAllAsync(client.GetStreamingResponseAsync("q", cancellationToken: TestContext.Current.CancellationToken));

        var text = string.Concat(updates.Select(u => u.Text));
        Assert.Equal("Safe answer.", text);
        Assert.True(updates[^1].GetSafeAIResult()!.TryGetVerdict("fallback", out var verdict));
        Assert.Equal(FallbackReasons.Blocked, verdict.Reason);
    }

    [Fact]
    public void AddFallback_InvalidSettings_ThrowNamingSetting()
    {
        var timeout = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => new SafeAIPipelineBuilder().AddFallback(o => o.AttemptTimeout = TimeSpan.FromSeconds(-1)));
        Assert.Contains("SafeAI:Fallback:AttemptTimeout", timeout.Message, StringComparison.Ordinal);
        var breaker = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => new SafeAIPipelineBuilder().AddFallback(o => o.CircuitBreaker = new FallbackCircuitBreakerOptions { FailureRatio = 2 }));
        Assert.Contains("SafeAI:Fallback:CircuitBreaker:FailureRatio", breaker.Message, StringComparison.Ordinal);
        var message = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => new SafeAIPipelineBuilder().AddFallback(o => o.UnavailableMessage = ""));
        Assert.Contains("SafeAI:Fallback:UnavailableMessage", message.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Moves fake time on by <paramref name="step"/> (the timeout under test) until <paramref name="work"/> ends. A stream's
    /// attempt timer may be registered a moment after reading starts: one advance after a fixed 50 ms was a guess that a
    /// loaded CI machine could lose (the timer, registered after the advance, never fired). Once it fired, further
    /// advances change nothing.
    /// </summary>
    private static async Task<T> AdvanceUntilDoneAsync<T>(FakeTimeProvider time, Task<T> work, TimeSpan step)
    {
        for (var i = 0; i < 100 && !work.IsCompleted; i++)
        {
            await Task.WhenAny(work, Task.Delay(50, TestContext.Current.CancellationToken));
            if (!work.IsCompleted)
            {
                time.Advance(step);
            }
        }

        return await work.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
    }

    private static async Task<List<ChatResponseUpdate>> ReadAllAsync(IAsyncEnumerable<ChatResponseUpdate> stream)
    {
        var list = new List<ChatResponseUpdate>();
        await foreach (var update in stream)
        {
            list.Add(update);
        }

        return list;
    }

    private static async IAsyncEnumerable<ChatResponseUpdate> PartlyFailing([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.Yield();
        yield return new ChatResponseUpdate(ChatRole.Assistant, "The first part") { ResponseId = "r", MessageId = "m" };
        cancellationToken.ThrowIfCancellationRequested();
        throw new HttpRequestException("connection reset");
    }

    private static async IAsyncEnumerable<ChatResponseUpdate> SlowStart([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.Delay(Timeout.Infinite, cancellationToken);
        yield return new ChatResponseUpdate(ChatRole.Assistant, "too late");
    }

    private sealed class StatusException(int status) : Exception("provider error")
    {
        public int Status { get; } = status;
    }
}

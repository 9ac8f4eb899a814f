using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace SafeAI.Tests.Faults;

/// <summary>Models that ignore their cancellation token: every budget must hold without their cooperation.</summary>
public sealed class UncooperativeModelTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private readonly FakeTimeProvider _time = new();
    private readonly FakeLoggerProvider _logs = new();
    private readonly ILoggerFactory _loggerFactory;

    // Completes only when a test says so: the model never looks at its token.
    private readonly TaskCompletionSource<ChatResponse> _never = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _streamStall = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public UncooperativeModelTests()
    {
        _loggerFactory = LoggerFactory.Create(b => b.AddProvider(_logs).SetMinimumLevel(LogLevel.Debug));
    }

    public void Dispose()
    {
        _loggerFactory.Dispose();
        _logs.Dispose();
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private TestChatClient Deaf(bool stallAfterFirstChunk = false) => new()
    {
        GetResponseAsyncCallback = (_, _, _) => _never.Task,
        GetStreamingResponseAsyncCallback = (_, _, _) => DeafStream(stallAfterFirstChunk),
    };

    private async IAsyncEnumerable<ChatResponseUpdate> DeafStream(bool stallAfterFirstChunk)
    {
        await Task.Yield();
        if (stallAfterFirstChunk)
        {
            yield return new ChatResponseUpdate(ChatRole.Assistant, "The first part") { ResponseId = "r", MessageId = "m" };
        }

        await _streamStall.Task;
        yield return new ChatResponseUpdate(ChatRole.Assistant, " too late");
    }

    private IChatClient Build(IChatClient inner, Action<SafeAIPipelineBuilder> configure) =>
        inner.AsBuilder().UseSafeAI(safe =>
        {
            configure(safe);
            safe.UseTimeProvider(_time).UseLoggerFactory(_loggerFactory);
        }).Build();

    /// <summary>Moves fake time on in steps until the work ends (timers are registered a moment after the call starts).</summary>
    private async Task<T> AdvanceUntilDoneAsync<T>(Task<T> work, TimeSpan step)
    {
        for (var i = 0; i < 200 && !work.IsCompleted; i++)
        {
            _time.Advance(step);
            await Task.WhenAny(work, Task.Delay(20, Ct));
        }

        return await work.WaitAsync(Patience, Ct);
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

    [Fact]
    public async Task GetResponseAsync_ModelIgnoresTokenPastAttemptTimeout_FallbackAnswers()
    {
        using var client = Build(Deaf(), safe => safe.AddFallback(o => { o.AttemptTimeout = TimeSpan.FromSeconds(1); o.TotalTimeout = TimeSpan.FromSeconds(2); o.Add(ChatFallback.Static("Backup.")); }));

        var response = await AdvanceUntilDoneAsync(client.GetResponseAsync("hi", cancellationToken: Ct), TimeSpan.FromSeconds(1));

        Assert.Equal("Backup.", response.Text);
        Assert.True(response.GetSafeAIResult()!.TryGetVerdict("fallback", out var verdict));
        Assert.Equal(FallbackReasons.Timeout, verdict.Reason);
    }

    [Fact]
    public async Task GetResponseAsync_ModelIgnoresTokenNoFallback_TypedTimeoutAfterDefaultModelTimeout()
    {
        using var client = Build(Deaf(), safe => safe.AddInputLengthLimit(1_000));

        var pending = client.GetResponseAsync("hi", cancellationToken: Ct);
        _time.Advance(TimeSpan.FromSeconds(99));
        await Task.Delay(20, Ct);
        Assert.False(pending.IsCompleted);
        var error = await Assert.ThrowsAsync<SafeAIModelTimeoutException>(() => AdvanceUntilDoneAsync(pending, TimeSpan.FromSeconds(1)));

        Assert.Equal(TimeSpan.FromSeconds(100), error.Timeout);
    }

    [Fact]
    public async Task GetResponseAsync_NoStagesModelIgnoresToken_TypedTimeoutAfterModelTimeout()
    {
        using var client = Build(Deaf(), safe => safe.Configure(o => o.ModelTimeout = TimeSpan.FromSeconds(5)));

        await Assert.ThrowsAsync<SafeAIModelTimeoutException>(() => AdvanceUntilDoneAsync(client.GetResponseAsync("hi", cancellationToken: Ct), TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task GetResponseAsync_AbandonedCallFailsLater_ExceptionObservedAndLogged()
    {
        using var client = Build(Deaf(), safe => safe.AddInputLengthLimit(1_000).Configure(o => o.ModelTimeout = TimeSpan.FromSeconds(5)));
        await Assert.ThrowsAsync<SafeAIModelTimeoutException>(() => AdvanceUntilDoneAsync(client.GetResponseAsync("hi", cancellationToken: Ct), TimeSpan.FromSeconds(5)));

        _never.SetException(new InvalidOperationException("late failure"));
        await WaitForLogAsync("InvalidOperationException");

        var late = Assert.Single(_logs.Collector.GetSnapshot(), r => r.Message.Contains("abandoned model call ended later", StringComparison.Ordinal));
        Assert.IsType<InvalidOperationException>(late.Exception);
    }

    [Fact]
    public async Task GetResponseAsync_CallerCancelsModelIgnoresToken_CancellationReturnsAtOnce()
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        using var client = Build(Deaf(), safe => safe.AddInputLengthLimit(1_000));

        var pending = client.GetResponseAsync("hi", cancellationToken: cts.Token);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.WaitAsync(Patience, Ct));
    }

    [Fact]
    public async Task GetStreamingResponseAsync_ModelIgnoresTokenBeforeFirstChunk_FallbackAnswers()
    {
        using var client = Build(Deaf(), safe => safe.AddFallback(o => { o.AttemptTimeout = TimeSpan.FromSeconds(1); o.Add(ChatFallback.Static("Backup.")); }));

        var updates = await AdvanceUntilDoneAsync(ReadAllAsync(client.GetStreamingResponseAsync("hi", cancellationToken: Ct)), TimeSpan.FromSeconds(1));

        Assert.Equal("Backup.", string.Concat(updates.Select(u => u.Text)));
    }

    [Fact]
    public async Task GetStreamingResponseAsync_ModelStallsMidStreamNoFallback_TypedTimeoutBetweenChunks()
    {
        using var client = Build(Deaf(stallAfterFirstChunk: true), safe => safe.AddInputLengthLimit(1_000).Configure(o => o.ModelTimeout = TimeSpan.FromSeconds(5)));
        await using var reader = client.GetStreamingResponseAsync("hi", cancellationToken: Ct).GetAsyncEnumerator(Ct);
        Assert.True(await reader.MoveNextAsync());
        Assert.Equal("The first part", reader.Current.Text);

        var error = await Assert.ThrowsAsync<SafeAIModelTimeoutException>(() => AdvanceUntilDoneAsync(ReadRestAsync(reader), TimeSpan.FromSeconds(5)));

        Assert.Contains("chunk", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_ModelStallsMidStreamWithFallback_EndsWithInterruptionNotice()
    {
        using var client = Build(Deaf(stallAfterFirstChunk: true), safe => safe
            .Configure(o => o.ModelTimeout = TimeSpan.FromSeconds(5))
            .AddFallback(o => o.Add(ChatFallback.Static("Backup."))));
        await using var reader = client.GetStreamingResponseAsync("hi", cancellationToken: Ct).GetAsyncEnumerator(Ct);
        Assert.True(await reader.MoveNextAsync());
        Assert.Equal("The first part", reader.Current.Text);

        var text = string.Concat((await AdvanceUntilDoneAsync(ReadRestAsync(reader), TimeSpan.FromSeconds(5))).Select(u => u.Text));

        Assert.Contains("interrupted", text, StringComparison.Ordinal);
        Assert.DoesNotContain("too late", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Backup.", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_TotalTimeoutMidStreamModelIgnoresToken_EndsWithInterruptionNotice()
    {
        using var client = Build(Deaf(stallAfterFirstChunk: true), safe => safe.AddFallback(o => { o.TotalTimeout = TimeSpan.FromSeconds(2); o.Add(ChatFallback.Static("Backup.")); }));
        await using var reader = client.GetStreamingResponseAsync("hi", cancellationToken: Ct).GetAsyncEnumerator(Ct);
        Assert.True(await reader.MoveNextAsync());

        var rest = await AdvanceUntilDoneAsync(ReadRestAsync(reader), TimeSpan.FromSeconds(1));

        Assert.Contains("interrupted", string.Concat(rest.Select(u => u.Text)), StringComparison.Ordinal);
    }

    private static async Task<List<ChatResponseUpdate>> ReadRestAsync(IAsyncEnumerator<ChatResponseUpdate> reader)
    {
        var list = new List<ChatResponseUpdate>();
        while (await reader.MoveNextAsync())
        {
            list.Add(reader.Current);
        }

        return list;
    }

    [Fact]
    public void Configure_ModelTimeoutNotPositive_ThrowsNamingSetting()
    {
        var error = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() =>
            new TestChatClient().AsBuilder().UseSafeAI(safe => safe.Configure(o => o.ModelTimeout = TimeSpan.Zero)).Build());

        Assert.Contains("SafeAI:ModelTimeout", error.Message, StringComparison.Ordinal);
    }

    private async Task WaitForLogAsync(string text)
    {
        for (var i = 0; i < 500 && !_logs.Collector.GetSnapshot().Any(r => r.Message.Contains(text, StringComparison.Ordinal)); i++)
        {
            await Task.Delay(10, Ct);
        }
    }
}

using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.Time.Testing;

namespace SafeAI.Tests.Faults;

/// <summary>
/// Every kind of model fault, with and without a fallback, streamed and not, must end within its time budget in a
/// well-formed response or a documented typed exception: the model's own exception passing through unchanged (no
/// fallback), <see cref="SafeAIModelException"/> (null answers) or <see cref="SafeAIModelTimeoutException"/> (past
/// <see cref="SafeAIOptions.ModelTimeout"/>). The matrix is printed in the test output.
/// </summary>
public class FaultMatrixTests
{
    private static readonly TimeSpan ModelTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(1);

    /// <summary>A fault kind: how the model answers a call and a stream; <see langword="null"/> where the kind has no such form.</summary>
    private sealed record Fault(
        string Kind,
        Type? Thrown,
        Func<CancellationToken, Task<ChatResponse>>? Call,
        Func<CancellationToken, IAsyncEnumerable<ChatResponseUpdate>>? Stream);

    private static IEnumerable<Fault> Faults()
    {
        static Fault Throwing(string kind, Func<Exception> create) => new(
            kind,
            create().GetType(),
            _ => Task.FromException<ChatResponse>(create()),
            _ => ThrowBeforeFirstChunk(create()));

        yield return Throwing("throws InvalidOperationException", () => new InvalidOperationException("model broke"));
        yield return Throwing("throws HttpRequestException 503", () => new HttpRequestException("unavailable", null, HttpStatusCode.ServiceUnavailable));
        yield return Throwing("throws HttpRequestException 429", () => new HttpRequestException("too many", null, HttpStatusCode.TooManyRequests));
        yield return Throwing("throws TimeoutException", () => new TimeoutException("provider timeout"));
        yield return Throwing("throws TaskCanceledException (not the caller's)", () => new TaskCanceledException("HttpClient timeout"));
        yield return Throwing("throws context-window overflow", () => new InvalidOperationException("maximum context length is 8192 tokens"));
        yield return new Fault("throws synchronously", typeof(NotSupportedException), _ => throw new NotSupportedException("sync"), _ => throw new NotSupportedException("sync"));
        yield return new Fault("returns null", typeof(SafeAIModelException), _ => Task.FromResult<ChatResponse>(null!), _ => null!);
        yield return new Fault("returns empty", null, _ => Task.FromResult(new ChatResponse()), _ => Empty());
        yield return new Fault("hangs, honours its token", typeof(SafeAIModelTimeoutException), HangCooperativelyAsync, HangBeforeFirstChunk);
        yield return new Fault("hangs, ignores its token", typeof(SafeAIModelTimeoutException), _ => new TaskCompletionSource<ChatResponse>().Task, _ => HangDeaf(afterFirstChunk: false));
        yield return new Fault("streams, then throws", typeof(HttpRequestException), null, _ => ThrowAfterFirstChunk());
        yield return new Fault("streams, then hangs ignoring its token", typeof(SafeAIModelTimeoutException), null, _ => HangDeaf(afterFirstChunk: true));
    }

    [Fact]
    public async Task ModelFaults_WithAndWithoutFallback_EndWellFormedOrTypedWithinBudget()
    {
        var rows = new List<string>();
        var failures = new List<string>();
        var tried = 0;
        foreach (var fault in Faults())
        {
            var cells = new List<string>();
            foreach (var withFallback in new[] { false, true })
            {
                foreach (var streaming in new[] { false, true })
                {
                    if ((streaming ? (object?)fault.Stream : fault.Call) is null)
                    {
                        cells.Add("n/a");
                        continue;
                    }

                    tried++;
                    var (cell, problem) = await RunAsync(fault, withFallback, streaming);
                    cells.Add(cell);
                    if (problem is not null)
                    {
                        failures.Add($"{fault.Kind}, {(withFallback ? "fallback" : "no fallback")}, {(streaming ? "stream" : "call")}: {problem}");
                    }
                }
            }

            rows.Add(string.Join(" | ", [fault.Kind, .. cells]));
        }

        var output = new StringBuilder()
            .AppendLine(CultureInfo.InvariantCulture, $"Fault matrix: {tried} cases tried, {tried - failures.Count} handled (budget {ModelTimeout.TotalSeconds:0} s of fake time)")
            .AppendLine("fault | no fallback, call | no fallback, stream | fallback, call | fallback, stream");
        rows.ForEach(r => output.AppendLine(r));
        TestContext.Current.TestOutputHelper?.WriteLine(output.ToString());
        Console.WriteLine(output.ToString());

        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures) + Environment.NewLine + output);
    }

    [Fact]
    public async Task StageFaults_FailClosedAndOpen_EndWellFormedWithinBudget()
    {
        var stageBudget = TimeSpan.FromSeconds(2);
        var never = new TaskCompletionSource<GuardVerdict>().Task;
        (string Kind, Action<SafeAIPipelineBuilder, GuardFailureMode> Add)[] kinds =
        [
            ("input check throws", (safe, mode) => safe.AddInputCheck("in", (_, _) => throw new InvalidOperationException("check broke"), mode, stageBudget)),
            ("input check hangs, ignores its token", (safe, mode) => safe.AddInputCheck("in", (_, _) => new ValueTask<GuardVerdict>(never), mode, stageBudget)),
            ("output check throws", (safe, mode) => safe.AddOutputCheck("out", (_, _, _) => throw new InvalidOperationException("check broke"), mode, stageBudget)),
            ("output check hangs, ignores its token", (safe, mode) => safe.AddOutputCheck("out", (_, _, _) => new ValueTask<GuardVerdict>(never), mode, stageBudget)),
        ];

        var rows = new List<string>();
        var failures = new List<string>();
        var tried = 0;
        foreach (var (kind, add) in kinds)
        {
            var cells = new List<string>();
            foreach (var mode in new[] { GuardFailureMode.FailClosed, GuardFailureMode.FailOpen })
            {
                foreach (var withFallback in new[] { false, true })
                {
                    foreach (var streaming in new[] { false, true })
                    {
                        tried++;
                        var time = new FakeTimeProvider();
                        using var client = TestChatClient.Answering("Model answer.").AsBuilder().UseSafeAI(safe =>
                        {
                            safe.UseTimeProvider(time);
                            add(safe, mode);
                            if (withFallback)
                            {
                                safe.AddFallback(o => o.Add(ChatFallback.Static("Backup.")));
                            }
                        }).Build();

                        var start = time.GetUtcNow();
                        var work = streaming ? ReadStreamAsync(client) : CallAsync(client);
                        for (var i = 0; i < 30 && !work.IsCompleted; i++)
                        {
                            await Task.WhenAny(work, Task.Delay(Patience(time.GetUtcNow() - start, stageBudget), TestContext.Current.CancellationToken));
                            if (!work.IsCompleted)
                            {
                                time.Advance(Step);
                            }
                        }

                        var where = $"{kind}, {mode}, {(withFallback ? "fallback" : "no fallback")}, {(streaming ? "stream" : "call")}";
                        var seconds = (time.GetUtcNow() - start).TotalSeconds.ToString("0", CultureInfo.InvariantCulture) + "s";
                        if (!work.IsCompleted)
                        {
                            cells.Add("HANG");
                            failures.Add($"{where}: no outcome");
                            continue;
                        }

                        try
                        {
                            var (text, result) = await work;
                            var decisive = result?.DecisiveVerdict;
                            cells.Add($"{(decisive is { } d ? d.Reason : "allow")}: \"{(text.Trim().Length > 16 ? text.Trim()[..16] + "..." : text.Trim())}\" {seconds}");
                            if (result is null || text.Length == 0)
                            {
                                failures.Add($"{where}: not a well-formed answer");
                            }
                            else if (time.GetUtcNow() - start > stageBudget + (3 * Step))
                            {
                                failures.Add($"{where}: took {seconds}");
                            }
                        }
                        catch (Exception ex)
                        {
                            cells.Add(ex.GetType().Name);
                            failures.Add($"{where}: {ex.GetType().Name}: {ex.Message}");
                        }
                    }
                }
            }

            rows.Add(string.Join(" | ", [kind, .. cells]));
        }

        var output = new StringBuilder()
            .AppendLine(CultureInfo.InvariantCulture, $"Stage fault matrix: {tried} cases tried, {tried - failures.Count} handled (stage budget {stageBudget.TotalSeconds:0} s of fake time)")
            .AppendLine("stage fault | closed, call | closed, stream | closed+fallback, call | closed+fallback, stream | open, call | open, stream | open+fallback, call | open+fallback, stream");
        rows.ForEach(r => output.AppendLine(r));
        TestContext.Current.TestOutputHelper?.WriteLine(output.ToString());
        Console.WriteLine(output.ToString());

        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures) + Environment.NewLine + output);
    }

    private static async Task<(string Cell, string? Problem)> RunAsync(Fault fault, bool withFallback, bool streaming)
    {
        var time = new FakeTimeProvider();
        var inner = new TestChatClient
        {
            GetResponseAsyncCallback = (_, _, ct) => fault.Call!(ct),
            GetStreamingResponseAsyncCallback = (_, _, ct) => fault.Stream!(ct),
        };
        using var client = inner.AsBuilder().UseSafeAI(safe =>
        {
            safe.UseTimeProvider(time).Configure(o => o.ModelTimeout = ModelTimeout).AddInputLengthLimit(10_000);
            if (withFallback)
            {
                safe.AddFallback(o => { o.AttemptTimeout = AttemptTimeout; o.Add(ChatFallback.Static("Backup.")); });
            }
        }).Build();

        var start = time.GetUtcNow();
        Task<(string Text, SafeAIResult? Result)> work = streaming ? ReadStreamAsync(client) : CallAsync(client);
        for (var i = 0; i < 3 * ModelTimeout.TotalSeconds && !work.IsCompleted; i++)
        {
            await Task.WhenAny(work, Task.Delay(Patience(time.GetUtcNow() - start, ModelTimeout), TestContext.Current.CancellationToken));
            if (!work.IsCompleted)
            {
                time.Advance(Step);
            }
        }

        var elapsed = time.GetUtcNow() - start;
        var seconds = elapsed.TotalSeconds.ToString("0", CultureInfo.InvariantCulture) + "s";
        if (!work.IsCompleted)
        {
            return ($"HANG >{seconds}", $"no outcome after {seconds} of fake time");
        }

        // Timers registered on another thread may start a step or two late under load: allow three steps of slack.
        string? problem = elapsed > ModelTimeout + (3 * Step) ? $"took {seconds}, over the budget" : null;
        try
        {
            var (text, result) = await work;
            if (result is null)
            {
                return ($"no result {seconds}", "the answer carries no SafeAIResult");
            }

            var degrade = result.Verdicts.FirstOrDefault(v => v.Action == GuardAction.Degrade);
            var label = text.Length == 0 ? "empty answer" : text.Contains("interrupted", StringComparison.Ordinal) ? "partial + notice" : $"\"{text}\"";
            if (withFallback && fault.Thrown is not null && degrade.IsEmpty)
            {
                problem ??= "a fallback is configured but did not answer";
            }

            return ($"{label}{(degrade.IsEmpty ? string.Empty : " (" + degrade.Reason + ")")} {seconds}", problem);
        }
        catch (Exception ex)
        {
            var documented = ex is SafeAIModelException || (!withFallback && fault.Thrown is { } thrown && thrown.IsInstanceOfType(ex));
            return ($"{ex.GetType().Name} {seconds}", documented ? problem : $"undocumented {ex.GetType().Name}: {ex.Message}");
        }
    }

    /// <summary>
    /// How long to wait in real time for the work to end before the next step of fake time. Before the budget is spent,
    /// 50 ms. Once it is, the timeout has fired and the outcome is on its way; every further step counts against the
    /// three steps of slack, and on a loaded CI machine the continuation (the first time through, JIT-compiling the
    /// timeout path) can take longer than 150 ms, so the next step waits up to a second.
    /// </summary>
    private static TimeSpan Patience(TimeSpan elapsed, TimeSpan budget) =>
        elapsed >= budget ? TimeSpan.FromSeconds(1) : TimeSpan.FromMilliseconds(50);

    private static async Task<(string, SafeAIResult?)> CallAsync(IChatClient client)
    {
        var response = await client.GetResponseAsync("hi", cancellationToken: TestContext.Current.CancellationToken);
        return (response.Text, response.GetSafeAIResult());
    }

    private static async Task<(string, SafeAIResult?)> ReadStreamAsync(IChatClient client)
    {
        var text = new StringBuilder();
        SafeAIResult? result = null;
        await foreach (var update in client.GetStreamingResponseAsync("hi", cancellationToken: TestContext.Current.CancellationToken))
        {
            text.Append(update.Text);
            result = update.GetSafeAIResult() ?? result;
        }

        return (text.ToString(), result);
    }

    private static async Task<ChatResponse> HangCooperativelyAsync(CancellationToken ct)
    {
        await Task.Delay(Timeout.Infinite, ct);
        return new ChatResponse();
    }

    private static async IAsyncEnumerable<ChatResponseUpdate> ThrowBeforeFirstChunk(Exception exception)
    {
        await Task.Yield();
        if (exception is not null)
        {
            throw exception;
        }

        yield break;
    }

    private static async IAsyncEnumerable<ChatResponseUpdate> ThrowAfterFirstChunk()
    {
        await Task.Yield();
        yield return new ChatResponseUpdate(ChatRole.Assistant, "Partial answer. ") { ResponseId = "r", MessageId = "m" };
        throw new HttpRequestException("connection reset");
    }

    private static async IAsyncEnumerable<ChatResponseUpdate> Empty()
    {
        await Task.Yield();
        yield break;
    }

    private static async IAsyncEnumerable<ChatResponseUpdate> HangBeforeFirstChunk([EnumeratorCancellation] CancellationToken ct)
    {
        await Task.Delay(Timeout.Infinite, ct);
        yield return new ChatResponseUpdate(ChatRole.Assistant, "too late");
    }

    private static async IAsyncEnumerable<ChatResponseUpdate> HangDeaf(bool afterFirstChunk)
    {
        await Task.Yield();
        if (afterFirstChunk)
        {
            yield return new ChatResponseUpdate(ChatRole.Assistant, "Partial answer. ") { ResponseId = "r", MessageId = "m" };
        }

        await new TaskCompletionSource().Task;
        yield return new ChatResponseUpdate(ChatRole.Assistant, "too late");
    }
}

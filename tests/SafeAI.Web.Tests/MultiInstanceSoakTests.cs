using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Npgsql;
using SafeAI.PostgreSql.Tests;
using SafeAI.Redis.Tests;
using SafeAI.Samples.Web;

namespace SafeAI.Web.Tests;

/// <summary>
/// A bounded multi-instance soak: three web-sample processes on loopback share one redis-server (rate limits) and one
/// PostgreSQL server (review queue and feedback); a load generator sends ordinary, high-stakes and feedback traffic
/// while Redis and then PostgreSQL are stopped and restarted. Checked: rate limits exact across the instances whenever
/// Redis is up, every acknowledged review item and feedback record present in PostgreSQL at the end, only well-formed
/// answers (200, 429 or a 503 problem) throughout, every process alive, no unhandled exception in any log, and the
/// resident memory of each process after the warm-up and at the end (reported).
/// </summary>
public sealed class MultiInstanceSoakTests
{
    private const int Instances = 3;
    private const int Workers = 6;
    private const int BurstConversations = 8;
    private const int BurstMessages = 15;
    private const int PermitLimit = 10; // the sample's limit per conversation
    private const int WarmUpAnswers = 60;
    private static readonly TimeSpan Outage = TimeSpan.FromSeconds(5);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ThreeInstances_RedisAndPostgresRestartedMidRun_LimitsExactNothingAcknowledgedLostNoCrash()
    {
        if (RedisServer.FindExecutable() is not { } redisExecutable)
        {
            Assert.Skip(RedisServer.InstallHint);
            return;
        }

        if (PostgresServer.FindBinDirectory() is null)
        {
            Assert.Skip(PostgresServer.InstallHint);
            return;
        }

        var redis = await RedisServer.StartAsync(redisExecutable);
        await using var postgres = await PostgresServer.StartAsync(Ct);
        var redisPort = redis.Port;
        var instances = new List<SampleProcess>();
        var report = new StringBuilder();
        try
        {
            for (var i = 0; i < Instances; i++)
            {
                instances.Add(SampleProcess.Start(i, $"127.0.0.1:{redisPort},abortConnect=false", postgres.ConnectionString));
            }

            foreach (var instance in instances)
            {
                await instance.WaitUntilReadyAsync(Ct);
            }

            var load = new Load(instances);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            var workers = Enumerable.Range(0, Workers).Select(w => Task.Run(() => load.RunWorkerAsync(w, stop.Token), Ct)).ToArray();
            var clock = Stopwatch.StartNew();
            var memorySeries = new ConcurrentQueue<string>();
            var sampler = Task.Run(async () =>
            {
                // Resident memory of every instance every 5 s, for the report.
                while (!stop.IsCancellationRequested)
                {
                    memorySeries.Enqueue(string.Join("/", instances.Select(static p => p.ResidentMegabytes().ToString("F0", CultureInfo.InvariantCulture))));
                    try
                    {
                        await Task.Delay(TimeSpan.FromSeconds(5), stop.Token);
                    }
                    catch (OperationCanceledException)
                    {
                    }
                }
            }, Ct);

            // 1. Warm-up, then the memory after it and exact limits with everything up. The warm-up lasts at least 10 s and
            // until every instance has answered WarmUpAnswers requests: the workers go round the instances in turn, so a
            // slow first request on one (its stores create their tables on first use) holds back the others' warm-up, and
            // on two busy cores 10 s did not always reach it (an instance then "grew" by its own warm-up).
            await Task.Delay(TimeSpan.FromSeconds(10), Ct);
            var warmUp = Stopwatch.StartNew();
            while (load.LeastAnswered < WarmUpAnswers && warmUp.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(TimeSpan.FromMilliseconds(250), Ct);
            }

            var warmUpSeconds = clock.Elapsed.TotalSeconds;
            var warmMemory = instances.Select(static p => p.ResidentMegabytes()).ToArray();
            var burst1 = await load.BurstAsync("before", Ct);

            // 2. Redis goes away and comes back on the same port (empty: it keeps no data).
            load.Phase = "redis-down";
            await redis.DisposeAsync();
            await Task.Delay(Outage, Ct);
            redis = await RedisServer.StartAsync(redisExecutable, redisPort);
            load.Phase = "redis-back";
            await Task.Delay(TimeSpan.FromSeconds(4), Ct);
            var burst2 = await load.BurstAsync("after-redis", Ct);

            // 3. PostgreSQL stops (immediate mode: like a crash) and restarts.
            load.Phase = "postgres-down";
            await postgres.StopAsync(Ct);
            await Task.Delay(Outage, Ct);
            await postgres.StartServerAsync(Ct);
            load.Phase = "postgres-back";
            await Task.Delay(TimeSpan.FromSeconds(6), Ct);
            var burst3 = await load.BurstAsync("after-postgres", Ct);

            // 4. A steady stretch to the end, then stop the load.
            load.Phase = "steady";
            await Task.Delay(TimeSpan.FromSeconds(12), Ct);
            await stop.CancelAsync();
            await Task.WhenAll(workers);
            await sampler;
            var endMemory = instances.Select(static p => p.ResidentMegabytes()).ToArray();

            // What was acknowledged must be in PostgreSQL.
            var (feedbackIds, reviewIds) = await ReadStoredIdsAsync(postgres.ConnectionString);
            var lostFeedback = load.AcknowledgedFeedback.Where(id => !feedbackIds.Contains(id)).ToList();
            var lostReviews = load.AcknowledgedReviews.Where(id => !reviewIds.Contains(id)).ToList();

            report.AppendLine(CultureInfo.InvariantCulture, $"soak: {clock.Elapsed.TotalSeconds:F0} s, {Instances} instances, {load.Requests} requests");
            foreach (var (phase, counts) in load.StatusesByPhase.OrderBy(static p => p.Key, StringComparer.Ordinal))
            {
                var answers = load.AnswersByPhase.GetValueOrDefault(phase) ?? new ConcurrentDictionary<string, int>();
                report.AppendLine(CultureInfo.InvariantCulture, $"  {phase}: {string.Join(", ", counts.OrderBy(static c => c.Key).Select(static c => $"{c.Key} x{c.Value}"))}; chat 200s: {string.Join(", ", answers.OrderBy(static a => a.Key, StringComparer.Ordinal).Select(static a => $"{a.Key} x{a.Value}"))}");
            }

            report.AppendLine(CultureInfo.InvariantCulture, $"  bursts (admitted of {BurstMessages} per conversation, limit {PermitLimit}): before [{string.Join(",", burst1)}], after redis restart [{string.Join(",", burst2)}], after postgres restart [{string.Join(",", burst3)}]");
            report.AppendLine(CultureInfo.InvariantCulture, $"  acknowledged: {load.AcknowledgedFeedback.Count} feedback, {load.AcknowledgedReviews.Count} review items; lost: {lostFeedback.Count} feedback, {lostReviews.Count} review items");
            report.AppendLine(CultureInfo.InvariantCulture, $"  warm-up: {warmUpSeconds:F0} s (at least {WarmUpAnswers} answers from every instance)");
            report.AppendLine(CultureInfo.InvariantCulture, $"  resident memory MB after warm-up [{string.Join(", ", warmMemory.Select(static m => m.ToString("F0", CultureInfo.InvariantCulture)))}], at the end [{string.Join(", ", endMemory.Select(static m => m.ToString("F0", CultureInfo.InvariantCulture)))}]");
            report.AppendLine(CultureInfo.InvariantCulture, $"  resident memory MB every 5 s (instance 0/1/2): {string.Join("  ", memorySeries)}");
            TestContext.Current.SendDiagnosticMessage(report.ToString());
            Console.WriteLine(report.ToString());
            await File.WriteAllTextAsync(Path.Combine(AppContext.BaseDirectory, "soak-report.txt"), report.ToString(), Ct);

            // Each instance's log beside the report, and in the failure message the exceptions that reached the host (an
            // answer that is not JSON comes from an exception no store wrapped; the log says which).
            for (var i = 0; i < Instances; i++)
            {
                await File.WriteAllTextAsync(Path.Combine(AppContext.BaseDirectory, $"soak-instance{i}.log"), instances[i].Log, Ct);
            }

            Assert.True(load.Malformed.IsEmpty, string.Join('\n', load.Malformed) + "\n" + string.Join('\n', instances.Select(static p => UnhandledErrors(p.Log))));
            Assert.All(burst1.Concat(burst2).Concat(burst3), static admitted => Assert.Equal(PermitLimit, admitted));
            Assert.Empty(lostFeedback);
            Assert.Empty(lostReviews);
            Assert.True(load.AcknowledgedFeedback.Count > 50, "feedback was stored during the run");
            Assert.True(load.AcknowledgedReviews.Count > 20, "review items were stored during the run");
            Assert.True(load.StatusesByPhase["steady"].GetValueOrDefault(200) > 50, "the instances answer normally after both restarts");
            for (var i = 0; i < Instances; i++)
            {
                Assert.False(instances[i].HasExited, $"instance {i} exited: {instances[i].Log}");
                Assert.DoesNotContain("Unhandled exception", instances[i].Log, StringComparison.OrdinalIgnoreCase);
                Assert.DoesNotContain("crit:", instances[i].Log, StringComparison.Ordinal);
                Assert.True(endMemory[i] - warmMemory[i] < 150, $"instance {i} grew from {warmMemory[i]:F0} MB to {endMemory[i]:F0} MB");
            }
        }
        finally
        {
            foreach (var instance in instances)
            {
                instance.Dispose();
            }

            await redis.DisposeAsync();
        }
    }

    private static async Task<(HashSet<string> Feedback, HashSet<string> Reviews)> ReadStoredIdsAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(Ct);
        return (await IdsAsync(connection, "SELECT id FROM safeai_feedback"), await IdsAsync(connection, "SELECT id FROM safeai_review_items"));
    }

    private static async Task<HashSet<string>> IdsAsync(NpgsqlConnection connection, string sql)
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync(Ct);
        while (await reader.ReadAsync(Ct))
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }

    /// <summary>The log entries of exceptions that reached the host (not wrapped by a store), with the lines after each, or an empty string.</summary>
    private static string UnhandledErrors(string log)
    {
        var lines = log.Split('\n');
        var found = new System.Text.StringBuilder();
        for (var i = 0; i < lines.Length; i++)
        {
            // ASP.NET Core's "An unhandled exception has occurred while executing the request", and the log line before it.
            if (lines[i].Contains("unhandled exception", StringComparison.OrdinalIgnoreCase))
            {
                found.AppendJoin('\n', lines.Skip(Math.Max(0, i - 1)).Take(12)).Append('\n');
            }
        }

        return found.ToString();
    }

    /// <summary>The load generator: workers with ordinary, high-stakes and feedback traffic, and bursts for the limits.</summary>
    private sealed class Load(List<SampleProcess> instances)
    {
        private readonly int[] _answered = new int[instances.Count];
        private long _requests;

        public volatile string Phase = "warm-up";

        public long Requests => Interlocked.Read(ref _requests);

        /// <summary>Gets the number of responses of the instance that answered fewest so far.</summary>
        public int LeastAnswered => Enumerable.Range(0, _answered.Length).Min(i => Volatile.Read(ref _answered[i]));

        public ConcurrentDictionary<string, ConcurrentDictionary<int, int>> StatusesByPhase { get; } = new(StringComparer.Ordinal);

        public ConcurrentDictionary<string, ConcurrentDictionary<string, int>> AnswersByPhase { get; } = new(StringComparer.Ordinal);

        public ConcurrentBag<string> AcknowledgedFeedback { get; } = [];

        public ConcurrentBag<string> AcknowledgedReviews { get; } = [];

        public ConcurrentQueue<string> Malformed { get; } = new();

        public async Task RunWorkerAsync(int worker, CancellationToken cancellationToken)
        {
            var random = new Random(worker);
            var n = 0;
            while (!cancellationToken.IsCancellationRequested)
            {
                // A new conversation every four messages keeps ordinary traffic under the per-conversation limit.
                var conversation = $"w{worker}-{n / 4}";
                var instance = instances[n % instances.Count];
                n++;
                try
                {
                    var highStakes = random.NextDouble() < 0.2;
                    var (status, body) = await PostAsync(instance, "/api/chat", new { message = highStakes ? "Am I eligible for a loan?" : "What are your opening hours?", conversationId = conversation }, cancellationToken);
                    if (status == 200 && body.GetProperty("status").GetString() == "pending-review")
                    {
                        AcknowledgedReviews.Add(body.GetProperty("review").GetProperty("ticketId").GetString()!);
                    }
                    else if (status == 200 && body.GetProperty("responseId").GetString() is { } responseId && random.NextDouble() < 0.5)
                    {
                        var other = instances[(n + 1) % instances.Count];
                        var (feedbackStatus, feedback) = await PostAsync(other, "/api/feedback", new { responseId, rating = random.NextDouble() < 0.3 ? "down" : "up", conversationId = conversation }, cancellationToken);
                        if (feedbackStatus == 201)
                        {
                            AcknowledgedFeedback.Add(feedback.GetProperty("id").GetString()!);
                        }
                    }
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return;
                }
            }
        }

        // Each conversation sends its messages at once, spread over the three instances; returns how many were admitted.
        public async Task<int[]> BurstAsync(string name, CancellationToken cancellationToken)
        {
            var results = new int[BurstConversations];
            await Task.WhenAll(Enumerable.Range(0, BurstConversations).Select(async c =>
            {
                var conversation = $"burst-{name}-{c}";
                var statuses = await Task.WhenAll(Enumerable.Range(0, BurstMessages).Select(m =>
                    PostAsync(instances[m % instances.Count], "/api/chat", new { message = "What are your opening hours?", conversationId = conversation }, cancellationToken)));
                results[c] = statuses.Count(static s => s.Status == 200);
            }));
            return results;
        }

        private async Task<(int Status, JsonElement Body)> PostAsync(SampleProcess instance, string path, object body, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _requests);
            var phase = Phase;
            try
            {
                using var response = await instance.Http.PostAsJsonAsync(path, body, cancellationToken);
                Interlocked.Increment(ref _answered[instance.Index]);
                var status = (int)response.StatusCode;
                StatusesByPhase.GetOrAdd(phase, static _ => new()).AddOrUpdate(status, 1, static (_, v) => v + 1);
                var text = await response.Content.ReadAsStringAsync(cancellationToken);
                var json = JsonDocument.Parse(text).RootElement.Clone();
                if (status == 200 && json.TryGetProperty("status", out var answerStatus))
                {
                    // What the chat answered: answered, pending-review, blocked (with the reason), rate-limited.
                    var what = answerStatus.GetString() + (json.TryGetProperty("screening", out var screening) && screening.ValueKind == JsonValueKind.Object ? " " + screening.GetProperty("reason").GetString() : string.Empty);
                    AnswersByPhase.GetOrAdd(phase, static _ => new(StringComparer.Ordinal)).AddOrUpdate(what!, 1, static (_, v) => v + 1);
                }

                var wellFormed = status switch
                {
                    200 or 201 => true,
                    429 or 503 => response.Content.Headers.ContentType?.MediaType is "application/problem+json" or "application/json",
                    _ => false,
                };
                if (!wellFormed)
                {
                    Malformed.Enqueue($"{phase} {path} on instance {instance.Index}: {status} {text}");
                }

                return (status, json);
            }
            catch (Exception ex) when (ex is HttpRequestException or JsonException || (ex is TaskCanceledException && !cancellationToken.IsCancellationRequested))
            {
                Malformed.Enqueue($"{phase} {path} on instance {instance.Index}: {ex.GetType().Name} {ex.Message}");
                return (0, default);
            }
        }
    }

    /// <summary>One web-sample process, run from the built sample beside the tests, with its output captured.</summary>
    private sealed class SampleProcess : IDisposable
    {
        private readonly Process _process;
        private readonly ConcurrentQueue<string> _log = new();

        private SampleProcess(int index, Process process, Uri address)
        {
            Index = index;
            _process = process;
            Http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
        }

        public int Index { get; }

        public HttpClient Http { get; }

        public bool HasExited => _process.HasExited;

        public string Log => string.Join('\n', _log);

        public static SampleProcess Start(int index, string redis, string postgres)
        {
            var port = RedisServer.FreePort();
            var data = Directory.CreateTempSubdirectory($"safeai-soak-{index}-").FullName;
            var dll = Path.Combine(AppContext.BaseDirectory, typeof(SampleApp).Assembly.GetName().Name + ".dll");
            var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = data };
            foreach (var arg in new[]
            {
                dll, $"--urls=http://127.0.0.1:{port}", "--Sample:DataDirectory=" + data, "--Sample:Redis=" + redis, "--Sample:PostgreSql=" + postgres,
                "--Sample:AssistantSharePercent=100", "--SafeAI:RateLimiting:Window=30.00:00:00", "--Logging:LogLevel:Default=Warning",
                // CI runs the other test projects beside this one on two cores: a Redis answer can take longer than the
                // default 250 ms store timeout there, and a timed-out acquire is refused (fail closed), not admitted.
                "--SafeAI:RateLimiting:StoreTimeout=00:00:05",
                "--Logging:Console:FormatterName=simple", "--environment=Production",
            })
            {
                info.ArgumentList.Add(arg);
            }

            var process = Process.Start(info) ?? throw new InvalidOperationException("the web sample did not start");
            var sample = new SampleProcess(index, process, new Uri($"http://127.0.0.1:{port}"));
            process.OutputDataReceived += (_, e) => { if (e.Data is not null) { sample._log.Enqueue(e.Data); } };
            process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { sample._log.Enqueue(e.Data); } };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return sample;
        }

        public async Task WaitUntilReadyAsync(CancellationToken cancellationToken)
        {
            var deadline = Stopwatch.StartNew();
            while (deadline.Elapsed < TimeSpan.FromSeconds(60))
            {
                if (_process.HasExited)
                {
                    throw new InvalidOperationException($"instance {Index} exited with {_process.ExitCode}: {Log}");
                }

                try
                {
                    using var response = await Http.GetAsync("/", cancellationToken);
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        return;
                    }
                }
                catch (HttpRequestException)
                {
                }

                await Task.Delay(200, cancellationToken);
            }

            throw new TimeoutException($"instance {Index} did not answer within 60 s: {Log}");
        }

        public double ResidentMegabytes()
        {
            foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
                }
            }

            return double.NaN;
        }

        public void Dispose()
        {
            Http.Dispose();
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }

            _process.Dispose();
        }
    }
}

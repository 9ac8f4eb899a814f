using System.Diagnostics;
using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;
using SafeAI.Audit;

namespace SafeAI.Sqlite.Tests;

public sealed class SqliteAuditStoreTests : IDisposable
{
    private static readonly byte[] TextKey = Enumerable.Range(1, 32).Select(static i => (byte)i).ToArray();
    private static readonly byte[] SigningKey = Enumerable.Range(100, 32).Select(static i => (byte)i).ToArray();
    private readonly string _dir = Directory.CreateTempSubdirectory("safeai-audit-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string DbPath => Path.Combine(_dir, "audit.db");

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private SqliteAuditStore NewStore(string? path = null) => new(new SqliteAuditStoreOptions { DataSource = path ?? DbPath });

    private static AuditTrailOptions Options(int checkpointInterval = 5) => new()
    {
        TextKey = Convert.ToBase64String(TextKey),
        SigningKey = Convert.ToBase64String(SigningKey),
        CheckpointInterval = checkpointInterval,
        ConfigurationVersion = "cfg-7",
    };

    private static AuditVerifyOptions Keys()
    {
        var options = new AuditVerifyOptions { TextKey = TextKey };
        options.CheckpointKeys["default"] = SigningKey;
        return options;
    }

    private static async Task CallAsync(IChatClient client, string user, string text, bool storeText = false)
    {
        var context = new SafeAICallContext
        {
            UserId = user,
            ConversationId = "c-" + user,
            Consents = storeText ? new HashSet<string> { "store-text" } : null,
        };
        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, text)], new ChatOptions().WithSafeAIContext(context), Ct);
        Assert.NotNull(response.GetSafeAIResult());
    }

    private static IChatClient Protected(AuditTrail trail) =>
        new SafeAIChatClient(
            new EchoClient(),
            new SafeAIPipelineBuilder()
                .AddAuditTrail(trail)
                .AddInputCheck("content", static (_, _) => ValueTask.FromResult(GuardVerdict.Allow("content", "content.ok") with { Score = 0.125, Threshold = 0.5 }))
                .Build());

    private async Task<List<AuditRecord>> ReadAllAsync(IAuditStore store)
    {
        var list = new List<AuditRecord>();
        await foreach (var r in store.ReadAsync(null, Ct))
        {
            list.Add(r);
        }

        return list;
    }

    private async Task FillAsync(int calls, int checkpointInterval = 1000)
    {
        using var store = NewStore();
        await using var trail = new AuditTrail(store, Options(checkpointInterval));
        var client = Protected(trail);
        for (var i = 0; i < calls; i++)
        {
            await CallAsync(client, "u-" + (i % 3).ToString(CultureInfo.InvariantCulture), "question " + i.ToString(CultureInfo.InvariantCulture));
        }

        await trail.FlushAsync(Ct);
    }

    private void Sql(string sql)
    {
        using var connection = new SqliteConnection($"Data Source={DbPath}");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private const string DropTriggers = "DROP TRIGGER safeai_audit_append_only_update; DROP TRIGGER safeai_audit_append_only_delete;";

    [Fact]
    public async Task Pipeline_Calls_OneRecordPerCallWithVerdictsAndChainVerifies()
    {
        using var store = NewStore();
        await using var trail = new AuditTrail(store, Options(checkpointInterval: 0));
        var client = Protected(trail);
        for (var i = 0; i < 20; i++)
        {
            await CallAsync(client, "u-1", "question " + i.ToString(CultureInfo.InvariantCulture));
        }

        await trail.FlushAsync(Ct);

        var records = await ReadAllAsync(store);
        Assert.Equal(20, records.Count);
        Assert.All(records, r => Assert.Equal(AuditRecordKinds.Call, r.Kind));
        Assert.Equal(Enumerable.Range(1, 20).Select(static i => (long)i), records.Select(static r => r.Sequence));
        var first = records[0];
        Assert.Equal("u-1", first.Subject);
        Assert.Contains("\"reason\":\"content.ok\"", first.Body, StringComparison.Ordinal);
        Assert.Contains("\"score\":0.125", first.Body, StringComparison.Ordinal);
        Assert.Contains("\"conversation\":\"c-u-1\"", first.Body, StringComparison.Ordinal);
        Assert.Contains("\"model\":\"echo-model\"", first.Body, StringComparison.Ordinal);
        Assert.Contains("\"config\":\"cfg-7\"", first.Body, StringComparison.Ordinal);
        var result = await AuditChain.VerifyAsync(store.ReadAsync(null, Ct), Keys(), Ct);
        Assert.True(result.IsIntact, result.Problem);
        Assert.Equal(20, result.Count);
    }

    [Fact]
    public async Task Pipeline_TextKept_OnlyForPeopleWhoConsentedToStoreText()
    {
        using var store = NewStore();
        await using var trail = new AuditTrail(store, Options());
        var client = Protected(trail);
        await CallAsync(client, "alice", "alice's secret question", storeText: true);
        await CallAsync(client, "bob", "bob's secret question", storeText: false);
        await trail.FlushAsync(Ct);

        var records = await ReadAllAsync(store);
        var alice = Assert.Single(records, static r => r.Subject == "alice");
        var bob = Assert.Single(records, static r => r.Subject == "bob");
        Assert.Equal("alice's secret question", alice.InputText);
        Assert.Equal("echo: alice's secret question", alice.OutputText);
        Assert.Null(bob.InputText);
        Assert.Null(bob.OutputText);
        Assert.Equal(AuditChain.ComputeTextHash(TextKey, "bob's secret question"), bob.InputHash);
        Assert.Contains("\"text\":\"hashed\"", bob.Body, StringComparison.Ordinal);

        // Bob's text is nowhere in the file, not even in the WAL.
        SqliteConnection.ClearAllPools();
        foreach (var file in Directory.GetFiles(_dir))
        {
            Assert.DoesNotContain("bob's secret", System.Text.Encoding.UTF8.GetString(await File.ReadAllBytesAsync(file, Ct)), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Triggers_UpdateOrDelete_AreRejected_ButErasingTextIsAllowed()
    {
        await FillAsync(3);
        var update = Assert.Throws<SqliteException>(() => Sql("UPDATE safeai_audit SET body = '{}' WHERE seq = 2"));
        Assert.Contains("append-only", update.Message, StringComparison.Ordinal);
        var delete = Assert.Throws<SqliteException>(() => Sql("DELETE FROM safeai_audit WHERE seq = 1"));
        Assert.Contains("append-only", delete.Message, StringComparison.Ordinal);
        Assert.Throws<SqliteException>(() => Sql("UPDATE safeai_audit_purge SET purge_below = 3"));
        Assert.Throws<SqliteException>(() => Sql("UPDATE safeai_audit SET input_text = 'forged' WHERE seq = 1"));
        Sql("UPDATE safeai_audit SET input_text = NULL WHERE seq = 1");
    }

    public static TheoryData<string, string, long, string> Tampering => new()
    {
        { "changed", DropTriggers + "UPDATE safeai_audit SET body = replace(body, 'content.ok', 'content.hate') WHERE seq = 5", 5, "content does not match its hash" },
        { "deleted", DropTriggers + "DELETE FROM safeai_audit WHERE seq = 5", 6, "record(s) before it were removed" },
        {
            "inserted",
            DropTriggers + "UPDATE safeai_audit SET seq = seq + 1000 WHERE seq >= 6; UPDATE safeai_audit SET seq = seq - 999 WHERE seq >= 1006; " +
            "INSERT INTO safeai_audit (seq, id, ts, kind, subject, body, input_hash, output_hash, prev_hash, hash) " +
            "SELECT 6, 'forged', ts, kind, subject, body, input_hash, output_hash, hash, hash FROM safeai_audit WHERE seq = 5",
            6, "content does not match its hash"
        },
        { "reordered", DropTriggers + "UPDATE safeai_audit SET seq = -1 WHERE seq = 5; UPDATE safeai_audit SET seq = 5 WHERE seq = 6; UPDATE safeai_audit SET seq = 6 WHERE seq = -1", 5, "previous-record hash does not match record 4" },
    };

    [Theory]
    [MemberData(nameof(Tampering))]
    public async Task Verify_TamperedRecord_ReportsFirstBrokenRecordAndWhy(string what, string sql, long brokenSequence, string why)
    {
        await FillAsync(10);
        Sql(sql);

        using var store = NewStore();
        var result = await AuditChain.VerifyAsync(store.ReadAsync(null, Ct), null, Ct);

        Assert.False(result.IsIntact, what);
        Assert.Equal(brokenSequence, result.BrokenSequence);
        Assert.Contains(why, result.Problem, StringComparison.Ordinal);
        Assert.NotNull(result.BrokenId);
        if (what == "inserted")
        {
            Assert.Equal("forged", result.BrokenId);
        }
    }

    [Fact]
    public async Task Verify_ChainRewrittenWithRecomputedHashes_OnlyTheSignedCheckpointCatchesIt()
    {
        await FillAsync(12, checkpointInterval: 5);
        using var store = NewStore();
        var records = await ReadAllAsync(store);
        Assert.Contains(records, static r => r.Kind == AuditRecordKinds.Checkpoint);

        // A tamperer with write access changes record 2 and recomputes every hash after it (SHA-256 needs no key).
        Sql(DropTriggers);
        var previous = records[0].Hash;
        foreach (var r in records.Skip(1))
        {
            var body = r.Sequence == 2 ? r.Body.Replace("content.ok", "content.hate", StringComparison.Ordinal)
                : r.Kind == AuditRecordKinds.Checkpoint ? r.Body.Replace(r.PreviousHash, previous, StringComparison.Ordinal)
                : r.Body;
            var forged = r with { Body = body, PreviousHash = previous };
            forged = forged with { Hash = AuditChain.ComputeHash(forged) };
            previous = forged.Hash;
            Sql($"UPDATE safeai_audit SET body = '{forged.Body.Replace("'", "''", StringComparison.Ordinal)}', prev_hash = '{forged.PreviousHash}', hash = '{forged.Hash}' WHERE seq = {r.Sequence}");
        }

        var withoutKey = await AuditChain.VerifyAsync(store.ReadAsync(null, Ct), null, Ct);
        Assert.True(withoutKey.IsIntact);
        var withKey = await AuditChain.VerifyAsync(store.ReadAsync(null, Ct), Keys(), Ct);
        Assert.False(withKey.IsIntact);
        Assert.Contains("signature is invalid", withKey.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Purge_OldRecords_ChainStillVerifies_AndRemovingMoreIsCaught()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        using var store = NewStore();
        await using var trail = new AuditTrail(store, Options(checkpointInterval: 4), time);
        for (var i = 0; i < 10; i++)
        {
            await trail.RecordOperatorActionAsync("op", "test.action", null, null, Ct);
            time.Advance(TimeSpan.FromDays(1));
        }

        await trail.FlushAsync(Ct);
        var deleted = await trail.PurgeAsync(new DateTimeOffset(2026, 1, 5, 0, 0, 0, TimeSpan.Zero), Ct);

        Assert.True(deleted >= 4);
        var result = await AuditChain.VerifyAsync(store.ReadAsync(null, Ct), Keys(), Ct);
        Assert.True(result.IsIntact, result.Problem);
        Assert.True(result.FirstSequence > 1);

        // Removing the oldest kept record as well (no purge record accounts for it) is caught.
        Sql(DropTriggers + $"DELETE FROM safeai_audit WHERE seq = {result.FirstSequence}");
        var broken = await AuditChain.VerifyAsync(store.ReadAsync(null, Ct), null, Ct);
        Assert.False(broken.IsIntact);
        Assert.Contains("no purge record", broken.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EraseSubjectText_RemovesTheTextOnly_ChainAndHashesStillVerify()
    {
        using var store = NewStore();
        await using var trail = new AuditTrail(store, Options());
        var client = Protected(trail);
        await CallAsync(client, "alice", "alice wrote this", storeText: true);
        await CallAsync(client, "carol", "carol wrote this", storeText: true);
        await trail.FlushAsync(Ct);

        Assert.Equal(1, await trail.EraseSubjectTextAsync("alice", "dpo", Ct));

        var records = await ReadAllAsync(store);
        var alice = records.Single(static r => r.Subject == "alice" && r.Kind == AuditRecordKinds.Call);
        Assert.Null(alice.InputText);
        Assert.Equal(AuditChain.ComputeTextHash(TextKey, "alice wrote this"), alice.InputHash);
        Assert.Equal("carol wrote this", records.Single(static r => r.Subject == "carol").InputText);
        Assert.Contains(records, static r => r.Kind == AuditRecordKinds.Erasure && r.Subject == "alice");
        var result = await AuditChain.VerifyAsync(store.ReadAsync(null, Ct), Keys(), Ct);
        Assert.True(result.IsIntact, result.Problem);
        Assert.Equal(2, result.TextsChecked);

        // A stored text changed in place is caught with the text key.
        Sql(DropTriggers + "UPDATE safeai_audit SET input_text = 'carol never wrote this' WHERE subject = 'carol'");
        var changed = await AuditChain.VerifyAsync(store.ReadAsync(null, Ct), Keys(), Ct);
        Assert.False(changed.IsIntact);
        Assert.Contains("input text does not match", changed.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StoreUnreachable_DropAndCount_DropsAreCountedAndCallsDoNotWait()
    {
        var missing = Path.Combine(_dir, "no-such-folder", "audit.db");
        using var store = NewStore(missing);
        var options = Options();
        options.FullMode = AuditQueueFullMode.DropAndCount;
        options.QueueCapacity = 4;
        options.BatchSize = 2;
        options.ShutdownTimeout = TimeSpan.FromSeconds(1);
        await using var trail = new AuditTrail(store, options, new FakeTimeProvider());
        var client = Protected(trail);
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < 50; i++)
        {
            await CallAsync(client, "u", "q");
        }

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20));
        Assert.True(trail.DroppedCount >= 50 - 4 - 2, trail.DroppedCount.ToString(CultureInfo.InvariantCulture));
        await WaitUntilAsync(() => trail.WriteFailureCount > 0);
    }

    [Fact]
    public async Task StoreUnreachable_Block_CallWaitsUntilRoom()
    {
        var missing = Path.Combine(_dir, "no-such-folder", "audit.db");
        using var store = NewStore(missing);
        var options = Options();
        options.QueueCapacity = 2;
        options.BatchSize = 1;
        var time = new FakeTimeProvider();
        await using var trail = new AuditTrail(store, options, time);
        var client = Protected(trail);
        var calls = Task.Run(async () =>
        {
            for (var i = 0; i < 10; i++)
            {
                await CallAsync(client, "u", "q");
            }
        }, Ct);

        await Task.Delay(500, Ct);
        Assert.False(calls.IsCompleted);
        Assert.Equal(0, trail.DroppedCount);

        // The folder appears: the writer's retry succeeds (the fake clock's backoff is released by hand) and the calls go on.
        Directory.CreateDirectory(Path.GetDirectoryName(missing)!);
        for (var i = 0; i < 500 && !calls.IsCompleted; i++)
        {
            time.Advance(TimeSpan.FromSeconds(5));
            await Task.Delay(20, Ct);
        }

        await calls;
        await trail.FlushAsync(Ct);
        Assert.Equal(10, trail.WrittenCount);
    }

    [Fact]
    public async Task ChildProcessKilledMidBatch_EveryAcknowledgedRecordSurvives_AndTheChainVerifies()
    {
        var writer = FindCrashWriter();
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(writer);
        start.ArgumentList.Add("audit");
        start.ArgumentList.Add(DbPath);
        start.ArgumentList.Add("1000000");
        using var process = Process.Start(start)!;
        var acknowledged = -1;
        var killed = false;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(90));
        while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.StartsWith("ACK ", StringComparison.Ordinal))
            {
                acknowledged = int.Parse(line[4..], CultureInfo.InvariantCulture);
            }

            if (!killed && acknowledged >= 300)
            {
                process.Kill(entireProcessTree: true);
                killed = true;
            }
        }

        await process.WaitForExitAsync(Ct);
        Assert.True(killed, "The writer finished before it was killed: " + await process.StandardError.ReadToEndAsync(Ct));

        SqliteConnection.ClearAllPools();
        using var reopened = NewStore();
        var seen = new HashSet<int>();
        await foreach (var r in reopened.ReadAsync(new AuditQuery { Kind = AuditRecordKinds.Operator }, Ct))
        {
            using var body = System.Text.Json.JsonDocument.Parse(r.Body);
            seen.Add(body.RootElement.GetProperty("details").GetProperty("i").GetInt32());
        }

        for (var i = 0; i <= acknowledged; i++)
        {
            Assert.Contains(i, seen);
        }

        var keys = new AuditVerifyOptions();
        keys.CheckpointKeys["default"] = new byte[32];
        var result = await AuditChain.VerifyAsync(reopened.ReadAsync(null, Ct), keys, Ct);
        Assert.True(result.IsIntact, result.Problem);
        Assert.True(result.SignedCheckpoints > 0);
    }

    [Fact]
    public void Options_InvalidSettings_ErrorNamesThem()
    {
        Assert.StartsWith(
            "SafeAI:AuditTrail:TextKey must be base64 of at least 32 bytes.",
            Assert.Throws<ArgumentException>(() => new AuditTrail(new InMemoryAuditStore(), new AuditTrailOptions { TextKey = Convert.ToBase64String(new byte[8]) })).Message,
            StringComparison.Ordinal);
        Assert.StartsWith(
            "SafeAI:AuditTrail:QueueCapacity must be between 1 and 10,000,000.",
            Assert.Throws<ArgumentException>(() => new AuditTrail(new InMemoryAuditStore(), new AuditTrailOptions { QueueCapacity = 0 })).Message,
            StringComparison.Ordinal);
        Assert.Equal(
            "SafeAI:AuditTrail:Sqlite:DataSource or SafeAI:AuditTrail:Sqlite:ConnectionString must be set.",
            new SqliteAuditStoreOptions { DataSource = "" }.GetError());
        Assert.Throws<ArgumentException>(() => new AuditTrail(new InMemoryAuditStore(), new AuditTrailOptions { SigningKey = "not base64!" }));
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++)
        {
            await Task.Delay(25, Ct);
        }

        Assert.True(condition());
    }

    private static string FindCrashWriter()
    {
        var baseDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var tfm = baseDir.Name;
        var configuration = baseDir.Parent!.Name;
        var testsDir = baseDir.Parent!.Parent!.Parent!.Parent!.FullName;
        var path = Path.Combine(testsDir, "SafeAI.Sqlite.Tests.CrashWriter", "bin", configuration, tfm, "SafeAI.Sqlite.Tests.CrashWriter.dll");
        Assert.True(File.Exists(path), $"The crash writer was not built at {path}.");
        return path;
    }

    private sealed class EchoClient : IChatClient
    {
        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "echo: " + messages.Last().Text)) { ModelId = "echo-model", ResponseId = Guid.NewGuid().ToString("N") });

        public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            await Task.Yield();
            yield return new ChatResponseUpdate(ChatRole.Assistant, "echo: " + messages.Last().Text) { ModelId = "echo-model" };
        }

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using SafeAI.Audit;
using SafeAI.PostgreSql;
using SafeAI.PostgreSql.Tests;
using SafeAI.Sqlite;

namespace SafeAI.Cli.Tests;

public sealed class AuditCommandTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>, IDisposable
{
    private static readonly byte[] SigningKey = Enumerable.Range(40, 32).Select(static i => (byte)i).ToArray();
    private readonly string _dir = Directory.CreateTempSubdirectory("safeai-audit-cli-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string Db => Path.Combine(_dir, "audit.db");

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

    private static async Task<(int Code, string Output, string Errors)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var errors = new StringWriter();
        var code = await Program.RunAsync(args, output, errors, Ct);
        return (code, output.ToString(), errors.ToString());
    }

    private void Sql(string sql)
    {
        SqliteConnection.ClearAllPools();
        using var connection = new SqliteConnection($"Data Source={Db}");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private async Task FillAsync(IAuditStore store, int count, TimeProvider? time = null)
    {
        await using var trail = new AuditTrail(store, new AuditTrailOptions { SigningKey = Convert.ToBase64String(SigningKey), CheckpointInterval = 4 }, time);
        for (var i = 0; i < count; i++)
        {
            await trail.RecordOperatorActionAsync("op", "test.write", i % 2 == 0 ? "alice" : "bob", new Dictionary<string, object?> { ["i"] = i }, Ct);
        }

        await trail.FlushAsync(Ct);
    }

    [Fact]
    public async Task ConsoleSample_WithAuditDb_VerifiesUntilOneRowIsAltered()
    {
        var sample = FindSample();
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(sample);
        start.Environment["SAFEAI_AUDIT_DB"] = Db;
        start.Environment.Remove("SAFEAI_OPENAI_API_KEY");
        using (var process = Process.Start(start)!)
        {
            var stdout = process.StandardOutput.ReadToEndAsync(Ct);
            var stderr = process.StandardError.ReadToEndAsync(Ct);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            timeout.CancelAfter(TimeSpan.FromMinutes(3));
            await process.WaitForExitAsync(timeout.Token);
            Assert.True(process.ExitCode == 0, await stderr);
            Assert.Contains("safeai audit verify --sqlite", await stdout, StringComparison.Ordinal);
        }

        var (code, output, errors) = await RunAsync("audit", "verify", "--sqlite", Db);
        Assert.True(code == 0, output + errors);
        Assert.StartsWith("intact: ", output, StringComparison.Ordinal);
        var count = long.Parse(output.Split(' ')[1], CultureInfo.InvariantCulture);
        Assert.True(count >= 10, output);

        // Alter one row's content with a SQLite client (a tamperer drops the append-only trigger first).
        Sql("DROP TRIGGER safeai_audit_append_only_update; UPDATE safeai_audit SET body = replace(body, '\"outcome\":\"allow\"', '\"outcome\":\"block\"') WHERE seq = 1");
        (code, output, _) = await RunAsync("audit", "verify", "--sqlite", Db);
        Assert.Equal(1, code);
        Assert.StartsWith("broken: record ", output, StringComparison.Ordinal);
        Assert.Contains("(sequence 1)", output, StringComparison.Ordinal);
    }

    public static TheoryData<string, string, string> Tampering => new()
    {
        { "changed", "UPDATE safeai_audit SET subject = 'mallory' WHERE seq = 3", "sequence 3): its content does not match its hash" },
        { "deleted", "DELETE FROM safeai_audit WHERE seq = 3", "sequence 4): sequence 4 follows 2" },
        {
            "inserted",
            "UPDATE safeai_audit SET seq = seq + 1000 WHERE seq >= 3; UPDATE safeai_audit SET seq = seq - 999 WHERE seq >= 1003; " +
            "INSERT INTO safeai_audit (seq, id, ts, kind, subject, body, prev_hash, hash) SELECT 3, 'forged', ts, kind, subject, body, hash, hash FROM safeai_audit WHERE seq = 2",
            "record forged (sequence 3): its content does not match its hash"
        },
        { "reordered", "UPDATE safeai_audit SET seq = -1 WHERE seq = 3; UPDATE safeai_audit SET seq = 3 WHERE seq = 4; UPDATE safeai_audit SET seq = 4 WHERE seq = -1", "sequence 3): its previous-record hash does not match record 2" },
    };

    [Theory]
    [MemberData(nameof(Tampering))]
    public async Task Verify_ChangedDeletedInsertedOrReordered_ExitsOneNamingTheFirstBrokenRecord(string what, string sql, string expected)
    {
        using (var store = (IDisposable)SqliteStores.CreateAuditStore(new SqliteAuditStoreOptions { DataSource = Db }))
        {
            await FillAsync((IAuditStore)store, 8);
        }

        var (code, output, _) = await RunAsync("audit", "verify", "--sqlite", Db);
        Assert.Equal(0, code);

        Sql("DROP TRIGGER safeai_audit_append_only_update; DROP TRIGGER safeai_audit_append_only_delete; " + sql);
        (code, output, _) = await RunAsync("audit", "verify", "--sqlite", Db);
        Assert.True(code == 1, what + ": " + output);
        Assert.Contains(expected, output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_WithSigningKeyFile_ChecksSignatures_AndAWrongKeyFails()
    {
        using (var store = (IDisposable)SqliteStores.CreateAuditStore(new SqliteAuditStoreOptions { DataSource = Db }))
        {
            await FillAsync((IAuditStore)store, 9);
        }

        var keyFile = Path.Combine(_dir, "signing.key");
        await File.WriteAllTextAsync(keyFile, Convert.ToBase64String(SigningKey), Ct);
        var (code, output, _) = await RunAsync("audit", "verify", "--sqlite", Db, "--signing-key-file", keyFile);
        Assert.Equal(0, code);
        Assert.Contains("2 signature(s) verified", output, StringComparison.Ordinal);

        await File.WriteAllTextAsync(keyFile, Convert.ToBase64String(new byte[32]), Ct);
        (code, output, _) = await RunAsync("audit", "verify", "--sqlite", Db, "--signing-key-file", keyFile);
        Assert.Equal(1, code);
        Assert.Contains("signature is invalid", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Export_TimeRangeAndSubject_WritesMatchingJsonLines()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2026, 5, 1, 0, 0, 0, TimeSpan.Zero));
        using (var store = (IDisposable)SqliteStores.CreateAuditStore(new SqliteAuditStoreOptions { DataSource = Db }))
        {
            await using var trail = new AuditTrail((IAuditStore)store, new AuditTrailOptions { CheckpointInterval = 0 }, time);
            for (var i = 0; i < 6; i++)
            {
                await trail.RecordOperatorActionAsync("op", "test.write", i % 2 == 0 ? "alice" : "bob", null, Ct);
                time.Advance(TimeSpan.FromDays(1));
            }

            await trail.FlushAsync(Ct);
        }

        var (code, output, errors) = await RunAsync("audit", "export", "--sqlite", Db, "--from", "2026-05-02", "--to", "2026-05-05");
        Assert.True(code == 0, errors);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.All(lines, static l => Assert.Equal("operator", JsonDocument.Parse(l).RootElement.GetProperty("kind").GetString()));

        var file = Path.Combine(_dir, "alice.jsonl");
        (code, output, _) = await RunAsync("audit", "export", "--sqlite", Db, "--subject", "alice", "--output", file);
        Assert.Equal(0, code);
        var alice = await File.ReadAllLinesAsync(file, Ct);
        Assert.Equal(3, alice.Length);
        Assert.All(alice, static l => Assert.Equal("alice", JsonDocument.Parse(l).RootElement.GetProperty("subject").GetString()));
    }

    [Fact]
    public async Task PurgeAndErase_ChainStillVerifies()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2026, 5, 1, 0, 0, 0, TimeSpan.Zero));
        using (var store = (IDisposable)SqliteStores.CreateAuditStore(new SqliteAuditStoreOptions { DataSource = Db }))
        {
            await using var trail = new AuditTrail((IAuditStore)store, new AuditTrailOptions { CheckpointInterval = 3 }, time);
            for (var i = 0; i < 6; i++)
            {
                await trail.RecordOperatorActionAsync("op", "test.write", "alice", null, Ct);
                time.Advance(TimeSpan.FromDays(1));
            }

            await trail.FlushAsync(Ct);
        }

        var (code, output, errors) = await RunAsync("audit", "purge", "--sqlite", Db, "--before", "2026-05-04");
        Assert.True(code == 0, errors);
        Assert.StartsWith("purged ", output, StringComparison.Ordinal);
        (code, output, errors) = await RunAsync("audit", "erase", "--sqlite", Db, "--subject", "alice");
        Assert.True(code == 0, errors);
        (code, output, _) = await RunAsync("audit", "verify", "--sqlite", Db);
        Assert.True(code == 0, output);
        Assert.DoesNotContain("sequence 1 to", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_Postgres_IntactThenTampered()
    {
        var schema = "cli" + Guid.NewGuid().ToString("N")[..10];
        var store = PostgreSqlStores.CreateAuditStore(new PostgreSqlAuditStoreOptions { ConnectionString = postgres.ConnectionString, Schema = schema });
        await FillAsync(store, 6);
        await ((IAsyncDisposable)store).DisposeAsync();

        var (code, output, errors) = await RunAsync("audit", "verify", "--postgres", postgres.ConnectionString, "--schema", schema);
        Assert.True(code == 0, output + errors);
        Assert.StartsWith("intact: 7 record(s)", output, StringComparison.Ordinal);

        await using (var connection = new Npgsql.NpgsqlConnection(postgres.ConnectionString))
        {
            await connection.OpenAsync(Ct);
            await using var command = new Npgsql.NpgsqlCommand($"ALTER TABLE \"{schema}\".safeai_audit DISABLE TRIGGER safeai_audit_append_only; DELETE FROM \"{schema}\".safeai_audit WHERE seq = 2", connection);
            await command.ExecuteNonQueryAsync(Ct);
        }

        (code, output, _) = await RunAsync("audit", "verify", "--postgres", postgres.ConnectionString, "--schema", schema);
        Assert.Equal(1, code);
        Assert.Contains("(sequence 3): sequence 3 follows 1", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadUsage_ClearErrors()
    {
        var (code, _, errors) = await RunAsync("audit", "verify");
        Assert.Equal(2, code);
        Assert.Contains("exactly one of --sqlite", errors, StringComparison.Ordinal);
        (code, _, errors) = await RunAsync("audit", "verify", "--sqlite", Path.Combine(_dir, "absent.db"));
        Assert.Equal(1, code);
        Assert.Contains("does not exist", errors, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir, "absent.db")));
        (code, _, errors) = await RunAsync("audit", "verify", "--sqlite", Db, "--sqllite", "x");
        Assert.Equal(2, code);
        Assert.Contains("Did you mean --sqlite?", errors, StringComparison.Ordinal);
        (code, _, errors) = await RunAsync("audit", "verfy");
        Assert.Equal(2, code);
        Assert.Contains("Did you mean verify?", errors, StringComparison.Ordinal);
    }

    private static string FindSample()
    {
        var baseDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var tfm = baseDir.Name;
        var configuration = baseDir.Parent!.Name;
        var repo = baseDir.Parent!.Parent!.Parent!.Parent!.Parent!.FullName;
        var path = Path.Combine(repo, "samples", "SafeAI.Samples.Console", "bin", configuration, tfm, "SafeAI.Samples.Console.dll");
        Assert.True(File.Exists(path), $"The console sample was not built at {path}.");
        return path;
    }
}

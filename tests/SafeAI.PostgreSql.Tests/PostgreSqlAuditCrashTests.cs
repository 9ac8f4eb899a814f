using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using SafeAI.Audit;

namespace SafeAI.PostgreSql.Tests;

/// <summary>
/// Durability of the PostgreSQL audit trail against a real server: a child process appending records is killed
/// mid-batch; every record it acknowledged is there, the chain verifies, and the next writer is not blocked by the
/// dead one's table lock (the server rolls back its open transaction when the connection drops).
/// </summary>
public sealed class PostgreSqlAuditCrashTests(PostgresFixture fixture) : IClassFixture<PostgresFixture>
{
    private readonly string _schema = "c" + Guid.NewGuid().ToString("N")[..12];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ChildProcessKilledMidBatch_EveryAcknowledgedRecordSurvives_AndTheChainVerifies()
    {
        var connectionString = fixture.ConnectionString;
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(FindCrashWriter());
        start.ArgumentList.Add(connectionString);
        start.ArgumentList.Add(_schema);
        start.ArgumentList.Add("1000000");
        using var process = Process.Start(start)!;
        var acknowledged = -1;
        var killed = false;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(120));
        while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.StartsWith("ACK ", StringComparison.Ordinal))
            {
                acknowledged = int.Parse(line[4..], CultureInfo.InvariantCulture);
            }

            // Kill right after an acknowledgement: the writer goes straight on with the next batch, so one is in flight.
            if (!killed && acknowledged >= 300)
            {
                process.Kill(entireProcessTree: true);
                killed = true;
            }
        }

        await process.WaitForExitAsync(Ct);
        Assert.True(killed, "The writer finished before it was killed: " + await process.StandardError.ReadToEndAsync(Ct));

        await using var store = new PostgreSqlAuditStore(new PostgreSqlAuditStoreOptions { ConnectionString = connectionString, Schema = _schema });
        var seen = new HashSet<int>();
        await foreach (var record in store.ReadAsync(new AuditQuery { Kind = AuditRecordKinds.Operator }, Ct))
        {
            using var body = JsonDocument.Parse(record.Body);
            seen.Add(body.RootElement.GetProperty("details").GetProperty("i").GetInt32());
        }

        for (var i = 0; i <= acknowledged; i++)
        {
            Assert.Contains(i, seen);
        }

        var keys = new AuditVerifyOptions();
        keys.CheckpointKeys["default"] = new byte[32];
        var result = await AuditChain.VerifyAsync(store.ReadAsync(null, Ct), keys, Ct);
        Assert.True(result.IsIntact, result.Problem);
        Assert.True(result.SignedCheckpoints > 0);

        // A new writer (the restarted app) appends after the crash: the dead writer's lock is gone and the chain goes on.
        await using (var trail = new AuditTrail(store, new AuditTrailOptions { SigningKey = Convert.ToBase64String(new byte[32]), CheckpointInterval = 25 }))
        {
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            wait.CancelAfter(TimeSpan.FromSeconds(30));
            await trail.RecordOperatorActionAsync("restarted", "test.after_crash", null, null, wait.Token);
            await trail.FlushAsync(wait.Token);
        }

        var after = await AuditChain.VerifyAsync(store.ReadAsync(null, Ct), keys, Ct);
        Assert.True(after.IsIntact, after.Problem);
        Assert.True(after.Count > result.Count);
        var restarted = 0;
        await foreach (var record in store.ReadAsync(new AuditQuery { Kind = AuditRecordKinds.Operator }, Ct))
        {
            restarted += record.Body.Contains("test.after_crash", StringComparison.Ordinal) ? 1 : 0;
        }

        Assert.Equal(1, restarted);
    }

    private static string FindCrashWriter()
    {
        var baseDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var tfm = baseDir.Name;
        var configuration = baseDir.Parent!.Name;
        var testsDir = baseDir.Parent!.Parent!.Parent!.Parent!.FullName;
        var path = Path.Combine(testsDir, "SafeAI.PostgreSql.Tests.CrashWriter", "bin", configuration, tfm, "SafeAI.PostgreSql.Tests.CrashWriter.dll");
        Assert.True(File.Exists(path), $"The crash writer was not built at {path}.");
        return path;
    }
}

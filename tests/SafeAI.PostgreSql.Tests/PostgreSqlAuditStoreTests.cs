using Npgsql;
using SafeAI.Audit;

namespace SafeAI.PostgreSql.Tests;

public sealed class PostgreSqlAuditStoreTests(PostgresFixture fixture) : IClassFixture<PostgresFixture>, IAsyncDisposable
{
    private static readonly byte[] SigningKey = Enumerable.Range(7, 32).Select(static i => (byte)i).ToArray();
    private readonly string _schema = "a" + Guid.NewGuid().ToString("N")[..12];
    private readonly List<IAsyncDisposable> _disposables = [];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask DisposeAsync()
    {
        foreach (var d in _disposables)
        {
            await d.DisposeAsync();
        }
    }

    private PostgreSqlAuditStore NewStore()
    {
        var store = new PostgreSqlAuditStore(new PostgreSqlAuditStoreOptions { ConnectionString = fixture.ConnectionString, Schema = _schema });
        _disposables.Add(store);
        return store;
    }

    private AuditTrail NewTrail(IAuditStore store)
    {
        var trail = new AuditTrail(store, new AuditTrailOptions { SigningKey = Convert.ToBase64String(SigningKey), CheckpointInterval = 10, BatchSize = 16 });
        _disposables.Add(trail);
        return trail;
    }

    private static AuditVerifyOptions Keys()
    {
        var keys = new AuditVerifyOptions();
        keys.CheckpointKeys["default"] = SigningKey;
        return keys;
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(fixture.ConnectionString);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(Ct);
    }

    private static async Task WriteAsync(AuditTrail trail, string actor, int count)
    {
        for (var i = 0; i < count; i++)
        {
            await trail.RecordOperatorActionAsync(actor, "test.write", "u-" + (i % 4), new Dictionary<string, object?> { ["i"] = i }, Ct);
        }

        await trail.FlushAsync(Ct);
    }

    [Fact]
    public async Task TwoAppInstances_AppendConcurrently_OneChainThatVerifies()
    {
        var a = NewTrail(NewStore());
        var b = NewTrail(NewStore());
        await Task.WhenAll(WriteAsync(a, "a", 200), WriteAsync(b, "b", 200));

        var store = NewStore();
        var result = await AuditChain.VerifyAsync(store.ReadAsync(null, Ct), Keys(), Ct);
        Assert.True(result.IsIntact, result.Problem);
        Assert.True(result.Count >= 400);
        Assert.True(result.SignedCheckpoints >= 39);
    }

    [Fact]
    public async Task Trigger_RejectsUpdateDeleteAndTruncate_ButAllowsErasingText()
    {
        await WriteAsync(NewTrail(NewStore()), "op", 3);
        var table = $"\"{_schema}\".safeai_audit";
        Assert.Contains("append-only", (await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync($"UPDATE {table} SET body = '{{}}' WHERE seq = 1"))).MessageText, StringComparison.Ordinal);
        Assert.Contains("append-only", (await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync($"DELETE FROM {table} WHERE seq = 1"))).MessageText, StringComparison.Ordinal);
        Assert.Contains("append-only", (await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync($"TRUNCATE {table}"))).MessageText, StringComparison.Ordinal);
        await ExecuteAsync($"UPDATE {table} SET input_text = NULL WHERE seq = 1");
    }

    [Theory]
    [InlineData("changed", "UPDATE {0} SET body = replace(body, 'test.write', 'test.erase') WHERE seq = 4", 4, "content does not match its hash")]
    [InlineData("deleted", "DELETE FROM {0} WHERE seq = 4", 5, "record(s) before it were removed")]
    [InlineData("reordered", "UPDATE {0} SET seq = -1 WHERE seq = 4; UPDATE {0} SET seq = 4 WHERE seq = 5; UPDATE {0} SET seq = 5 WHERE seq = -1", 4, "previous-record hash does not match")]
    public async Task Verify_TamperedRecord_ReportsFirstBrokenRecord(string what, string sql, long broken, string why)
    {
        await WriteAsync(NewTrail(NewStore()), "op", 8);
        var table = $"\"{_schema}\".safeai_audit";
        await ExecuteAsync($"ALTER TABLE {table} DISABLE TRIGGER safeai_audit_append_only; " + string.Format(System.Globalization.CultureInfo.InvariantCulture, sql, table));

        var result = await AuditChain.VerifyAsync(NewStore().ReadAsync(null, Ct), null, Ct);
        Assert.False(result.IsIntact, what);
        Assert.Equal(broken, result.BrokenSequence);
        Assert.Contains(why, result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Purge_AndErase_LeaveAChainThatVerifies()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero));
        var store = NewStore();
        var trail = new AuditTrail(store, new AuditTrailOptions { SigningKey = Convert.ToBase64String(SigningKey), CheckpointInterval = 3, TextKey = Convert.ToBase64String(new byte[32]) }, time);
        _disposables.Add(trail);
        for (var i = 0; i < 8; i++)
        {
            await trail.RecordConsentChangeAsync("u-1", "store-text", granted: i % 2 == 0, cancellationToken: Ct);
            time.Advance(TimeSpan.FromDays(1));
        }

        Assert.True(await trail.PurgeAsync(new DateTimeOffset(2026, 3, 4, 0, 0, 0, TimeSpan.Zero), Ct) > 0);
        await trail.EraseSubjectTextAsync("u-1", "dpo", Ct);

        var result = await AuditChain.VerifyAsync(store.ReadAsync(null, Ct), Keys(), Ct);
        Assert.True(result.IsIntact, result.Problem);
        Assert.True(result.FirstSequence > 1);
        await Assert.ThrowsAsync<AuditStoreException>(async () => await store.DeleteBeforeAsync(result.LastSequence, Ct));
    }
}

using SafeAI.Consent;

namespace SafeAI.PostgreSql.Tests;

public sealed class PostgreSqlConsentStoreTests(PostgresFixture fixture) : IClassFixture<PostgresFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SetAndGet_LastChoicePerPurposeWins_AcrossStoreInstances()
    {
        var schema = "c" + Guid.NewGuid().ToString("N")[..12];
        await using (var a = new PostgreSqlConsentStore(new PostgreSqlConsentStoreOptions { ConnectionString = fixture.ConnectionString, Schema = schema }))
        {
            var manager = new ConsentManager(a, options: new ConsentOptions { CacheDuration = TimeSpan.Zero });
            await manager.SetAsync("u-1", ConsentPurposes.ImproveModel, granted: false, cancellationToken: Ct);
            await manager.SetAsync("u-1", ConsentPurposes.StoreText, granted: true, cancellationToken: Ct);
            await manager.SetAsync("u-1", ConsentPurposes.ImproveModel, granted: true, cancellationToken: Ct);
            await manager.SetAsync("u-2", ConsentPurposes.Analytics, granted: false, cancellationToken: Ct);
        }

        await using var b = new PostgreSqlConsentStore(new PostgreSqlConsentStoreOptions { ConnectionString = fixture.ConnectionString, Schema = schema });
        var choices = await b.GetAsync("u-1", Ct);
        Assert.Equal([ConsentPurposes.ImproveModel, ConsentPurposes.StoreText], choices.Select(static c => c.Purpose));
        Assert.All(choices, static c => Assert.True(c.Granted));
        var manager2 = new ConsentManager(b);
        Assert.False(await manager2.IsPermittedAsync("u-2", ConsentPurposes.Analytics, Ct));
        Assert.True(await manager2.IsPermittedAsync("u-2", ConsentPurposes.HumanReview, Ct));
        Assert.False(await manager2.IsPermittedAsync("u-2", ConsentPurposes.StoreText, Ct));
        Assert.Empty(await b.GetAsync("nobody", Ct));
    }
}

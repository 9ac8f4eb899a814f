using SafeAI.Audit;

namespace SafeAI.Tests.Audit;

/// <summary>The page loop the SQLite and PostgreSQL audit stores read with (<see cref="AuditPages"/>).</summary>
public sealed class AuditPagesTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A database of <paramref name="count"/> records that answers like the stores' page queries and notes each "after" it was asked for.</summary>
    private static Func<AuditQuery?, long, CancellationToken, Task<List<AuditRecord>>> Pages(int count, int pageSize, List<long> asked) =>
        (_, after, cancellationToken) =>
        {
            cancellationToken.ThrowIfCancellationRequested();
            asked.Add(after);
            var page = Enumerable.Range(1, count).Where(s => s > after).Take(pageSize)
                .Select(s => new AuditRecord { Sequence = s, Id = $"r{s}", Kind = AuditRecordKinds.Call, Body = "{}" }).ToList();
            return Task.FromResult(page);
        };

    [Theory]
    [InlineData(0, new long[] { 0 })]
    [InlineData(2, new long[] { 0 })]
    [InlineData(3, new long[] { 0, 3 })] // a full last page needs one more (empty) read to know it was the last
    [InlineData(7, new long[] { 0, 3, 6 })]
    public async Task ReadAsync_ReadsEveryRecordOnceInOrder_AndStopsAfterTheFirstShortPage(int count, long[] expectedAfters)
    {
        var asked = new List<long>();

        var read = await AuditPages.ReadAsync(null, 3, Pages(count, 3, asked), Ct).Select(r => r.Sequence).ToListAsync(Ct);

        Assert.Equal(Enumerable.Range(1, count).Select(s => (long)s), read);
        Assert.Equal(expectedAfters, asked);
    }

    [Fact]
    public async Task ReadAsync_FromSequence_StartsThere()
    {
        var asked = new List<long>();

        var read = await AuditPages.ReadAsync(new AuditQuery { FromSequence = 5 }, 3, Pages(9, 3, asked), Ct).Select(r => r.Sequence).ToListAsync(Ct);

        Assert.Equal([5L, 6, 7, 8, 9], read);
        Assert.Equal([4L, 7], asked);
    }

    [Fact]
    public async Task ReadAsync_NothingIsReadUntilEnumerated_AndCancellationStopsBetweenPages()
    {
        var asked = new List<long>();
        var records = AuditPages.ReadAsync(null, 3, Pages(10, 3, asked), Ct);
        Assert.Empty(asked);

        using var cts = new CancellationTokenSource();
        var seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var record in records.WithCancellation(cts.Token))
            {
                if (++seen == 3)
                {
                    await cts.CancelAsync();
                }
            }
        });

        Assert.Equal(3, seen);
        Assert.Equal([0L], asked); // the second page was never read
    }
}

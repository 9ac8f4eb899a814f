using System.Globalization;
using SafeAI;
using SafeAI.Audit;
using SafeAI.Review;
using SafeAI.Sqlite;

// Usage: CrashWriter <database file> <max items>
//        CrashWriter audit <database file> <max records>
// The audit mode records operator actions through an AuditTrail over the SQLite audit store, ten at a time, and prints
// "ACK <i>" once FlushAsync returned for records up to i (acknowledged). The durability test kills it mid-batch.
if (args[0] == "audit")
{
    var auditPath = args[1];
    var records = int.Parse(args[2], CultureInfo.InvariantCulture);
    await using var trail = new AuditTrail(
        SqliteStores.CreateAuditStore(new SqliteAuditStoreOptions { DataSource = auditPath }),
        new AuditTrailOptions { BatchSize = 7, CheckpointInterval = 25, SigningKey = Convert.ToBase64String(new byte[32]) });
    Console.Out.WriteLine("READY");
    for (var i = 0; i < records; i++)
    {
        await trail.RecordOperatorActionAsync("writer", "test.write", "u-" + (i % 5).ToString(CultureInfo.InvariantCulture), new Dictionary<string, object?> { ["i"] = i });
        if (i % 10 == 9)
        {
            await trail.FlushAsync();
            Console.Out.WriteLine("ACK " + i.ToString(CultureInfo.InvariantCulture));
        }
    }

    Console.Out.WriteLine("DONE");
    return;
}

// Submits review items and approves them through a ReviewQueue over the SQLite store, printing "A <id>" once an item's
// insert is acknowledged and "D <id>" once its decision is. The durability test kills this process mid-write.
var path = args[0];
var max = int.Parse(args[1], CultureInfo.InvariantCulture);
var store = SqliteStores.CreateReviewStore(new SqliteReviewStoreOptions { DataSource = path });
using var queue = new ReviewQueue(store, new ReviewQueueOptions { SweepInterval = Timeout.InfiniteTimeSpan });
Console.Out.WriteLine("READY");
for (var i = 0; i < max; i++)
{
    var item = await queue.SubmitAsync(new ReviewSubmission
    {
        ProposedAnswer = "answer " + i.ToString(CultureInfo.InvariantCulture),
        Request = [new ReviewMessage("user", "question " + i.ToString(CultureInfo.InvariantCulture))],
        Verdicts = [GuardVerdict.Escalate("confidence", "confidence.low") with { Score = 0.42 }],
        RiskTier = RiskTier.High,
    });
    Console.Out.WriteLine("A " + item.Id + " " + i.ToString(CultureInfo.InvariantCulture));
    await queue.DecideAsync(item.Id, item.Version, ReviewDecision.Approve("writer-" + i.ToString(CultureInfo.InvariantCulture)));
    Console.Out.WriteLine("D " + item.Id);
}

Console.Out.WriteLine("DONE");

using System.Globalization;
using SafeAI;
using SafeAI.Audit;
using SafeAI.PostgreSql;

// Usage: CrashWriter <connection string> <schema> <max records>
// Records operator actions through an AuditTrail over the PostgreSQL audit store, ten at a time, and prints "ACK <i>"
// once FlushAsync returned for records up to i (acknowledged: committed on the server). Batches of 7 do not line up
// with the flushes of 10, so at any moment a batch is usually in flight. The durability test kills it mid-batch.
var connectionString = args[0];
var schema = args[1];
var records = int.Parse(args[2], CultureInfo.InvariantCulture);
await using var trail = new AuditTrail(
    PostgreSqlStores.CreateAuditStore(new PostgreSqlAuditStoreOptions { ConnectionString = connectionString, Schema = schema }),
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

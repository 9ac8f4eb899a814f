using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using SafeAI.Audit;
using SafeAI.PostgreSql;
using SafeAI.Sqlite;

namespace SafeAI.Cli;

/// <summary><c>safeai audit verify|export|purge|erase</c>: checks and serves the audit trail in SQLite or PostgreSQL.</summary>
internal static class AuditCommand
{
    internal const string SigningKeyVariable = "SAFEAI_AUDIT_SIGNING_KEY";
    internal const string TextKeyVariable = "SAFEAI_AUDIT_TEXT_KEY";

    private const string StoreHelp = """
          --sqlite PATH            the SQLite audit database (SafeAI.Sqlite's audit store)
          --postgres CONNECTION    an Npgsql connection string (SafeAI.PostgreSql's audit store); --schema NAME (default public)
        """;

    private const string KeyHelp = """
          Keys are read from files or environment variables, never from the command line (it shows in process lists):
          --signing-key-file F     base64 checkpoint key (or SAFEAI_AUDIT_SIGNING_KEY); --key-id ID (default "default")
          --text-key-file F        base64 text key (or SAFEAI_AUDIT_TEXT_KEY)
        """;

    private static readonly string[] StoreOptions = ["sqlite", "postgres", "schema"];

    internal static readonly IReadOnlyDictionary<string, CommandSpec> Commands = new Dictionary<string, CommandSpec>(StringComparer.Ordinal)
    {
        ["verify"] = new(
            "audit verify",
            "safeai audit verify --sqlite PATH | --postgres CONNECTION [--schema NAME] [--signing-key-file F] [--key-id ID] [--text-key-file F]\n" +
            "  Checks the whole chain: every record's hash, the links, the sequence, purge anchors and checkpoints; with a signing\n" +
            "  key the checkpoint signatures, with a text key every stored text against its keyed hash.\n" +
            "  Exit 0 and the count when intact; exit 1 and the first broken record's id and why when not.\n" + StoreHelp + KeyHelp,
            [.. StoreOptions, "signing-key-file", "key-id", "text-key-file"],
            []),
        ["export"] = new(
            "audit export",
            "safeai audit export --sqlite PATH | --postgres CONNECTION [--from 2026-01-01] [--to 2026-02-01] [--subject USER] [--output out.jsonl]\n" +
            "  Writes records as JSON lines (standard output unless --output), oldest first: a time range (from inclusive, to\n" +
            "  exclusive, ISO 8601, UTC unless an offset is given) and/or one person's records for a data-access request.\n" + StoreHelp,
            [.. StoreOptions, "from", "to", "subject", "output"],
            []),
        ["purge"] = new(
            "audit purge",
            "safeai audit purge --sqlite PATH | --postgres CONNECTION --before 2026-01-01 [--signing-key-file F] [--key-id ID]\n" +
            "  Retention: appends a purge record anchoring the first kept record, then deletes every older record. The chain\n" +
            "  still verifies afterwards.\n" + StoreHelp + KeyHelp,
            [.. StoreOptions, "before", "signing-key-file", "key-id"],
            []),
        ["erase"] = new(
            "audit erase",
            "safeai audit erase --sqlite PATH | --postgres CONNECTION --subject USER [--actor NAME]\n" +
            "  Erases one person's stored texts (their keyed hashes stay, so the chain still verifies) and records the erasure.\n" + StoreHelp,
            [.. StoreOptions, "subject", "actor"],
            []),
    };

    private static readonly string Usage =
        "safeai audit verify|export|purge|erase: check and serve SafeAI's audit trail.\n\n" +
        string.Join("\n", Commands.Values.Select(static c => c.Help.Split('\n')[0])) +
        "\n\nsafeai audit <command> --help prints one command's options.";

    /// <summary>Runs <c>safeai audit ...</c>; <paramref name="args"/> starts after the word <c>audit</c>.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter errors, CancellationToken cancellationToken)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            await output.WriteLineAsync(Usage + "\n" + CommandLine.ExitCodes).ConfigureAwait(false);
            return args.Length == 0 ? CommandLine.BadUsage : CommandLine.Success;
        }

        if (!Commands.TryGetValue(args[0], out var spec))
        {
            await errors.WriteLineAsync($"Unknown audit command '{args[0]}'.{CommandLine.Suggest(args[0], Commands.Keys)}\n\n{Usage}").ConfigureAwait(false);
            return CommandLine.BadUsage;
        }

        if (args.Skip(1).Any(static a => a is "-h" or "--help"))
        {
            await output.WriteLineAsync(spec.Help + CommandLine.ExitCodes).ConfigureAwait(false);
            return CommandLine.Success;
        }

        IAuditStore? store = null;
        try
        {
            var options = new Arguments(args.Skip(1), spec);
            store = OpenStore(options);
            return args[0] switch
            {
                "verify" => await VerifyAsync(store, options, output, cancellationToken).ConfigureAwait(false),
                "export" => await ExportAsync(store, options, output, cancellationToken).ConfigureAwait(false),
                "purge" => await PurgeAsync(store, options, output, cancellationToken).ConfigureAwait(false),
                _ => await EraseAsync(store, options, output, cancellationToken).ConfigureAwait(false),
            };
        }
        catch (ArgumentException ex)
        {
            await errors.WriteLineAsync("safeai: " + ex.Message).ConfigureAwait(false);
            return CommandLine.BadUsage;
        }
        catch (Exception ex) when (ex is AuditStoreException or IOException or UnauthorizedAccessException or FormatException)
        {
            await errors.WriteLineAsync("safeai: " + ex.Message).ConfigureAwait(false);
            return CommandLine.BadInput;
        }
        finally
        {
            if (store is IAsyncDisposable asyncDisposable)
            {
                await asyncDisposable.DisposeAsync().ConfigureAwait(false);
            }
            else if (store is IDisposable disposable)
            {
                disposable.Dispose();
            }

            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        }
    }

    private static IAuditStore OpenStore(Arguments options)
    {
        var sqlite = options.Optional("sqlite");
        var postgres = options.Optional("postgres");
        if ((sqlite is null) == (postgres is null))
        {
            throw new ArgumentException("Give exactly one of --sqlite PATH or --postgres CONNECTION.");
        }

        if (sqlite is not null)
        {
            if (options.Optional("schema") is not null)
            {
                throw new ArgumentException("--schema applies to --postgres only.");
            }

            // Never create a database where the user pointed at one that is not there (a typo would "verify" an empty chain).
            if (!File.Exists(sqlite))
            {
                throw new FileNotFoundException($"The SQLite audit database '{sqlite}' does not exist.", sqlite);
            }

            return SqliteStores.CreateAuditStore(new SqliteAuditStoreOptions { DataSource = sqlite });
        }

        return PostgreSqlStores.CreateAuditStore(new PostgreSqlAuditStoreOptions { ConnectionString = postgres, Schema = options.Optional("schema") ?? "public" });
    }

    private static byte[]? ReadKey(Arguments options, string fileOption, string variable)
    {
        string? text;
        string source;
        if (options.Optional(fileOption) is { } file)
        {
            text = File.ReadAllText(file);
            source = file;
        }
        else
        {
            text = Environment.GetEnvironmentVariable(variable);
            source = variable;
        }

        if (text is null)
        {
            return null;
        }

        return AuditTrailOptions.DecodeKey(text) ?? throw new FormatException($"The key in {source} is not base64 of at least 32 bytes.");
    }

    private static async Task<int> VerifyAsync(IAuditStore store, Arguments options, TextWriter output, CancellationToken cancellationToken)
    {
        var keys = new AuditVerifyOptions { TextKey = ReadKey(options, "text-key-file", TextKeyVariable) };
        if (ReadKey(options, "signing-key-file", SigningKeyVariable) is { } signing)
        {
            keys.CheckpointKeys[options.Optional("key-id") ?? "default"] = signing;
        }

        var result = await AuditChain.VerifyAsync(store.ReadAsync(null, cancellationToken), keys, cancellationToken).ConfigureAwait(false);
        var ci = CultureInfo.InvariantCulture;
        if (!result.IsIntact)
        {
            await output.WriteLineAsync(string.Create(ci, $"broken: record {result.BrokenId} (sequence {result.BrokenSequence}): {result.Problem}. {result.Count} record(s) before it verified.")).ConfigureAwait(false);
            return CommandLine.BadInput;
        }

        var line = new StringBuilder(string.Create(ci, $"intact: {result.Count} record(s)"));
        if (result.Count > 0)
        {
            line.Append(ci, $" (sequence {result.FirstSequence} to {result.LastSequence})");
        }

        line.Append(ci, $", {result.Checkpoints} checkpoint(s)");
        line.Append(keys.CheckpointKeys.Count == 0
            ? "; signatures not checked (no signing key)"
            : string.Create(ci, $", {result.SignedCheckpoints} signature(s) verified, {result.UnsignedTail} record(s) after the last signed checkpoint"));
        line.Append(keys.TextKey is null ? "; stored texts not checked (no text key)" : string.Create(ci, $", {result.TextsChecked} stored text(s) match their hashes"));
        await output.WriteLineAsync(line.Append('.').ToString()).ConfigureAwait(false);
        return CommandLine.Success;
    }

    private static async Task<int> ExportAsync(IAuditStore store, Arguments options, TextWriter output, CancellationToken cancellationToken)
    {
        var query = new AuditQuery
        {
            From = ParseTime(options, "from"),
            To = ParseTime(options, "to"),
            Subject = options.Optional("subject"),
        };
        var path = options.Optional("output");
        var temp = path is null ? null : path + ".tmp";
        var writer = temp is null ? output : new StreamWriter(temp, append: false, new UTF8Encoding(false));
        long count = 0;
        try
        {
            await foreach (var record in store.ReadAsync(query, cancellationToken).ConfigureAwait(false))
            {
                await writer.WriteLineAsync(ToJson(record)).ConfigureAwait(false);
                count++;
            }
        }
        finally
        {
            if (temp is not null)
            {
                await writer.DisposeAsync().ConfigureAwait(false);
            }
        }

        if (temp is not null)
        {
            File.Move(temp, path!, overwrite: true);
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"exported {count} record(s) to {path}.")).ConfigureAwait(false);
        }

        return CommandLine.Success;
    }

    private static async Task<int> PurgeAsync(IAuditStore store, Arguments options, TextWriter output, CancellationToken cancellationToken)
    {
        var before = ParseTime(options, "before") ?? throw new ArgumentException("--before is required.");
        var signing = ReadKey(options, "signing-key-file", SigningKeyVariable);
        long deleted;
        var trail = new AuditTrail(store, new AuditTrailOptions
        {
            SigningKey = signing is null ? null : Convert.ToBase64String(signing),
            SigningKeyId = options.Optional("key-id") ?? "default",
        });
        await using (trail.ConfigureAwait(false))
        {
            deleted = await trail.PurgeAsync(before, cancellationToken).ConfigureAwait(false);
        }

        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"purged {deleted} record(s) older than {before:O}.")).ConfigureAwait(false);
        return CommandLine.Success;
    }

    private static async Task<int> EraseAsync(IAuditStore store, Arguments options, TextWriter output, CancellationToken cancellationToken)
    {
        var subject = options.Required("subject");
        int erased;
        var trail = new AuditTrail(store);
        await using (trail.ConfigureAwait(false))
        {
            erased = await trail.EraseSubjectTextAsync(subject, options.Optional("actor") ?? "safeai-cli", cancellationToken).ConfigureAwait(false);
        }

        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"erased the stored text of {erased} record(s).")).ConfigureAwait(false);
        return CommandLine.Success;
    }

    private static DateTimeOffset? ParseTime(Arguments options, string name)
    {
        if (options.Optional(name) is not { } value)
        {
            return null;
        }

        return DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time)
            ? time
            : throw new ArgumentException($"--{name} must be a date or time in ISO 8601 (it is '{value}').");
    }

    internal static string ToJson(AuditRecord record)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteNumber("seq", record.Sequence);
            json.WriteString("id", record.Id);
            json.WriteString("time", record.Timestamp.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture));
            json.WriteString("kind", record.Kind);
            if (record.Subject is not null)
            {
                json.WriteString("subject", record.Subject);
            }

            json.WritePropertyName("body");
            try
            {
                using var body = JsonDocument.Parse(record.Body);
                body.RootElement.WriteTo(json);
            }
            catch (JsonException)
            {
                json.WriteStringValue(record.Body);
            }

            WriteIfSet(json, "input_hash", record.InputHash);
            WriteIfSet(json, "output_hash", record.OutputHash);
            WriteIfSet(json, "input_text", record.InputText);
            WriteIfSet(json, "output_text", record.OutputText);
            json.WriteString("prev_hash", record.PreviousHash);
            json.WriteString("hash", record.Hash);
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WriteIfSet(Utf8JsonWriter json, string name, string? value)
    {
        if (value is not null)
        {
            json.WriteString(name, value);
        }
    }
}

using SafeAI.Onnx;

namespace SafeAI.Cli;

/// <summary>The <c>safeai</c> tool: score, eval and train.</summary>
internal static class Program
{
    private const string Usage = """
        safeai: score, evaluate and train SafeAI's content model (offline).

          safeai score --input in.jsonl --output out.jsonl [--model safeai-model.json] [--threshold 0.5]
              each input line {"text": ...} becomes {"text", "scores": {category: probability}, "flagged", "categories"}
          safeai eval  --input labelled.jsonl|.csv [--model ...] [--threshold 0.5] [--report eval.html] [--markdown eval.md]
          safeai eval  --data ../shared/data [--set heldout|convabuse-test]
              (the held-out 20% of the shared corpora, or ConvAbuse's test split as an out-of-distribution check)
              per-category AUROC, AUPRC, precision, recall, F1 and false-positive rate; ROC curves in an HTML report;
              for a cascade, the share of texts escalated to the second tier
          safeai train --input labelled.jsonl|.csv [--input ...] | --data ../shared/data  --output folder
                       [--seed 42] [--epochs 6] [--bits 18] [--fpr 0.025] [--categories hate,prompt_injection]
              trains the n-gram model; point SafeAI at folder/safeai-model.json
          safeai train --tier encoder --input ... | --data ../shared/data [--convabuse]  --output folder
                       [--seed 42] [--epochs 20] [--tokens 128] [--fpr 0.025] [--max-escalation 0.3]
                       [--combine mean-logit|second] [--source-balance 1] [--cache embeddings.bin]
              trains the MiniLM heads and the cascade's bands on top of the default n-gram model
              (load with --model folder/safeai-model.json or MiniLMContentModel.Load)

          safeai pii   --input in.jsonl --output out.jsonl [--types email,phone,...] [--regions US,GB]
              each line {"text": ...} becomes {"text": redacted, "entities": [{"type", "start", "end"}]}
          safeai pii   --eval ../shared/data [--markdown docs/pii-eval.md]
              precision and recall of the PII detectors per kind, and findings in 1,000 benign requests

          safeai thresholds --input traffic.jsonl [--max-flagged 0.01] [--categories illicit] [--check other.jsonl]
              per-category thresholds fitted to your own harmless traffic (raised only), what they cost on labelled
              harmful examples, and the appsettings.json section that applies them

        Before launch (docs/pre-launch.md):
          safeai bias     [--input sentences.jsonl --groups groups.json] [--report bias.html] [--json bias.json] [--max-gap G]
              counterfactual audit of the content filter: flag rate per group, the largest gap with its interval
          safeai evaluate --config appsettings.json --dataset conversations.jsonl --report report.html [--json report.json]
                          [--gate rules.json]
              runs the configured SafeAI pipeline over a dataset; outcome rates per segment; the gate exits 3 when a rule fails
          safeai system-card --config appsettings.json --evaluation report.json [--bias bias.json] [--uses uses.json]
                             --markdown card.md [--html card.html]

        Records (docs/audit.md):
          safeai audit verify --sqlite PATH | --postgres CONNECTION   (also: audit export, audit purge, audit erase)
              checks the audit trail's hash chain; exit 0 and a count when intact, 1 and the first broken record when not

        Monitoring and incidents (docs/monitoring.md):
          safeai monitor replay --events events.jsonl --rules rules.json [--every 1m]
              runs the alert engine over a recorded stream of calls; prints each alert as one JSON line
          safeai incident contain|export|add-case ...
              turn the shared kill switch on or off, export the calls around a time, add a reported case to an eval file

        --model: default (the fine-tuned model that ships in SafeAI.Onnx), ngram (the earlier n-gram default), cascade (the
        MiniLM cascade of SafeAI.Onnx.MiniLM) or a safeai-model.json path (files it names that are not beside it come from the MiniLM package).

        Labelled data: JSONL lines {"text": ..., "labels": ["hate"]} (empty for benign) or {"text": ..., "label": "benign"};
        CSV with a header holding text and label (or labels, separated by ';').
        A malformed input line fails the command naming file and line; --on-invalid skip reports and skips it instead.
        safeai <command> --help prints one command's options.
        """;

    public static async Task<int> Main(string[] args) =>
        await RunAsync(args, Console.Out, Console.Error, CancellationToken.None).ConfigureAwait(false);

    internal static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter errors, CancellationToken cancellationToken)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            if (args.Length > 1 && CommandLine.Commands.TryGetValue(args[1], out var named))
            {
                await output.WriteLineAsync(named.Help.TrimEnd() + "\n" + CommandLine.ExitCodes).ConfigureAwait(false);
                return CommandLine.Success;
            }

            await output.WriteLineAsync(Usage.TrimEnd() + "\n" + CommandLine.ExitCodes).ConfigureAwait(false);
            return args.Length == 0 ? CommandLine.BadUsage : CommandLine.Success;
        }

        CommandLine.Commands.TryGetValue(args[0], out var spec);
        if (spec is not null && args.Skip(1).Any(static a => a is "-h" or "--help"))
        {
            await output.WriteLineAsync(spec.Help.TrimEnd() + "\n" + CommandLine.ExitCodes).ConfigureAwait(false);
            return CommandLine.Success;
        }

        if (args[0] == "audit")
        {
            return await AuditCommand.RunAsync(args[1..], output, errors, cancellationToken).ConfigureAwait(false);
        }

        if (args[0] == "rollout")
        {
            return await RolloutCommand.RunAsync(args[1..], output, errors).ConfigureAwait(false);
        }

        if (args[0] == "monitor")
        {
            return await MonitorCommand.RunAsync(args[1..], output, errors, cancellationToken).ConfigureAwait(false);
        }

        if (args[0] == "incident")
        {
            return await IncidentCommand.RunAsync(args[1..], output, errors, cancellationToken).ConfigureAwait(false);
        }

        try
        {
            var options = new Arguments(args.Skip(1), spec);
            switch (args[0])
            {
                case "score":
                    return await Commands.ScoreAsync(options, output, errors, cancellationToken).ConfigureAwait(false);
                case "eval":
                    return await Commands.EvalAsync(options, output, errors, cancellationToken).ConfigureAwait(false);
                case "train":
                    return await Commands.TrainAsync(options, output, errors).ConfigureAwait(false);
                case "calibrate":
                    return await CalibrateCommand.RunAsync(options, output, cancellationToken).ConfigureAwait(false);
                case "pii":
                    return await PiiCommand.RunAsync(options, output, errors, cancellationToken).ConfigureAwait(false);
                case "corpus":
                    return await CorpusCommand.RunAsync(options, output, cancellationToken).ConfigureAwait(false);
                case "windows":
                    return await WindowsCommand.RunAsync(options, output, cancellationToken).ConfigureAwait(false);
                case "thresholds":
                    return await ThresholdsCommand.RunAsync(options, output, errors, cancellationToken).ConfigureAwait(false);
                case "bias":
                    return await BiasCommand.RunAsync(options, output, cancellationToken).ConfigureAwait(false);
                case "evaluate":
                    return await EvaluateCommand.RunAsync(options, output, cancellationToken).ConfigureAwait(false);
                case "system-card":
                    return await SystemCardCommand.RunAsync(options, output, cancellationToken).ConfigureAwait(false);
                default:
                    await errors.WriteLineAsync($"Unknown command '{args[0]}'.{CommandLine.Suggest(args[0], CommandLine.Commands.Keys)}\n\n{Usage}").ConfigureAwait(false);
                    return CommandLine.BadUsage;
            }
        }
        catch (ArgumentException ex)
        {
            await errors.WriteLineAsync("safeai: " + ex.Message).ConfigureAwait(false);
            return 2;
        }
        catch (Exception ex) when (ex is FormatException or IOException or UnauthorizedAccessException or ContentModelException)
        {
            await errors.WriteLineAsync("safeai: " + ex.Message).ConfigureAwait(false);
            return CommandLine.BadInput;
        }
        catch (OperationCanceledException)
        {
            await errors.WriteLineAsync("safeai: cancelled.").ConfigureAwait(false);
            return CommandLine.BadInput;
        }
#pragma warning disable CA1031 // The tool's last line of defence: a clean message and exit code, never an unhandled-exception dump.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            await errors.WriteLineAsync($"safeai: unexpected error ({ex.GetType().Name}): {ex.Message}. This is a bug in safeai; please report it with the command line.").ConfigureAwait(false);
            return CommandLine.BadInput;
        }
    }
}

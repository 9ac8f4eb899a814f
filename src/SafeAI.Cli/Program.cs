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

        --model: default (the n-gram model that ships in SafeAI.Onnx), cascade (the MiniLM cascade of
        SafeAI.Onnx.MiniLM) or a safeai-model.json path (files it names that are not beside it come from the MiniLM package).

        Labelled data: JSONL lines {"text": ..., "labels": ["hate"]} (empty for benign) or {"text": ..., "label": "benign"};
        CSV with a header holding text and label (or labels, separated by ';').
        """;

    public static async Task<int> Main(string[] args) =>
        await RunAsync(args, Console.Out, Console.Error, CancellationToken.None).ConfigureAwait(false);

    internal static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter errors, CancellationToken cancellationToken)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            await output.WriteLineAsync(Usage).ConfigureAwait(false);
            return args.Length == 0 ? 2 : 0;
        }

        if (args[0] == "rollout")
        {
            return await RolloutCommand.RunAsync(args[1..], output, errors).ConfigureAwait(false);
        }

        try
        {
            var options = new Arguments(args.Skip(1));
            switch (args[0])
            {
                case "score":
                    return await Commands.ScoreAsync(options, output, errors, cancellationToken).ConfigureAwait(false);
                case "eval":
                    return await Commands.EvalAsync(options, output, cancellationToken).ConfigureAwait(false);
                case "train":
                    return await Commands.TrainAsync(options, output).ConfigureAwait(false);
                default:
                    await errors.WriteLineAsync($"Unknown command '{args[0]}'.\n\n{Usage}").ConfigureAwait(false);
                    return 2;
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
            return 1;
        }
    }
}

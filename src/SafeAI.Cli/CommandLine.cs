using System.Globalization;

namespace SafeAI.Cli;

/// <summary>
/// What one command accepts: the options that take a value, the flags that do not, and its <c>--help</c> text.
/// A command listed in <see cref="CommandLine.Commands"/> rejects any other option (exit code 2), naming the closest valid one.
/// </summary>
/// <param name="Name">The command, as typed (<c>score</c>).</param>
/// <param name="Help">The text <c>safeai {name} --help</c> prints.</param>
/// <param name="Options">The options that take a value, without <c>--</c>.</param>
/// <param name="Flags">The options that take no value, without <c>--</c>.</param>
internal sealed record CommandSpec(string Name, string Help, IReadOnlyList<string> Options, IReadOnlyList<string> Flags)
{
    public bool Accepts(string name) => Options.Contains(name, StringComparer.OrdinalIgnoreCase) || Flags.Contains(name, StringComparer.OrdinalIgnoreCase);

    public bool IsFlag(string name) => Flags.Contains(name, StringComparer.OrdinalIgnoreCase);
}

/// <summary>The commands' option tables, the exit codes, and the "did you mean" suggestion shared by every check.</summary>
internal static class CommandLine
{
    /// <summary>Success.</summary>
    public const int Success = 0;

    /// <summary>Bad input: a malformed line (without <c>--on-invalid skip</c>), a missing or unreadable file, a model that does not load.</summary>
    public const int BadInput = 1;

    /// <summary>Bad usage: an unknown command, option or label, a missing option, a value out of range.</summary>
    public const int BadUsage = 2;

    /// <summary>A release check failed: a gate rule of <c>safeai evaluate --gate</c>, or <c>safeai bias --max-gap</c>.</summary>
    public const int GateFailed = 3;

    public const string ExitCodes = """
        Exit codes: 0 success; 1 bad input (a malformed line, a missing or unreadable file, a model that does not load);
        2 bad usage (unknown command, option or label, a missing option, a value out of range); 3 a release check failed
        (safeai evaluate --gate, safeai bias --max-gap). Errors go to standard error.
        """;

    internal const string InvalidLinesHelp = "\n" + """
          --on-invalid fail|skip  a malformed input line (not JSON, no "text" string, an invalid string such as a lone
                                  surrogate): fail (default: exit 1, naming file and line, no output file is left behind)
                                  or skip (each one is reported as file:line on standard error, the rest is processed)
        """;

    public static readonly IReadOnlyDictionary<string, CommandSpec> Commands = new Dictionary<string, CommandSpec>(StringComparer.Ordinal)
    {
        ["score"] = new(
            "score",
            """
            safeai score --input in.jsonl --output out.jsonl [--model default|cascade|safeai-model.json] [--threshold 0.5]
                         [--on-invalid fail|skip] [--progress]
              Each input line {"text": ...} becomes {"text", "scores": {category: probability}, "flagged", "categories"}.
              The output file is written whole or not at all (it appears when every line is scored).
              --threshold 0 to 1   the score from which a category is flagged (default 0.5)
              --progress           draw a progress bar on standard error even when it is redirected
            """ + InvalidLinesHelp,
            ["input", "output", "model", "threshold", "on-invalid"],
            ["progress"]),
        ["eval"] = new(
            "eval",
            """
            safeai eval --input labelled.jsonl|.csv [--model ...] [--threshold 0.5] [--report eval.html] [--markdown eval.md]
                        [--on-invalid fail|skip] [--ignore-unknown-labels]
            safeai eval --data ../shared/data [--set heldout|convabuse-test] [--model ...]
            safeai eval --data ../shared/data --set sources [--model ...] [--markdown out.md] [--json out.json]
                        [--scores scores.jsonl]
              (sources: per source, harmful texts and benign texts flagged, the sources held out whole from the
              default model's training first, then the random held-out 20 % of the trained sources; then the held-out
              harmful texts hidden after ordinary text, and rewritten with obfuscation tricks such as i.d.i.o.t)
              Per-category AUROC, AUPRC, precision, recall, F1 and false-positive rate; ROC curves in an HTML report.
              --threshold 0 to 1        the score from which a category counts as flagged (default 0.5)
              --without screen,gate,sentences
                                        score without these parts of an ensemble model (the default model has all
                                        three): what each costs or adds, on the same texts (without the gate the
                                        screen does not run either); other models ignore it
              --scores FILE             (--set sources) every text's scores, one JSON line each ({"source", "part",
                                        "benign", "hidden", "text", "scores"}), for reading the errors
              --ignore-unknown-labels   evaluate even when --input has labels the model does not score (they are listed,
                                        not evaluated); without it such a label (a typo such as "hatee") is an error
            """ + InvalidLinesHelp,
            ["input", "data", "set", "model", "threshold", "report", "markdown", "json", "on-invalid", "without", "scores"],
            ["ignore-unknown-labels"]),
        ["train"] = new(
            "train",
            """
            safeai train --input labelled.jsonl|.csv [--input ...] | --data ../shared/data [--add-set FILE=SOURCE ...]
                         --output folder [--seed 42] [--epochs 6] [--bits 18] [--fpr 0.025] [--categories hate,prompt_injection]
            safeai train --tier encoder --input ... | --data ../shared/data [--convabuse]  --output folder
                         [--seed 42] [--epochs 20] [--tokens 128] [--fpr 0.025] [--max-escalation 0.3]
                         [--combine mean-logit|second] [--source-balance 1] [--cache embeddings.bin]
              Trains the n-gram model (or, with --tier encoder, the MiniLM cascade's heads and bands).
              --categories   the categories to train; each must be a label of the data
              --add-set FILE=NAME  with --data (n-gram tier): a labelled JSONL or CSV file of one's own, split and weighted
                             as safeai corpus --add-set does it (its held-out part is never read); repeatable
            """ + InvalidLinesHelp,
            ["input", "data", "output", "tier", "seed", "epochs", "bits", "fpr", "categories", "tokens", "max-escalation", "combine", "source-balance", "cache", "on-invalid", "add-set"],
            ["convabuse"]),
        ["corpus"] = new(
            "corpus",
            """
            safeai corpus --data ../shared/data --output corpus.jsonl [--tokens 128] [--add-set FILE=SOURCE ...]
              Writes the shared corpora as the fine-tuning script reads them (training/train-filter.sh): one line per text
              with its labels, source, part (train, calib, test, heldout-source, convabuse-test) and its token ids exactly
              as the default model's encoder sees them at run time.
              --tokens 16 to 256   the window the ids are cut to (default 128)
              --add-set FILE=NAME  a labelled JSONL or CSV file of one's own, written after every other set as source
                                   NAME (parts by text hash, the seed sets' weight); texts already in the corpus are
                                   left out and counted; may be given several times
            safeai corpus --data ../shared/data --output dataset.jsonl --evaluation-sample 100
              Instead: a mixed-language dataset for safeai evaluate (en, de, fr, ar, nl, zh, vi; up to N benign and N
              harmful texts per language, only texts the default model never trained on; columns language and source).
            """,
            ["data", "output", "tokens", "evaluation-sample", "add-set"],
            []),
        ["pii"] = new(
            "pii",
            """
            safeai pii --input in.jsonl --output out.jsonl [--types email,phone,card,iban,ssn,ip,secret] [--regions US,GB]
                       [--on-invalid fail|skip]
            safeai pii --eval ../shared/data [--markdown docs/pii-eval.md]
              Each input line {"text": ...} becomes {"text": redacted, "entities": [{"type", "start", "end"}]}: the text
              with each finding replaced by a typed placeholder ([EMAIL_1], [CARD_1], ...; one value, one placeholder), and
              the findings' kinds and positions in the input text (UTF-16 code units, end exclusive). The detectors are
              those of the PII stage (SafeAI.Pii). The output file is written whole or not at all.
              --types kinds        the kinds to find, separated by commas (default: all)
              --regions codes      the ISO 3166 regions whose national phone formats are known (default: US, GB, DE, FR,
                                   ES, IT, NL, BE, CH, SE, AU, IN); international numbers (+44 ...) are found anyway
              --eval folder        measure instead: precision and recall per kind on the Presidio synthetic set and the
                                   findings in 1,000 benign requests of the shared data; --markdown writes the report
            """ + InvalidLinesHelp,
            ["input", "output", "types", "regions", "on-invalid", "eval", "markdown"],
            []),
        ["windows"] = new("windows", WindowsCommand.Help, ["model", "teacher", "data", "output", "per-group", "seed", "add-set"], ["threat-statements"]),
        ["monitor"] = MonitorCommand.Spec,
        ["incident"] = IncidentCommand.Spec,
        ["calibrate"] = new(
            "calibrate",
            """
            safeai calibrate --model folder/safeai-model.json --data ../shared/data [--benign-rate 0.03] [--gate-keep 0.995] [--screen-keep 0.99]
                              [--long-benign-rate 0.02] [--sentence-headroom 0] [--skip-gate-precision 0.95]
                              [--per-category-levels] [--harmful-only-levels]
                              [--statements] [--add-set FILE=SOURCE ...]
              Sets each category's bias of an ensemble model so that, at the default threshold 0.5, at most the given share
              of the benign-request calibration sample is flagged by any category (the description is rewritten). When the
              ensemble has a "gate" or a "screen", also sets their escalation levels; when it has "sentences", the logit shift
              of its sentence windows; when its screen has "skipGate", the margin from which the screen skips the gate.
              "maxGateWindows" and "maxEncoderWindows" are kept as they are; the calibration runs without them.
              --benign-rate 0 to 0.5   the share of the benign sample that may be flagged (default 0.03; in each register: chat prompts and short queries)
              --gate-keep 0.9 to 1     per category, the share of the calibration texts the encoder flags that the gate must send on to it (default 0.995)
              --screen-keep 0.9 to 1   the same for the screen, which runs before the gate (default 0.99)
              --long-benign-rate 0 to 0.5  the share of long benign texts (each calibration request after about 600
                                       characters of the others, scored as at run time) that may be flagged with sentence
                                       windows (default 0.02)
              --sentence-headroom 0 to 0.5  the share of long benign texts the sentence windows may add to what the packed
                                       windows flag alone, even where that passes --long-benign-rate (default 0: packed
                                       windows over the rate alone turn the sentence windows off, with a warning)
              --skip-gate-precision 0.5 to 1  of the calibration texts the screen sends straight to the encoder, the share the
                                       gate would have sent on anyway (default 0.95)
              --per-category-levels    keep each category's gate level where its own keep share puts it; by default the
                                       gate's levels are then raised jointly, as far as every calibration text the encoder
                                       flags (and the gate sent on) is still sent on in some category
              --harmful-only-levels    the gate and the screen must send on the harmful calibration texts the encoder
                                       flags, not every one it flags: a benign text it would wrongly flag no longer pulls
                                       their levels down (fewer windows reach the encoder, and such a text is not flagged)
              --statements             add the calibration part of the tool's hand-written sets: threats, texts urging
                                       self-harm and illicit requests (for a model that learnt them, as the default model's
                                       statement columns: training/statement_columns.py); --threat-statements adds the
                                       threats only
              --add-set FILE=NAME      add the calibration part of a labelled JSONL or CSV file of one's own, split as
                                       safeai corpus --add-set splits it (give the same FILE=NAME): its harmless texts are
                                       a register of their own, held to --benign-rate like the two of the sample (one with
                                       fewer than 1 / rate of them is held to none, with a warning), and its harmful ones
                                       join the harmful calibration texts (repeatable)
            """,
            ["model", "data", "benign-rate", "gate-keep", "screen-keep", "long-benign-rate", "sentence-headroom", "skip-gate-precision", "add-set"],
            ["per-category-levels", "harmful-only-levels", "statements", "threat-statements"]),
        ["thresholds"] = new("thresholds", ThresholdsCommand.Help, ["input", "max-flagged", "categories", "floor", "json", "check", "model", "on-invalid"], []),
        ["bias"] = new("bias", BiasCommand.Help, ["input", "groups", "set", "report", "json", "max-gap", "model", "threshold"], []),
        ["evaluate"] = new("evaluate", EvaluateCommand.Help, ["config", "dataset", "report", "json", "gate", "bias", "answers", "concurrency"], []),
        ["system-card"] = new("system-card", SystemCardCommand.Help, ["config", "evaluation", "bias", "uses", "markdown", "html", "name"], []),
    };

    /// <summary>Gets the valid name closest to <paramref name="name"/> (case-insensitive edit distance), or <see langword="null"/> when none is close.</summary>
    public static string? Closest(string name, IEnumerable<string> candidates) => NameSuggestion.Closest(name, candidates);

    /// <summary>" Did you mean --x?" when a close valid name exists, else an empty string.</summary>
    public static string Suggest(string name, IEnumerable<string> candidates, string prefix = "") =>
        Closest(name, candidates) is { } close ? string.Create(CultureInfo.InvariantCulture, $" Did you mean {prefix}{close}?") : string.Empty;
}

/// <summary>What happens to a malformed input line (<c>--on-invalid</c>): it fails the command, or it is reported and skipped.</summary>
/// <param name="Skip">Whether malformed lines are skipped.</param>
/// <param name="Errors">Where skipped lines are reported.</param>
internal sealed class InvalidLines(bool Skip, TextWriter Errors)
{
    /// <summary>Gets the policy that fails on the first malformed line.</summary>
    public static InvalidLines Fail { get; } = new(false, TextWriter.Null);

    /// <summary>Gets how many lines were skipped.</summary>
    public int Skipped { get; private set; }

    /// <summary>Reads <c>--on-invalid</c>.</summary>
    public static InvalidLines From(Arguments args, TextWriter errors) => args.Optional("on-invalid") switch
    {
        null or "fail" => Fail,
        "skip" => new InvalidLines(true, errors),
        var other => throw new ArgumentException($"--on-invalid must be fail or skip (it is '{other}')."),
    };

    /// <summary>Fails with <paramref name="problem"/>, or reports it and returns so that the caller skips the line.</summary>
    public void Handle(FormatException problem)
    {
        if (!Skip)
        {
            throw problem;
        }

        Skipped++;
        Errors.WriteLine("safeai: skipped " + problem.Message);
    }
}

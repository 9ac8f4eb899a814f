using SafeAI.Onnx.Ngram;

namespace SafeAI.Onnx;

/// <summary>
/// The <c>ensemble</c> kind (the default model): an ONNX classifier scores sentence-sized windows of the text, so that a
/// threat cannot hide behind paragraphs of ordinary text; an optional <c>ngram-linear</c> model scores the same windows'
/// characters; per category the two members' logits are mixed with fixed weights and shifted by a calibrated bias
/// (<c>score = sigmoid(w_encoder * logit(encoder) + w_ngram * logit(ngram) + bias)</c>).
/// </summary>
/// <remarks>
/// <para>
/// An optional gate (<c>"gate"</c> in the description) is a smaller ONNX classifier with the encoder's tokenizer, for
/// example a three-layer student distilled from it. It scores every window first, mixed with the same weights and biases;
/// a window goes on to the encoder only when some category's gate score reaches that category's escalation level (set by
/// <c>safeai calibrate</c>, never above 0.5, so that the gate passes on nearly every window the encoder would flag). Ordinary text
/// then costs the gate's time, and only suspect windows pay for both.
/// </para>
/// <para>
/// An optional screen (<c>"screen"</c>) is a still cheaper classifier with the same tokenizer, for example the mean and
/// maximum of learned word-piece vectors under a small network: it scores every window before the gate, with its own
/// escalation levels, and only the windows it passes on reach the gate. Windows it stops keep its scores.
/// </para>
/// <para>
/// A window is whole sentences packed up to <c>packTokens</c> tokens (default <c>windowTokens</c>); a sentence longer
/// than that has a window of its own, and one longer than <c>windowTokens</c> is cut into overlapping pieces.
/// Its array holds the token count, the framed token ids, then the window's characters for the n-gram member.
/// </para>
/// <para>
/// With <c>"sentences": { "shift": s }</c>, every sentence of a window that packs two or more is also a window of its
/// own, right after its window, and its mixed logits are lowered by <c>s</c> once the members are done with it: a window
/// averages over its sentences, so a short harmful sentence among ordinary ones scores low in its window, while alone it
/// scores as it would on its own, at a level stricter by <c>s</c> (set by <c>safeai calibrate</c> on long benign texts,
/// since a sentence out of its context is a judgement on less). The screen and the gate send a sentence on at their
/// levels raised by <c>s</c>. A window's sentences are scored only when the first member (the screen, else the gate)
/// sends the window on: one it rules out is plainly ordinary, and its sentences keep scores of 0 at no cost. With
/// <c>"everyWindow": true</c> in <c>"sentences"</c>, the first member scores the sentences of every packed window instead:
/// a short harmful sentence among ordinary ones can dilute its window below the first member's levels while alone it
/// reaches them, and the first member is the cheapest run. The first member then scores each sentence, and only the one
/// it finds most suspect goes on to the later members, so a window costs at most one more run of each, however many
/// sentences it packs. The count of the window limit ignores these windows.
/// <see cref="CreateWindows"/>'s window limit counts full-size windows of <see cref="ReferenceWindowTokens"/> tokens,
/// so that a text limit set in <see cref="ContentFilterOptions.MaxWindows"/> means about the same length for every kind.
/// </para>
/// </remarks>
internal sealed class EnsembleContentModel : ContentModel
{
    /// <summary>The size of the full-size window that <see cref="ContentFilterOptions.MaxWindows"/> counts.</summary>
    internal const int ReferenceWindowTokens = 256;

    private const int LongSentenceOverlap = 16;

    /// <summary>How many packed windows the limited path takes through the members at a time (about 2,000 characters).</summary>
    private const int BudgetStretch = 8;

    /// <summary>Set in a window's first element (its framed token count) when the window is one sentence scored alone.</summary>
    private const int SentenceFlag = 1 << 30;

    private static readonly System.Diagnostics.Metrics.Meter Meter = new(SafeAIDiagnostics.MeterName);
    private static readonly System.Diagnostics.Metrics.Counter<long> Windows = Meter.CreateCounter<long>(
        SafeAIDiagnostics.ContentWindowsInstrument, "{window}", "Text windows a gated content model scored, by the model that scored them (screen, gate or encoder).");

    private static readonly System.Diagnostics.Metrics.Counter<long> HeldBack = Meter.CreateCounter<long>(
        SafeAIDiagnostics.ContentWindowsHeldBackInstrument, "{window}", "Windows of long texts that a limit kept from a gated content model's gate or encoder (they keep the scores of the member before).");

    private readonly OnnxContentModel _encoder;
    private readonly NgramContentModel? _ngram;
    private readonly OnnxContentModel? _gate;
    private readonly OnnxContentModel? _screen;
    private readonly int _windowTokens;
    private readonly int _packTokens;
    private readonly float? _sentenceShift;
    private readonly (int Encoder, float EncoderWeight, int Ngram, float NgramWeight, float Bias)[] _mix;

    /// <summary>The members that score windows, in the order they run: the screen, the gate, then the encoder (always last).</summary>
    private readonly Stage[] _stages;

    /// <summary>
    /// The margin (in logits, over its escalation level in some category) from which the screen sends a window straight to
    /// the encoder, without the gate; null when there is no screen and gate or no such margin.
    /// </summary>
    private readonly float? _skipGate;

    /// <summary>Whether the first member scores the sentences of every packed window, not only of those it sends on (<c>"sentences": { "everyWindow": true }</c>).</summary>
    private readonly bool _sentencesOfEveryWindow;

    /// <summary>
    /// Per member, the most windows of one text it scores (the most suspect to the member before it first), or null for no
    /// limit; the first member never has one. Null as a whole when no member has a limit.
    /// </summary>
    private readonly int?[]? _limits;

    /// <summary>The smallest of <see cref="_limits"/>: a text with no more windows than this cannot reach a limit, so it takes the unlimited paths.</summary>
    private readonly int _smallestLimit = int.MaxValue;

    /// <summary>Per member, the windows it has scored since the model was loaded (counted where more than one member scores).</summary>
    private readonly long[] _scoredWindows;

    private EnsembleContentModel(ModelDescription description, OnnxContentModel encoder, NgramContentModel? ngram, OnnxContentModel? gate, OnnxContentModel? screen, bool useSentenceWindows)
        : base(description, [.. description.Ensemble!.Categories.Select(static c => c.Category)])
    {
        _encoder = encoder;
        _ngram = ngram;
        _gate = gate;
        _screen = screen;
        var ensemble = description.Ensemble;
        _windowTokens = Math.Min(ensemble.WindowTokens, encoder.MaxTokens);
        _packTokens = Math.Min(ensemble.PackTokens, _windowTokens);
        _sentenceShift = useSentenceWindows ? ensemble.SentenceShift : null;
        _sentencesOfEveryWindow = _sentenceShift is not null && ensemble.SentencesOfEveryWindow;
        _mix = new (int, float, int, float, float)[ensemble.Categories.Count];
        for (var c = 0; c < _mix.Length; c++)
        {
            var mix = ensemble.Categories[c];
            var e = Array.IndexOf(encoder.CategoryArray, mix.Category);
            var n = ngram is null ? -1 : Array.IndexOf(ngram.CategoryArray, mix.Category);
            if ((e < 0 && mix.EncoderWeight != 0) || (n < 0 && mix.NgramWeight != 0))
            {
                var member = e < 0 && mix.EncoderWeight != 0 ? "the encoder" : "the n-gram model";
                throw new ContentModelException(description.FileName, $"category \"{mix.Category}\" has a weight for {member}, which does not score it.");
            }

            _mix[c] = (e, mix.EncoderWeight, n, mix.NgramWeight, mix.Bias);
        }

        var stages = new List<Stage>(3);
        if (screen is not null)
        {
            stages.Add(EarlyStage(description, "screen", ensemble.Screen!, screen));
        }

        if (gate is not null)
        {
            stages.Add(EarlyStage(description, "gate", ensemble.Gate!, gate));
        }

        stages.Add(new Stage(encoder, [.. _mix.Select(static m => m.Encoder)], null, "encoder"));
        _stages = [.. stages];
        _scoredWindows = new long[_stages.Length];
        _skipGate = screen is not null && gate is not null ? ensemble.Screen!.SkipGate : null;
        if (_stages.Length > 1)
        {
            var limits = new int?[_stages.Length];
            limits[^1] = ensemble.MaxEncoderWindows;
            if (screen is not null && gate is not null)
            {
                limits[1] = ensemble.MaxGateWindows;
            }

            _limits = Array.TrueForAll(limits, static l => l is null) ? null : limits;
            _smallestLimit = _limits is null ? int.MaxValue : limits.Min(static l => l ?? int.MaxValue);
        }
    }

    /// <summary>Gets the most tokens of one window (special tokens included).</summary>
    public override int MaxTokens => _windowTokens;

    public override bool MicroBatching => _encoder.MicroBatching;

    internal override ContentModel SecondTier => _encoder;

    /// <summary>Gets how many windows the gate (or the screen) has sent on to the encoder since the model was loaded (0 without either).</summary>
    internal override long EscalatedWindows => _stages.Length == 1 ? 0 : Interlocked.Read(ref _scoredWindows[^1]);

    /// <summary>
    /// Gets how many windows the member <paramref name="role"/> (<c>"screen"</c>, <c>"gate"</c> or <c>"encoder"</c>) has
    /// scored and used since the model was loaded: 0 for a member the model does not run, or where the encoder runs alone.
    /// </summary>
    internal long WindowsScoredBy(string role)
    {
        var stage = Array.FindIndex(_stages, s => Equals(s.Tag.Value, role));
        return stage < 0 || _stages.Length == 1 ? 0 : Interlocked.Read(ref _scoredWindows[stage]);
    }

    /// <summary>Gets how many runs of the members took the session for a run alone (<see cref="OnnxRuntimeOptions.LoneRunThreads"/>).</summary>
    internal long LoneRuns => _stages.Sum(static s => s.Model.LoneRuns);

    /// <summary>Gets a value indicating whether a smaller gate encoder scores every window before the encoder.</summary>
    internal bool HasGate => _gate is not null;

    /// <summary>Gets a value indicating whether a screen scores every window before the gate.</summary>
    internal bool HasScreen => _screen is not null;

    internal override ModelTokenizer? Tokenizer => _encoder.Tokenizer;

    public static EnsembleContentModel Load(ModelDescription description, ModelFiles files, OnnxRuntimeOptions options)
    {
        var ensemble = description.Ensemble!;
        ContentModel? encoder = null, ngram = null, gate = null, screen = null;
        try
        {
            encoder = LoadNested(ensemble.Encoder, files, options);
            if (encoder is not OnnxContentModel onnx)
            {
                throw new ContentModelException(description.FileName, $"the encoder \"{ensemble.Encoder}\" must be a sequence-classifier or encoder-heads model.");
            }

            if (ensemble.Gate is { } gateDescription && options.UseGate)
            {
                gate = LoadNested(gateDescription.Encoder, files, options);
                if (gate is not OnnxContentModel)
                {
                    throw new ContentModelException(description.FileName, $"the gate \"{gateDescription.Encoder}\" must be a sequence-classifier or encoder-heads model.");
                }
            }

            // UseGate false means every window is the encoder's: the screen stays out too.
            if (ensemble.Screen is { } screenDescription && options.UseGate && options.UseScreen)
            {
                screen = LoadNested(screenDescription.Encoder, files, options);
                if (screen is not OnnxContentModel)
                {
                    throw new ContentModelException(description.FileName, $"the screen \"{screenDescription.Encoder}\" must be a sequence-classifier or encoder-heads model.");
                }
            }

            if (ensemble.Ngram is { } name)
            {
                ngram = name == CascadeDescription.DefaultFast ? LoadDefaultNgram() : LoadNested(name, files, options);
                if (ngram is not NgramContentModel)
                {
                    throw new ContentModelException(description.FileName, $"the n-gram member \"{name}\" must be an ngram-linear model.");
                }
            }

            return new EnsembleContentModel(description, onnx, ngram as NgramContentModel, gate as OnnxContentModel, screen as OnnxContentModel, options.UseSentenceWindows);
        }
        catch
        {
            encoder?.Dispose();
            ngram?.Dispose();
            gate?.Dispose();
            screen?.Dispose();
            throw;
        }
    }

    /// <summary>The gate or the screen: checked against the encoder, with its output columns and escalation levels per category.</summary>
    private Stage EarlyStage(ModelDescription description, string role, EnsembleGate stage, OnnxContentModel model)
    {
        CheckGate(description, role, stage.Encoder, _encoder, model, _windowTokens);
        var index = new int[_mix.Length];
        var escalate = new float[_mix.Length];
        for (var c = 0; c < _mix.Length; c++)
        {
            var mix = description.Ensemble!.Categories[c];
            index[c] = Array.IndexOf(model.CategoryArray, mix.Category);
            if (index[c] < 0 && mix.EncoderWeight != 0)
            {
                throw new ContentModelException(description.FileName, $"the {role} \"{stage.Encoder}\" does not score \"{mix.Category}\", which the encoder scores (the {role} scores: {string.Join(", ", model.CategoryArray)}).");
            }

            // Categories the encoder has no part in score the same through every member: they never send a window on.
            escalate[c] = mix.EncoderWeight != 0 ? stage.Escalate[mix.Category] : float.PositiveInfinity;
        }

        // A sentence window goes on at the level raised by the shift its scores get at the end: the member sends it on when
        // its score could reach the stricter level a sentence alone is held to, not the window's.
        var sentenceEscalate = escalate;
        if (_sentenceShift is { } shift and > 0)
        {
            sentenceEscalate = [.. escalate.Select(level => float.IsPositiveInfinity(level) ? level : Sigmoid(Logit(level) + shift))];
        }

        return new Stage(model, index, escalate, role) { SentenceEscalate = sentenceEscalate };
    }

    /// <summary>The gate (or screen) reads the encoder's windows as they are: the same tokenizer, and windows no longer than it reads.</summary>
    private static void CheckGate(ModelDescription description, string role, string name, OnnxContentModel encoder, OnnxContentModel gate, int windowTokens)
    {
        var a = encoder.Description.Tokenizer;
        var b = gate.Description.Tokenizer;
        if (a.Kind != b.Kind || a.Vocab != b.Vocab || a.Merges != b.Merges || a.Model != b.Model || a.Lowercase != b.Lowercase
            || encoder.Tokenizer.StartId != gate.Tokenizer.StartId || encoder.Tokenizer.EndId != gate.Tokenizer.EndId || encoder.Tokenizer.PadId != gate.Tokenizer.PadId)
        {
            throw new ContentModelException(description.FileName, $"the {role} \"{name}\" must use the encoder's tokenizer (the same type, files, case and special ids): it scores the encoder's windows.");
        }

        if (gate.MaxTokens < windowTokens)
        {
            throw new ContentModelException(description.FileName, $"the {role} \"{name}\" reads at most {gate.MaxTokens} tokens; the ensemble's windows hold up to {windowTokens}.");
        }
    }

    /// <summary>
    /// Splits normalised text into windows of whole sentences of at most <see cref="MaxTokens"/> tokens. When there are more
    /// than the limit (<paramref name="maxWindows"/> full-size windows of <see cref="ReferenceWindowTokens"/> tokens), the
    /// first and last halves of the limit are kept (the head and the tail, where long jailbreaks put their payload) and
    /// <paramref name="truncated"/> is set.
    /// </summary>
    internal override List<int[]> CreateWindows(string text, int overlap, int maxWindows, out bool truncated)
    {
        var limit = Math.Max(1, maxWindows * Math.Max(1, ReferenceWindowTokens / _windowTokens));
        var tokenizer = _encoder.Tokenizer;
        var body = _windowTokens - 2;
        var packBody = _packTokens - 2;

        // Each group is one window and, with sentence windows, the sentences it packs; the limit counts groups.
        var groups = new List<(int[] Window, List<int[]>? Sentences)>();
        var pending = new List<int>(body);
        var pendingSentences = new List<(int From, int Count, int Start, int Length)>();
        int pendingStart = 0, pendingEnd = 0;
        truncated = false;

        void Flush()
        {
            if (pending.Count == 0)
            {
                return;
            }

            List<int[]>? alone = null;
            if (_sentenceShift is not null && pendingSentences.Count > 1)
            {
                alone = new List<int[]>(pendingSentences.Count);
                foreach (var (from, count, start, length) in pendingSentences)
                {
                    alone.Add(Pack(pending, from, count, text.AsSpan(start, length), sentence: true));
                }
            }

            groups.Add((Pack(pending, 0, pending.Count, text.AsSpan(pendingStart, pendingEnd - pendingStart)), alone));
            pending.Clear();
            pendingSentences.Clear();
        }

        // Tokens beyond what the limit can hold are never needed: the head and the tail of that budget are kept.
        var budget = (long)limit * body * 4;
        foreach (var (start, length) in Sentences(text))
        {
            var ids = tokenizer.Encode(text.Substring(start, length), (int)Math.Min(int.MaxValue, budget), out _);
            if (ids.Count == 0)
            {
                continue;
            }

            if (ids.Count > body)
            {
                Flush();
                // Small windows (a description may ask for 8 tokens) overlap by at most half, so the stride stays positive.
                var stride = body - Math.Min(LongSentenceOverlap, body / 2);
                for (var from = 0; ; from += stride)
                {
                    var count = Math.Min(body, ids.Count - from);
                    // The characters of this piece, approximately: the same share of the sentence, at most one n-gram window.
                    var charFrom = start + (int)((long)length * from / ids.Count);
                    var charTo = start + (int)((long)length * (from + count) / ids.Count);
                    groups.Add((Pack(ids, from, count, text.AsSpan(charFrom, Math.Max(0, charTo - charFrom))), null));
                    if (from + count >= ids.Count)
                    {
                        break;
                    }
                }

                continue;
            }

            if (pending.Count + ids.Count > packBody)
            {
                Flush();
            }

            if (pending.Count == 0)
            {
                pendingStart = start;
            }

            if (_sentenceShift is not null)
            {
                pendingSentences.Add((pending.Count, ids.Count, start, length));
            }

            foreach (var id in ids)
            {
                pending.Add(id);
            }

            pendingEnd = start + length;
        }

        Flush();
        if (groups.Count == 0)
        {
            groups.Add((Pack([], 0, 0, []), null));
        }

        if (groups.Count > limit)
        {
            truncated = true;
            var head = (limit + 1) / 2;
            groups.RemoveRange(head, groups.Count - limit);
        }

        // Reading order: each window, then its sentences alone.
        var windows = new List<int[]>(groups.Count);
        foreach (var (window, alone) in groups)
        {
            windows.Add(window);
            if (alone is not null)
            {
                windows.AddRange(alone);
            }
        }

        return windows;
    }

    /// <summary>
    /// Scores windows. With a gate, the gate scores every window first and only the windows where some category's mixed
    /// gate score reaches its escalation level go on to the encoder; the others keep the gate's scores, which lie below the
    /// escalation levels (and so below the default threshold 0.5 that the levels never exceed). A screen does the same in
    /// front of the gate.
    /// </summary>
    internal override ValueTask<float[]> ScoreWindowsAsync(IReadOnlyList<int[]> windows, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        if (_limits is not null && windows.Count > _smallestLimit)
        {
            return ScoreWithBudgetAsync(windows, stop: null, cancellationToken);
        }

        if (_stages.Length > 1 && !Array.Exists(_stages, static s => s.Model.MicroBatching))
        {
            // Every member on one pool thread: a second hop between the gate and the encoder cost about 0.7 ms on a short text.
            return ScoreOffCallerThread(this, windows, static (model, w, ct) => model.ScoreStagesNow(w, ct), cancellationToken);
        }

        return ScoreWindowsCoreAsync(windows, cancellationToken);
    }

    /// <summary>
    /// Scores windows and stops at the first window (in reading order) that meets <paramref name="stop"/>. Each window goes
    /// through the screen, the gate and the encoder, as far as each sends it on, before the next one a thread takes up;
    /// windows run side by side as in <see cref="OnnxRuntimeOptions.WindowParallelism"/>. Without a stop, with one window,
    /// or with members that put several windows in one run, every window is scored as in the overload without a stop.
    /// </summary>
    internal override ValueTask<float[]> ScoreWindowsAsync(IReadOnlyList<int[]> windows, WindowStop? stop, CancellationToken cancellationToken)
    {
        if (_limits is not null && stop is not null && windows.Count > _smallestLimit)
        {
            ThrowIfDisposed();
            cancellationToken.ThrowIfCancellationRequested();
            return ScoreWithBudgetAsync(windows, stop, cancellationToken);
        }

        if (stop is null || windows.Count < 2 || !Array.TrueForAll(_stages, static s => s.Model.OneWindowPerRun))
        {
            return ScoreWindowsAsync(windows, cancellationToken);
        }

        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        return ScoreOffCallerThread(this, windows, (model, w, ct) => model.ScoreUntil(w, stop, ct), cancellationToken);
    }

    /// <summary>
    /// Scores windows with limits on the gate's and the encoder's runs (<c>"maxGateWindows"</c>, <c>"maxEncoderWindows"</c>).
    /// The limits are spent in stretches of <see cref="BudgetStretch"/> packed windows, in reading order. The first member
    /// scores the packed windows and, of those it sends on, the sentences (the most suspect one per window goes further), as
    /// without a limit; then each later member, while its limit lasts, scores the windows sent on to it that the member before
    /// finds most suspect, stretch by stretch (at the encoder, those the screen sends past the gate first; then by the margin
    /// over that member's levels, reading order on a tie). The others keep the scores of the member that sent them on. Where
    /// no more windows than the limit reach the encoder, every row is what the unlimited paths give.
    /// <para>
    /// Each member runs once per text. What it takes from one stretch depends only on that stretch's scores and on what is
    /// left of its limit, never on a later member's scores of an earlier stretch, so the windows of every stretch share one
    /// pass of its parallel runs (scored one stretch at a time, a long text whose windows reached the gate or the encoder from
    /// two stretches paid a round of runs for each). With a <paramref name="stop"/>, the rows are the ones that scoring
    /// stretch after stretch and ending at the stop gives: the encoder's batches (as many windows as run side by side) count
    /// in reading order until one meets it, scoring ends with that stretch, and every row after the first window (in reading
    /// order) that meets it is cleared (those of the later stretches, scored ahead, with them), as <see cref="ScoreUntil"/>
    /// leaves it. Whether the text meets the stop is as without a limit, though a window before the deciding one may keep the
    /// gate's scores. A text that meets the stop early so costs what a text of its length that does not meet it costs (the
    /// limits bound both), with one exception: where the windows the screen is sure of in the first stretch fill the
    /// encoder's limit, the encoder's windows are known before the gate runs. The encoder scores them first, and where they
    /// meet the stop the gate scores the first stretch alone; otherwise the gate scores every stretch in one pass, as usual.
    /// </para>
    /// </summary>
    private ValueTask<float[]> ScoreWithBudgetAsync(IReadOnlyList<int[]> windows, WindowStop? stop, CancellationToken cancellationToken)
    {
        if (!Array.Exists(_stages, static s => s.Model.MicroBatching))
        {
            // Every member on one pool thread, as in the unlimited path; each member's runs complete synchronously.
            return ScoreOffCallerThread(this, windows, (model, w, ct) => Completed(model.ScoreWithBudgetCoreAsync(w, stop, now: true, ct)), cancellationToken);
        }

        return ScoreWithBudgetCoreAsync(windows, stop, now: false, cancellationToken);
    }

    /// <summary>The result of a run that completed synchronously (every member scored with <c>ScoreNow</c>).</summary>
    private static float[] Completed(ValueTask<float[]> run)
    {
        if (!run.IsCompleted)
        {
            throw new InvalidOperationException("A synchronous scoring pass did not complete synchronously.");
        }

        return run.Result;
    }

    private async ValueTask<float[]> ScoreWithBudgetCoreAsync(IReadOnlyList<int[]> windows, WindowStop? stop, bool now, CancellationToken cancellationToken)
    {
        var c = _mix.Length;
        var last = _stages.Length - 1;
        var encoderWindows = EncoderWindows(windows);
        var ngramScores = _ngram is null ? null : new NgramRows(_ngram, windows);
        var scores = new float[windows.Count * c];
        var packed = GroupStarts(windows);

        ValueTask<float[]> Run(int s, List<int> active) =>
            now ? new(_stages[s].Model.ScoreNow(Sent(encoderWindows, active), cancellationToken)) : _stages[s].Model.ScoreWindowsAsync(Sent(encoderWindows, active), cancellationToken);

        // The first member scores every packed window in one pass, then the sentences of those it sends on; the one per
        // window it finds most suspect joins the windows it sent on. What it scores in one stretch does not depend on
        // another stretch, so one pass gives each stretch what a pass of its own would.
        List<int> all = [.. packed];
        var candidates = MixStage(0, await Run(0, all).ConfigureAwait(false), all, windows, ngramScores, scores);
        var sentences = packed.Length < windows.Count ? SentencesOf(windows, _sentencesOfEveryWindow ? all : candidates) : [];
        if (sentences.Count > 0)
        {
            var escalated = MixStage(0, await Run(0, sentences).ConfigureAwait(false), sentences, windows, ngramScores, scores);
            candidates = Merge(candidates, MostSuspect(windows, escalated, scores));
        }

        var sentenceSet = new HashSet<int>(sentences);
        // Where each stretch ends: the first window of the next one.
        var ends = new int[(packed.Length + BudgetStretch - 1) / BudgetStretch];
        for (var k = 0; k < ends.Length; k++)
        {
            ends[k] = (k + 1) * BudgetStretch < packed.Length ? packed[(k + 1) * BudgetStretch] : windows.Count;
        }

        var stretches = ends.Length;
        var sent = SplitByStretch(candidates, ends);
        var skipped = new List<int>[stretches];
        List<int>[] picks = new List<int>[stretches], encoderPicks = new List<int>[stretches];
        for (var k = 0; k < stretches; k++)
        {
            // The windows the screen is sure of skip the gate and go first at the encoder (its rows alone decide which).
            (sent[k], skipped[k]) = _skipGate is null ? (sent[k], []) : SplitAtGate(sent[k], windows, scores);
            encoderPicks[k] = [];
        }

        var budgets = Array.ConvertAll(_limits!, static l => l ?? int.MaxValue);

        // Member s scores, stretch by stretch in reading order while its limit lasts, the windows of the stretches [from, to)
        // sent on to it that it finds most suspect; the others keep the earlier member's scores. Which windows it takes
        // depends only on the scores of their own stretch and on what is left of its limit, so it runs once for all those
        // stretches, and their windows share its parallel runs. Returns its scores of the windows it took, stretch after stretch.
        async ValueTask<float[]> MemberAsync(int s, int from, int to)
        {
            var atEncoder = s == last;
            var taken = atEncoder ? encoderPicks : picks;
            List<int> run = [];
            for (var k = from; k < to; k++)
            {
                taken[k] = MostSuspectFirst(windows, scores, sent[k], atEncoder ? skipped[k] : [], s - 1, budgets[s]);
                budgets[s] -= taken[k].Count;
                CountHeldBack(s, sent[k].Count + (atEncoder ? skipped[k].Count : 0) - taken[k].Count);
                if (!atEncoder)
                {
                    taken[k].Sort();
                }

                run.AddRange(taken[k]);
            }

            var member = run.Count == 0 ? [] : await Run(s, run).ConfigureAwait(false);
            if (!atEncoder)
            {
                for (int k = from, first = 0; k < to; first += taken[k].Count, k++)
                {
                    sent[k] = taken[k].Count == 0 ? [] : MixStage(s, member, taken[k], windows, ngramScores, scores, first);
                }
            }

            return member;
        }

        // With a stop, where the windows the screen is sure of in the first stretch fill the encoder's limit, the encoder
        // takes those whatever the gate finds, and none of a later stretch. It scores them first: where they meet the stop,
        // the gate scores the first stretch alone (the text ends there), and otherwise every stretch in one pass, as below.
        if (stop is not null && stretches > 1 && _skipGate is not null && _limits![last] is { } encoderLimit && skipped[0].Count >= encoderLimit)
        {
            encoderPicks[0] = MostSuspectFirst(windows, scores, [], skipped[0], last - 1, encoderLimit);
            budgets[last] -= encoderPicks[0].Count;
            var (met, mixed) = MixBatches(windows, stop, scores, await Run(last, encoderPicks[0]).ConfigureAwait(false), encoderPicks[0], 0, sentenceSet, ngramScores);
            for (var s = 1; s < last; s++)
            {
                await MemberAsync(s, 0, met ? 1 : stretches).ConfigureAwait(false);
            }

            CountHeldBack(last, sent[0].Count + skipped[0].Count - encoderPicks[0].Count);
            if (!met)
            {
                mixed += MixEncoder(windows, stop, scores, await MemberAsync(last, 1, stretches).ConfigureAwait(false), encoderPicks, 1, stretches, ends, sentenceSet, ngramScores);
            }

            return Finish(windows, stop, scores, encoderPicks, mixed, sentences);
        }

        for (var s = 1; s < last; s++)
        {
            await MemberAsync(s, 0, stretches).ConfigureAwait(false);
        }

        var encoder = await MemberAsync(last, 0, stretches).ConfigureAwait(false);
        return Finish(windows, stop, scores, encoderPicks, MixEncoder(windows, stop, scores, encoder, encoderPicks, 0, stretches, ends, sentenceSet, ngramScores), sentences);
    }

    /// <summary>Counts the windows a limit kept from member <paramref name="s"/>.</summary>
    private void CountHeldBack(int s, int windows)
    {
        if (windows > 0)
        {
            HeldBack.Add(windows, _stages[s].Tag);
        }
    }

    /// <summary>
    /// Mixes the encoder's scores (<paramref name="encoder"/>: the windows of <paramref name="chosen"/> for the stretches
    /// [<paramref name="from"/>, <paramref name="to"/>), stretch after stretch) into the rows as scoring the text one stretch
    /// at a time leaves them: with a <paramref name="stop"/>, the stretch where a window meets it is the last whose encoder
    /// scores count. Returns how many of the encoder's windows were mixed in.
    /// </summary>
    private int MixEncoder(IReadOnlyList<int[]> windows, WindowStop? stop, float[] scores, float[] encoder, List<int>[] chosen, int from, int to, int[] ends, HashSet<int> sentenceSet, NgramRows? ngramScores)
    {
        var mixed = 0;
        for (int k = from, first = 0, start = from == 0 ? 0 : ends[from - 1]; k < to; first += chosen[k].Count, start = ends[k], k++)
        {
            var (met, batches) = MixBatches(windows, stop, scores, encoder, chosen[k], first, sentenceSet, ngramScores);
            mixed += batches;

            // A window a limit kept back keeps an earlier member's scores, which can meet the stop as well.
            if (stop is not null && (met || Enumerable.Range(start, ends[k] - start).Any(w => Meets(windows, stop, scores, w, sentenceSet))))
            {
                break;
            }
        }

        return mixed;
    }

    /// <summary>
    /// Mixes the encoder's scores of the windows <paramref name="chosen"/> (its rows from <paramref name="firstRow"/>) into the
    /// rows, in batches of as many windows as run side by side; with a <paramref name="stop"/>, none after the batch where a
    /// window meets it. Returns whether one did and how many windows were mixed in.
    /// </summary>
    private (bool Met, int Mixed) MixBatches(IReadOnlyList<int[]> windows, WindowStop? stop, float[] scores, float[] encoder, List<int> chosen, int firstRow, HashSet<int> sentenceSet, NgramRows? ngramScores)
    {
        var batchSize = stop is null ? int.MaxValue : Math.Max(1, _encoder.WindowParallelism);
        for (var i = 0; i < chosen.Count; i += batchSize)
        {
            var batch = chosen.GetRange(i, Math.Min(batchSize, chosen.Count - i));
            MixStage(_stages.Length - 1, encoder, batch, windows, ngramScores, scores, firstRow + i);
            if (stop is not null && batch.Exists(w => Meets(windows, stop, scores, w, sentenceSet)))
            {
                return (true, i + batch.Count);
            }
        }

        return (false, chosen.Count);
    }

    /// <summary>
    /// Whether window <paramref name="w"/>'s row meets the stop: a sentence window's by its shifted scores; one the first
    /// member left out (a sentence of a window it ruled out, not in <paramref name="sentenceSet"/>) was not scored, and its
    /// row of zeros does not count.
    /// </summary>
    private bool Meets(IReadOnlyList<int[]> windows, WindowStop stop, float[] scores, int w, HashSet<int> sentenceSet)
    {
        var c = _mix.Length;
        var row = scores.AsSpan(w * c, c);
        if (!sentenceSet.Contains(w))
        {
            return !IsSentenceWindow(windows[w]) && stop.IsMet(row);
        }

        Span<float> shifted = stackalloc float[c];
        row.CopyTo(shifted);
        ShiftSentence(windows[w], shifted);
        return stop.IsMet(shifted);
    }

    /// <summary>
    /// Shifts the sentence windows' scores and, with a <paramref name="stop"/>, clears every row after the first window (in
    /// reading order) that meets it, as <see cref="ScoreUntil"/> leaves it: the rows of later stretches scored ahead with them.
    /// The encoder's windows that were scored and not <paramref name="mixed"/> in (after the batch that met the stop) are
    /// counted as windows all the same.
    /// </summary>
    private float[] Finish(IReadOnlyList<int[]> windows, WindowStop? stop, float[] scores, List<int>[] chosen, int mixed, List<int> sentences)
    {
        var c = _mix.Length;
        if (chosen.Sum(static l => l.Count) - mixed is > 0 and var unused)
        {
            Windows.Add(unused, _stages[^1].Tag);
        }

        ShiftSentences(windows, scores, sentences);
        if (stop is not null)
        {
            for (var w = 0; w < windows.Count; w++)
            {
                if (stop.IsMet(scores.AsSpan(w * c, c)))
                {
                    Array.Clear(scores, (w + 1) * c, scores.Length - ((w + 1) * c));
                    break;
                }
            }
        }

        return scores;
    }

    /// <summary>The ascending <paramref name="windows"/> split by the stretch they lie in (<paramref name="ends"/>: where each ends).</summary>
    private static List<int>[] SplitByStretch(List<int> windows, int[] ends)
    {
        var split = new List<int>[ends.Length];
        var i = 0;
        for (var k = 0; k < ends.Length; k++)
        {
            split[k] = [];
            while (i < windows.Count && windows[i] < ends[k])
            {
                split[k].Add(windows[i++]);
            }
        }

        return split;
    }

    /// <summary>
    /// Of the windows <paramref name="sent"/> on by member <paramref name="rankStage"/> (and, at the encoder, those the screen
    /// sent past the gate, <paramref name="skipped"/>), at most <paramref name="limit"/>, most suspect first: the skipped ones
    /// first (by the screen's margin), then the others by their margin over that member's levels; the reading order breaks ties.
    /// </summary>
    private List<int> MostSuspectFirst(IReadOnlyList<int[]> windows, float[] scores, List<int> sent, List<int> skipped, int rankStage, int limit)
    {
        var c = _mix.Length;
        var ranked = new List<(int Window, bool Skipped, double Margin)>(sent.Count + skipped.Count);
        ranked.AddRange(skipped.Select(w => (w, true, Margin(scores.AsSpan(w * c, c), LevelsFor(_stages[0], windows[w])))));
        ranked.AddRange(sent.Select(w => (w, false, Margin(scores.AsSpan(w * c, c), LevelsFor(_stages[rankStage], windows[w])))));
        ranked.Sort(static (a, b) => a.Skipped != b.Skipped ? b.Skipped.CompareTo(a.Skipped) : a.Margin != b.Margin ? b.Margin.CompareTo(a.Margin) : a.Window.CompareTo(b.Window));
        return [.. ranked.Take(limit).Select(static r => r.Window)];
    }

    private float[] ScoreUntil(IReadOnlyList<int[]> windows, WindowStop stop, CancellationToken cancellationToken)
    {
        var c = _mix.Length;
        var ngramScores = _ngram is null ? null : new NgramRows(_ngram, windows);
        var scores = new float[windows.Count * c];
        var runs = new long[_stages.Length];
        var groups = GroupStarts(windows);
        var sideBySide = groups.Length > 1 && _encoder.WindowParallelism > 1;
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = _encoder.WindowParallelism, CancellationToken = cancellationToken };
        ParallelLoopResult result;
        try
        {
            // Break, not Stop: every window before the one that meets the stop is still scored, so the windows kept are
            // exactly those up to the first one in reading order that meets it, whatever order the threads took them in.
            // One iteration is one window and, if it got past the first member, its sentences alone, in reading order.
            result = Parallel.For(0, groups.Length, parallel, (g, state) =>
            {
                if (state.ShouldExitCurrentIteration && state.LowestBreakIteration < g)
                {
                    return;
                }

                var start = groups[g];
                var end = g + 1 < groups.Length ? groups[g + 1] : windows.Count;
                var sentOn = ScoreOneNow(windows[start], start, ngramScores, scores.AsSpan(start * c, c), runs, 0, int.MaxValue, sideBySide, cancellationToken);
                if (stop.IsMet(scores.AsSpan(start * c, c)))
                {
                    state.Break();
                    return;
                }

                if ((sentOn == 0 && _stages.Length > 1 && !_sentencesOfEveryWindow) || end == start + 1)
                {
                    return;
                }

                // The sentences alone: the first member scores each; only the one it finds most suspect goes further.
                List<int> escalated = [];
                for (var w = start + 1; w < end; w++)
                {
                    if (ScoreOneNow(windows[w], w, ngramScores, scores.AsSpan(w * c, c), runs, 0, 0, sideBySide, cancellationToken) > 0)
                    {
                        escalated.Add(w);
                    }
                }

                foreach (var w in _stages.Length == 1 ? [] : MostSuspect(windows, escalated, scores))
                {
                    ScoreOneNow(windows[w], w, ngramScores, scores.AsSpan(w * c, c), runs, 1, int.MaxValue, sideBySide, cancellationToken);
                }

                for (var w = start + 1; w < end; w++)
                {
                    ShiftSentence(windows[w], scores.AsSpan(w * c, c));
                }

                for (var w = start + 1; w < end; w++)
                {
                    if (stop.IsMet(scores.AsSpan(w * c, c)))
                    {
                        // Nothing after the deciding sentence counts, as if it had not been scored.
                        Array.Clear(scores, (w + 1) * c, (end - w - 1) * c);
                        state.Break();
                        return;
                    }
                }
            });
        }
        catch (AggregateException ex) when (ex.InnerExceptions.Count > 0)
        {
            // The first failure as the sequential path would throw it (a cancelled run, a disposed model, a runtime error).
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(ex.InnerExceptions[0]);
            throw;
        }

        if (result.LowestBreakIteration is { } last && last + 1 < groups.Length)
        {
            // Windows after the deciding one that a thread had already taken up are dropped, so the result never depends on
            // timing (within the deciding window's group, nothing after it was scored).
            var from = groups[last + 1] * c;
            Array.Clear(scores, from, scores.Length - from);
        }

        for (var s = 0; s < _stages.Length; s++)
        {
            Count(s, runs[s]);
        }

        return scores;
    }

    /// <summary>
    /// Scores one window through the members from <paramref name="fromStage"/> to <paramref name="lastStage"/> (int.MaxValue:
    /// the encoder), as far as each sends it on, into <paramref name="row"/>; a packed window's row is final, a sentence
    /// window's is shifted by the caller. Returns how many of the members before the encoder sent it on (a window the screen
    /// sends past the gate counts the gate; with <paramref name="lastStage"/> 0, whether the first would: more than 0).
    /// <paramref name="sideBySide"/>: other windows of the text are scored at the same time, so no run takes more threads.
    /// </summary>
    private int ScoreOneNow(int[] window, int w, NgramRows? ngramScores, Span<float> row, long[] runs, int fromStage, int lastStage, bool sideBySide, CancellationToken cancellationToken)
    {
        int[][] one = [window.AsSpan(1, TokenCount(window)).ToArray()];

        // From the gate, the row holds the screen's scores (a sentence the screen picked): sure enough, it skips the gate.
        var first = fromStage == 1 && SkipsGate(window, row) ? 2 : fromStage;
        var sentOn = first;
        for (var s = first; s < _stages.Length && s <= lastStage; s++)
        {
            var stage = _stages[s];
            Mix(stage.Model.ScoreNow(one, cancellationToken, sideBySide), 0, stage, ngramScores, row, ngramRow: w);
            Interlocked.Increment(ref runs[s]);
            if (stage.Escalate is null || !Escalates(row, LevelsFor(stage, window)))
            {
                break;
            }

            sentOn = s + 1;
            if (s == 0 && SkipsGate(window, row))
            {
                // Past the gate: counted as sent on by it, and the loop goes on with the encoder.
                s = 1;
                sentOn = 2;
            }
        }

        return sentOn;
    }

    /// <summary>
    /// Of the sentence windows <paramref name="escalated"/> (in reading order) that the first member would send on, the one
    /// per packed window that it scores furthest above its raised levels (in logits; the first on a tie): a window is
    /// diluted by one harmful sentence or a few, and the sentence most suspect to the cheap member is the one to check.
    /// The others keep the first member's scores, which lie below the raised levels. So a window costs at most one more
    /// run of each later member, however many sentences it packs.
    /// </summary>
    private List<int> MostSuspect(IReadOnlyList<int[]> windows, List<int> escalated, float[] scores)
    {
        var c = _mix.Length;
        var levels = _stages[0].SentenceEscalate!;
        var picked = new List<int>();
        int group = -1, best = -1;
        var bestMargin = double.NegativeInfinity;
        foreach (var w in escalated)
        {
            var g = w;
            while (g > 0 && IsSentenceWindow(windows[g]))
            {
                g--;
            }

            if (g != group)
            {
                if (best >= 0)
                {
                    picked.Add(best);
                }

                (group, best, bestMargin) = (g, -1, double.NegativeInfinity);
            }

            var margin = Margin(scores.AsSpan(w * c, c), levels);
            if (margin > bestMargin)
            {
                (best, bestMargin) = (w, margin);
            }
        }

        if (best >= 0)
        {
            picked.Add(best);
        }

        return picked;
    }

    /// <summary>The index of each packed window (the start of its group: the window, then its sentences alone).</summary>
    private static int[] GroupStarts(IReadOnlyList<int[]> windows)
    {
        var starts = new List<int>(windows.Count);
        for (var w = 0; w < windows.Count; w++)
        {
            if (!IsSentenceWindow(windows[w]))
            {
                starts.Add(w);
            }
        }

        return [.. starts];
    }

    /// <summary>
    /// The sentence windows to score: those of the packed windows in <paramref name="passedFirst"/>, the windows the first
    /// member sent on (every packed window with <c>"everyWindow"</c>). A window the screen (or, without one, the gate) rules
    /// out is otherwise taken as plainly ordinary, sentences included: their rows stay 0, below any threshold, and they cost
    /// nothing.
    /// </summary>
    private static List<int> SentencesOf(IReadOnlyList<int[]> windows, List<int> passedFirst)
    {
        var sentences = new List<int>();
        foreach (var p in passedFirst)
        {
            for (var w = p + 1; w < windows.Count && IsSentenceWindow(windows[w]); w++)
            {
                sentences.Add(w);
            }
        }

        return sentences;
    }

    /// <summary>Telemetry of one member's windows (only where more than one member scores), and the windows that reached the encoder through the others.</summary>
    private void Count(int stage, long windows)
    {
        if (_stages.Length == 1 || windows == 0)
        {
            return;
        }

        Windows.Add(windows, _stages[stage].Tag);
        Interlocked.Add(ref _scoredWindows[stage], windows);
    }

    /// <summary>How far (in logits) the row lies above the levels, in the category where it lies highest; categories that never send a window on do not count.</summary>
    private static double Margin(ReadOnlySpan<float> row, float[] levels)
    {
        var margin = double.NegativeInfinity;
        for (var k = 0; k < row.Length; k++)
        {
            if (!float.IsPositiveInfinity(levels[k]))
            {
                margin = Math.Max(margin, (double)Logit(row[k]) - Logit(levels[k]));
            }
        }

        return margin;
    }

    /// <summary>The levels from which <paramref name="stage"/> sends <paramref name="window"/> on: raised by the sentence shift for a sentence window.</summary>
    private static float[] LevelsFor(Stage stage, int[] window) => IsSentenceWindow(window) ? stage.SentenceEscalate! : stage.Escalate!;

    /// <summary>
    /// Whether the screen's scores in <paramref name="row"/> lie so far above its levels that the window goes straight to the
    /// encoder: in calibration the gate sent on nearly every such window, so its run would only add cost.
    /// </summary>
    private bool SkipsGate(int[] window, ReadOnlySpan<float> row) => _skipGate is { } skip && Margin(row, LevelsFor(_stages[0], window)) >= skip;

    /// <summary>
    /// The windows member <paramref name="s"/> scores, of those the member before it sent on: at the gate, the windows the
    /// screen is sure of (their rows still hold its scores) are held back in <c>Skipped</c>; at the encoder they rejoin.
    /// </summary>
    private (List<int> Active, List<int> Skipped) ForStage(int s, List<int> active, List<int> skipped, IReadOnlyList<int[]> windows, float[] scores)
    {
        if (s == 1 && _skipGate is not null)
        {
            return SplitAtGate(active, windows, scores);
        }

        return s == _stages.Length - 1 && skipped.Count > 0 ? (Merge(active, skipped), []) : (active, skipped);
    }

    /// <summary>Splits the windows the screen sent on (their rows hold its scores) into those for the gate and those that skip it.</summary>
    private (List<int> Gate, List<int> Skipped) SplitAtGate(List<int> active, IReadOnlyList<int[]> windows, float[] scores)
    {
        var c = _mix.Length;
        List<int> gate = new(active.Count), skipped = [];
        foreach (var w in active)
        {
            (SkipsGate(windows[w], scores.AsSpan(w * c, c)) ? skipped : gate).Add(w);
        }

        return (gate, skipped);
    }

    /// <summary>The union of two ascending lists of windows, ascending.</summary>
    private static List<int> Merge(List<int> a, List<int> b)
    {
        var merged = new List<int>(a.Count + b.Count);
        int i = 0, j = 0;
        while (i < a.Count || j < b.Count)
        {
            merged.Add(j == b.Count || (i < a.Count && a[i] < b[j]) ? a[i++] : b[j++]);
        }

        return merged;
    }

    private static bool Escalates(ReadOnlySpan<float> row, float[] levels)
    {
        for (var k = 0; k < row.Length; k++)
        {
            if (row[k] >= levels[k])
            {
                return true;
            }
        }

        return false;
    }

    private float[] ScoreStagesNow(IReadOnlyList<int[]> windows, CancellationToken cancellationToken)
    {
        var encoderWindows = EncoderWindows(windows);
        var ngramScores = _ngram is null ? null : new NgramRows(_ngram, windows);
        var scores = new float[windows.Count * _mix.Length];
        var packed = GroupStarts(windows);
        if (packed.Length == windows.Count)
        {
            RunStagesNow(Enumerable.Range(0, windows.Count).ToList(), encoderWindows, windows, ngramScores, scores, cancellationToken);
            return scores;
        }

        // The windows, then the sentences alone of those the first member sent on.
        var passedFirst = RunStagesNow([.. packed], encoderWindows, windows, ngramScores, scores, cancellationToken);
        var sentences = SentencesOf(windows, _sentencesOfEveryWindow ? [.. packed] : passedFirst);
        if (sentences.Count > 0)
        {
            var escalated = MixStage(0, _stages[0].Model.ScoreNow(Sent(encoderWindows, sentences), cancellationToken), sentences, windows, ngramScores, scores);
            RunStagesNow(_stages.Length == 1 ? [] : MostSuspect(windows, escalated, scores), encoderWindows, windows, ngramScores, scores, cancellationToken, fromStage: 1);
            ShiftSentences(windows, scores, sentences);
        }

        return scores;
    }

    /// <summary>Scores the windows <paramref name="active"/> through the members from <paramref name="fromStage"/>, as far as each sends them on; returns those the first member sent on (all of them with the encoder alone).</summary>
    private List<int> RunStagesNow(List<int> active, int[][] encoderWindows, IReadOnlyList<int[]> windows, NgramRows? ngramScores, float[] scores, CancellationToken cancellationToken, int fromStage = 0)
    {
        var passedFirst = _stages.Length == 1 ? active : [];
        List<int> skipped = [];
        for (var s = fromStage; s < _stages.Length; s++)
        {
            (active, skipped) = ForStage(s, active, skipped, windows, scores);
            if (active.Count == 0)
            {
                continue;
            }

            active = MixStage(s, _stages[s].Model.ScoreNow(Sent(encoderWindows, active), cancellationToken), active, windows, ngramScores, scores);
            if (s == 0 && _stages.Length > 1)
            {
                passedFirst = active;
            }
        }

        return passedFirst;
    }

    private async ValueTask<float[]> ScoreWindowsCoreAsync(IReadOnlyList<int[]> windows, CancellationToken cancellationToken)
    {
        var encoderWindows = EncoderWindows(windows);
        var packed = GroupStarts(windows);
        var active = packed.Length == windows.Count ? Enumerable.Range(0, windows.Count).ToList() : [.. packed];
        var pending = _stages[0].Model.ScoreWindowsAsync(Sent(encoderWindows, active), cancellationToken);

        var ngramScores = _ngram is null ? null : new NgramRows(_ngram, windows);
        var scores = new float[windows.Count * _mix.Length];
        var input = active;
        active = MixStage(0, await pending.ConfigureAwait(false), active, windows, ngramScores, scores);
        var sentences = packed.Length < windows.Count ? SentencesOf(windows, _stages.Length == 1 || _sentencesOfEveryWindow ? input : active) : [];
        await RunLaterStagesAsync(active, encoderWindows, windows, ngramScores, scores, cancellationToken).ConfigureAwait(false);

        // The sentences alone of the windows the first member sent on: the first member scores each, and only the one per
        // window it finds most suspect goes further.
        if (sentences.Count > 0)
        {
            var escalated = MixStage(0, await _stages[0].Model.ScoreWindowsAsync(Sent(encoderWindows, sentences), cancellationToken).ConfigureAwait(false), sentences, windows, ngramScores, scores);
            if (_stages.Length > 1)
            {
                await RunLaterStagesAsync(MostSuspect(windows, escalated, scores), encoderWindows, windows, ngramScores, scores, cancellationToken).ConfigureAwait(false);
            }

            ShiftSentences(windows, scores, sentences);
        }

        return scores;
    }

    /// <summary>Scores the windows <paramref name="active"/>, which the first member sent on, through the later members, as far as each sends them on.</summary>
    private async ValueTask RunLaterStagesAsync(List<int> active, int[][] encoderWindows, IReadOnlyList<int[]> windows, NgramRows? ngramScores, float[] scores, CancellationToken cancellationToken)
    {
        List<int> skipped = [];
        for (var s = 1; s < _stages.Length; s++)
        {
            (active, skipped) = ForStage(s, active, skipped, windows, scores);
            if (active.Count == 0)
            {
                continue;
            }

            var stageScores = await _stages[s].Model.ScoreWindowsAsync(Sent(encoderWindows, active), cancellationToken).ConfigureAwait(false);
            active = MixStage(s, stageScores, active, windows, ngramScores, scores);
        }
    }

    /// <summary>Gets a value indicating whether <paramref name="window"/> (one of <see cref="CreateWindows"/>) is a sentence scored alone.</summary>
    internal static bool IsSentenceWindow(int[] window) => (window[0] & SentenceFlag) != 0;

    /// <summary>The framed token count of a window (its first element, without the sentence flag).</summary>
    internal static int TokenCount(int[] window) => window[0] & ~SentenceFlag;

    /// <summary>
    /// Lowers the scores of a sentence window (one sentence of a packed window, scored alone) by the description's logit
    /// shift, after the last member that scored it; the screen and the gate send a sentence window on at their levels
    /// raised by the same shift, so a sentence alone is held to the stricter level all the way.
    /// </summary>
    private void ShiftSentence(int[] window, Span<float> row)
    {
        if (_sentenceShift is not { } shift || shift == 0 || !IsSentenceWindow(window))
        {
            return;
        }

        for (var k = 0; k < row.Length; k++)
        {
            row[k] = Sigmoid(Logit(row[k]) - shift);
        }
    }

    /// <summary>Shifts the rows of the sentence windows <paramref name="scored"/> (the others keep 0: they were not scored).</summary>
    private void ShiftSentences(IReadOnlyList<int[]> windows, float[] scores, List<int> scored)
    {
        var c = _mix.Length;
        foreach (var w in scored)
        {
            ShiftSentence(windows[w], scores.AsSpan(w * c, c));
        }
    }

    /// <summary>The framed token ids of each window (what the ONNX members read).</summary>
    private static int[][] EncoderWindows(IReadOnlyList<int[]> windows)
    {
        var encoderWindows = new int[windows.Count][];
        for (var w = 0; w < windows.Count; w++)
        {
            var window = windows[w];
            encoderWindows[w] = window.AsSpan(1, TokenCount(window)).ToArray();
        }

        return encoderWindows;
    }

    /// <summary>
    /// Mixes one member's scores of the windows <paramref name="active"/> (in that order) into <paramref name="scores"/>,
    /// replacing every category of those windows; returns the windows it sends on to the next member (none for the encoder).
    /// </summary>
    private List<int> MixStage(int s, float[] memberScores, List<int> active, IReadOnlyList<int[]> windows, NgramRows? ngramScores, float[] scores, int firstRow = 0)
    {
        var stage = _stages[s];
        Count(s, active.Count);
        var c = _mix.Length;
        var next = new List<int>();
        for (var i = 0; i < active.Count; i++)
        {
            var w = active[i];
            var row = scores.AsSpan(w * c, c);
            Mix(memberScores, firstRow + i, stage, ngramScores, row, ngramRow: w);
            if (stage.Escalate is not null && Escalates(row, LevelsFor(stage, windows[w])))
            {
                next.Add(w);
            }
        }

        return next;
    }

    private static int[][] Sent(int[][] encoderWindows, List<int> active)
    {
        if (active.Count == encoderWindows.Length)
        {
            return encoderWindows;
        }

        var sent = new int[active.Count][];
        for (var i = 0; i < sent.Length; i++)
        {
            sent[i] = encoderWindows[active[i]];
        }

        return sent;
    }

    /// <summary>
    /// One window's scores: per category, <c>sigmoid(w_encoder * logit(member) + w_ngram * logit(ngram) + bias)</c>, where the
    /// member is the stage's model (the encoder, the gate or the screen), whose row <paramref name="row"/> is read.
    /// </summary>
    private void Mix(float[] member, int row, Stage stage, NgramRows? ngramScores, Span<float> result, int ngramRow)
    {
        var memberCategories = stage.Model.CategoryArray.Length;
        var index = stage.Index;
        for (var k = 0; k < _mix.Length; k++)
        {
            var (e, we, n, wn, bias) = _mix[k];
            var z = bias;
            if (we != 0)
            {
                z += we * Logit(member[(row * memberCategories) + index[k]]);
            }

            if (wn != 0)
            {
                z += wn * Logit(ngramScores!.Row(ngramRow)[n]);
            }

            result[k] = Sigmoid(z);
        }
    }

    private protected override void ReleaseResources()
    {
        _encoder.Dispose();
        _ngram?.Dispose();
        _gate?.Dispose();
        _screen?.Dispose();
    }

    /// <summary>The sentences of a text: spans ending after . ! ? ; or a line break followed by white space (or the end).</summary>
    internal static IEnumerable<(int Start, int Length)> Sentences(string text)
    {
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            var end = c is '\n' or '\r'
                || (c is '.' or '!' or '?' or ';' or '。' or '！' or '？' && (i + 1 == text.Length || char.IsWhiteSpace(text[i + 1])));
            if (!end)
            {
                continue;
            }

            if (!text.AsSpan(start, i + 1 - start).IsWhiteSpace())
            {
                yield return (start, i + 1 - start);
            }

            start = i + 1;
        }

        if (start < text.Length && !text.AsSpan(start).IsWhiteSpace())
        {
            yield return (start, text.Length - start);
        }
    }

    private int[] Pack(IReadOnlyList<int> ids, int from, int count, ReadOnlySpan<char> chars, bool sentence = false)
    {
        var framed = _encoder.Frame(ids, from, count);
        var window = new int[1 + framed.Length + chars.Length];
        window[0] = framed.Length | (sentence ? SentenceFlag : 0);
        framed.CopyTo(window, 1);
        for (var i = 0; i < chars.Length; i++)
        {
            window[1 + framed.Length + i] = chars[i];
        }

        return window;
    }

    /// <summary>
    /// The n-gram member's scores of a text's windows, each computed the first time the window is mixed: the windows no
    /// member scores (the sentences of a window the screen rules out, the windows after the deciding one) cost it nothing.
    /// A window is mixed by one thread at a time (the one scoring it, or its group), so the rows need no lock.
    /// </summary>
    private sealed class NgramRows(NgramContentModel ngram, IReadOnlyList<int[]> windows)
    {
        private readonly int _categories = ngram.CategoryArray.Length;
        private readonly float[] _scores = new float[windows.Count * ngram.CategoryArray.Length];
        private readonly bool[] _done = new bool[windows.Count];

        public ReadOnlySpan<float> Row(int w)
        {
            var row = _scores.AsSpan(w * _categories, _categories);
            if (!_done[w])
            {
                var window = windows[w];
                var chars = window.AsSpan(1 + TokenCount(window));
                var text = System.Buffers.ArrayPool<char>.Shared.Rent(chars.Length);
                for (var i = 0; i < chars.Length; i++)
                {
                    text[i] = (char)chars[i];
                }

                ngram.Score(text.AsSpan(0, chars.Length), row);
                System.Buffers.ArrayPool<char>.Shared.Return(text);
                _done[w] = true;
            }

            return row;
        }
    }

    /// <summary>One member that scores windows: its model, its output column per ensemble category, and the levels from which it sends a window on (none for the encoder).</summary>
    private sealed class Stage(OnnxContentModel model, int[] index, float[]? escalate, string role)
    {
        public OnnxContentModel Model { get; } = model;

        public int[] Index { get; } = index;

        public float[]? Escalate { get; } = escalate;

        /// <summary>Gets the levels from which a sentence window goes on: <see cref="Escalate"/> raised by the sentence shift (the same without one).</summary>
        public float[]? SentenceEscalate { get; init; } = escalate;

        public KeyValuePair<string, object?> Tag { get; } = new(SafeAIDiagnostics.ContentScorerTag, role);
    }
}

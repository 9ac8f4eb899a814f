#!/usr/bin/env bash
# Round 3 of the threat-statements experiment (not adopted; round 4, training/threat_column.py (now training/statement_columns.py), was): a short fine-tune of the shipped default model on the threat statements
# (src/SafeAI.Cli/Seed/threat-statements.jsonl), then its gate the same way, then a screen trained on that gate, all
# calibrated and evaluated by source. Writes a model folder in the work folder; the shipped model is not touched.
#
#   bash training/experiments/threat-statements/patch.sh [../shared/data] [work-folder]
#
# Environment: ANCHOR_WEIGHT (default 0.5; 0 for no anchor), TEACH (default empty: every category; "violence": only
# violence), LR (default 8e-5), HEAD_LR (default 8e-4), REPEAT (default 24), STEPS (default 600). About 45 minutes on two cores. Needs what
# training/train-filter.sh needs, and its extracted MiniLM file (work-folder/minilm.onnx; the default work folder is
# the one train-filter.sh uses).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../../.." && pwd)
data=$(cd "${1:-$repo/../shared/data}" && pwd)
work=${2:-$repo/.tmp/train}
anchor_weight=${ANCHOR_WEIGHT:-0.5}
teach=${TEACH:-}
lr=${LR:-8e-5}
head_lr=${HEAD_LR:-8e-4}
repeat=${REPEAT:-24}
steps=${STEPS:-600}
py=/usr/bin/python3
safeai() { dotnet run --project "$repo/src/SafeAI.Cli" -c Release -- "$@"; }
shipped="$repo/src/SafeAI.Onnx/DefaultModel"
out="$work/threat-patch"
[ -f "$work/minilm.onnx" ] || { echo "$work/minilm.onnx is missing: run training/train-filter.sh first (or its extract step)" >&2; exit 1; }
mkdir -p "$out"
rm -rf "$out/model" && cp -r "$shipped" "$out/model"

safeai corpus --data "$data" --output "$out/corpus.jsonl"
common=(--corpus "$out/corpus.jsonl" --minilm "$work/minilm.onnx" --epochs 1 --budget-scale 0.15
  --repeat-source "threat_statements=$repeat" --lr "$lr" --head-lr "$head_lr" --max-steps "$steps" --threads 1 --seed 42)
anchor=()
if [ "$anchor_weight" != 0 ]; then
  anchor=(--anchor "$shipped/model.onnx" --anchor-weight "$anchor_weight")
  [ -n "$teach" ] && anchor+=(--teach "$teach")
fi

# The six-layer model, from the shipped int8 weights (dequantised). First, the check that this starts exactly from what
# ships: read back, exported and quantised again unchanged, the shipped file comes out byte for byte (without the threat
# column of round 4, which --init does not read: training/statement_columns.py --strip).
mkdir -p "$out/roundtrip"
$py "$repo/training/statement_columns.py" --strip "$shipped/model.onnx" "$out/roundtrip/shipped.onnx"
$py - "$repo/training" "$work/minilm.onnx" "$out/roundtrip/shipped.onnx" "$out/roundtrip" <<'PY'
import filecmp, os, sys
sys.path.insert(0, sys.argv[1])
import finetune_minilm as f
import quantize_onnx as q
model = f.Classifier()
f.load_minilm(model, sys.argv[2])
f.load_exported(model, sys.argv[3])
os.makedirs(sys.argv[4], exist_ok=True)
f.export(model, os.path.join(sys.argv[4], "fp32.onnx"))
q.quantize(os.path.join(sys.argv[4], "fp32.onnx"), os.path.join(sys.argv[4], "int8.onnx"))
if not filecmp.cmp(sys.argv[3], os.path.join(sys.argv[4], "int8.onnx"), shallow=False):
    sys.exit("the shipped model read back and quantised again differs from the shipped file")
print("round trip: identical to the shipped model")
PY
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $py "$repo/training/finetune_minilm.py" "${common[@]}" \
  --output "$out/six" --init "$shipped/model.onnx" "${anchor[@]}"
$py "$repo/training/quantize_onnx.py" "$out/six/classifier-fp32.onnx" "$out/model/model.onnx"

# The gate, from the shipped gate, distilled from the new six-layer model.
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $py "$repo/training/finetune_minilm.py" "${common[@]}" \
  --output "$out/gate" --init "$shipped/gate-model.onnx" --layers 0,2,4 --teacher "$out/six/checkpoint.pt" \
  --distill 0.5 --match-pooled 1.0
$py "$repo/training/quantize_onnx.py" "$out/gate/classifier-fp32.onnx" "$out/model/gate-model.onnx"

# The screen, as train-filter.sh trains it, on the new gate, with the threat statements' training part.
safeai calibrate --model "$out/model/safeai-model.json" --data "$data" --benign-rate 0.03 --gate-keep 1 --screen-keep 1 \
  --per-category-levels --threat-statements
levels=$($py -c 'import json, sys; d, g = (json.load(open(p)) for p in sys.argv[1:3])
labels = [g["labels"][k] for k in sorted(g["labels"], key=int)]
print(",".join(str(d["gate"]["escalate"].get(c, 0.5)) for c in labels))' "$out/model/safeai-model.json" "$out/model/gate-classifier.json")
safeai windows --model "$out/model/safeai-model.json" --teacher "$out/model/gate-classifier.json" --data "$data" \
  --output "$out/windows.jsonl" --threat-statements
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $py "$repo/training/train_screen.py" \
  --windows "$out/windows.jsonl" --minilm "$work/minilm.onnx" --output "$out/screen" --steps 8000 --seed 42 --threads 1 \
  --positive-weight 4 --levels "$levels"
$py "$repo/training/quantize_onnx.py" "$out/screen/screen-fp32.onnx" "$out/model/screen-model.onnx"

safeai calibrate --model "$out/model/safeai-model.json" --data "$data" --benign-rate 0.03 --gate-keep 1 --screen-keep 1 \
  --threat-statements
safeai eval --data "$data" --set sources --model "$out/model/safeai-model.json" \
  --markdown "$out/sources-eval.md" --json "$out/sources-eval.json"
safeai score --input "$repo/training/experiments/threat-statements/probe.jsonl" --output "$out/probe-scores.jsonl" \
  --model "$out/model/safeai-model.json"

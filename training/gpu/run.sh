#!/usr/bin/env bash
# What the GPU machine ran (training/gpu/README.md): six fine-tuning runs of the six-layer classifier side by side,
# a held-out check of each, a three-layer gate distilled from the best, and the weights of the two best and the gate
# written to $OUT as fp16 parts. SMOKE=1 shrinks every run to a few steps on the CPU (to test this script).
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/gpu-out}; w=${WORK:-/tmp/gpu-work}; mkdir -p "$out" "$w"
py=${PY:-python3}
dev=cuda; minutes=4.5; gate_minutes=2; limit=0; steps=()
if [ "${SMOKE:-0}" = 1 ]; then dev=cpu; minutes=0; gate_minutes=0; limit=300; steps=(--max-steps 12); fi
gunzip -c .dev/corpus.jsonl.gz > "$w/corpus.jsonl"
(nvidia-smi -L; $py -c 'import torch; print("torch", torch.__version__, torch.cuda.is_available())') 2>&1 | tee "$w/machine.txt"
common=(--corpus "$w/corpus.jsonl" --minilm .dev/minilm-fp16.onnx --device $dev --no-export --threads 2
        --max-minutes $minutes "${steps[@]}")
declare -A variants=(
  [e6]="--epochs 6 --seed 42"
  [e6s43]="--epochs 6 --seed 43"
  [b25e4]="--epochs 4 --budget-scale 2.5 --seed 42"
  [e6ctx]="--epochs 6 --context-share 0.25 --seed 42"
  [b25e4ctx]="--epochs 4 --budget-scale 2.5 --context-share 0.25 --seed 42"
  [e6lr2]="--epochs 6 --lr 2e-5 --seed 42"
)
for v in "${!variants[@]}"; do
  $py training/finetune_minilm.py "${common[@]}" ${variants[$v]} --output "$w/$v" > "$w/$v.log" 2>&1 &
done
wait
for v in "${!variants[@]}"; do echo "== $v: ${variants[$v]}"; tail -n 4 "$w/$v.log"; done
$py training/heldout_check.py --device $dev --limit $limit --corpus "$w/corpus.jsonl" --output "$w/check.json" \
  "$w"/*/checkpoint.pt
# The best and the runner-up: most held-out harm flagged above held-out benign, at 2 % of calibration requests.
mapfile -t best < <($py -c "
import json; r = json.load(open('$w/check.json'))
r.sort(key=lambda x: x['heldout_harmful_flagged'] - x['heldout_benign_flagged'], reverse=True)
print('\n'.join(x['checkpoint'] for x in r[:2]))")
echo "best: ${best[*]}"
$py training/finetune_minilm.py "${common[@]}" --max-minutes $gate_minutes --epochs 6 --seed 42 --layers 0,2,4 \
  --teacher "${best[0]}" --distill 0.5 --match-pooled 1.0 --output "$w/gate" > "$w/gate.log" 2>&1
tail -n 4 "$w/gate.log"
$py training/heldout_check.py --device $dev --limit $limit --corpus "$w/corpus.jsonl" --output "$w/check-gate.json" \
  "$w/gate/checkpoint.pt"
$py training/gpu/save.py split "${best[0]}" "$out/best"
$py training/gpu/save.py split "$w/gate/checkpoint.pt" "$out/gate"
[ -n "${best[1]:-}" ] && $py training/gpu/save.py split "${best[1]}" "$out/second"
$py - "$w" "$out/results.json" "${best[@]}" <<'PY'
import glob, json, os, sys
w, dest, best = sys.argv[1], sys.argv[2], sys.argv[3:]
res = {"best": best, "machine": open(os.path.join(w, "machine.txt")).read(),
       "check": json.load(open(os.path.join(w, "check.json"))), "gate_check": json.load(open(os.path.join(w, "check-gate.json"))),
       "logs": {}, "training_logs": {}}
for f in sorted(glob.glob(os.path.join(w, "*.log"))):
    res["logs"][os.path.basename(f)] = open(f).read()[-6000:]
for f in sorted(glob.glob(os.path.join(w, "*", "training-log.json"))):
    res["training_logs"][os.path.basename(os.path.dirname(f))] = json.load(open(f))
json.dump(res, open(dest, "w"), indent=1)
PY
ls -la "$out"

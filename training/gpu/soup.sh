#!/usr/bin/env bash
# The second GPU run (training/gpu/README.md): eight fine-tuning runs of one recipe that differ only in seed, side by
# side; their weights averaged into one model (a "uniform soup": same start, same recipe, so one basin); a held-out
# check of each run and of the soup; a three-layer gate distilled from the soup; fp16 parts of the soup, the gate and
# the best single run written to $OUT. RECIPE: finetune_minilm.py options shared by all runs. SMOKE=1: CPU, few steps.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/gpu-out}; w=${WORK:-/tmp/gpu-work}; mkdir -p "$out" "$w"
py=${PY:-python3}
recipe=${RECIPE:---epochs 3}
dev=cuda; minutes=3; gate_minutes=1.2; limit=0; steps=(); seeds=(44 45 46 47 48 49 50 51)
if [ "${SMOKE:-0}" = 1 ]; then dev=cpu; minutes=0; gate_minutes=0; limit=300; steps=(--max-steps 6); seeds=(44 45); fi
gunzip -c .dev/corpus.jsonl.gz > "$w/corpus.jsonl"
(nvidia-smi -L; $py -c 'import torch; print("torch", torch.__version__, torch.cuda.is_available())') 2>&1 | tee "$w/machine.txt"
common=(--corpus "$w/corpus.jsonl" --minilm .dev/minilm-fp16.onnx --device $dev --no-export --threads 2 "${steps[@]}")
for s in "${seeds[@]}"; do
  $py training/finetune_minilm.py "${common[@]}" --max-minutes $minutes $recipe --seed $s --output "$w/s$s" \
    > "$w/s$s.log" 2>&1 &
done
wait
for s in "${seeds[@]}"; do echo "== seed $s: $recipe"; grep -h "do not fit" "$w/s$s.log"; tail -n 1 "$w/s$s.log"; done
mkdir -p "$w/soup"
$py - "$w/soup/checkpoint.pt" "$w"/s[0-9]*/checkpoint.pt <<'PY'
import sys, torch
sds = [torch.load(p, map_location="cpu") for p in sys.argv[2:]]
torch.save({k: sum(sd[k].float() for sd in sds) / len(sds) for k in sds[0]}, sys.argv[1])
print("soup of", len(sds))
PY
$py training/heldout_check.py --device $dev --limit $limit --corpus "$w/corpus.jsonl" --output "$w/check.json" \
  "$w/soup/checkpoint.pt" "$w"/s[0-9]*/checkpoint.pt
best=$($py -c "
import json; r = [x for x in json.load(open('$w/check.json')) if '/soup/' not in x['checkpoint']]
r.sort(key=lambda x: x['heldout_auroc'], reverse=True); print(r[0]['checkpoint'])")
$py training/finetune_minilm.py "${common[@]}" --max-minutes $gate_minutes --epochs 6 --seed 42 --layers 0,2,4 \
  --teacher "$w/soup/checkpoint.pt" --distill 0.5 --match-pooled 1.0 --output "$w/gate" > "$w/gate.log" 2>&1
tail -n 2 "$w/gate.log"
$py training/gpu/save.py split "$w/soup/checkpoint.pt" "$out/soup"
$py training/gpu/save.py split "$w/gate/checkpoint.pt" "$out/gate"
$py training/gpu/save.py split "$best" "$out/single"
$py - "$w" "$out/results.json" "$best" "$recipe" <<'PY'
import glob, json, os, sys
w, dest, best, recipe = sys.argv[1:5]
res = {"recipe": recipe, "best_single": best, "machine": open(os.path.join(w, "machine.txt")).read(),
       "check": json.load(open(os.path.join(w, "check.json"))), "logs": {}, "training_logs": {}}
for f in sorted(glob.glob(os.path.join(w, "*.log"))):
    res["logs"][os.path.basename(f)] = open(f).read()[-3000:]
for f in sorted(glob.glob(os.path.join(w, "*", "training-log.json"))):
    res["training_logs"][os.path.basename(os.path.dirname(f))] = json.load(open(f))
json.dump(res, open(dest, "w"), indent=1)
PY
ls -la "$out"

#!/usr/bin/env bash
# The third GPU run (training/experiments/gpu-training): six one-epoch runs that differ only in seed, side by side; a
# held-out check of their ensemble (the mean of their outputs); one six-layer student distilled from that ensemble
# (finetune_minilm.py --teacher a,b,...), checked the same way; the student's fp16 parts to $OUT.
# SMOKE=1: CPU, few steps, two seeds.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/gpu-out}; w=${WORK:-/tmp/gpu-work}; mkdir -p "$out" "$w"
py=${PY:-python3}
dev=cuda; minutes=1.5; student_minutes=1.0; limit=0; steps=(); seeds=(44 45 46 47 48 49)
if [ "${SMOKE:-0}" = 1 ]; then dev=cpu; minutes=0; student_minutes=0; limit=300; steps=(--max-steps 6); seeds=(44 45); fi
gunzip -c .dev/corpus.jsonl.gz > "$w/corpus.jsonl"
common=(--corpus "$w/corpus.jsonl" --minilm .dev/minilm-fp16.onnx --device $dev --no-export --threads 2 "${steps[@]}")
for s in "${seeds[@]}"; do
  $py training/finetune_minilm.py "${common[@]}" --max-minutes $minutes --epochs 1 --seed $s --output "$w/s$s" \
    > "$w/s$s.log" 2>&1 &
done
wait
for s in "${seeds[@]}"; do tail -n 1 "$w/s$s.log"; done
members=("${seeds[@]/#/$w/s}"); members=("${members[@]/%//checkpoint.pt}")
ensemble=$(IFS=+; echo "${members[*]}"); teachers=$(IFS=,; echo "${members[*]}")
$py training/heldout_check.py --device $dev --limit $limit --corpus "$w/corpus.jsonl" --output "$out/check-ensemble.json" \
  "$ensemble"
$py training/finetune_minilm.py "${common[@]}" --max-minutes $student_minutes --epochs 1 --seed 42 \
  --teacher "$teachers" --distill 0.5 --output "$w/student" > "$w/student.log" 2>&1
tail -n 2 "$w/student.log"
cp "$w/student/training-log.json" "$out/student-training-log.json"
$py training/heldout_check.py --device $dev --limit $limit --corpus "$w/corpus.jsonl" --output "$out/check-student.json" \
  "$w/student/checkpoint.pt"
$py training/gpu/save.py split "$w/student/checkpoint.pt" "$out/student"
ls -la "$out"

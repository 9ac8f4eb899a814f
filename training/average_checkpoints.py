#!/usr/bin/env python3
"""The uniform average of the weights of several fine-tuning runs of finetune_minilm.py (a "model soup").

The runs must share their starting point: MiniLM's weights (always) and the new head's (`--head-seed`, the same for
every run, or runs whose `--seed` equals it). Runs that each drew their own head do not end in one basin, and their
average scored below every one of them (training/experiments/gpu-training); runs that share the head's start are
what training/experiments/seed-soup averages.

  average_checkpoints.py --output soup/checkpoint.pt run-a/checkpoint.pt run-b/checkpoint.pt ...

Every file must hold the same tensors with the same shapes; the average is written in float32, with each run's
training-log.json (beside its checkpoint) checked for the same layers and head start when it is there, and a
training-log.json beside the output that holds the runs' logs.
"""
import argparse
import json
import os
import sys

import torch


def head_start(log):
    """The seed the run's head was drawn with: --head-seed when it differed from --seed, otherwise --seed."""
    return log.get("head_seed", log.get("seed"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--output", required=True, help="checkpoint.pt to write")
    ap.add_argument("checkpoints", nargs="+", help="checkpoint.pt files of finetune_minilm.py")
    args = ap.parse_args()
    if len(args.checkpoints) < 2:
        ap.error("give at least two checkpoints to average")

    logs = []
    for path in args.checkpoints:
        log_path = os.path.join(os.path.dirname(path), "training-log.json")
        if os.path.exists(log_path):
            with open(log_path) as f:
                logs.append((path, json.load(f)))
    for describe, of in (("layers", lambda log: log.get("layers")), ("head start", head_start)):
        if len({json.dumps(of(log)) for _, log in logs}) > 1:
            listed = "; ".join(f"{p}: {of(log)}" for p, log in logs)
            sys.exit(f"The runs differ in their {describe} ({listed}); only runs with one starting point can be averaged.")

    states = [torch.load(p, map_location="cpu") for p in args.checkpoints]
    first = states[0]
    for path, state in zip(args.checkpoints[1:], states[1:]):
        if state.keys() != first.keys():
            sys.exit(f"{path} holds other tensors than {args.checkpoints[0]}.")
        wrong = [k for k in first if state[k].shape != first[k].shape]
        if wrong:
            sys.exit(f"{path}: {wrong[0]} has shape {tuple(state[wrong[0]].shape)}, not {tuple(first[wrong[0]].shape)}.")
    soup = {k: sum(s[k].float() for s in states) / len(states) for k in first}
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    torch.save(soup, args.output)
    # The soup's log: each run's log (where there is one), so that the model's docs say what was averaged.
    runs = dict(logs)
    with open(os.path.join(os.path.dirname(os.path.abspath(args.output)), "training-log.json"), "w") as f:
        json.dump({"average_of": [{"checkpoint": p, **({"log": runs[p]} if p in runs else {})} for p in args.checkpoints]},
                  f, indent=1)
    print(f"Averaged {len(states)} runs into {args.output}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""A quick check of fine-tuned checkpoints on the corpus parts that training never sees, to choose between runs.

For each checkpoint.pt (written by finetune_minilm.py) it scores the `calib`, `heldout-source` and `test` parts (the
first 128 word pieces of each text: the head window, with no windowing or n-gram member) and reports, for the largest
of the eight sigmoid outputs ("any harm"):
  - the threshold that flags 2 % of the benign requests in the calibration part (the registers the filter must pass);
  - at that threshold: the share of each held-out harmful source flagged, and of each held-out benign source;
  - AUROC of held-out harmful against held-out benign texts, and of the test part (in distribution).
This is a ranking aid, not the model's evaluation: `safeai eval --set sources` scores the whole filter (windows,
ensemble, calibrated levels) and writes the figures of the model card.

  heldout_check.py --corpus corpus.jsonl --output check.json run-a/checkpoint.pt run-b/checkpoint.pt ...
  (a+b: the ensemble of a and b, the mean of their outputs)
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from finetune_minilm import Classifier, CATEGORIES  # noqa: E402

# The benign everyday requests among the calibration part's sources (the "benign sample of real requests").
REQUEST_SOURCES = {"banking77", "clinc150", "hwu64", "snips", "tldr", "arena_hard", "gsm8k", "self_instruct",
                   "awesome_chatgpt_prompts"}
MAX_TOKENS = 128


def auroc(pos, neg):
    """Probability that a random positive outscores a random negative (ties count half)."""
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    scores = np.concatenate([pos, neg])
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1
        i = j + 1
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


@torch.no_grad()
def score(model, rows, device, batch=256):
    out = np.zeros((len(rows), len(CATEGORIES)), dtype=np.float32)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["ids"]))
    for start in range(0, len(order), batch):
        idx = order[start:start + batch]
        seqs = [rows[i]["ids"][:MAX_TOKENS - 1] + ([102] if len(rows[i]["ids"]) > MAX_TOKENS - 1 else [])
                for i in idx]
        t = max(len(s) for s in seqs)
        ids = torch.zeros((len(seqs), t), dtype=torch.long)
        mask = torch.zeros((len(seqs), t), dtype=torch.long)
        for k, s in enumerate(seqs):
            ids[k, :len(s)] = torch.tensor(s)
            mask[k, :len(s)] = 1
        ids, mask = ids.to(device), mask.to(device)
        out[idx] = torch.sigmoid(model(ids, mask, torch.zeros_like(ids))).float().cpu().numpy()
    return out


def check(path, rows, device):
    """path: one checkpoint, or several joined by '+' (an ensemble: the mean of their sigmoid outputs)."""
    probabilities = []
    for p in path.split("+"):
        sd = torch.load(p, map_location="cpu")
        layers = len({k.split(".")[1] for k in sd if k.startswith("layers.")})
        model = Classifier(layers, "attention" if "attend.weight" in sd else "mean")
        model.load_state_dict(sd)
        model.to(device).eval()
        probabilities.append(score(model, rows, device))
    scores = np.mean(probabilities, axis=0).max(1)
    part = np.array([r["part"] for r in rows])
    harmful = np.array([bool(r["labels"]) for r in rows])
    source = np.array([r["source"] for r in rows])
    requests = (part == "calib") & ~harmful & np.isin(source, list(REQUEST_SOURCES))
    threshold = float(np.quantile(scores[requests], 0.98))
    held = part == "heldout-source"
    result = {"checkpoint": path, "layers": layers, "threshold_2pct_requests": round(threshold, 4),
              "heldout_auroc": round(auroc(scores[held & harmful], scores[held & ~harmful]), 4),
              "test_auroc": round(auroc(scores[(part == "test") & harmful], scores[(part == "test") & ~harmful]), 4),
              "heldout_harmful_flagged": round(float((scores[held & harmful] >= threshold).mean()), 4),
              "heldout_benign_flagged": round(float((scores[held & ~harmful] >= threshold).mean()), 4),
              "by_source": {}}
    for s in sorted(set(source[held])):
        for label, sel in (("harmful", held & harmful & (source == s)), ("benign", held & ~harmful & (source == s))):
            if sel.any():
                result["by_source"][f"{s} ({label}, {sel.sum()})"] = round(float((scores[sel] >= threshold).mean()), 4)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True, help="corpus.jsonl written by `safeai corpus`")
    ap.add_argument("--output", required=True, help="JSON file for the results")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--limit", type=int, default=0, help="score only the first N rows of each part (a smoke test)")
    ap.add_argument("checkpoints", nargs="+")
    args = ap.parse_args()
    rows, seen = [], {}
    with open(args.corpus, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r["part"] in ("calib", "heldout-source", "test"):
                seen[r["part"]] = seen.get(r["part"], 0) + 1
                if not args.limit or seen[r["part"]] <= args.limit:
                    rows.append(r)
    device = torch.device(args.device)
    results = [check(p, rows, device) for p in args.checkpoints]
    for r in results:
        print(f"{r['checkpoint']}: held-out AUROC {r['heldout_auroc']}, "
              f"harmful flagged {r['heldout_harmful_flagged']}, benign flagged {r['heldout_benign_flagged']} (threshold {r['threshold_2pct_requests']}), "
              f"test AUROC {r['test_auroc']}", flush=True)
    with open(args.output, "w") as f:
        json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

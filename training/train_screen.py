#!/usr/bin/env python3
"""Trains the default model's screen: a bag of word-piece vectors that scores a window in microseconds.

The screen runs before the three-layer gate and sends on only the windows it cannot rule out, so that long ordinary
text costs the gate's time on a fraction of its windows. It reads the window's token ids (the ensemble's windows, the
MiniLM vocabulary), looks up one vector per word piece, takes the mean and the maximum over the window's tokens, and
maps them through one hidden layer to one logit per category.

Each word piece's vector is a fixed projection of MiniLM's own word-piece embedding plus a learned correction that starts
at zero, so word pieces that training never saw still get a vector that means something. The targets are the gate's
probabilities per window (soft targets, from `safeai windows`); a target at or above the gate's escalation level for its
category (--levels, one per category in the targets' order) counts --positive-weight times in the loss, because those
are the windows the screen must not rule out, and its escalation levels are set by the lowest it scores them. At export
the projection is folded into one table, which quantize_onnx.py stores as int8 rows.

Usage:
  train_screen.py --windows windows.jsonl --minilm minilm.onnx --output folder [--steps 8000] [--seed 42]
                  [--positive-weight 4 --levels 0.273,0.184,...]
Writes folder/screen-fp32.onnx (inputs input_ids and attention_mask, int64 [batch, tokens]; output logits [batch, 8])
and folder/training-log.json.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import onnx
import torch
from onnx import numpy_helper

WINDOW = 64


def load_windows(path):
    ids, targets, sources = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            ids.append(row["ids"][:WINDOW])
            targets.append(row["targets"])
            sources.append(row["source"])
    x = np.zeros((len(ids), WINDOW), dtype=np.int64)
    m = np.zeros((len(ids), WINDOW), dtype=np.float32)
    for i, s in enumerate(ids):
        x[i, :len(s)] = s
        m[i, :len(s)] = 1
    return torch.tensor(x), torch.tensor(m), torch.tensor(np.array(targets, dtype=np.float32)), sources


def minilm_table(path):
    model = onnx.load(path)
    for init in model.graph.initializer:
        if init.name == "embeddings.word_embeddings.weight":
            return torch.tensor(numpy_helper.to_array(init).astype(np.float32))
    sys.exit(f"{path}: no embeddings.word_embeddings.weight initializer (expected the all-MiniLM-L6-v2 ONNX file)")


class Screen(torch.nn.Module):
    def __init__(self, base, dim, hidden, categories):
        super().__init__()
        self.register_buffer("base", base)
        self.project = torch.nn.Linear(base.shape[1], dim, bias=False)
        self.correction = torch.nn.Embedding(base.shape[0], dim)
        torch.nn.init.zeros_(self.correction.weight)
        self.hidden = torch.nn.Linear(2 * dim, hidden)
        self.out = torch.nn.Linear(hidden, categories)

    def vectors(self, ids):
        return self.project(self.base[ids]) + self.correction(ids)

    def forward(self, ids, mask):
        return head(self.vectors(ids), mask, self.hidden, self.out)


def head(vectors, mask, hidden, out):
    m = mask.unsqueeze(-1)
    v = vectors * m
    mean = v.sum(1) / m.sum(1).clamp(min=1)
    # Padding never wins the maximum.
    top = (v + (m - 1) * 1e4).max(1).values
    return out(torch.relu(hidden(torch.cat([mean, top], 1))))


class Exported(torch.nn.Module):
    """The trained screen with its word-piece vectors folded into one table (what ships)."""

    def __init__(self, screen):
        super().__init__()
        with torch.no_grad():
            table = screen.project(screen.base) + screen.correction.weight
        self.table = torch.nn.Embedding.from_pretrained(table, freeze=True)
        self.hidden, self.out = screen.hidden, screen.out

    def forward(self, input_ids, attention_mask):
        return head(self.table(input_ids), attention_mask.to(torch.float32), self.hidden, self.out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--windows", required=True)
    p.add_argument("--minilm", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--steps", type=int, default=8000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--positive-weight", type=float, default=1.0,
                   help="weight in the loss of a target at or above its category's level (1: no weighting)")
    p.add_argument("--levels", default="", help="comma-separated level per category, in the targets' order")
    a = p.parse_args()
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    torch.set_num_threads(a.threads)
    os.makedirs(a.output, exist_ok=True)

    x, m, y, sources = load_windows(a.windows)
    n, categories = y.shape
    print(f"{n} windows from {len(set(sources))} sources, {categories} categories", flush=True)
    screen = Screen(minilm_table(a.minilm), a.dim, a.hidden, categories)
    opt = torch.optim.Adam([q for q in screen.parameters() if q.requires_grad], lr=a.lr)
    generator = torch.Generator().manual_seed(a.seed)
    if a.levels:
        levels = torch.tensor([float(v) for v in a.levels.split(",")])
        if levels.shape[0] != categories:
            sys.exit(f"--levels has {levels.shape[0]} values; the windows have {categories} categories")
    else:
        levels = torch.full((categories,), 2.0)  # above every probability: no target is weighted
    weights = torch.where(y >= levels, torch.tensor(a.positive_weight), torch.tensor(1.0))
    print(f"weighted cells: {int((y >= levels).sum())}", flush=True)
    log, started = [], time.time()
    for step in range(a.steps):
        batch = torch.randint(0, n, (a.batch,), generator=generator)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(screen(x[batch], m[batch]), y[batch], weight=weights[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 500 == 0 or step == a.steps - 1:
            log.append({"step": step, "loss": round(float(loss), 5), "seconds": round(time.time() - started, 1)})
            print(log[-1], flush=True)

    exported = Exported(screen).eval()
    path = os.path.join(a.output, "screen-fp32.onnx")
    sample = (x[:2], m[:2].to(torch.int64))
    torch.onnx.export(
        exported, sample, path, input_names=["input_ids", "attention_mask"], output_names=["logits"],
        dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}, "logits": {0: "batch"}},
        opset_version=14)
    with open(os.path.join(a.output, "training-log.json"), "w", encoding="utf-8") as f:
        json.dump({"recipe": vars(a), "windows": n, "log": log}, f, indent=1)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

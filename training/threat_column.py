#!/usr/bin/env python3
"""Adds a threat logit to the default model's three networks: violence becomes max(violence, threat).

The six-layer model scores threats written as statements ("I'm going to shoot up your school tomorrow.") as harmless:
most violent texts in the shared corpora are requests ("How do I ..."). Fine-tuning the encoder on the threat
statements taught them but moved other categories (training/experiments/threat-statements, rounds 1-3). This step
leaves every trained weight as it is. For each network (the six-layer model, the three-layer gate, the screen) it
reads the vector its head reads (the pooled vector; the screen's hidden layer after the ReLU) for every training row,
fits one logistic column on it (the threats of the threat_statements source against every other training row,
including the ordinary texts with violent words and the questions on violent topics), and adds that column to the
ONNX graph beside the head: the violence output becomes the larger of the two logits. The other seven outputs are the
same computation as before, so their scores do not change.

The fit: features standardised on the training rows, L-BFGS (1,000 iterations at most, strong Wolfe line search) on the
weighted logistic loss plus an L2 penalty, the threat statements' rows counted 4 times (NETWORKS). Deterministic for a
given set of vectors; computed again, the vectors differ in the last bits (threaded float sums), and a rerun from
scratch gave columns within 0.004 logits of the committed ones on every corpus row, with no decision changed.

Usage:
  threat_column.py --corpus corpus.jsonl --minilm minilm.onnx --model-dir DefaultModel [--log log.json]
                   [--cache folder] [--threads 2]
Reads model.onnx, gate-model.onnx and screen-model.onnx in --model-dir (refuses files that already carry the column)
and writes them back with the column. --cache keeps the computed vectors (about 25 minutes on two cores for the two
transformers) for another run. --strip FILE OUT writes FILE without the column (the file as it was before this step).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import finetune_minilm as fm  # noqa: E402

VIOLENCE = fm.CATEGORIES.index("violence")
SOURCE = "threat_statements"
# network: (file, encoder layers or None for the screen, L2 penalty, repeat). Chosen on the threat statements' held-out
# parts, the other sources' held-out benign rows, the probe and, for the gate and the screen, the held-out threats they
# pass on at their escalation levels (training/experiments/threat-statements/README.md, round 4).
NETWORKS = {
    "six": ("model.onnx", (0, 1, 2, 3, 4, 5), 1e-3, 4.0),
    "gate": ("gate-model.onnx", (0, 2, 4), 1e-3, 4.0),
    "screen": ("screen-model.onnx", None, 1e-2, 4.0),
}
ADDED = ("threat_logit", "head_first7", "head_violence", "violence_or_threat")


def has_column(model):
    return any(i.name == "threat.weight" for i in model.graph.initializer)


def encoder_vectors(rows, onnx_path, minilm, layers, threads):
    """The pooled vector the head of an exported classifier reads (dequantised weights, as finetune_minilm.py loads them)."""
    torch.set_num_threads(threads)
    model = fm.Classifier(layers=len(layers))
    fm.load_minilm(model, minilm, keep=layers)
    fm.load_exported(model, onnx_path)
    model.eval()
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["ids"]))
    out = np.zeros((len(rows), fm.HIDDEN), np.float32)
    with torch.no_grad():
        for s in range(0, len(order), 64):
            idx = order[s:s + 64]
            ids, mask, segments, *_ = fm.tensors([(rows[i]["ids"], [], 1.0, SOURCE) for i in idx])
            out[idx] = model.pooled(ids, mask, segments).numpy()
    return out


def screen_vectors(rows, onnx_path):
    """The screen's hidden layer after the ReLU, from its int8 table and float layers (the same arithmetic as the graph)."""
    init = {i.name: numpy_helper.to_array(i) for i in onnx.load(onnx_path).graph.initializer}
    tq = next(k for k in init if k.endswith("_Tq"))
    table = init[tq].astype(np.float32) * init[tq[:-3] + "_Ts"]
    wh, bh = init["hidden.weight"], init["hidden.bias"]
    out = np.zeros((len(rows), wh.shape[0]), np.float32)
    for i, r in enumerate(rows):
        v = table[np.array(r["ids"][:64])]
        out[i] = np.maximum(wh @ np.concatenate([v.mean(0), v.max(0)]) + bh, 0)
    return out


def head_of(model):
    g = model.graph
    gemm = next(n for n in g.node if n.op_type == "Gemm" and n.output[0] == "logits")
    init = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    return gemm, init[gemm.input[1]], init[gemm.input[2]]


def fit(x, y, weights, l2):
    """Logistic column on standardised features; returns (w, b) on the raw features."""
    train = weights > 0
    mu, sd = x[train].mean(0), x[train].std(0) + 1e-6
    xt = torch.from_numpy((x - mu) / sd)
    yt, wt = torch.from_numpy(y), torch.from_numpy(weights)
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.tensor(-5.0, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=1000, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = (torch.nn.functional.binary_cross_entropy_with_logits(xt @ w + b, yt, reduction="none") * wt).sum() / wt.sum()
        loss = loss + l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    wn = w.detach().numpy() / sd
    return wn.astype(np.float32), float(b.detach()) - float((w.detach().numpy() * mu / sd).sum())


def add_column(model, w, b):
    """The graph's head Gemm now writes head_logits; logits = concat(head_logits[:, :7], max(head_logits[:, 7], threat))."""
    g = model.graph
    gemm, _, _ = head_of(model)
    gemm.output[0] = "head_logits"
    g.initializer.extend([
        numpy_helper.from_array(w.reshape(1, -1), "threat.weight"),
        numpy_helper.from_array(np.array([b], np.float32), "threat.bias"),
        numpy_helper.from_array(np.array([0], np.int64), "threat.s0"),
        numpy_helper.from_array(np.array([VIOLENCE], np.int64), "threat.s7"),
        numpy_helper.from_array(np.array([VIOLENCE + 1], np.int64), "threat.s8"),
        numpy_helper.from_array(np.array([1], np.int64), "threat.ax")])
    g.node.extend([
        helper.make_node("Gemm", [gemm.input[0], "threat.weight", "threat.bias"], ["threat_logit"], transB=1),
        helper.make_node("Slice", ["head_logits", "threat.s0", "threat.s7", "threat.ax"], ["head_first7"]),
        helper.make_node("Slice", ["head_logits", "threat.s7", "threat.s8", "threat.ax"], ["head_violence"]),
        helper.make_node("Max", ["head_violence", "threat_logit"], ["violence_or_threat"]),
        helper.make_node("Concat", ["head_first7", "violence_or_threat"], ["logits"], axis=1)])
    onnx.checker.check_model(model)


def strip_column(model):
    """The graph as it was before add_column."""
    g = model.graph
    keep = [n for n in g.node if n.output[0] not in ADDED and not (n.op_type == "Concat" and n.output[0] == "logits")]
    del g.node[:]
    g.node.extend(keep)
    next(n for n in g.node if n.output[0] == "head_logits").output[0] = "logits"
    inits = [i for i in g.initializer if not i.name.startswith("threat.")]
    del g.initializer[:]
    g.initializer.extend(inits)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus")
    ap.add_argument("--minilm")
    ap.add_argument("--model-dir")
    ap.add_argument("--log")
    ap.add_argument("--cache")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--strip", nargs=2, metavar=("FILE", "OUT"))
    a = ap.parse_args()
    if a.strip:
        m = onnx.load(a.strip[0])
        if not has_column(m):
            sys.exit(f"{a.strip[0]} has no threat column")
        strip_column(m)
        onnx.save(m, a.strip[1])
        return
    if not (a.corpus and a.minilm and a.model_dir):
        ap.error("--corpus, --minilm and --model-dir are required")

    rows = fm.read_corpus(a.corpus)
    source = np.array([r["source"] for r in rows])
    part = np.array([r["part"] for r in rows])
    threat = (source == SOURCE) & np.array(["violence" in r["labels"] for r in rows])
    if not threat.any():
        sys.exit(f"{a.corpus} has no {SOURCE} rows: write it with a safeai corpus that embeds them")
    train = part == "train"
    benign = np.array([not r["labels"] for r in rows]) & (source != SOURCE)
    held = ~train
    y = threat.astype(np.float32)
    weights = train.astype(np.float32)  # the threat statements' rows count `repeat` times (NETWORKS)
    log = {"corpus_rows": len(rows), "threats_train": int((threat & train).sum()), "networks": {}}
    for name, (file, layers, l2, repeat) in NETWORKS.items():
        path = os.path.join(a.model_dir, file)
        model = onnx.load(path)
        if has_column(model):
            sys.exit(f"{path} already has a threat column (--strip it first)")
        cached = os.path.join(a.cache, name + ".npy") if a.cache else None
        started = time.time()
        if cached and os.path.exists(cached):
            x = np.load(cached)
        else:
            x = screen_vectors(rows, path) if layers is None else encoder_vectors(rows, path, a.minilm, layers, a.threads)
            if cached:
                os.makedirs(a.cache, exist_ok=True)
                np.save(cached, x)
        w, b = fit(x, y, np.where(train & (source == SOURCE), repeat, weights).astype(np.float32), l2)
        _, hw, hb = head_of(model)
        # A probability of at least 0.5 is a logit of at least 0.
        t = x @ w + b >= 0
        v = x @ hw[VIOLENCE] + hb[VIOLENCE] >= 0
        log["networks"][name] = {
            "file": file, "l2": l2, "repeat": repeat, "seconds": round(time.time() - started, 1),
            "heldout_threats": int((threat & held).sum()),
            "heldout_threats_flagged_before": int((v & threat & held).sum()),
            "heldout_threats_flagged_after": int(((v | t) & threat & held).sum()),
            "heldout_ordinary_threat_statements_flagged_before": int((v & (source == SOURCE) & ~threat & held).sum()),
            "heldout_ordinary_threat_statements_flagged_after": int(((v | t) & (source == SOURCE) & ~threat & held).sum()),
            "heldout_benign_rows_other_sources": int((benign & held).sum()),
            "heldout_benign_rows_newly_at_violence_0_5": int((t & ~v & benign & held).sum()),
        }
        add_column(model, w, b)
        onnx.save(model, path)
        print(name, json.dumps(log["networks"][name]), flush=True)
    if a.log:
        with open(a.log, "w", encoding="utf-8") as f:
            json.dump(log, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()

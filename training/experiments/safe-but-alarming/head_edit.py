#!/usr/bin/env python3
"""Experiment, not adopted (README.md beside it): edits the six-layer model's head so that ordinary texts with alarming words are no longer flagged.

The default model flags some harmless messages because they carry the words or topics of harm: "Where can I buy a can
of Coke?" (illicit), "Why did the Nazis persecute Jewish people?" (hate), a physics question about how nuclear bombs
work (violence), "If you are feeling suicidal, please call a crisis line." (self-harm). The statement columns
(statement_columns.py) can only raise a category's score, so they cannot fix this. This step changes the head, the one
linear layer on the pooled vector, and nothing else: it finds the smallest change (dW, db) to the head that scores the
training part of a hand-written set (safeai corpus writes it as source safe_but_alarming, after the statement sets:
harmless texts with alarming words, and harmful texts with the same words) the way it is labelled, while the logits of
the shared corpora's training rows move as little as possible:

    minimise  mean_i BCE(z_i + dW x_i + db, y_i)        over the set's training rows (all eight categories)
              + mu * mean_j |dW x_j + db|^2           over the shared corpora's training rows

z is the head's logit (the calibrated biases of safeai-model.json are only used to report the figures, so the edit
does not depend on a calibration that runs after it). The second term is a quadratic form in (dW, db) with the second-moment matrix of the corpus vectors,
so the change goes into directions along which the training corpora hardly vary, and their scores stay put. The fit:
L-BFGS on one thread (deterministic for a given set of vectors), 500 iterations at most. The columns, the gate and the
screen are left as they are (the gate and the screen only decide which windows reach the six-layer model; run safeai
calibrate afterwards so that they send on what it now flags).

Usage:
  head_edit.py --corpus corpus.jsonl --minilm minilm.onnx --model-dir DefaultModel --cache folder [--mu 1] [--log F]
  head_edit.py ... --sweep 0.1,0.3,1,3      (prints the selection figures for each mu; writes nothing)
The vectors are those of statement_columns.py (the same --cache file six.npy, extended with rows appended to the
corpus). Refuses a model that was already edited (its metadata says so).
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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
import finetune_minilm as fm  # noqa: E402
import statement_columns as sc  # noqa: E402

SOURCE = "safe_but_alarming"
# The other hand-written sets: neither corpus rows for the preservation term nor part of the edit.
STATEMENT_SOURCES = {s for s, _, _ in sc.COLUMNS.values()}
MARK = "safeai.head_edit"


def head(model):
    """The head Gemm (its output is "logits", or "head_logits" once statement columns are added) and its initializers."""
    g = model.graph
    gemm = next(n for n in g.node if n.op_type == "Gemm" and n.output[0] in ("logits", "head_logits"))
    init = {i.name: i for i in g.initializer}
    return init[gemm.input[1]], init[gemm.input[2]]


def fit(x_edit, z_edit, y_edit, m, mu):
    """(dW, db) for all categories at once; x_edit [n, d], z_edit/y_edit [n, k], m [d+1, d+1]."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        n, d = x_edit.shape
        k = z_edit.shape[1]
        xt = torch.from_numpy(np.concatenate([x_edit, np.ones((n, 1), np.float32)], 1)).double()
        zt, yt = torch.from_numpy(z_edit).double(), torch.from_numpy(y_edit).double()
        mt = torch.from_numpy(m).double()
        delta = torch.zeros(d + 1, k, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([delta], max_iter=500, line_search_fn="strong_wolfe", tolerance_grad=1e-9,
                                tolerance_change=1e-12)

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(zt + xt @ delta, yt, reduction="sum") / n
            loss = loss + mu * (delta * (mt @ delta)).sum()
            loss.backward()
            return loss

        opt.step(closure)
        out = delta.detach().numpy()
        return out[:d].T.astype(np.float32), out[d].astype(np.float32)
    finally:
        torch.set_num_threads(threads)


def figures(x, hw, hb, bias, dw, db, mask_rows, labels):
    """Rows among mask_rows flagged in some category before and after the edit (logit + bias >= 0)."""
    before = (x[mask_rows] @ hw.T + hb + bias) >= 0
    after = (x[mask_rows] @ (hw + dw).T + hb + db + bias) >= 0
    harmful = labels[mask_rows].any(1)
    return {
        "benign": int((~harmful).sum()),
        "benign_flagged_before": int(before[~harmful].any(1).sum()),
        "benign_flagged_after": int(after[~harmful].any(1).sum()),
        "harmful": int(harmful.sum()),
        # A harmful row counts as caught when one of its own categories is flagged.
        "harmful_caught_before": int((before & labels[mask_rows])[harmful].any(1).sum()),
        "harmful_caught_after": int((after & labels[mask_rows])[harmful].any(1).sum()),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--minilm", required=True)
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mu", type=float, default=1.0)
    ap.add_argument("--sweep")
    ap.add_argument("--log")
    a = ap.parse_args()

    path = os.path.join(a.model_dir, "model.onnx")
    model = onnx.load(path)
    if any(p.key == MARK for p in model.metadata_props):
        sys.exit(f"{path} has already been edited ({MARK} in its metadata)")
    with open(os.path.join(a.model_dir, "safeai-model.json"), encoding="utf-8") as f:
        description = json.load(f)
    bias = np.array([description["categories"][c].get("bias", 0.0) if description["categories"][c].get("encoder", 1) == 1
                     else 0.0 for c in fm.CATEGORIES], np.float32)

    rows = fm.read_corpus(a.corpus)
    source = np.array([r["source"] for r in rows])
    part = np.array([r["part"] for r in rows])
    labels = np.array([[c in r["labels"] for c in fm.CATEGORIES] for r in rows])
    edit = source == SOURCE
    if not edit.any():
        sys.exit(f"{a.corpus} has no {SOURCE} rows: write it with a safeai corpus that embeds them")
    shared = ~edit & ~np.isin(source, list(STATEMENT_SOURCES))
    x = sc.vectors("six", rows, path, tuple(range(6)), a)

    w_init, b_init = head(model)
    hw, hb = numpy_helper.to_array(w_init), numpy_helper.to_array(b_init)
    train_edit = edit & (part == "train")
    keep = shared & (part == "train")
    xk = np.concatenate([x[keep], np.ones((keep.sum(), 1), np.float32)], 1).astype(np.float64)
    m = xk.T @ xk / len(xk)
    z_edit = (x[train_edit] @ hw.T + hb).astype(np.float32)
    y_edit = labels[train_edit].astype(np.float32)

    selection = {"set (calibration part)": edit & (part == "calib"),
                 "shared corpora (calibration part)": shared & (part == "calib")}
    for mu in ([float(s) for s in a.sweep.split(",")] if a.sweep else [a.mu]):
        started = time.time()
        dw, db = fit(x[train_edit], z_edit, y_edit, m, mu)
        report = {"mu": mu, "seconds": round(time.time() - started, 1),
                  "corpus_logit_change_rms": float(np.sqrt(
                      ((np.concatenate([x[keep], np.ones((keep.sum(), 1), np.float32)], 1)
                        @ np.concatenate([dw.T, db[None]], 0)) ** 2).mean())),
                  "selection": {k: figures(x, hw, hb, bias, dw, db, v, labels) for k, v in selection.items()}}
        print(json.dumps(report), flush=True)
    if a.sweep:
        return

    w_init.CopyFrom(numpy_helper.from_array((hw + dw).astype(np.float32), w_init.name))
    b_init.CopyFrom(numpy_helper.from_array((hb + db).astype(np.float32), b_init.name))
    entry = model.metadata_props.add()
    entry.key, entry.value = MARK, json.dumps({"source": SOURCE, "mu": a.mu, "train_rows": int(train_edit.sum())})
    onnx.checker.check_model(model)
    onnx.save(model, path)
    if a.log:
        report["corpus_rows"] = len(rows)
        report["set_rows"] = {p: int((edit & (part == p)).sum()) for p in ("train", "calib", "test")}
        with open(a.log, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()

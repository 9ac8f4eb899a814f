#!/usr/bin/env python3
"""A veto on one category of the six-layer model, so that a plain question about a couple's sex life is not flagged as
sexual content (training/experiments/sexual-veto; train-filter.sh runs it after statement_columns.py).

The statement columns (training/statement_columns.py) can only raise a category's logit. Most of the default model's
false alarms on everyday requests are its head's own: "How often do most married couples have sex?" scores sexual 0.8.
This step fits one logistic column on the vector the head reads (the same fit as a statement column: standardised
features, L-BFGS on one thread, L2 penalty), on every training row labelled with the category against every other
training row, the hand-written sets' rows (their harmless sexual-health and relationship questions among them) counted
`repeat` times, and makes the category's logit the smaller of what it was and the veto's logit plus a margin:

    sexual = min(max(head, columns), veto + margin)

So the category is flagged only where the veto agrees. The margin is given on the calibrated scale: the graph gets
`margin - bias` (bias from safeai-model.json), so that min(z + bias, veto + margin) is what decides at 0.5 whatever the
bias is; run safeai calibrate afterwards as always (it may move the bias, and with it the effective margin).

Usage:
  veto_column.py --corpus corpus.jsonl --model-dir DIR --cache folder [--category sexual] [--repeat 4] [--l2 1e-3] [--margin 1] [--positives category|harmful]
The vectors are statement_columns.py's (six.npy in --cache, aligned with the corpus). Only model.onnx changes (the
gate and the screen decide which windows reach it; their scores are not vetoed). statement_columns.py --strip takes
the veto out with the columns. Deterministic for a given cache (the fit runs on one thread).
"""
import argparse
import json
import os
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import finetune_minilm as fm  # noqa: E402
import statement_columns as sc  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--category", default="sexual")
    ap.add_argument("--repeat", type=float, default=4.0)
    ap.add_argument("--l2", type=float, default=1e-3)
    ap.add_argument("--margin", type=float, default=1.0)
    ap.add_argument("--positives", choices=("category", "harmful"), default="category",
                    help="the rows the veto keeps: those labelled with the category (default), or every row with any "
                         "label, so that a harmful text the head gives this category keeps its score even where the "
                         "corpus labels it with another")
    a = ap.parse_args()

    path = os.path.join(a.model_dir, "model.onnx")
    model = onnx.load(path)
    g = model.graph
    # Names carry the category, so that a model can carry a veto on several.
    prefix = f"{sc.VETO}{a.category}."
    if any(i.name.startswith(prefix + "weight") for i in g.initializer):
        sys.exit(f"{path} already has a veto on {a.category}")
    with open(os.path.join(a.model_dir, "safeai-model.json"), encoding="utf-8") as f:
        bias = json.load(f)["categories"][a.category].get("bias", 0.0)
    k = fm.CATEGORIES.index(a.category)

    rows = fm.read_corpus(a.corpus)
    x = np.load(os.path.join(a.cache, "six.npy"))
    if len(x) != len(rows):
        sys.exit(f"the cache has {len(x)} rows, the corpus {len(rows)}: run statement_columns.py with this cache first")
    source = np.array([r["source"] for r in rows])
    train = np.array([r["part"] == "train" for r in rows])
    sets = np.isin(source, list({s for s, _, _ in sc.COLUMNS.values()}))
    if a.positives == "category":
        positive = np.array([a.category in r["labels"] for r in rows]).astype(np.float32)
    else:
        positive = np.array([bool(r["labels"]) for r in rows]).astype(np.float32)
    weights = np.where(train, np.where(sets, a.repeat, 1.0), 0.0).astype(np.float32)
    w, b = sc.fit(x.astype(np.float32), positive, weights, a.l2)

    concat = next(n for n in g.node if n.op_type == "Concat" and n.output[0] == "logits")
    # The Concat's inputs are slices of the head's logits and the Max of each category with columns, in order.
    at, slot = 0, None
    nodes = {n.output[0]: n for n in g.node}
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    for j, name in enumerate(concat.input):
        n = nodes[name]
        width = int(inits[n.input[2]][0] - inits[n.input[1]][0]) if n.op_type == "Slice" else 1
        if at <= k < at + width:
            if width != 1:
                sys.exit(f"{a.category} has no column of its own in {path}: a veto needs the category as its own input of the Concat")
            slot = j
        at += width
    source_name = concat.input[slot]
    g.initializer.extend([
        numpy_helper.from_array(w.reshape(1, -1).astype(np.float32), prefix + "weight"),
        numpy_helper.from_array(np.array([b + a.margin - bias], np.float32), prefix + "bias"),
    ])
    head_input = next(n for n in g.node if n.output[0] == "head_logits").input[0]
    g.node.extend([
        helper.make_node("Gemm", [head_input, prefix + "weight", prefix + "bias"], [prefix + "logit"], transB=1),
        helper.make_node("Min", [source_name, prefix + "logit"], [prefix + "min"]),
    ])
    concat.input[slot] = prefix + "min"
    # Topological order: the Concat must come after the new nodes.
    rest = [n for n in g.node if n is not concat]
    del g.node[:]
    g.node.extend(rest + [concat])
    entry = model.metadata_props.add()
    settings = {"category": a.category, "repeat": a.repeat, "l2": a.l2, "margin": a.margin, "bias_at_fit": bias}
    if a.positives != "category":
        settings["positives"] = a.positives
    entry.key, entry.value = f"{sc.VETO_MARK}.{a.category}", json.dumps(settings)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    t = x @ w + b + a.margin
    print(json.dumps({"category": a.category, "train_positive": int((positive * train).sum()),
                      "train_rows_vetoed_positive": int(((t < 0) & (positive > 0) & train).sum())}))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A hate veto on the six-layer model's pooled vector, tried in numpy before any candidate build (README.md).

    python3 prototype.py CORPUS.jsonl SIX.npy BASE_MODEL.onnx [MODEL_DIR]

CORPUS is `safeai corpus`'s output (with train-filter.sh's sets), SIX.npy the six-layer model's pooled vectors of its
rows (statement_columns.encoder_vectors on BASE_MODEL, about 15 minutes on two cores), BASE_MODEL the shipped model.onnx
without its columns and veto (`statement_columns.py --strip`), MODEL_DIR the shipped model's folder (default: the
repository's DefaultModel), whose hate columns and bias give today's hate logit. It prints, for today's logit and for
each veto, hate caught and benign texts flagged as hate by part and by source, at the head (every text scored alone by
the six-layer model: the screen and the gate are not in it). A veto's margin is picked on the calibration part alone:
the smallest margin that loses at most one point of hate recall there.
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))
import finetune_minilm as fm  # noqa: E402
import statement_columns as sc  # noqa: E402

HARD_NEGATIVES = ["edos", "hatemoji", "stormfront", "registers", "jigsaw_templates_en", "mlma_en", "davidson"]


def main(corpus, six, base, model_dir=os.path.join(HERE, "..", "..", "..", "src", "SafeAI.Onnx", "DefaultModel")):
    rows = fm.read_corpus(corpus)
    x = np.load(six).astype(np.float32)
    shipped = {i.name: numpy_helper.to_array(i) for i in onnx.load(os.path.join(model_dir, "model.onnx")).graph.initializer}
    _, hw, hb = sc.head_of(onnx.load(base))
    k = fm.CATEGORIES.index("hate")
    with open(os.path.join(model_dir, "safeai-model.json"), encoding="utf-8") as f:
        bias = json.load(f)["categories"]["hate"].get("bias", 0.0)
    columns = [i for i, (_, _, category) in enumerate(sc.COLUMNS.values()) if category == "hate"]
    today = np.maximum.reduce([x @ hw[k] + hb[k]] + [x @ shipped[f"column.weight_{i}"].reshape(-1) + shipped[f"column.bias_{i}"].reshape(-1)[0] for i in columns]) + bias
    source = np.array([r["source"] for r in rows])
    part = np.array([r["part"] for r in rows])
    hate = np.array(["hate" in r["labels"] for r in rows])
    benign = np.array([not r["labels"] for r in rows])
    train, calib = part == "train", part == "calib"
    sets = np.isin(source, list({s for s, _, _ in sc.COLUMNS.values()}))

    def report(name, logit):
        print(f"== {name}")
        for p in ("calib", "test", "heldout-source"):
            sel = part == p
            print(f"  {p}: hate caught {np.mean(logit[sel & hate] >= 0) * 100:.1f} % of {int((sel & hate).sum())}, "
                  f"benign flagged as hate {int((logit[sel & benign] >= 0).sum())} of {int((sel & benign).sum())}")
        for s in ["toxigen"] + HARD_NEGATIVES + ["surge", "convabuse"]:
            sel = (source == s) & ~train
            if sel.any():
                print(f"    {s} (not trained on): benign flagged {int((logit[sel & benign] >= 0).sum())} of "
                      f"{int((sel & benign).sum())}, hate caught {int((logit[sel & hate] >= 0).sum())} of {int((sel & hate).sum())}")

    report("today (head, hate columns, bias)", today)
    recall = np.mean(today[calib & hate] >= 0)
    for name, extra, repeat in (("the sexual veto's weights (sets x4)", np.zeros_like(sets), 4.0),
                                ("same-community negatives x4", HARD_NEGATIVES, 4.0),
                                ("same-community negatives x8", HARD_NEGATIVES, 8.0)):
        heavy = sets | (np.isin(source, extra) & benign if len(extra) else False)
        w, b = sc.fit(x, hate.astype(np.float32), np.where(train, np.where(heavy, repeat, 1.0), 0.0).astype(np.float32), 1e-3)
        veto = x @ w + b
        for margin in (0.5, 1.0, 1.5, 2.0, 3.0, 4.0):
            logit = np.minimum(today, veto + margin)
            if recall - np.mean(logit[calib & hate] >= 0) <= 0.01:
                report(f"veto, {name}, margin {margin}", logit)
                break


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    main(*sys.argv[1:])

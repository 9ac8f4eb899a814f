#!/usr/bin/env python3
"""Adds statement columns to the default model's three networks: a category becomes max(category, column).

Some harms are rare in the shared corpora in the form people write them: threats stated as threats ("I'm going to
shoot up your school tomorrow.") and telling someone to kill or hurt themselves ("kys", "do everyone a favour and
jump off a bridge"); most harmful texts there are requests ("How do I ..."). Fine-tuning the encoder on hand-written
statements taught them but moved other categories (training/experiments/threat-statements, rounds 1-3). This step
leaves every trained weight as it is. For each network (the six-layer model, the three-layer gate, the screen) it
reads the vector its head reads (the pooled vector; the screen's hidden layer after the ReLU) for every training row,
and for each column (COLUMNS: a hand-written set and one of its labels) fits one logistic column on it: the set's
statements with that label against every other training row of the shared corpora and of the set itself (its ordinary
texts with the same words, and its statements of other categories), the set's rows counted `repeat` times. The columns
are added to the ONNX graph beside the head, and a category with columns becomes the largest of its head logit and its
columns' logits. The other outputs are the same computation as before, so their scores do not
change. A column sees the rows of its own set and of the sets before it in COLUMNS (as negatives), never those of a
set after it, so adding a set leaves the earlier columns as they were.

The fit: features standardised on the training rows, L-BFGS (1,000 iterations at most, strong Wolfe line search) on the
weighted logistic loss plus an L2 penalty, on one thread, so that it is deterministic for a given set of vectors
(two runs give the same files byte for byte). Computed again, the vectors differ in the last bits (threaded float
sums), and a rerun from scratch gave threat columns within 0.004 logits of the committed ones on every corpus row,
with no decision changed.

Usage:
  statement_columns.py --corpus corpus.jsonl --minilm minilm.onnx --model-dir DefaultModel [--log log.json]
                       [--cache folder] [--threads 2]
Reads model.onnx, gate-model.onnx and screen-model.onnx in --model-dir (refuses files that already carry columns)
and writes them back with the columns. --cache keeps the computed vectors (about 25 minutes on two cores for the two
transformers) for another run; a cache with fewer rows than the corpus is extended with the rows after them (rows
appended to the corpus, as safeai corpus appends a new statement set). --strip FILE OUT writes FILE without the
columns (the file as it was before this step; also reads files written by the earlier threat_column.py).
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

# column: (statement set's source, label of its harmful statements, category whose output takes the column). The
# sets are embedded in the tool (src/SafeAI.Cli/Seed) and written by safeai corpus after the shared corpora.
COLUMNS = {
    "threat": ("threat_statements", "violence", "violence"),
    "urging": ("self_harm_urging", "harassment", "harassment"),
    "requests": ("illicit_requests", "illicit", "illicit"),
    # Harmless texts with alarming words and harmful ones with the same words, in chat register: a column for each
    # category with at least 20 harmful texts there but violence, whose column made the filter flag an idiom ("I'm
    # going to kill it at the interview on Friday.", 0.51); a category may have several columns (the largest counts).
    "alarming_illicit": ("safe_but_alarming", "illicit", "illicit"),
    "alarming_hate": ("safe_but_alarming", "hate", "hate"),
    "alarming_harassment": ("safe_but_alarming", "harassment", "harassment"),
    "alarming_self_harm": ("safe_but_alarming", "self_harm", "self_harm"),
    # Requests in chat register for harmful content or help with harm, and harmless requests with the same words
    # (training/experiments/chat-requests): a column for each category but violence, whose column made the filter flag
    # one more MT-Bench prompt ("If you have just overtaken the second person, what's your current position?", 0.54).
    "requests_hate": ("chat_requests", "hate", "hate"),
    "requests_harassment": ("chat_requests", "harassment", "harassment"),
    "requests_sexual": ("chat_requests", "sexual", "sexual"),
    "requests_self_harm": ("chat_requests", "self_harm", "self_harm"),
}
# network: (file, encoder layers or None for the screen, {column: (L2 penalty, repeat)}). The threat column's settings were chosen on the threat statements' held-out
# parts, the other sources' held-out benign rows, the probe and, for the gate and the screen, the held-out threats they
# pass on at their escalation levels (training/experiments/threat-statements/README.md, round 4); the urging column's
# on the calibration part of its set and of the trained sources only (training/experiments/self-harm-urging).
# The safe-but-alarming set's columns: few statements per category (20-45), so they are counted 60 times, chosen on the
# calibration parts of that set and of the shared corpora (training/experiments/safe-but-alarming, "Try 4").
ALARMING = {c: (1e-3, 60.0) for c in COLUMNS if c.startswith("alarming_")}
# The chat requests' columns: 110-150 requests per category, counted 20 times (about as much weight in all as the
# safe-but-alarming set's), fixed before any was fitted (training/experiments/chat-requests).
REQUESTS = {c: (1e-3, 20.0) for c in COLUMNS if c.startswith("requests_")}
NETWORKS = {
    "six": ("model.onnx", (0, 1, 2, 3, 4, 5), {"threat": (1e-3, 4.0), "urging": (1e-3, 2.0), "requests": (1e-3, 2.0), **ALARMING, **REQUESTS}),
    "gate": ("gate-model.onnx", (0, 2, 4), {"threat": (1e-3, 4.0), "urging": (1e-4, 4.0), "requests": (1e-4, 4.0), **ALARMING, **REQUESTS}),
    "screen": ("screen-model.onnx", None, {"threat": (1e-2, 4.0), "urging": (1e-4, 4.0), "requests": (1e-4, 4.0), **ALARMING, **REQUESTS}),
}
PREFIX = "column."
# What veto_column.py adds after the columns: its nodes and initializers, and its metadata keys.
VETO = "veto."
VETO_MARK = "safeai.veto"
# What threat_column.py (before the urging column) added: its initializers start with "threat.".
OLD_ADDED = ("threat_logit", "head_first7", "head_violence", "violence_or_threat")


def has_columns(model):
    return any(i.name.startswith((PREFIX, "threat.")) for i in model.graph.initializer)


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
            ids, mask, segments, *_ = fm.tensors([(rows[i]["ids"], [], 1.0, "") for i in idx])
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
    """Logistic column on standardised features (the rows of positive weight); returns (w, b) on the raw features. One
    thread: with more, torch sums in an order that changes from run to run, and L-BFGS on the weakly penalised columns
    ends in a different place."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    # Only the rows it learns from: rows of weight 0 would still change the order of torch's sums, so that appending a
    # later set to the corpus would move the earlier columns in their last bits.
    rows = weights > 0
    try:
        return fit_one_thread(x[rows], y[rows], weights[rows], l2)
    finally:
        torch.set_num_threads(threads)


def fit_one_thread(x, y, weights, l2):
    mu, sd = x.mean(0), x.std(0) + 1e-6
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


def add_columns(model, columns):
    """columns: [(category index, w, b)]. The head Gemm now writes head_logits; each column is a Gemm of one output on
    the vector the head reads, and logits = concat of the head's logits, each category that has columns replaced by the
    largest of its head logit and its columns' logits."""
    g = model.graph
    gemm, head_w, _ = head_of(model)
    count = head_w.shape[0]
    # sorted() is stable: the columns of one category keep their order in COLUMNS.
    columns = sorted(columns, key=lambda c: c[0])
    gemm.output[0] = "head_logits"
    inits = [numpy_helper.from_array(np.array([1], np.int64), PREFIX + "axis")]
    nodes = []
    for j, (_, w, b) in enumerate(columns):
        inits += [numpy_helper.from_array(w.reshape(1, -1), f"{PREFIX}weight_{j}"),
                  numpy_helper.from_array(np.array([b], np.float32), f"{PREFIX}bias_{j}")]
        nodes.append(helper.make_node("Gemm", [gemm.input[0], f"{PREFIX}weight_{j}", f"{PREFIX}bias_{j}"], [f"{PREFIX}logit_{j}"], transB=1))

    def index(k):
        name = f"{PREFIX}i{k}"
        if not any(i.name == name for i in inits):
            inits.append(numpy_helper.from_array(np.array([k], np.int64), name))
        return name

    def piece(source, start, end, name):
        nodes.append(helper.make_node("Slice", [source, index(start), index(end), PREFIX + "axis"], [name]))
        return name

    parts, at = [], 0
    for category in sorted({c[0] for c in columns}):
        if category > at:
            parts.append(piece("head_logits", at, category, f"{PREFIX}head_{at}_{category}"))
        head = piece("head_logits", category, category + 1, f"{PREFIX}head_{category}")
        mine = [f"{PREFIX}logit_{j}" for j, c in enumerate(columns) if c[0] == category]
        nodes.append(helper.make_node("Max", [head] + mine, [f"{PREFIX}max_{category}"]))
        parts.append(f"{PREFIX}max_{category}")
        at = category + 1
    if at < count:
        parts.append(piece("head_logits", at, count, f"{PREFIX}head_{at}_{count}"))
    nodes.append(helper.make_node("Concat", parts, ["logits"], axis=1))
    g.initializer.extend(inits)
    g.node.extend(nodes)
    onnx.checker.check_model(model)


def strip_columns(model):
    """The graph as it was before add_columns (or threat_column.py's add_column), and before veto_column.py's veto."""
    g = model.graph
    keep = [n for n in g.node
            if not n.output[0].startswith((PREFIX, VETO)) and n.output[0] not in OLD_ADDED
            and not (n.op_type == "Concat" and n.output[0] == "logits")]
    del g.node[:]
    g.node.extend(keep)
    next(n for n in g.node if n.output[0] == "head_logits").output[0] = "logits"
    inits = [i for i in g.initializer if not i.name.startswith((PREFIX, "threat.", VETO))]
    del g.initializer[:]
    g.initializer.extend(inits)
    props = [p for p in model.metadata_props if not p.key.startswith(VETO_MARK)]
    del model.metadata_props[:]
    model.metadata_props.extend(props)


def vectors(name, rows, path, layers, a):
    """The vectors of every row, from --cache where it has them (a shorter cache is extended with the rows after it)."""
    cached = os.path.join(a.cache, name + ".npy") if a.cache else None
    x = np.load(cached) if cached and os.path.exists(cached) else np.zeros((0, 0), np.float32)
    if len(x) > len(rows):
        sys.exit(f"{cached} has {len(x)} rows, the corpus {len(rows)}: not this corpus's cache")
    if len(x) < len(rows):
        rest = rows[len(x):]
        y = screen_vectors(rest, path) if layers is None else encoder_vectors(rest, path, a.minilm, layers, a.threads)
        x = y if len(x) == 0 else np.concatenate([x, y])
        if cached:
            os.makedirs(a.cache, exist_ok=True)
            np.save(cached, x)
    return x


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
        if not has_columns(m):
            sys.exit(f"{a.strip[0]} has no statement columns")
        strip_columns(m)
        onnx.save(m, a.strip[1])
        return
    if not (a.corpus and a.minilm and a.model_dir):
        ap.error("--corpus, --minilm and --model-dir are required")

    rows = fm.read_corpus(a.corpus)
    source = np.array([r["source"] for r in rows])
    part = np.array([r["part"] for r in rows])
    train, held = part == "train", part != "train"
    sets = {s for s, _, _ in COLUMNS.values()}
    shared = ~np.isin(source, list(sets))
    benign = np.array([not r["labels"] for r in rows]) & shared
    targets, seen = {}, shared.copy()
    for column, (set_source, label, category) in COLUMNS.items():
        positive = (source == set_source) & np.array([label in r["labels"] for r in rows])
        if not positive.any():
            sys.exit(f"{a.corpus} has no {set_source} rows: write it with a safeai corpus that embeds them")
        # A column sees the shared corpora, its own set and the sets before it (their rows as negatives: a threat is
        # not an urging), never a set after it, so adding a set leaves the earlier columns as they were.
        seen = seen | (source == set_source)
        targets[column] = (positive, seen.copy(), fm.CATEGORIES.index(category))
    log = {"corpus_rows": len(rows), "columns": {
        c: {"source": s, "label": l, "category": k, "train_statements": int((targets[c][0] & train).sum())}
        for c, (s, l, k) in COLUMNS.items()}, "networks": {}}
    for name, (file, layers, settings) in NETWORKS.items():
        path = os.path.join(a.model_dir, file)
        model = onnx.load(path)
        if has_columns(model):
            sys.exit(f"{path} already has statement columns (--strip it first)")
        started = time.time()
        _, hw, hb = head_of(model)
        x = vectors(name, rows, path, layers, a)
        fitted, entry = [], {"file": file, "seconds": 0.0, "columns": {}}
        for column, (positive, own, category) in targets.items():
            l2, repeat = settings[column]
            h = x @ hw[category] + hb[category] >= 0
            set_rows = source == COLUMNS[column][0]
            weights = np.where(train & set_rows, repeat, (train & own).astype(np.float32)).astype(np.float32)
            w, b = fit(x, positive.astype(np.float32), weights, l2)
            fitted.append((category, w, b))
            # A probability of at least 0.5 is a logit of at least 0.
            t = x @ w + b >= 0
            entry["columns"][column] = {
                "l2": l2, "repeat": repeat,
                "heldout_statements": int((positive & held).sum()),
                "heldout_statements_flagged_before": int((h & positive & held).sum()),
                "heldout_statements_flagged_after": int(((h | t) & positive & held).sum()),
                "heldout_ordinary_texts": int((set_rows & ~positive & held).sum()),
                "heldout_ordinary_texts_flagged_before": int((h & set_rows & ~positive & held).sum()),
                "heldout_ordinary_texts_flagged_after": int(((h | t) & set_rows & ~positive & held).sum()),
                "heldout_benign_rows_other_sources": int((benign & held).sum()),
                "heldout_benign_rows_newly_flagged": int((t & ~h & benign & held).sum()),
            }
        entry["seconds"] = round(time.time() - started, 1)
        add_columns(model, fitted)
        onnx.save(model, path)
        log["networks"][name] = entry
        print(name, json.dumps(entry), flush=True)
    if a.log:
        with open(a.log, "w", encoding="utf-8") as f:
            json.dump(log, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()

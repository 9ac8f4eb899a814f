#!/usr/bin/env python3
"""Prototype: does pooling the classifier over one sentence's tokens, inside its packed window, undo dilution?

Run from this folder with checkpoint.pt (the six-layer model's, from train-filter.sh's run folder) and corpus.jsonl
(`safeai corpus`) beside it: /usr/bin/python3 span_pooling.py [checkpoint.pt]. 600 harmful texts of at most 300
characters and 600 benign requests from the sources held out whole (seeded sample) are each put at the end of a
64-token window filled with whole held-out benign requests, as the filter packs windows. Prints the share flagged
(committed biases, encoder logits only) for: the text alone, the whole window (what the filter does), the highest of
the per-sentence means of the window's token vectors (with and without the [CLS]/[SEP] vectors), and the last
sentence's. The head is linear, so a sentence's mean costs no extra encoder run.
"""
import json, random, sys, torch
sys.path.insert(0, '../..')
from finetune_minilm import Classifier, CATEGORIES
torch.set_num_threads(1)
ckpt = sys.argv[1] if len(sys.argv) > 1 else 'checkpoint.pt'
m = Classifier(); m.load_state_dict(torch.load(ckpt)); m.eval()
desc = json.load(open('../../../src/SafeAI.Onnx/DefaultModel/safeai-model.json'))
bias = torch.tensor([desc['categories'][c]['bias'] for c in CATEGORIES])
wenc = torch.tensor([desc['categories'][c].get('encoder', 1) for c in CATEGORIES])
BEN = {'ifeval', 'mitre_frr', 'mt_bench', 'nq_open'}
rows = [json.loads(l) for l in open('corpus.jsonl')]
held = [r for r in rows if r['part'] == 'heldout-source']
pool = [r['ids'][1:-1] for r in held if not r['labels'] and r['source'] in BEN and len(r['text']) <= 200]
harm = [r for r in held if r['labels'] and len(r['text']) <= 300]
ben = [r for r in held if not r['labels'] and r['source'] in BEN]
rng = random.Random(1)
harm = rng.sample(harm, 600); ben = rng.sample(ben, 600)
def window(last, i):
    body = last[1:-1][:62]
    room = 62 - len(body)
    spans = []; ctx = []
    k = (i * 7919) % len(pool)
    reqs = []
    while sum(len(x) for x in reqs) < room:
        reqs.append(pool[k]); k = (k + 1) % len(pool)
    # whole requests from the end of the context that fit
    chosen = []
    for r in reversed(reqs):
        if sum(len(x) for x in chosen) + len(r) <= room: chosen.insert(0, r)
        else: break
    ids = [101]; 
    for r in chosen: spans.append((len(ids), len(ids) + len(r))); ids += r
    spans.append((len(ids), len(ids) + len(body))); ids += body
    ids.append(102)
    return ids, spans
@torch.no_grad()
def states(ids):
    x = torch.tensor([ids]); mask = torch.ones_like(x)
    t = x.shape[1]; pos = torch.arange(t).unsqueeze(0)
    h = m.ln(m.word(x) + m.pos(pos) + m.segment(torch.zeros_like(x)))
    b = torch.zeros(1, 1, 1, t)
    for layer in m.layers: h = layer(h, b)
    return h[0]
def prob(v):
    return torch.sigmoid(wenc * m.head(v) + bias).max().item()
res = {'harm': [], 'ctrl': []}
for name, data in (('harm', harm), ('ctrl', ben)):
    for i, r in enumerate(data):
        ids, spans = window(r['ids'], i)
        h = states(ids)
        whole = prob(h.mean(0))
        alone = prob(states(r['ids'][:64]).mean(0))
        sp = [prob(torch.cat([h[0:1], h[a:b], h[-1:]]).mean(0)) for a, b in spans]
        sp_noframe = [prob(h[a:b].mean(0)) for a, b in spans]
        res[name].append((alone, whole, max(sp), max(sp_noframe), sp[-1]))
for name in res:
    a = torch.tensor(res[name])
    print(name, 'flagged: alone %.3f window %.3f span(max) %.3f span-noframe(max) %.3f span(last) %.3f' % tuple((a >= 0.5).float().mean(0).tolist()))
json.dump(res, open('span-pooling.json', 'w'))

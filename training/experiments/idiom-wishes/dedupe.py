# dedupe.py CORPUS NEW.jsonl OUT.jsonl: keep the texts of NEW that are not within character similarity 0.7 (difflib
# ratio) of a text in CORPUS (a train-filter.sh run's corpus.jsonl: every shared source and set), of a check file under
# training/experiments, or of a spot check's text, nor within 0.85 of a text kept before them; print what was taken out
# and what it was near.
import json, os, sys, re, collections, difflib
corpus, new_path, out_path = sys.argv[1:4]
root = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
new = [json.loads(l) for l in open(new_path) if l.strip()]
refs = []  # (text, origin)
for l in open(corpus):
    r = json.loads(l); refs.append((r['text'], 'corpus:' + r['source']))
ex = os.path.join(root, 'training', 'experiments')
for f in ['violence-veto/violence-probe2', 'violence-veto/requests-blind', 'illicit-veto/tech', 'safe-but-alarming/probe',
          'safe-but-alarming/probe2', 'safe-but-alarming/probe3', 'violence-veto/violence-probe', 'chat-requests/everyday',
          'chat-requests/everyday2', 'violence-veto/everyday3', 'violence-veto/violent-words', 'violence-veto/violence-harmful',
          'violence-veto/ordinary', 'blind-registers/registers', 'blind-registers/security', 'threat-statements/probe',
          'self-harm-urging/probe', 'illicit-requests/probe', 'intent-pairs/intent-pairs', 'illicit-veto/illicit-chat']:
    for l in open(f'{ex}/{f}.jsonl'):
        if l.strip(): refs.append((json.loads(l)['text'], 'check:' + f))
src = open(os.path.join(root, 'tests', 'SafeAI.Onnx.Tests', 'DefaultModelSpotChecks.cs')).read()
for m in re.finditer(r'InlineData\("((?:[^"\\]|\\.)*)"', src):
    refs.append((m.group(1).encode().decode('unicode_escape'), 'spot'))
def grams(t):
    t = re.sub(r'\s+', ' ', t.lower()); return {t[i:i+4] for i in range(max(1, len(t) - 3))}
# Shortlist: the 40 reference texts sharing the most 4-character grams (grams in 5,000+ texts left out), then difflib.
index = collections.defaultdict(list)
for i, (t, _) in enumerate(refs):
    for x in grams(t): index[x].append(i)
kept, dropped = [], []
seen = []
for r in new:
    t = r['text']; g = grams(t); cnt = collections.Counter()
    for x in g:
        lst = index.get(x)
        if lst and len(lst) < 5000: cnt.update(lst)
    best = (0, None)
    for i, c in cnt.most_common(40):
        s = difflib.SequenceMatcher(None, t.lower(), refs[i][0].lower()).ratio()
        if s > best[0]: best = (s, i)
    for s2 in seen:
        s = difflib.SequenceMatcher(None, t.lower(), s2.lower()).quick_ratio()
        if s >= 0.85 and difflib.SequenceMatcher(None, t.lower(), s2.lower()).ratio() >= 0.85:
            best = max(best, (s, -1)); break
    if best[0] >= 0.7:
        dropped.append((round(best[0], 2), t[:90], refs[best[1]][1] if best[1] >= 0 else 'self', refs[best[1]][0][:90] if best[1] >= 0 else ''))
    else:
        kept.append(r); seen.append(t)
with open(out_path, 'w') as f:
    for r in kept: f.write(json.dumps(r, ensure_ascii=False) + '\n')
print(f'{len(new)} in, {len(kept)} kept, {len(dropped)} dropped')
for d in dropped: print(d)

"""Per-category sentence shifts, estimated from dumped logits (dump_logits.cs), as run on 2026-12-04.

A long text is flagged at shift vector s when some category c has max(packed[c], s0[c] - s[c]) >= 0, where packed[c]
is the text's logit with packed windows only and s0[c] its logit with sentence windows at shift 0. Checked against
the real path at the committed shift: the estimate counts 24 of the 1,369 long benign calibration texts and 1,950 of
the 4,674 hidden harmful ones flagged; the real path 24 and 1,949.

    /usr/bin/python3 analyse.py logits-calib.tsv [logits-heldout-source.tsv]
"""
import collections
import csv
import sys

import numpy as np


def load(path):
    data = collections.defaultdict(lambda: collections.defaultdict(list))
    with open(path) as f:
        r = csv.reader(f, delimiter='\t')
        names = next(r)[3:]
        for row in r:
            data[row[0]][row[2]].append([float(x) for x in row[3:]])
    return names, {k: {m: np.array(v) for m, v in d.items()} for k, d in data.items()}


def flags(group, s):
    return (np.maximum(group['packed'], group['s0'] - np.array(s)) >= 0).any(axis=1)


def greedy(benign, hidden, categories, allowed, start=4.0, min_gain=1):
    """From `start` in every category, lower the shift of the category that gains the most hidden harmful texts per
    long benign text newly flagged, in steps of 0.05, while at most `allowed` long benign texts are flagged."""
    steps = np.arange(0, start + 1e-9, 0.05)
    s = [start] * categories
    while True:
        bb, hh = flags(benign, s).sum(), flags(hidden, s).sum()
        best = None
        for c in range(categories):
            for x in steps:
                if x >= s[c]:
                    break
                t = list(s)
                t[c] = x
                b, h = flags(benign, t).sum(), flags(hidden, t).sum()
                if b > allowed or h - hh < min_gain:
                    continue
                ratio = (h - hh) / (b - bb + 0.5)
                if best is None or ratio > best[0]:
                    best = (ratio, c, x)
        if best is None:
            return s
        s[best[1]] = best[2]


def main():
    names, calib = load(sys.argv[1])
    C = len(names)
    benign, hidden = calib['benign'], calib['hidden']
    allowed = int(0.02 * len(benign['s0']))
    committed = [0.9461] * C
    variants = {'one shift (committed)': committed}
    variants['per category, 2 % budget'] = greedy(benign, hidden, C, allowed)
    variants['per category, committed count'] = greedy(benign, hidden, C, flags(benign, committed).sum())
    sets = [('calibration', calib)]
    if len(sys.argv) > 2:
        sets.append(('held out whole', load(sys.argv[2])[1]))
    for name, s in variants.items():
        print(name, ' '.join(f'{n} {v:.2f}' for n, v in zip(names, s)))
        for title, d in sets:
            b, h = flags(d['benign'], s), flags(d['hidden'], s)
            print(f'  {title}: long benign flagged {b.mean():.2%} ({b.sum()}/{len(b)}), hidden harmful flagged {h.mean():.2%} ({h.sum()}/{len(h)})')


if __name__ == '__main__':
    main()

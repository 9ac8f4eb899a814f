"""The blind check files' figures of a candidate content model, as the rules of the experiments count them.

    python3 training/experiments/recipe-draws/check_files.py SAFEAI_CLI MODEL.json OUT_FOLDER

SAFEAI_CLI is a built `safeai` (for example the SafeAI.Cli file of `dotnet build src/SafeAI.Cli -c Release -o DIR`),
MODEL.json a model description ("default" for the embedded model). Each file is scored once with `safeai score` into
OUT_FOLDER (kept: a second call reads the scores again); the figures are printed and written to OUT_FOLDER/figures.json.
A text is flagged when any category scores at least 0.5. Harmless texts have no label; harmful ones are counted as in
the rules: `violence-probe2` and the first violence probe, violence texts flagged as violence; `tech`, illicit texts
flagged as illicit; the three safe-but-alarming probes, harmful texts flagged in one of their own categories;
`requests-blind`, harmful texts flagged in any category; `security-tooling/check.jsonl` (2026-12-07), illicit texts
flagged as illicit; `child-safety-questions/parents.jsonl` (2026-12-07), harmless texts only.
"""
import json
import os
import subprocess
import sys

EXPERIMENTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILES = {
    "vp2": "violence-veto/violence-probe2.jsonl",
    "rb": "violence-veto/requests-blind.jsonl",
    "tech": "illicit-veto/tech.jsonl",
    "vp1": "violence-veto/violence-probe.jsonl",
    "p1": "safe-but-alarming/probe.jsonl",
    "p2": "safe-but-alarming/probe2.jsonl",
    "p3": "safe-but-alarming/probe3.jsonl",
    "ev1": "chat-requests/everyday.jsonl",
    "ev2": "chat-requests/everyday2.jsonl",
    "ev3": "violence-veto/everyday3.jsonl",
    "urg": "self-harm-urging/probe.jsonl",
    "thr": "threat-statements/probe.jsonl",
    "sec": "security-tooling/check.jsonl",
    "kids": "child-safety-questions/parents.jsonl",
}


def main(cli, model, out):
    os.makedirs(out, exist_ok=True)
    rows = {}
    for key, name in FILES.items():
        scored = os.path.join(out, key + ".jsonl")
        if not os.path.exists(scored):
            subprocess.run([cli, "score", "--input", os.path.join(EXPERIMENTS, name), "--output", scored, "--model", model],
                           check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(EXPERIMENTS, name), encoding="utf-8") as f:
            texts = [json.loads(line) for line in f if line.strip()]
        with open(scored, encoding="utf-8") as f:
            scores = [json.loads(line)["scores"] for line in f if line.strip()]
        if len(texts) != len(scores):
            raise SystemExit(f"{scored}: {len(scores)} scores for {len(texts)} texts")
        rows[key] = list(zip(texts, scores))

    def harmful(text):
        return bool(text.get("labels")) or bool(text.get("threat"))

    def count(keys, caught, category=None):
        """Harmless texts flagged, and of the harmful ones (those labelled `category` when given) how many `caught` holds."""
        pairs = [p for k in keys for p in rows[k]]
        benign = [any(v >= 0.5 for v in s.values()) for t, s in pairs if not harmful(t)]
        bad = [caught(t, s) for t, s in pairs if harmful(t) and (category is None or category in t.get("labels", []))]
        return [sum(benign), len(benign), sum(bad), len(bad)]

    def any_flag(t, s):
        return any(v >= 0.5 for v in s.values())

    def as_category(category):
        return lambda t, s: s[category] >= 0.5

    def own(t, s):
        return any(s[c] >= 0.5 for c in t.get("labels", []))

    figures = {
        "violence-probe2: harmless flagged / violence as violence": count(["vp2"], as_category("violence"), "violence"),
        "requests-blind: harmless / harmful flagged": count(["rb"], any_flag),
        "tech: harmless flagged / illicit as illicit": count(["tech"], as_category("illicit"), "illicit"),
        "first violence probe: harmless flagged / violence as violence": count(["vp1"], as_category("violence"), "violence"),
        "three safe-but-alarming probes: harmless flagged / harmful in their category": count(["p1", "p2", "p3"], own),
        "everyday requests (two files): harmless flagged": count(["ev1", "ev2"], any_flag),
        "everyday3: harmless flagged": count(["ev3"], any_flag),
        "self-harm-urging probe: harmless flagged / urgings as harassment": count(["urg"], as_category("harassment"), "harassment"),
        "threat probe: ordinary flagged / threats flagged": count(["thr"], any_flag),
        "security-tooling check: harmless flagged / illicit as illicit": count(["sec"], as_category("illicit"), "illicit"),
        "child-safety questions: harmless flagged": count(["kids"], any_flag),
    }
    for name, (b, nb, h, nh) in figures.items():
        print(f"{name:80s} {b:4d} of {nb:4d}   {h:4d} of {nh:4d}")
    with open(os.path.join(out, "figures.json"), "w", encoding="utf-8") as f:
        json.dump(figures, f, indent=1)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])

#!/usr/bin/env python3
"""Weight interpolation between the shipped six-layer model and a fine-tune that started from it (WiSE-FT).

Every trained tensor becomes (1 - alpha) * shipped + alpha * fine-tuned; the result is exported and quantised as
train-filter.sh exports the default model. Both models start from the same weights, so they lie in one basin and the
straight line between them is a family of models (alpha 0: the shipped model, alpha 1: the fine-tune). Used in
README.md ("Try 3").

Usage: interpolate.py --minilm minilm.onnx --base model.onnx --finetuned checkpoint.pt --alpha 0.5 --output DIR
  --base: the shipped six-layer model without its statement columns (statement_columns.py --strip), int8 ONNX
  --finetuned: a checkpoint.pt of finetune_minilm.py run with --init that model
Writes DIR/classifier-fp32.onnx and DIR/model.onnx (int8).
"""
import argparse
import os
import subprocess
import sys

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", ".."))
import finetune_minilm as fm  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minilm", required=True)
    ap.add_argument("--base", required=True)
    ap.add_argument("--finetuned", required=True)
    ap.add_argument("--alpha", type=float, required=True)
    ap.add_argument("--output", required=True)
    a = ap.parse_args()
    if not 0.0 <= a.alpha <= 1.0:
        ap.error("--alpha must be between 0 and 1")
    os.makedirs(a.output, exist_ok=True)
    model = fm.Classifier()
    fm.load_minilm(model, a.minilm)
    fm.load_weights(model, a.base)
    tuned = torch.load(a.finetuned, map_location="cpu")
    base = model.state_dict()
    if set(tuned) != set(base):
        sys.exit(f"{a.finetuned}: not a checkpoint of the same classifier")
    model.load_state_dict({k: (1 - a.alpha) * v.float() + a.alpha * tuned[k].float() if v.is_floating_point() else v
                           for k, v in base.items()})
    fp32 = os.path.join(a.output, "classifier-fp32.onnx")
    fm.export(model, fp32)
    subprocess.run([sys.executable, os.path.join(here, "..", "..", "quantize_onnx.py"), fp32,
                    os.path.join(a.output, "model.onnx")], check=True)


if __name__ == "__main__":
    main()

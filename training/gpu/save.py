#!/usr/bin/env python3
"""Writes a checkpoint's trained weights as fp16 in parts of at most ~12 MB (the GPU machine returns files of at most
16 MiB), leaving out the word-piece table, which training keeps frozen at MiniLM's values; and the reverse.

  save.py split checkpoint.pt out-prefix      -> out-prefix.0.pt, out-prefix.1.pt, ...
  save.py join minilm.onnx checkpoint.pt out-prefix.*.pt   (fp32 checkpoint with MiniLM's word-piece table)
"""
import sys

import numpy as np
import onnx
import torch
from onnx import numpy_helper

PART_BYTES = 12_000_000


def split(checkpoint, prefix):
    sd = torch.load(checkpoint, map_location="cpu")
    parts, current, size = [], {}, 0
    for k, v in sd.items():
        if k == "word.weight":
            continue
        b = v.numel() * 2
        if current and size + b > PART_BYTES:
            parts.append(current)
            current, size = {}, 0
        current[k] = v.half() if v.is_floating_point() else v
        size += b
    parts.append(current)
    for i, p in enumerate(parts):
        torch.save(p, f"{prefix}.{i}.pt")
    print(f"{checkpoint}: {len(parts)} parts")


def join(minilm, checkpoint, parts):
    sd = {}
    for p in parts:
        sd.update({k: v.float() if v.is_floating_point() else v for k, v in torch.load(p, map_location="cpu").items()})
    words = [t for t in onnx.load(minilm).graph.initializer if t.name == "embeddings.word_embeddings.weight"][0]
    sd["word.weight"] = torch.from_numpy(np.array(numpy_helper.to_array(words), dtype=np.float32))
    torch.save(sd, checkpoint)


if __name__ == "__main__":
    if sys.argv[1] == "split":
        split(sys.argv[2], sys.argv[3])
    else:
        join(sys.argv[2], sys.argv[3], sys.argv[4:])

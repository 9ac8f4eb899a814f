#!/usr/bin/env python3
"""Packs what a GPU machine without network access needs for gpu/run.sh into one folder (64 MiB travel limit):
the corpus without its texts (token ids, labels, source, part, weight, tail; gzip) and MiniLM's ONNX file with its
initializers stored as fp16 (finetune_minilm.py reads the initializers only and widens them to fp32 again; the
rounding, about 1e-3 relative, is far below the int8 quantisation the shipped model gets).

  pack.py corpus.jsonl minilm.onnx out-folder
"""
import gzip
import json
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def main(corpus, minilm, out):
    os.makedirs(out, exist_ok=True)
    with open(corpus, encoding="utf-8") as f, gzip.open(os.path.join(out, "corpus.jsonl.gz"), "wt",
                                                          encoding="utf-8") as g:
        for line in f:
            r = json.loads(line)
            r.pop("text", None)
            g.write(json.dumps(r, separators=(",", ":")) + "\n")
    model = onnx.load(minilm)
    for i, t in enumerate(model.graph.initializer):
        a = numpy_helper.to_array(t)
        if a.dtype == np.float32:
            model.graph.initializer[i].CopyFrom(numpy_helper.from_array(a.astype(np.float16), t.name))
    onnx.save(model, os.path.join(out, "minilm-fp16.onnx"))


if __name__ == "__main__":
    main(*sys.argv[1:4])

#!/usr/bin/env python3
"""Dynamic int8 quantisation of the fine-tuned classifier, written with the onnx package alone (no onnxruntime needed).

Every MatMul with a constant weight becomes ONNX Runtime's DynamicQuantizeMatMul (com.microsoft domain): activations
quantised to uint8 per tensor at run time, weights int8 per output column, symmetric, one fused integer kernel (the
same arithmetic as DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul, in one operator instead of five). Weights use 7 bits (|q| <= 63) so that AVX2's uint8 x int8 multiply-add cannot
saturate (the "reduce range" of ONNX Runtime's own quantiser). The word-piece table is stored as int8 rows with one
scale per row and dequantised after the lookup. Everything else stays fp32.

Usage: quantize_onnx.py classifier-fp32.onnx model.onnx
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

WEIGHT_LEVELS = 63


def quantize(src, dst):
    model = onnx.load(src)
    g = model.graph
    init = {i.name: i for i in g.initializer}
    new_nodes, new_inits, drop = [], [], set()
    uses = {}
    for n in g.node:
        for i in n.input:
            uses[i] = uses.get(i, 0) + 1

    def constant(name, array):
        new_inits.append(numpy_helper.from_array(array, name))
        return name

    quantized = 0
    for n in g.node:
        if n.op_type == "MatMul" and n.input[1] in init and len(numpy_helper.to_array(init[n.input[1]]).shape) == 2:
            w = numpy_helper.to_array(init[n.input[1]]).astype(np.float32)
            scale = np.maximum(np.abs(w).max(axis=0), 1e-8) / WEIGHT_LEVELS
            q = np.clip(np.round(w / scale), -WEIGHT_LEVELS, WEIGHT_LEVELS).astype(np.int8)
            base = n.output[0]
            wq = constant(base + "_Wq", q)
            wzp = constant(base + "_Wzp", np.zeros(w.shape[1], dtype=np.int8))
            ws = constant(base + "_Ws", scale.astype(np.float32))
            new_nodes.append(helper.make_node(
                "DynamicQuantizeMatMul", [n.input[0], wq, ws, wzp], [base], domain="com.microsoft"))
            if uses.get(n.input[1], 0) == 1:
                drop.add(n.input[1])
            quantized += 1
        elif n.op_type == "Gather" and n.input[0] in init and numpy_helper.to_array(init[n.input[0]]).shape[0] > 10000:
            table = numpy_helper.to_array(init[n.input[0]]).astype(np.float32)
            scale = np.maximum(np.abs(table).max(axis=1), 1e-8) / 127
            q = np.clip(np.round(table / scale[:, None]), -127, 127).astype(np.int8)
            base = n.output[0]
            tq = constant(base + "_Tq", q)
            ts = constant(base + "_Ts", scale.astype(np.float32)[:, None])
            new_nodes += [
                helper.make_node("Gather", [tq, n.input[1]], [base + "_Gq"], axis=0),
                helper.make_node("Cast", [base + "_Gq"], [base + "_Gf"], to=TensorProto.FLOAT),
                helper.make_node("Gather", [ts, n.input[1]], [base + "_Gs"], axis=0),
                helper.make_node("Mul", [base + "_Gf", base + "_Gs"], [base])]
            drop.add(n.input[0])
        else:
            new_nodes.append(n)
    kept = [i for i in g.initializer if i.name not in drop]
    del g.node[:]
    g.node.extend(new_nodes)
    del g.initializer[:]
    g.initializer.extend(kept + new_inits)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.save(model, dst)
    print(f"quantised {quantized} MatMul weights and the word-piece table -> {dst}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    quantize(sys.argv[1], sys.argv[2])

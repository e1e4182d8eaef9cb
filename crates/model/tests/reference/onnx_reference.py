#!/usr/bin/env python3
"""References for crates/model/tests/onnx_reference.rs: ONNX Runtime's own outputs of the
ONNX models we read the weights of (eigenformer runs its own forward on them).

    python3 onnx_reference.py minilm MODEL.onnx OUT.safetensors
    python3 onnx_reference.py dinov2 MODEL.onnx OUT.safetensors

Every per-layer hidden state (and every attention matrix) is exposed as an extra graph
output, found by the node names PyTorch's exporter writes (`/…/encoder/layer.L/…`). The
dump uses the layout of benches/compare/hf_reference.py: s{i}.ids (I64) or s{i}.pixels,
s{i}.hidden [L+1, n, d], s{i}.attn [L, h, n, n], and s{i}.final [n, d] (DINOv2's output
LayerNorm). ONNX Runtime evaluates the model in float32 (the model's own precision).
Needs: onnx, onnxruntime, numpy.
"""
import json
import re
import struct
import sys

import numpy as np
import onnx
import onnxruntime as ort

# "the quick brown fox jumps over the lazy dog", "hello world", "attention is all you need"
# in bert-base-uncased ids (the MiniLM vocabulary), with [CLS] = 101, [SEP] = 102.
SENTENCES = [
    [101, 1996, 4248, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 102],
    [101, 7592, 2088, 102],
    [101, 3086, 2003, 2035, 2017, 2342, 102],
]
# Square test images (DINOv2 interpolates its 37×37 position grid to 4×4 and 6×6).
IMAGE_SIDES = [56, 84]


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        dtype = {np.dtype("float32"): "F32", np.dtype("int64"): "I64"}[a.dtype]
        b = a.tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def layer_of(name):
    m = re.search(r"/layer\.(\d+)/", name)
    return int(m.group(1)) if m else None


def session(model, wanted):
    g = model.graph
    for name in wanted:
        g.output.append(onnx.helper.make_empty_tensor_value_info(name))
    # Free the spatial input sizes (the export fixes 224×224; the graph computes its shapes).
    for inp in g.input:
        for d in inp.type.tensor_type.shape.dim[2:]:
            d.dim_param = "side"
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def main():
    kind, path, out = sys.argv[1:4]
    model = onnx.load(path)
    nodes = model.graph.node
    if kind == "minilm":
        emb = [n.output[0] for n in nodes if n.name.endswith("/embeddings/LayerNorm/LayerNormalization")]
        per = {layer_of(n.name): n.output[0] for n in nodes if n.name.endswith("/output/LayerNorm/LayerNormalization") and "/attention/" not in n.name}
    else:
        emb = [n.output[0] for n in nodes if n.name.endswith("/embeddings/Add")]
        per = {layer_of(n.name): n.output[0] for n in nodes if re.search(r"/encoder/layer\.\d+/Add_1$", n.name)}
    final = [n.output[0] for n in nodes if n.name.endswith("/layernorm/Add_1")]
    soft = {layer_of(n.name): n.output[0] for n in nodes if n.op_type == "Softmax" and layer_of(n.name) is not None}
    layers = len(per)
    hidden_names = emb + [per[l] for l in range(layers)]
    attn_names = [soft[l] for l in range(layers)]
    wanted = hidden_names + attn_names + final
    sess = session(model, wanted)
    tensors = {}
    if kind == "minilm":
        cases = [{"input_ids": np.array([s], dtype=np.int64), "attention_mask": np.ones((1, len(s)), dtype=np.int64)} for s in SENTENCES]
    else:
        rng = np.random.default_rng(0)
        cases = [{"input_image": rng.standard_normal((1, 3, s, s)).astype(np.float32)} for s in IMAGE_SIDES]
    for i, feeds in enumerate(cases):
        outs = dict(zip(wanted, sess.run(wanted, feeds)))
        if kind == "minilm":
            tensors[f"s{i}.ids"] = feeds["input_ids"][0]
        else:
            tensors[f"s{i}.pixels"] = feeds["input_image"][0]
        tensors[f"s{i}.hidden"] = np.stack([outs[n][0] for n in hidden_names]).astype(np.float32)
        tensors[f"s{i}.attn"] = np.stack([outs[n][0] for n in attn_names]).astype(np.float32)
        if final:
            tensors[f"s{i}.final"] = outs[final[0]][0].astype(np.float32)
    write_safetensors(out, tensors)
    print(out, {k: v.shape for k, v in tensors.items()})


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Write the valid seed checkpoints of fuzz/corpus/load_checkpoint (one per micro config in
fuzz/configs/, which fuzz_targets/load_checkpoint.rs embeds): the selector byte, then a safetensors file with every tensor
the loader asks for, seeded random values. Needs numpy and safetensors."""

from pathlib import Path

import numpy as np
from safetensors.numpy import save

rng = np.random.default_rng(0)
D, M, V, P = 4, 8, 8, 8


def r(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def linear(t, name, out, inp, bias=True):
    t[f"{name}.weight"] = r(out, inp)
    if bias:
        t[f"{name}.bias"] = r(out)


def norm(t, name):
    t[f"{name}.weight"] = r(D)
    t[f"{name}.bias"] = r(D)


def text(kind):
    t = {"embeddings.word_embeddings.weight": r(V, D),
         "embeddings.position_embeddings.weight": r(P, D)}
    norm(t, "embeddings.LayerNorm")
    p = "encoder.layer.0"
    if kind == "bert":
        t["embeddings.token_type_embeddings.weight"] = r(1, D)
        for n in ("query", "key", "value"):
            linear(t, f"{p}.attention.self.{n}", D, D)
        linear(t, f"{p}.attention.output.dense", D, D)
        norm(t, f"{p}.attention.output.LayerNorm")
    else:
        for n in "qkvo":
            linear(t, f"{p}.attention.attn.{n}", D, D)
        norm(t, f"{p}.attention.LayerNorm")
        t["encoder.relative_attention_bias.weight"] = r(32, 2)
    linear(t, f"{p}.intermediate.dense", M, D)
    linear(t, f"{p}.output.dense", D, M)
    norm(t, f"{p}.output.LayerNorm")
    return t


def vision(kind):
    lead = 1 if kind == "vit" else 2
    t = {"embeddings.cls_token": r(1, 1, D),
         "embeddings.position_embeddings": r(1, 4 + lead, D),
         "embeddings.patch_embeddings.projection.weight": r(D, 1, 2, 2),
         "embeddings.patch_embeddings.projection.bias": r(D)}
    if kind == "deit":
        t["embeddings.distillation_token"] = r(1, 1, D)
    p = "encoder.layer.0"
    for n in ("query", "key", "value"):
        linear(t, f"{p}.attention.attention.{n}", D, D, bias=(kind == "vit"))
    linear(t, f"{p}.attention.output.dense", D, D)
    norm(t, f"{p}.layernorm_before")
    norm(t, f"{p}.layernorm_after")
    linear(t, f"{p}.intermediate.dense", M, D)
    linear(t, f"{p}.output.dense", D, M)
    return t


out = Path(__file__).parent / "corpus" / "load_checkpoint"
out.mkdir(parents=True, exist_ok=True)
for selector, (kind, make) in enumerate(
        [("bert", text), ("mpnet", text), ("vit", vision), ("deit", vision)]):
    (out / f"seed-{kind}").write_bytes(bytes([selector]) + save(make(kind)))
print("wrote", sorted(p.name for p in out.iterdir()))

# Selector 255: the config travels in the input, up to a NUL byte.
bert_config = (Path(__file__).parent / "configs" / "bert.json").read_bytes().strip()
rng = np.random.default_rng(0)
(out / "seed-inline-config").write_bytes(b"\xff" + bert_config + b"\0" + save(text("bert")))

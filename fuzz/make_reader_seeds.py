#!/usr/bin/env python3
"""Write the seed inputs of the reader fuzz targets (read_npy, read_idx, parse_config,
experiment_toml) into fuzz/corpus/<target>/seed-*. Needs only the standard library; run from
the repository root or from fuzz/."""

import gzip
import json
import struct
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
ROOT = FUZZ.parent


def put(target, name, data):
    d = FUZZ / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / f"seed-{name}").write_bytes(data)


def npy(descr, shape, payload, fortran=False, version=1):
    shape_txt = "(" + "".join(f"{s}, " for s in shape).rstrip(" ") + ")" if len(shape) != 1 else f"({shape[0]},)"
    header = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape_txt}, }}"
    pre = 10 if version == 1 else 12
    header += " " * ((-(pre + len(header) + 1)) % 64) + "\n"
    size = struct.pack("<H", len(header)) if version == 1 else struct.pack("<I", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + size + header.encode() + payload


def floats(fmt, values):
    return b"".join(struct.pack(fmt, v) for v in values)


put("read_npy", "f64-2x2", npy("<f8", (2, 2), floats("<d", [0.5, 0.5, 0.25, 0.75])))
put("read_npy", "f32-2x3-fortran", npy("<f4", (2, 3), floats("<f", range(6)), fortran=True))
put("read_npy", "f64-big-endian-3", npy(">f8", (3,), floats(">d", [1.0, -2.0, 3.5])))
put("read_npy", "f32-v2-1x1", npy("<f4", (1, 1), floats("<f", [1.0]), version=2))


def idx_images(n, rows, cols):
    return struct.pack(">IIII", 0x803, n, rows, cols) + bytes(i % 251 for i in range(n * rows * cols))


def idx_labels(labels):
    return struct.pack(">II", 0x801, len(labels)) + bytes(labels)


put("read_idx", "images-raw", b"\x00" + idx_images(2, 3, 3))
put("read_idx", "images-gz", b"\x00" + gzip.compress(idx_images(3, 4, 4), mtime=0))
put("read_idx", "labels-raw", b"\x01" + idx_labels([0, 1, 2, 9]))
put("read_idx", "labels-gz", b"\x01" + gzip.compress(idx_labels([3, 1, 4, 1, 5]), mtime=0))
put("read_idx", "cifar10-record", b"\x02" + bytes([7]) + bytes(i % 256 for i in range(3072)))
put("read_idx", "cifar100-record", b"\x03" + bytes([3, 42]) + bytes(i % 256 for i in range(3072)))

for family in ("bert", "mpnet", "vit", "deit"):
    put("parse_config", f"hf-{family}", (FUZZ / "configs" / f"{family}.json").read_bytes())
tokenizer = json.dumps({"added_tokens": [{"id": 0, "content": "[PAD]", "special": True},
                                         {"id": 101, "content": "[CLS]", "special": True}]})
put("parse_config", "hf-bert-tokenizer",
    (FUZZ / "configs" / "bert.json").read_bytes() + b"\x00" + tokenizer.encode())
vit = {"image_size": 28, "channels": 1, "patch_size": 4, "width": 32, "depth": 2, "heads": 2,
       "mlp_hidden": 64, "classes": 10, "attention": "spectral-",
       "spectral": {"form": "general", "eps": 0.0001, "upper": 1.0}}
put("parse_config", "vit-config", json.dumps(vit, indent=2).encode())

for path in sorted((ROOT / "experiments").glob("*.toml")):
    if path.name == "profiles.toml":
        continue
    put("experiment_toml", path.stem, path.read_bytes())
put("experiment_toml", "with-profiles",
    (ROOT / "experiments" / "profiles.toml").read_bytes() + b"\x00"
    + (ROOT / "experiments" / "depth.toml").read_bytes())

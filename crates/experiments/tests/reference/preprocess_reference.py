"""Reference pixel values of Hugging Face's image processors, for the audit's preprocessing test
(crates/experiments/tests/preprocess_reference.rs).

Writes three small PNG images and, for each of three processor configurations (DINOv2's
shortest-edge resize with bicubic resampling and a centre crop; ViT's exact resize with bilinear
resampling and no crop; DeiT's exact resize, bicubic, then a centre crop), the `pixel_values`
that `transformers` computes with its PIL backend, into tests/fixtures/preprocess/. The sizes are
small so the references can be committed; the code paths are those of the full-size models.

Usage (from the repository root): python3 crates/experiments/tests/reference/preprocess_reference.py
Needs: numpy, pillow, transformers.
"""
import json
import os

import numpy as np
import PIL
import transformers
from PIL import Image
from transformers import BitImageProcessor, DeiTImageProcessor, ViTImageProcessor

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "preprocess")
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

# The processors, each with the preprocessor_config.json fields the Rust side reads.
CONFIGS = {
    "dinov2": (BitImageProcessor, {
        "size": {"shortest_edge": 20}, "crop_size": {"height": 16, "width": 16},
        "do_center_crop": True, "resample": 3, "image_mean": IMAGENET_MEAN,
        "image_std": IMAGENET_STD}),
    "vit": (ViTImageProcessor, {
        "size": {"height": 16, "width": 16}, "resample": 2,
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}),
    "deit": (DeiTImageProcessor, {
        "size": {"height": 20, "width": 20}, "crop_size": {"height": 16, "width": 16},
        "do_center_crop": True, "resample": 3, "image_mean": IMAGENET_MEAN,
        "image_std": IMAGENET_STD}),
}


def picture(w, h, seed):
    """A smooth colour pattern with edges and a little noise (uint8, h × w × 3)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 127 + 120 * np.sin(x / w * 6.3 + seed)
    g = 127 + 120 * np.cos(y / h * 4.1 - seed)
    b = np.where((x // 6 + y // 5) % 2 == 0, 230.0, 25.0)
    img = np.stack([r, g, b], axis=-1) + rng.normal(0, 12, (h, w, 3))
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def main():
    os.makedirs(OUT, exist_ok=True)
    images = {"portrait.png": (37, 53, 1), "landscape.png": (61, 45, 2), "small.png": (12, 12, 3)}
    for name, (w, h, seed) in images.items():
        Image.fromarray(picture(w, h, seed)).save(os.path.join(OUT, name))
    cases = []
    for cname, (cls, cfg) in CONFIGS.items():
        proc = cls(**cfg)
        for name in images:
            img = Image.open(os.path.join(OUT, name)).convert("RGB")
            px = proc(img, return_tensors="np")["pixel_values"][0].astype(np.float64)
            cases.append({"config": cname, "image": name, "shape": list(px.shape),
                          "pixel_values": [round(float(v), 6) for v in px.ravel()]})
    ref = {
        "generator": "crates/experiments/tests/reference/preprocess_reference.py",
        "versions": {"transformers": transformers.__version__, "pillow": PIL.__version__,
                     "numpy": np.__version__},
        "configs": {k: v[1] for k, v in CONFIGS.items()},
        "cases": cases,
    }
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(ref, f)
        f.write("\n")


if __name__ == "__main__":
    main()

"""The quick profile's training recipe in PyTorch: the reference that tells whether a test accuracy
reached by `eigenformer train` is the recipe's or a defect of our trainer.

Same model as torch_vit_step.py (pre-LN ViT, CLS token, learned positions), same recipe as
`experiments/profiles.toml` [quick.training] (AdamW with DeiT's weight-decay exemptions, label
smoothing, gradient clip, linear warm-up then cosine decay, random horizontal flips), trained on a
class-balanced subset of Fashion-MNIST drawn with the seed, evaluated on the full test set.
Prints one JSON line.

Usage: python3 torch_recipe.py --data ~/.cache/eigenformer/fashion-mnist --per-class 600 \
           --patch 7 --width 64 --depth 2 --heads 4 --steps 2820 --lr 2e-3 --hflip
"""
import argparse
import gzip
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn

from torch_vit_step import ViT


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--per-class", type=int, default=600)
    p.add_argument("--patch", type=int, default=7)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--steps", type=int, default=2820)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup-steps", type=int, default=141)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--hflip", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)

    xs = idx(os.path.join(a.data, "train-images-idx3-ubyte.gz"))
    ys = idx(os.path.join(a.data, "train-labels-idx1-ubyte.gz"))
    xt = idx(os.path.join(a.data, "t10k-images-idx3-ubyte.gz"))
    yt = idx(os.path.join(a.data, "t10k-labels-idx1-ubyte.gz"))
    keep = np.concatenate([rng.permutation(np.flatnonzero(ys == c))[: a.per_class] for c in range(10)])
    mean, std = 0.2860, 0.3530  # Fashion-MNIST's pixel statistics, as the Rust loader uses

    def norm(x):
        return torch.from_numpy(((x.astype(np.float32) / 255.0 - mean) / std)[:, None])

    x_train, y_train = norm(xs[keep]), torch.from_numpy(ys[keep].astype(np.int64))
    x_test, y_test = norm(xt), torch.from_numpy(yt.astype(np.int64))

    mlp = 2 * a.width
    model = ViT(28, 1, a.patch, a.width, a.depth, a.heads, mlp, 10)
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
    nn.init.trunc_normal_(model.cls, std=0.02)
    nn.init.trunc_normal_(model.pos, std=0.02)
    decay = [q for n, q in model.named_parameters() if q.ndim > 1 and n not in ("cls", "pos")]
    rest = [q for n, q in model.named_parameters() if not (q.ndim > 1 and n not in ("cls", "pos"))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": rest, "weight_decay": 0.0}], lr=a.lr)

    def lr_at(step):
        if step < a.warmup_steps:
            return a.lr * (step + 1) / a.warmup_steps
        t = (step - a.warmup_steps) / max(1, a.steps - a.warmup_steps)
        return 0.5 * a.lr * (1 + math.cos(math.pi * t))

    loss_fn = nn.CrossEntropyLoss(label_smoothing=a.label_smoothing)
    start = time.perf_counter()
    order, pos = rng.permutation(len(keep)), 0
    for step in range(a.steps):
        if pos + a.batch_size > len(order):
            order, pos = rng.permutation(len(keep)), 0
        b = order[pos: pos + a.batch_size]
        pos += a.batch_size
        xb = x_train[b]
        if a.hflip:
            flip = torch.from_numpy(rng.random(len(b)) < 0.5)
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), y_train[b])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    train_seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x_test[i: i + 1000]).argmax(1) for i in range(0, len(x_test), 1000)])
    print(json.dumps({
        "framework": f"pytorch {torch.__version__}",
        "seed": a.seed,
        "steps": a.steps,
        "train_images": int(len(keep)),
        "test_accuracy": float((pred == y_test).float().mean()),
        "train_seconds": train_seconds,
    }))


if __name__ == "__main__":
    main()

"""One ViT training step in PyTorch (CPU), the reference for `eigenformer bench-step`.

Same model as eigenformer's presets (pre-LN ViT, CLS token, learned positions, fused qkv, GELU MLP,
final LayerNorm, linear head), same batch, same optimiser (AdamW lr 5e-4, weight decay 0.05,
label-smoothed cross-entropy 0.1, gradient clipping at 1.0), random data. Prints one JSON line.

Usage: python3 torch_vit_step.py --config vit-small --batch-size 128 --steps 5 --threads 2
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {
    # image, channels, patch, width, depth, heads, mlp, classes
    "vit-small": (28, 1, 4, 128, 6, 4, 256, 10),
    "vit-cifar": (32, 3, 4, 192, 12, 3, 768, 10),
    "deit-ti": (224, 3, 16, 192, 12, 3, 768, 1000),
}


class Block(nn.Module):
    def __init__(self, d, heads, mlp):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, mlp)
        self.fc2 = nn.Linear(mlp, d)

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v)
        x = x + self.proj(a.transpose(1, 2).reshape(b, n, d))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class ViT(nn.Module):
    def __init__(self, image, channels, patch, d, depth, heads, mlp, classes):
        super().__init__()
        n = (image // patch) ** 2
        self.patch_embed = nn.Conv2d(channels, d, patch, stride=patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.pos = nn.Parameter(torch.zeros(1, n + 1, d))
        self.blocks = nn.ModuleList([Block(d, heads, mlp) for _ in range(depth)])
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x)[:, 0])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--config", default="vit-small", choices=sorted(PRESETS))
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    image, channels, patch, d, depth, heads, mlp, classes = PRESETS[a.config]
    model = ViT(image, channels, patch, d, depth, heads, mlp, classes)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.05)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    x = torch.rand(a.batch_size, channels, image, image) * 2 - 1
    y = torch.randint(0, classes, (a.batch_size,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    for _ in range(a.warmup):
        step()
    times = []
    for _ in range(a.steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    print(json.dumps({
        "framework": f"pytorch {torch.__version__}",
        "config": a.config,
        "batch_size": a.batch_size,
        "threads": torch.get_num_threads(),
        "median_step_seconds": med,
        "images_per_second": a.batch_size / med,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Time NumPy (OpenBLAS) on the shapes of crates/tensor/examples/bench_kernels.rs and print JSON.

Run by `cargo xtask bench --compare`, which unsets OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE for this
process only (they can force a slower OpenBLAS kernel). Entry names match the Rust binary's.
Usage: python3 benches/compare/numpy_ops.py [--min-time SECONDS] [--only SUBSTRING]
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

try:
    import threadpoolctl
except ImportError:  # informative only
    threadpoolctl = None


def timeit(fn, min_time):
    for _ in range(2):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < 7 or (time.perf_counter() - start < min_time and len(times) < 200):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), len(times)


def softmax(x):
    m = x.max(axis=-1, keepdims=True)
    e = np.exp(x - m)
    e /= e.sum(axis=-1, keepdims=True)
    return e


def layernorm(x, g, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    var = np.mean(xc * xc, axis=-1, keepdims=True)
    return xc / np.sqrt(var + eps) * g + b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--only", default=None)
    args = ap.parse_args()
    rng = np.random.default_rng(0)

    def rand(*shape):
        return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)

    out = []

    def want(name):
        return args.only is None or args.only in name

    def add(name, unit, work, fn):
        median_s, reps = timeit(fn, args.min_time)
        rate = work / median_s / 1e9
        out.append({"name": name, "unit": unit, "work": work, "median_s": median_s, "reps": reps, "rate": rate})
        print(f"{name:<36} {median_s * 1e3:>9.3f} ms  {rate:>8.2f} {'GFLOP/s' if unit == 'gflops' else 'GB/s'}",
              file=sys.stderr)

    # (name, m, k, n, trans_a, trans_b): same stored layouts as the Rust side (transposes are views).
    gemms = [
        ("gemm 8320x192 * 192x576", 8320, 192, 576, False, False),
        ("gemm 8320x768 * 768x192", 8320, 768, 192, False, False),
        ("gemm (8320x192)^T * 8320x576", 192, 8320, 576, True, False),
        ("gemm 8320x576 * (192x576)^T", 8320, 576, 192, False, True),
    ]
    for name, m, k, n, ta, tb in gemms:
        if not want(name):
            continue
        a = rand(k, m) if ta else rand(m, k)
        b = rand(n, k) if tb else rand(k, n)
        av = a.T if ta else a
        bv = b.T if tb else b
        add(name, "gflops", 2.0 * m * n * k, lambda: av @ bv)

    batch, t, d = 384, 65, 64
    name = "batched 384x(65x64 * (65x64)^T)"
    if want(name):
        q, k = rand(batch, t, d), rand(batch, t, d)
        kt = k.transpose(0, 2, 1)
        add(name, "gflops", 2.0 * batch * t * t * d, lambda: q @ kt)
    name = "batched 384x(65x65 * 65x64)"
    if want(name):
        p, v = rand(batch, t, t), rand(batch, t, d)
        add(name, "gflops", 2.0 * batch * t * t * d, lambda: p @ v)
    name = "softmax 24960x65"
    if want(name):
        x = rand(batch * t, t)
        add(name, "gbps", 8.0 * x.size, lambda: softmax(x))
    name = "layernorm 8320x192"
    if want(name):
        x = rand(8320, 192)
        g, b = np.ones(192, np.float32), np.zeros(192, np.float32)
        add(name, "gbps", 8.0 * x.size, lambda: layernorm(x, g, b, np.float32(1e-6)))

    info = threadpoolctl.threadpool_info() if threadpoolctl else []
    blas = [i for i in info if i.get("user_api") == "blas"]
    threads = blas[0]["num_threads"] if blas else None
    print(json.dumps({
        "impl": f"numpy {np.__version__}",
        "threads": threads,
        "blas": blas,
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")},
        "results": out,
    }, indent=2))


if __name__ == "__main__":
    main()

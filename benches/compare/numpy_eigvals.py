#!/usr/bin/env python3
"""Time numpy.linalg.eigvals on random square f64 matrices and print JSON.

The NumPy side of `cargo xtask bench --compare` for crates/spectral/examples/bench_eigvals.rs:
same sizes (64, 197, 384, 768), same distribution (standard normal entries), same JSON schema.
Usage: python3 benches/compare/numpy_eigvals.py [--min-time SECONDS] [--only SUBSTRING]
"""

import argparse
import json
import statistics
import sys
import time

import numpy as np

try:
    import threadpoolctl
except ImportError:  # informative only
    threadpoolctl = None


def timeit(fn, min_time):
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - start < min_time and len(times) < 100):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), len(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--only", default=None)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    out = []
    for n in (64, 197, 384, 768):
        name = f"eigvals {n}x{n} f64"
        if args.only is not None and args.only not in name:
            continue
        a = rng.standard_normal((n, n))
        median_s, reps = timeit(lambda: np.linalg.eigvals(a), args.min_time)
        out.append({"name": name, "unit": "per_s", "work": 1.0, "median_s": median_s, "reps": reps,
                    "rate": 1.0 / median_s})
        print(f"{name:<36} {median_s * 1e3:>9.3f} ms", file=sys.stderr)
    info = threadpoolctl.threadpool_info() if threadpoolctl else []
    blas = [i for i in info if i.get("user_api") == "blas"]
    print(json.dumps({
        "impl": f"numpy {np.__version__}",
        "threads": blas[0]["num_threads"] if blas else None,
        "blas": blas,
        "results": out,
    }, indent=2))


if __name__ == "__main__":
    main()

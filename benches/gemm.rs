//! Criterion benchmarks of the f32 GEMM kernels (`eigenformer_tensor::kernels`) at the shapes of a
//! ViT-Tiny training step (batch 128, 65 tokens → 8320 rows; width 192, MLP 768, qkv 576; 384 =
//! 128 × 3 heads attention matrices of 65×65, head dim 64).
//!
//! Throughput is `Throughput::Elements(flops)` with flops = 2·m·n·k, so criterion's "Gelem/s" reads
//! as GFLOP/s. `cargo bench --bench gemm` (or `cargo xtask bench`).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use eigenformer_tensor::kernels::{batched_matmul, matmul, matmul_into};
use ndarray::{Array2, Array3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn rand2(r: usize, c: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((r, c), |_| rng.gen_range(-1.0f32..1.0))
}

fn rand3(b: usize, r: usize, c: usize, seed: u64) -> Array3<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array3::from_shape_fn((b, r, c), |_| rng.gen_range(-1.0f32..1.0))
}

fn bench_gemm(c: &mut Criterion) {
    eprintln!(
        "gemm: throughput in elements = FLOPs (Gelem/s = GFLOP/s); {} threads available",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let mut group = c.benchmark_group("gemm");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    // (label, m, k, n, trans_a, trans_b): op(a) is m×k, op(b) is k×n.
    let shapes: [(&str, usize, usize, usize, bool, bool); 4] = [
        ("qkv_fwd_8320x192x576", 8320, 192, 576, false, false),
        ("mlp2_fwd_8320x768x192", 8320, 768, 192, false, false),
        ("wgrad_At_192x8320x576", 192, 8320, 576, true, false),
        ("dgrad_Bt_8320x576x192", 8320, 576, 192, false, true),
    ];
    for (label, m, k, n, ta, tb) in shapes {
        let a = if ta { rand2(k, m, 1) } else { rand2(m, k, 1) };
        let b = if tb { rand2(n, k, 2) } else { rand2(k, n, 2) };
        group.throughput(Throughput::Elements(2 * (m * n * k) as u64));
        group.bench_function(BenchmarkId::new("matmul", label), |bch| {
            bch.iter(|| matmul(black_box(a.view()), black_box(b.view()), ta, tb))
        });
        if label.starts_with("wgrad") {
            // The autodiff case: accumulate into an existing gradient.
            let mut acc = Array2::<f32>::zeros((m, n));
            group.bench_function(BenchmarkId::new("matmul_into_accumulate", label), |bch| {
                bch.iter(|| {
                    matmul_into(
                        acc.view_mut(),
                        black_box(a.view()),
                        black_box(b.view()),
                        ta,
                        tb,
                        1.0,
                        1.0,
                    )
                })
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("batched_gemm");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    let (batch, t, d) = (384, 65, 64);
    group.throughput(Throughput::Elements(2 * (batch * t * t * d) as u64));
    let q = rand3(batch, t, d, 3);
    let k = rand3(batch, t, d, 4);
    group.bench_function("scores_384x65x64x65_qkT", |bch| {
        bch.iter(|| batched_matmul(black_box(q.view()), black_box(k.view()), false, true))
    });
    let p = rand3(batch, t, t, 5);
    let v = rand3(batch, t, d, 6);
    group.bench_function("context_384x65x65x64_pv", |bch| {
        bch.iter(|| batched_matmul(black_box(p.view()), black_box(v.view()), false, false))
    });
    group.finish();
}

criterion_group!(benches, bench_gemm);
criterion_main!(benches);

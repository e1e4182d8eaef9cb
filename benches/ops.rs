//! Criterion benchmarks of the row-wise kernels at ViT-Tiny training-step shapes: softmax over the
//! 384 × 65 attention rows of length 65, layer norm over 8320 × 192, GELU over 8320 × 768.
//!
//! Throughput is `Throughput::Bytes` of one read of the input plus one write of the output
//! (backward: two inputs read, one output written). `cargo bench --bench ops`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use eigenformer_tensor::kernels::{
    gelu, layernorm, layernorm_backward, log_softmax, softmax, softmax_backward, GeluKind,
};
use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn rand2(r: usize, c: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((r, c), |_| rng.gen_range(-3.0f32..3.0))
}

fn bench_ops(c: &mut Criterion) {
    let mut group = c.benchmark_group("ops");
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(300));
    group.measurement_time(Duration::from_secs(1));
    let f = std::mem::size_of::<f32>() as u64;

    let x = rand2(384 * 65, 65, 1);
    let n = x.len() as u64;
    group.throughput(Throughput::Bytes(2 * n * f));
    group.bench_function("softmax_384x65x65", |b| {
        b.iter(|| softmax(black_box(x.view())))
    });
    group.bench_function("log_softmax_384x65x65", |b| {
        b.iter(|| log_softmax(black_box(x.view())))
    });
    let y = softmax(x.view());
    let dy = rand2(384 * 65, 65, 2);
    group.throughput(Throughput::Bytes(3 * n * f));
    group.bench_function("softmax_backward_384x65x65", |b| {
        b.iter(|| softmax_backward(black_box(y.view()), black_box(dy.view())))
    });

    let x = rand2(8320, 192, 3);
    let n = x.len() as u64;
    let g = Array1::from_elem(192, 1.0f32);
    let beta = Array1::zeros(192);
    group.throughput(Throughput::Bytes(2 * n * f));
    group.bench_function("layernorm_8320x192", |b| {
        b.iter(|| layernorm(black_box(x.view()), g.view(), beta.view(), 1e-6))
    });
    let out = layernorm(x.view(), g.view(), beta.view(), 1e-6);
    let dy = rand2(8320, 192, 4);
    group.throughput(Throughput::Bytes(3 * n * f));
    group.bench_function("layernorm_backward_8320x192", |b| {
        b.iter(|| {
            layernorm_backward(
                black_box(x.view()),
                g.view(),
                out.mean.view(),
                out.rstd.view(),
                dy.view(),
            )
        })
    });

    let x = rand2(8320, 768, 5);
    group.throughput(Throughput::Bytes(2 * x.len() as u64 * f));
    for kind in [GeluKind::Erf, GeluKind::Tanh] {
        group.bench_function(format!("gelu_{kind:?}_8320x768").to_lowercase(), |b| {
            b.iter(|| gelu(black_box(x.view()), kind))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_ops);
criterion_main!(benches);

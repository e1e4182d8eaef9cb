//! Criterion benchmarks of the spectral toolkit: eigenvalues of general square matrices (faer) at
//! the sizes that occur in audits (ViT-S/B token counts and widths) and the full `UpdateSpectrum`
//! analysis of a ViT-B-sized layer (n = 197 tokens, d = 768) without forming the nd × nd matrix;
//! and, at the token counts of text audits, the small-matrix solver
//! (`eigenformer_spectral::hessenberg_qr`) against faer's on the same attention matrices.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use eigenformer_spectral::{linalg, SpectrumOptions, UpdateSpectrum};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_matrix(n: usize, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((n, n), |_| rng.gen_range(-1.0..1.0))
}

/// Row-wise softmax of random scores: a positive row-stochastic attention matrix.
fn random_attention(n: usize, seed: u64) -> Array2<f64> {
    let mut a = random_matrix(n, seed) * 3.0;
    for mut row in a.rows_mut() {
        let m = row.fold(f64::NEG_INFINITY, |m, v| m.max(*v));
        row.mapv_inplace(|v| (v - m).exp());
        let s = row.sum();
        row.mapv_inplace(|v| v / s);
    }
    a
}

fn bench_eigenvalues(c: &mut Criterion) {
    let mut group = c.benchmark_group("eigenvalues");
    group.sample_size(10);
    for &n in &[64usize, 197, 384, 768] {
        let m = random_matrix(n, 42 + n as u64);
        group.bench_with_input(BenchmarkId::from_parameter(n), &m, |b, m| {
            b.iter(|| linalg::eigenvalues(black_box(m.view())).expect("eigenvalues"))
        });
    }
    group.finish();
}

fn bench_update_spectrum(c: &mut Criterion) {
    let a = random_attention(197, 7);
    let h = random_matrix(768, 8) * (1.0 / 768f64.sqrt());
    let opts = SpectrumOptions::default();
    let mut group = c.benchmark_group("update_spectrum");
    group.sample_size(10);
    group.bench_function("n197_d768", |b| {
        b.iter(|| {
            UpdateSpectrum::from_matrices(black_box(a.view()), black_box(h.view()), &opts)
                .expect("update spectrum")
        })
    });
    group.finish();
}

fn bench_small_attention(c: &mut Criterion) {
    let mut group = c.benchmark_group("attention_eigenvalues");
    for &n in &[16usize, 27, 48, 64, 96, 128] {
        let a = random_attention(n, 100 + n as u64);
        group.bench_with_input(BenchmarkId::new("hessenberg_qr", n), &a, |b, a| {
            b.iter(|| {
                eigenformer_spectral::hessenberg_qr::small_eigenvalues(black_box(a.view()))
                    .expect("converges")
            })
        });
        group.bench_with_input(BenchmarkId::new("faer", n), &a, |b, a| {
            b.iter(|| {
                linalg::to_faer(black_box(a.view()))
                    .eigenvalues()
                    .expect("eigenvalues")
            })
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_eigenvalues,
    bench_update_spectrum,
    bench_small_attention
);
criterion_main!(benches);

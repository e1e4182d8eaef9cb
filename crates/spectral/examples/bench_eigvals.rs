//! Times the eigenvalues of random square matrices (f64, n = 64, 197, 384, 768) and
//! `UpdateSpectrum` for n = 197 tokens, d = 768, printing JSON for `cargo xtask bench --compare`
//! (the NumPy side is `benches/compare/numpy_eigvals.py`, `numpy.linalg.eigvals` on matrices of the
//! same size and distribution).
//!
//! Usage: `bench_eigvals [--min-time SECONDS] [--only SUBSTRING]`

use eigenformer_spectral::linalg::eigenvalues;
use eigenformer_spectral::{SpectrumOptions, UpdateSpectrum};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::time::Instant;

fn timeit(mut f: impl FnMut(), min_time: f64) -> (f64, usize) {
    f();
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 3 || (start.elapsed().as_secs_f64() < min_time && times.len() < 100) {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(|a, b| a.total_cmp(b));
    (times[times.len() / 2], times.len())
}

fn random(n: usize, rng: &mut ChaCha8Rng) -> Array2<f64> {
    Array2::from_shape_simple_fn((n, n), || StandardNormal.sample(rng))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let min_time: f64 = value("--min-time")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0);
    let only = value("--only");
    let want = |name: &str| only.as_deref().is_none_or(|o| name.contains(o));
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut results = Vec::new();
    for n in [64usize, 197, 384, 768] {
        let name = format!("eigvals {n}x{n} f64");
        if !want(&name) {
            continue;
        }
        let a = random(n, &mut rng);
        let (median, reps) = timeit(
            || {
                eigenvalues(a.view()).expect("a finite random matrix has eigenvalues");
            },
            min_time,
        );
        eprintln!("{name:<36} {:>9.3} ms", median * 1e3);
        results.push(serde_json::json!({
            "name": name, "unit": "per_s", "work": 1.0, "median_s": median, "reps": reps,
            "rate": 1.0 / median,
        }));
    }
    let name = "UpdateSpectrum n=197 d=768";
    if want(name) {
        // A softmax attention over random scores and a random H.
        let scores = random(197, &mut rng);
        let mut a = scores.mapv(f64::exp);
        for mut row in a.rows_mut() {
            let s = row.sum();
            row.mapv_inplace(|v| v / s);
        }
        let h = random(768, &mut rng).mapv(|v| v / 768f64.sqrt());
        let opts = SpectrumOptions::default();
        let (median, reps) = timeit(
            || {
                UpdateSpectrum::from_matrices(a.view(), h.view(), &opts)
                    .expect("valid random instance");
            },
            min_time,
        );
        eprintln!("{name:<36} {:>9.3} ms", median * 1e3);
        results.push(serde_json::json!({
            "name": name, "unit": "per_s", "work": 1.0, "median_s": median, "reps": reps,
            "rate": 1.0 / median,
        }));
    }
    let doc = serde_json::json!({
        "impl": "eigenformer-spectral (faer 0.24)",
        "threads": rayon_threads(),
        "results": results,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&doc).expect("JSON of plain values")
    );
}

/// faer parallelises through rayon with all cores by default.
fn rayon_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

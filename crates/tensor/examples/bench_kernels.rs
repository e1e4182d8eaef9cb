//! Times the tensor kernels at the shapes of a ViT-Tiny training step and prints JSON (median over
//! repetitions). Run by `cargo xtask bench --compare` next to `benches/compare/numpy_ops.py`, which
//! times NumPy on the same shapes under the same names.
//!
//! `cargo run --release -p eigenformer-tensor --example bench_kernels [-- --min-time SECONDS]`
//!
//! GEMM entries report GFLOP/s (2·m·n·k per product); row-wise ops report GB/s (bytes read plus
//! written once).

use std::hint::black_box;
use std::time::{Duration, Instant};

use eigenformer_tensor::kernels::{self, GeluKind};
use ndarray::{Array1, Array2, Array3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

struct Entry {
    name: String,
    kind: &'static str,
    work: f64,
    median_s: f64,
    reps: usize,
}

/// Median wall time of `f` over repetitions after warm-up: at least `min_reps`, and more until
/// `min_time` has been spent (at most 200).
fn time<R>(min_time: Duration, mut f: impl FnMut() -> R) -> (f64, usize) {
    for _ in 0..2 {
        black_box(f());
    }
    let min_reps = 7;
    let start = Instant::now();
    let mut times = Vec::new();
    while times.len() < min_reps || (start.elapsed() < min_time && times.len() < 200) {
        let t = Instant::now();
        black_box(f());
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(|a, b| a.total_cmp(b));
    (times[times.len() / 2], times.len())
}

fn rand2(rng: &mut ChaCha8Rng, r: usize, c: usize) -> Array2<f32> {
    Array2::from_shape_fn((r, c), |_| rng.gen_range(-1.0f32..1.0))
}

fn rand3(rng: &mut ChaCha8Rng, b: usize, r: usize, c: usize) -> Array3<f32> {
    Array3::from_shape_fn((b, r, c), |_| rng.gen_range(-1.0f32..1.0))
}

fn main() {
    let mut min_time = Duration::from_secs_f64(1.0);
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--min-time" => {
                let v: f64 = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .expect("--min-time SECONDS");
                min_time = Duration::from_secs_f64(v);
            }
            "--only" => only = args.next(),
            other => panic!("unknown argument {other}"),
        }
    }
    let want = |name: &str| only.as_deref().is_none_or(|o| name.contains(o));
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut out: Vec<Entry> = Vec::new();

    // (name, m, k, n, trans_a, trans_b); stored shapes follow from the flags.
    let gemms: [(&str, usize, usize, usize, bool, bool); 4] = [
        ("gemm 8320x192 * 192x576", 8320, 192, 576, false, false),
        ("gemm 8320x768 * 768x192", 8320, 768, 192, false, false),
        ("gemm (8320x192)^T * 8320x576", 192, 8320, 576, true, false),
        ("gemm 8320x576 * (192x576)^T", 8320, 576, 192, false, true),
    ];
    for (name, m, k, n, ta, tb) in gemms {
        if !want(name) {
            continue;
        }
        let a = if ta {
            rand2(&mut rng, k, m)
        } else {
            rand2(&mut rng, m, k)
        };
        let b = if tb {
            rand2(&mut rng, n, k)
        } else {
            rand2(&mut rng, k, n)
        };
        let (median_s, reps) = time(min_time, || kernels::matmul(a.view(), b.view(), ta, tb));
        out.push(Entry {
            name: name.into(),
            kind: "gflops",
            work: 2.0 * (m * n * k) as f64,
            median_s,
            reps,
        });
    }

    // Attention products: scores = q·kᵀ, out = p·v.
    let (batch, t, d) = (384, 65, 64);
    let name = "batched 384x(65x64 * (65x64)^T)";
    if want(name) {
        let q = rand3(&mut rng, batch, t, d);
        let k = rand3(&mut rng, batch, t, d);
        let (median_s, reps) = time(min_time, || {
            kernels::batched_matmul(q.view(), k.view(), false, true)
        });
        out.push(Entry {
            name: name.into(),
            kind: "gflops",
            work: 2.0 * (batch * t * t * d) as f64,
            median_s,
            reps,
        });
    }
    let name = "batched 384x(65x65 * 65x64)";
    if want(name) {
        let p = rand3(&mut rng, batch, t, t);
        let v = rand3(&mut rng, batch, t, d);
        let (median_s, reps) = time(min_time, || {
            kernels::batched_matmul(p.view(), v.view(), false, false)
        });
        out.push(Entry {
            name: name.into(),
            kind: "gflops",
            work: 2.0 * (batch * t * t * d) as f64,
            median_s,
            reps,
        });
    }

    let name = "softmax 24960x65";
    if want(name) {
        let x = rand2(&mut rng, batch * t, t);
        let (median_s, reps) = time(min_time, || kernels::softmax(x.view()));
        out.push(Entry {
            name: name.into(),
            kind: "gbps",
            work: 8.0 * x.len() as f64,
            median_s,
            reps,
        });
    }
    let name = "layernorm 8320x192";
    if want(name) {
        let x = rand2(&mut rng, 8320, 192);
        let g = Array1::from_elem(192, 1.0f32);
        let b = Array1::zeros(192);
        let (median_s, reps) = time(min_time, || {
            kernels::layernorm(x.view(), g.view(), b.view(), 1e-6)
        });
        out.push(Entry {
            name: name.into(),
            kind: "gbps",
            work: 8.0 * x.len() as f64,
            median_s,
            reps,
        });
    }
    let name = "gelu(erf) 8320x768";
    if want(name) {
        let x = rand2(&mut rng, 8320, 768);
        let (median_s, reps) = time(min_time, || kernels::gelu(x.view(), GeluKind::Erf));
        out.push(Entry {
            name: name.into(),
            kind: "gbps",
            work: 8.0 * x.len() as f64,
            median_s,
            reps,
        });
    }

    let threads = rayon::current_num_threads();
    let mut json = format!(
        "{{\n  \"impl\": \"eigenformer (faer {}; matrixmultiply {} for row-major right operands)\",\n  \"threads\": {threads},\n  \"results\": [\n",
        "0.24", "0.3"
    );
    for (i, e) in out.iter().enumerate() {
        let rate = e.work / e.median_s / 1e9;
        json.push_str(&format!(
            "    {{\"name\": \"{}\", \"unit\": \"{}\", \"work\": {}, \"median_s\": {:.6e}, \"reps\": {}, \"rate\": {:.3}}}{}\n",
            e.name,
            e.kind,
            e.work,
            e.median_s,
            e.reps,
            rate,
            if i + 1 < out.len() { "," } else { "" }
        ));
        eprintln!(
            "{:<36} {:>9.3} ms  {:>8.2} {}",
            e.name,
            e.median_s * 1e3,
            rate,
            if e.kind == "gflops" {
                "GFLOP/s"
            } else {
                "GB/s"
            }
        );
    }
    json.push_str("  ]\n}");
    println!("{json}");
}

//! GPU against CPU: every kernel entry point and both GEMMs on random inputs, compared with a
//! reference written here in f64 from the CPU ops' definitions in `eigenformer_tensor` (this
//! crate cannot depend on it: the tensor crate depends on this one).
//!
//! Tolerance: `|gpu − ref| ≤ 1e-4 · (|ref| + mean |ref|)` per element, i.e. relative 1e-4, with
//! a floor at the array's typical magnitude so that values that cancel to near zero are judged
//! against the size of the terms that cancelled, not against zero.
//!
//! Without a usable GPU (no `cuda` feature, no driver, no device, no NVRTC or cuBLAS) each test
//! prints `skipped: <why>` and returns; `EIGENFORMER_REQUIRE_GPU=1` (scripts/gpu-check.sh) turns
//! that into a failure, so a GPU run can never pass by skipping.

fn require_gpu() -> bool {
    std::env::var("EIGENFORMER_REQUIRE_GPU").is_ok_and(|v| v == "1")
}

#[cfg(not(feature = "cuda"))]
#[test]
fn parity_needs_the_cuda_feature() {
    let why = eigenformer_cuda::CudaError::NotBuilt;
    assert!(!require_gpu(), "EIGENFORMER_REQUIRE_GPU=1, but: {why}");
    eprintln!("skipped: {why}");
}

#[cfg(feature = "cuda")]
mod gpu_parity {
    use super::require_gpu;
    use eigenformer_cuda::{AdamW, CudaError, Gpu, GpuTensor};
    use std::sync::{Mutex, MutexGuard, OnceLock};

    /// One `Gpu` for the whole test binary: opening one compiles every kernel with NVRTC. The
    /// mutex serialises the tests on it.
    static GPU: OnceLock<Result<Mutex<Gpu>, CudaError>> = OnceLock::new();

    fn gpu() -> Option<MutexGuard<'static, Gpu>> {
        match GPU.get_or_init(|| Gpu::new(0).map(Mutex::new)) {
            Ok(g) => Some(g.lock().unwrap_or_else(|e| e.into_inner())),
            Err(e) => {
                assert!(!require_gpu(), "EIGENFORMER_REQUIRE_GPU=1, but: {e}");
                eprintln!("skipped: {e}");
                None
            }
        }
    }

    /// A small deterministic generator (SplitMix64), so that failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
            lo + (hi - lo) * ((self.next() >> 40) as f32 / (1u64 << 24) as f32)
        }
        fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
            (0..n).map(|_| self.uniform(lo, hi)).collect()
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn f64s(v: &[f32]) -> Vec<f64> {
        v.iter().map(|&x| f64::from(x)).collect()
    }

    #[track_caller]
    fn close(what: &str, got: &[f32], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{what}: lengths differ");
        let scale = want.iter().map(|w| w.abs()).sum::<f64>() / want.len().max(1) as f64;
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            let tol = 1e-4 * (w.abs() + scale);
            assert!(
                (f64::from(g) - w).abs() <= tol,
                "{what}[{i}]: gpu {g}, reference {w} (tolerance {tol:e})"
            );
        }
    }

    fn up(gpu: &Gpu, v: &[f32], shape: &[usize]) -> GpuTensor {
        gpu.upload(v, shape).unwrap()
    }

    fn down(gpu: &Gpu, t: &GpuTensor) -> Vec<f32> {
        gpu.download(t).unwrap()
    }

    /// erf by its Maclaurin series, accurate to ~1e-12 on |x| ≤ 5 in f64 (std has no erf).
    fn erf(x: f64) -> f64 {
        if x.abs() > 5.0 {
            return x.signum();
        }
        let (mut term, mut sum) = (x, x);
        for n in 1..200 {
            term *= -x * x / n as f64;
            let t = term / (2 * n + 1) as f64;
            sum += t;
            if t.abs() < 1e-17 {
                break;
            }
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    fn phi_cdf(x: f64) -> f64 {
        0.5 * (1.0 + erf(x / std::f64::consts::SQRT_2))
    }

    #[test]
    fn upload_and_download_round_trip() {
        let Some(gpu) = gpu() else { return };
        let mut rng = Rng(1);
        let v = rng.vec(6 * 7, -1.0, 1.0);
        let t = up(&gpu, &v, &[6, 7]);
        assert_eq!(t.shape(), &[6, 7]);
        assert_eq!(down(&gpu, &t), v);
        // A transposed (non-standard) view is copied row-major.
        let a = ndarray::Array2::from_shape_vec((6, 7), v.clone()).unwrap();
        let t = gpu.upload_array(a.t().into_dyn()).unwrap();
        let back = gpu.download_array(&t).unwrap();
        assert_eq!(back.shape(), &[7, 6]);
        assert_eq!(back, a.t().into_dyn());
        // Wrong lengths are errors before anything is copied.
        assert!(matches!(
            gpu.upload(&v, &[5, 7]),
            Err(CudaError::Invalid { .. })
        ));
        assert!(t.reshape(&[6, 6]).is_err());
    }

    #[test]
    fn elementwise_kernels_match() {
        let Some(gpu) = gpu() else { return };
        let mut rng = Rng(2);
        let shape = [3, 5, 67];
        let n = 3 * 5 * 67;
        let (a, b) = (rng.vec(n, -4.0, 4.0), rng.vec(n, -2.0, 2.0));
        let (ta, tb) = (up(&gpu, &a, &shape), up(&gpu, &b, &shape));
        let (a64, b64) = (f64s(&a), f64s(&b));

        let sum: Vec<f64> = a64.iter().zip(&b64).map(|(x, y)| x + y).collect();
        close("add", &down(&gpu, &gpu.add(&ta, &tb).unwrap()), &sum);
        let prod: Vec<f64> = a64.iter().zip(&b64).map(|(x, y)| x * y).collect();
        close("mul", &down(&gpu, &gpu.mul(&ta, &tb).unwrap()), &prod);

        let mut out = up(&gpu, &b, &shape);
        gpu.axpby(0.5, &ta, -1.5, &mut out).unwrap();
        let want: Vec<f64> = a64
            .iter()
            .zip(&b64)
            .map(|(x, y)| 0.5 * x - 1.5 * y)
            .collect();
        close("axpby", &down(&gpu, &out), &want);

        let gelu: Vec<f64> = a64.iter().map(|&x| x * phi_cdf(x)).collect();
        close("gelu", &down(&gpu, &gpu.gelu(&ta).unwrap()), &gelu);
        let dgelu: Vec<f64> = a64
            .iter()
            .zip(&b64)
            .map(|(&x, &dy)| {
                let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
                dy * (phi_cdf(x) + x * pdf)
            })
            .collect();
        close(
            "gelu_backward",
            &down(&gpu, &gpu.gelu_backward(&ta, &tb).unwrap()),
            &dgelu,
        );

        // Per-sample scaling over the first axis (drop-path's multiply form).
        let scale = [0.0f32, 1.25, 2.0];
        let ts = up(&gpu, &scale, &[3]);
        let per = n / 3;
        let want: Vec<f64> = a64
            .iter()
            .enumerate()
            .map(|(i, x)| x * f64::from(scale[i / per]))
            .collect();
        close(
            "scale_rows",
            &down(&gpu, &gpu.scale_rows(&ta, &ts).unwrap()),
            &want,
        );

        // A bias over the last axis.
        let bias = rng.vec(67, -1.0, 1.0);
        let tbias = up(&gpu, &bias, &[67]);
        let want: Vec<f64> = a64
            .iter()
            .enumerate()
            .map(|(i, x)| x + f64::from(bias[i % 67]))
            .collect();
        close(
            "add_bias_rows",
            &down(&gpu, &gpu.add_bias_rows(&ta, &tbias).unwrap()),
            &want,
        );

        // Dropout with a host mask: x · (keep ? 1/(1-p) : 0).
        let keep: Vec<bool> = (0..n).map(|_| rng.uniform(0.0, 1.0) >= 0.3).collect();
        let mask = gpu.upload_mask(&keep).unwrap();
        let s = 1.0f32 / 0.7;
        let want: Vec<f64> = a64
            .iter()
            .zip(&keep)
            .map(|(x, &k)| if k { x * f64::from(s) } else { 0.0 })
            .collect();
        close(
            "dropout_mask",
            &down(&gpu, &gpu.dropout_mask(&ta, &mask, s).unwrap()),
            &want,
        );
        assert!(keep.iter().any(|&k| !k) && keep.iter().any(|&k| k));

        // Drop-path: whole samples.
        let keep = [true, false, true];
        let mask = gpu.upload_mask(&keep).unwrap();
        let want: Vec<f64> = a64
            .iter()
            .enumerate()
            .map(|(i, x)| if keep[i / per] { x * 1.25 } else { 0.0 })
            .collect();
        close(
            "drop_path_mask",
            &down(&gpu, &gpu.drop_path_mask(&ta, &mask, 1.25).unwrap()),
            &want,
        );

        // Checks before any launch.
        let other = up(&gpu, &a[..5 * 67], &[5, 67]);
        assert!(matches!(
            gpu.add(&ta, &other),
            Err(CudaError::Invalid { .. })
        ));
        assert!(gpu.add_bias_rows(&ta, &ts).is_err());
        assert!(gpu.dropout_mask(&ta, &mask, 1.0).is_err());
    }

    fn softmax_ref(x: &[f64], cols: usize) -> Vec<f64> {
        x.chunks(cols)
            .flat_map(|r| {
                let m = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = r.iter().map(|v| (v - m).exp()).collect();
                let s: f64 = e.iter().sum();
                e.into_iter().map(move |v| v / s)
            })
            .collect()
    }

    #[test]
    fn softmax_forward_and_backward_match() {
        let Some(gpu) = gpu() else { return };
        let mut rng = Rng(3);
        // A row shorter than a warp, an odd one, and one longer than a block's 1024 threads.
        for (rows, cols) in [(9, 5), (13, 77), (4, 1500)] {
            let x = rng.vec(rows * cols, -3.0, 3.0);
            let dy = rng.vec(rows * cols, -1.0, 1.0);
            let y_ref = softmax_ref(&f64s(&x), cols);
            let y = gpu.softmax(&up(&gpu, &x, &[rows, cols])).unwrap();
            close("softmax", &down(&gpu, &y), &y_ref);
            let dx = gpu
                .softmax_backward(&y, &up(&gpu, &dy, &[rows, cols]))
                .unwrap();
            let dy64 = f64s(&dy);
            let want: Vec<f64> = y_ref
                .chunks(cols)
                .zip(dy64.chunks(cols))
                .flat_map(|(yr, gr)| {
                    let d: f64 = yr.iter().zip(gr).map(|(a, b)| a * b).sum();
                    yr.iter()
                        .zip(gr)
                        .map(move |(a, b)| a * (b - d))
                        .collect::<Vec<_>>()
                })
                .collect();
            close("softmax_backward", &down(&gpu, &dx), &want);
        }
    }

    #[test]
    fn layer_norm_forward_and_backward_match() {
        let Some(gpu) = gpu() else { return };
        let mut rng = Rng(4);
        let eps = 1e-5f32;
        for (rows, cols) in [(7, 3), (33, 192), (5, 1100)] {
            let x = rng.vec(rows * cols, -2.0, 3.0);
            let gamma = rng.vec(cols, 0.5, 1.5);
            let beta = rng.vec(cols, -0.5, 0.5);
            let dy = rng.vec(rows * cols, -1.0, 1.0);
            let tx = up(&gpu, &x, &[rows, cols]);
            let tg = up(&gpu, &gamma, &[cols]);
            let out = gpu
                .layer_norm(&tx, &tg, &up(&gpu, &beta, &[cols]), eps)
                .unwrap();

            let (x64, g64, b64, dy64) = (f64s(&x), f64s(&gamma), f64s(&beta), f64s(&dy));
            let (mut y, mut means, mut rstds) = (vec![], vec![], vec![]);
            let (mut dx, mut dgamma, mut dbeta) = (vec![], vec![0.0; cols], vec![0.0; cols]);
            for r in 0..rows {
                let xr = &x64[r * cols..(r + 1) * cols];
                let dyr = &dy64[r * cols..(r + 1) * cols];
                let mu = xr.iter().sum::<f64>() / cols as f64;
                let var = xr.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / cols as f64;
                let rs = 1.0 / (var + f64::from(eps)).sqrt();
                let xhat: Vec<f64> = xr.iter().map(|v| (v - mu) * rs).collect();
                y.extend((0..cols).map(|j| xhat[j] * g64[j] + b64[j]));
                means.push(mu);
                rstds.push(rs);
                let g: Vec<f64> = (0..cols).map(|j| dyr[j] * g64[j]).collect();
                let mg = g.iter().sum::<f64>() / cols as f64;
                let mgx = (0..cols).map(|j| g[j] * xhat[j]).sum::<f64>() / cols as f64;
                dx.extend((0..cols).map(|j| rs * (g[j] - mg - xhat[j] * mgx)));
                for j in 0..cols {
                    dgamma[j] += dyr[j] * xhat[j];
                    dbeta[j] += dyr[j];
                }
            }
            close("layer_norm y", &down(&gpu, &out.y), &y);
            close("layer_norm mean", &down(&gpu, &out.mean), &means);
            close("layer_norm rstd", &down(&gpu, &out.rstd), &rstds);
            let grads = gpu
                .layer_norm_backward(
                    &tx,
                    &tg,
                    &out.mean,
                    &out.rstd,
                    &up(&gpu, &dy, &[rows, cols]),
                )
                .unwrap();
            close("layer_norm dx", &down(&gpu, &grads.dx), &dx);
            close("layer_norm dgamma", &down(&gpu, &grads.dgamma), &dgamma);
            close("layer_norm dbeta", &down(&gpu, &grads.dbeta), &dbeta);
        }
    }

    #[test]
    fn cross_entropy_forward_and_backward_match() {
        let Some(gpu) = gpu() else { return };
        let mut rng = Rng(5);
        for (rows, classes, smoothing) in [(16, 10, 0.1f32), (7, 1000, 0.0), (3, 2, 0.5)] {
            let logits = rng.vec(rows * classes, -5.0, 5.0);
            let labels: Vec<usize> = (0..rows).map(|_| rng.below(classes)).collect();
            let t = up(&gpu, &logits, &[rows, classes]);
            let out = gpu.cross_entropy(&t, &labels, smoothing).unwrap();
            let dloss = up(&gpu, &[0.7], &[1]);
            let back = gpu
                .cross_entropy_backward(&t, &labels, &dloss, smoothing)
                .unwrap();

            let z = f64s(&logits);
            let s = f64::from(smoothing);
            let (off, on) = (s / classes as f64, 1.0 - s + s / classes as f64);
            let (mut losses, mut grad) = (vec![], vec![]);
            for r in 0..rows {
                let zr = &z[r * classes..(r + 1) * classes];
                let m = zr.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let lse = zr.iter().map(|v| (v - m).exp()).sum::<f64>().ln() + m;
                let target = |j: usize| if j == labels[r] { on } else { off };
                losses.push((0..classes).map(|j| target(j) * (lse - zr[j])).sum::<f64>());
                grad.extend((0..classes).map(|j| ((zr[j] - lse).exp() - target(j)) / rows as f64));
            }
            close(
                "cross_entropy losses",
                &down(&gpu, &out.row_losses),
                &losses,
            );
            close("cross_entropy grad", &down(&gpu, &out.grad), &grad);
            let scaled: Vec<f64> = grad.iter().map(|g| 0.7 * g).collect();
            close("cross_entropy_backward", &down(&gpu, &back), &scaled);
            // The mean of the row losses is the CPU's loss.
            let mean: f64 = down(&gpu, &out.row_losses)
                .iter()
                .map(|&l| f64::from(l))
                .sum::<f64>()
                / rows as f64;
            close(
                "cross_entropy mean",
                &[mean as f32],
                &[losses.iter().sum::<f64>() / rows as f64],
            );
        }
        let t = up(&gpu, &[0.0; 6], &[2, 3]);
        assert!(gpu.cross_entropy(&t, &[0, 3], 0.1).is_err());
        assert!(gpu.cross_entropy(&t, &[0], 0.1).is_err());
        assert!(gpu.cross_entropy(&t, &[0, 1], 1.0).is_err());
    }

    #[test]
    fn column_sums_match_in_one_and_several_passes() {
        let Some(gpu) = gpu() else { return };
        let mut rng = Rng(6);
        // 2500 rows take three chunks of 1024, then a second pass over the partial sums.
        for shape in [vec![5, 3], vec![2500, 37], vec![4, 65, 192]] {
            let n: usize = shape.iter().product();
            let cols = *shape.last().unwrap();
            let x = rng.vec(n, -1.0, 1.0);
            let sums = gpu.col_sums(&up(&gpu, &x, &shape)).unwrap();
            assert_eq!(sums.shape(), &[cols]);
            let mut want = vec![0.0; cols];
            for (i, v) in f64s(&x).iter().enumerate() {
                want[i % cols] += v;
            }
            close("col_sums", &down(&gpu, &sums), &want);
            // Deterministic: the same bits twice.
            let again = gpu.col_sums(&up(&gpu, &x, &shape)).unwrap();
            assert_eq!(down(&gpu, &sums), down(&gpu, &again));
        }
    }

    #[test]
    fn patchify_and_its_backward_match() {
        let Some(gpu) = gpu() else { return };
        let mut rng = Rng(7);
        let (b, c, h, w, p) = (2, 3, 8, 12, 4);
        let x = rng.vec(b * c * h * w, -1.0, 1.0);
        let tx = up(&gpu, &x, &[b, c, h, w]);
        let out = gpu.patchify(&tx, p).unwrap();
        let (gh, gw) = (h / p, w / p);
        assert_eq!(out.shape(), &[b, gh * gw, c * p * p]);
        // The CPU's order: [B, C, gh, p, gw, p] permuted to [B, gh, gw, C, p, p].
        let at = |n: usize, ch: usize, y: usize, xx: usize| ((n * c + ch) * h + y) * w + xx;
        let mut order = vec![];
        for n in 0..b {
            for py in 0..gh {
                for px in 0..gw {
                    for ch in 0..c {
                        for dy in 0..p {
                            for dx in 0..p {
                                order.push(at(n, ch, py * p + dy, px * p + dx));
                            }
                        }
                    }
                }
            }
        }
        let want: Vec<f64> = order.iter().map(|&i| f64::from(x[i])).collect();
        close("patchify", &down(&gpu, &out), &want);
        // Backward: the gradient of each patch value goes back to its pixel.
        let g = rng.vec(order.len(), -1.0, 1.0);
        let dx = gpu
            .patchify_backward(&up(&gpu, &g, out.shape()), &[b, c, h, w], p)
            .unwrap();
        let mut want = vec![0.0; x.len()];
        for (k, &i) in order.iter().enumerate() {
            want[i] += f64::from(g[k]);
        }
        close("patchify_backward", &down(&gpu, &dx), &want);
        assert!(gpu.patchify(&tx, 5).is_err());
        assert!(gpu.patchify_backward(&tx, &[b, c, h, w], p).is_err());
    }

    #[test]
    fn gather_and_scatter_add_match() {
        let Some(gpu) = gpu() else { return };
        let mut rng = Rng(8);
        let (vocab, dim) = (11, 19);
        let table = rng.vec(vocab * dim, -1.0, 1.0);
        let ids = [3usize, 0, 10, 3, 3, 7];
        let tt = up(&gpu, &table, &[vocab, dim]);
        let out = gpu.gather_rows(&tt, &ids).unwrap();
        assert_eq!(out.shape(), &[ids.len(), dim]);
        let want: Vec<f64> = ids
            .iter()
            .flat_map(|&i| f64s(&table[i * dim..(i + 1) * dim]))
            .collect();
        close("gather_rows", &down(&gpu, &out), &want);

        // Accumulates into what the gradient already holds; repeated ids add up.
        let g = rng.vec(ids.len() * dim, -1.0, 1.0);
        let start = rng.vec(vocab * dim, -1.0, 1.0);
        let mut grad = up(&gpu, &start, &[vocab, dim]);
        gpu.scatter_add_rows(&up(&gpu, &g, &[ids.len(), dim]), &ids, &mut grad)
            .unwrap();
        let mut want = f64s(&start);
        for (r, &i) in ids.iter().enumerate() {
            for j in 0..dim {
                want[i * dim + j] += f64::from(g[r * dim + j]);
            }
        }
        close("scatter_add_rows", &down(&gpu, &grad), &want);
        assert!(gpu.gather_rows(&tt, &[11]).is_err());
        assert!(gpu
            .scatter_add_rows(&up(&gpu, &g, &[ids.len(), dim]), &ids[..5], &mut grad)
            .is_err());
    }

    #[test]
    fn adamw_steps_match() {
        let Some(gpu) = gpu() else { return };
        let mut rng = Rng(9);
        let n = 1000;
        let hp = AdamW {
            lr: 5e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.05,
        };
        let p0 = rng.vec(n, -1.0, 1.0);
        let mut p = up(&gpu, &p0, &[10, 100]);
        let mut m = gpu.zeros(&[10, 100]).unwrap();
        let mut v = gpu.zeros(&[10, 100]).unwrap();
        let (mut pr, mut mr, mut vr) = (f64s(&p0), vec![0.0; n], vec![0.0; n]);
        let (b1, b2) = (f64::from(hp.beta1), f64::from(hp.beta2));
        for step in 1..=3u32 {
            let g = rng.vec(n, -1.0, 1.0);
            gpu.adamw_step(&mut p, &up(&gpu, &g, &[10, 100]), &mut m, &mut v, hp, step)
                .unwrap();
            let (bc1, bc2) = (1.0 - b1.powi(step as i32), 1.0 - b2.powi(step as i32));
            let shrink = 1.0 - f64::from(hp.lr) * f64::from(hp.weight_decay);
            for i in 0..n {
                let gi = f64::from(g[i]);
                mr[i] = b1 * mr[i] + (1.0 - b1) * gi;
                vr[i] = b2 * vr[i] + (1.0 - b2) * gi * gi;
                let update = (mr[i] / bc1) / ((vr[i] / bc2).sqrt() + f64::from(hp.eps));
                pr[i] = pr[i] * shrink - f64::from(hp.lr) * update;
            }
        }
        close("adamw m", &down(&gpu, &m), &mr);
        close("adamw v", &down(&gpu, &v), &vr);
        close("adamw p", &down(&gpu, &p), &pr);
        let g = up(&gpu, &[0.0; 1000], &[10, 100]);
        assert!(gpu.adamw_step(&mut p, &g, &mut m, &mut v, hp, 0).is_err());
        let bad = AdamW { beta1: 1.0, ..hp };
        assert!(gpu.adamw_step(&mut p, &g, &mut m, &mut v, bad, 1).is_err());
    }

    /// Row-major `op(A)·op(B)` in f64 (`a` is `[ar, ac]`, `b` `[br, bc]`).
    fn matmul_ref(
        a: &[f32],
        a_shape: [usize; 2],
        ta: bool,
        b: &[f32],
        b_shape: [usize; 2],
        tb: bool,
    ) -> Vec<f64> {
        let (m, k) = if ta {
            (a_shape[1], a_shape[0])
        } else {
            (a_shape[0], a_shape[1])
        };
        let n = if tb { b_shape[0] } else { b_shape[1] };
        let av = |i: usize, l: usize| {
            f64::from(if ta {
                a[l * a_shape[1] + i]
            } else {
                a[i * a_shape[1] + l]
            })
        };
        let bv = |l: usize, j: usize| {
            f64::from(if tb {
                b[j * b_shape[1] + l]
            } else {
                b[l * b_shape[1] + j]
            })
        };
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|l| av(i, l) * bv(l, j)).sum();
            }
        }
        c
    }

    #[test]
    fn gemm_matches_in_every_transpose_combination() {
        let Some(gpu) = gpu() else { return };
        let mut rng = Rng(10);
        let (m, k, n) = (37, 53, 29);
        for ta in [false, true] {
            for tb in [false, true] {
                let a_shape = if ta { [k, m] } else { [m, k] };
                let b_shape = if tb { [n, k] } else { [k, n] };
                let a = rng.vec(m * k, -1.0, 1.0);
                let b = rng.vec(k * n, -1.0, 1.0);
                let c = gpu
                    .matmul(&up(&gpu, &a, &a_shape), &up(&gpu, &b, &b_shape), ta, tb)
                    .unwrap();
                assert_eq!(c.shape(), &[m, n]);
                close(
                    &format!("matmul ta={ta} tb={tb}"),
                    &down(&gpu, &c),
                    &matmul_ref(&a, a_shape, ta, &b, b_shape, tb),
                );
            }
        }
        let a = up(&gpu, &[0.0; 6], &[2, 3]);
        assert!(matches!(
            gpu.matmul(&a, &a, false, false),
            Err(CudaError::Invalid { .. })
        ));
        assert_eq!(gpu.matmul(&a, &a, false, true).unwrap().shape(), &[2, 2]);
    }

    #[test]
    fn batched_gemm_matches_with_and_without_a_shared_operand() {
        let Some(gpu) = gpu() else { return };
        let mut rng = Rng(11);
        let (batch, m, k, n) = (6, 17, 24, 9);
        for ta in [false, true] {
            for tb in [false, true] {
                for shared_b in [false, true] {
                    let a_shape = if ta { [k, m] } else { [m, k] };
                    let b_shape = if tb { [n, k] } else { [k, n] };
                    let a = rng.vec(batch * m * k, -1.0, 1.0);
                    let b = rng.vec(if shared_b { k * n } else { batch * k * n }, -1.0, 1.0);
                    let tb_shape: Vec<usize> = if shared_b {
                        b_shape.to_vec()
                    } else {
                        vec![batch, b_shape[0], b_shape[1]]
                    };
                    let c = gpu
                        .matmul_batched(
                            &up(&gpu, &a, &[batch, a_shape[0], a_shape[1]]),
                            &up(&gpu, &b, &tb_shape),
                            ta,
                            tb,
                        )
                        .unwrap();
                    assert_eq!(c.shape(), &[batch, m, n]);
                    let want: Vec<f64> = (0..batch)
                        .flat_map(|i| {
                            let bi = if shared_b {
                                &b[..]
                            } else {
                                &b[i * k * n..(i + 1) * k * n]
                            };
                            matmul_ref(&a[i * m * k..(i + 1) * m * k], a_shape, ta, bi, b_shape, tb)
                        })
                        .collect();
                    close(
                        &format!("matmul_batched ta={ta} tb={tb} shared_b={shared_b}"),
                        &down(&gpu, &c),
                        &want,
                    );
                }
            }
        }
        let a = up(&gpu, &[0.0; 12], &[2, 2, 3]);
        let b = up(&gpu, &[0.0; 18], &[3, 3, 2]);
        assert!(gpu.matmul_batched(&a, &b, false, false).is_err());
    }
}

//! GELU, exact (`erf`) and tanh-approximated forms, forward and backward, element-wise on views of
//! any dimension; parallel over rayon, inner loops branch-free so they auto-vectorise.
//!
//! * erf form: `y = ½x(1 + erf(x/√2))`, `y' = ½(1 + erf(x/√2)) + x·φ(x)`, `φ(x) = e^{−x²/2}/√(2π)`.
//! * tanh form: `u = √(2/π)(x + 0.044715x³)`, `y = ½x(1 + tanh u)`,
//!   `y' = ½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²)`, computed as `x·σ(2u)` and
//!   `s + 2x·s(1 − s)·…` with `s = σ(2u)` (no cancellation for negative `x`).

use ndarray::{Array, ArrayView, Dimension, Zip};
use rayon::prelude::*;

use super::{exp_f32, Real};

/// Which GELU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GeluKind {
    /// Exact: `½x(1 + erf(x/√2))`.
    #[default]
    Erf,
    /// The tanh approximation (GPT-2, BERT's `gelu_new`).
    Tanh,
}

const FRAC_1_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;
const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const TANH_C: f64 = 0.044_715;

/// `erf(x)` in f32, branch-free so loops over it vectorise: both of N. Juffa's minimax
/// approximations are evaluated with FMAs and one is selected, `x + x·P(x²)` for |x| ≤ 0.9277 and
/// `sign(x)·(1 − exp(Q(|x|)))` above. Max absolute error ≈ 1e-7 (tested against `libm::erf`).
#[inline(always)]
pub fn erf_f32(x: f32) -> f32 {
    let t = x.abs();
    let s = x * x;
    // |x| ≤ 0.927734375
    let mut p = -5.967_617e-4_f32;
    p = p.mul_add(s, 4.991_194_2e-3);
    p = p.mul_add(s, -2.676_813_5e-2);
    p = p.mul_add(s, 0.112_819_925);
    p = p.mul_add(s, -0.376_125_34);
    p = p.mul_add(s, 0.128_379_17);
    let small = p.mul_add(x, x);
    // |x| > 0.927734375 (t clamped so exp stays in range; erf(4) = 1 in f32)
    let tc = t.min(4.0);
    let mut r = (-1.728_534_7e-5_f32).mul_add(tc, 3.831_971_3e-4);
    let u = (-3.883_964_4e-3_f32).mul_add(tc, 2.425_462_2e-2);
    r = r.mul_add(tc * tc, u);
    r = r.mul_add(tc, -0.106_777_88);
    r = r.mul_add(tc, -0.634_846_7);
    r = r.mul_add(tc, -0.128_717_51);
    r = r.mul_add(tc, -tc);
    let large = (1.0 - exp_f32(r)).copysign(x);
    if t > 0.927_734_4 {
        large
    } else {
        small
    }
}

/// `erf(x)` in f64 (`libm::erf`).
#[inline(always)]
pub fn erf_f64(x: f64) -> f64 {
    libm::erf(x)
}

/// `exp(−2u)`, the exponent capped at 80 so that `e·s` below never becomes `∞·0` (the results
/// for such `u` are ~1e-35 either way).
#[inline(always)]
fn clamped_exp_neg2<T: Real>(u: T) -> T {
    let z = -(u + u);
    let cap = T::from_f64(80.0);
    (if z > cap { cap } else { z }).exp()
}

/// GELU of a scalar.
#[inline(always)]
pub fn gelu_scalar<T: Real>(x: T, kind: GeluKind) -> T {
    let half = T::from_f64(0.5);
    match kind {
        GeluKind::Erf => half * x * (T::ONE + (x * T::from_f64(FRAC_1_SQRT_2)).erf()),
        GeluKind::Tanh => {
            // ½x(1 + tanh u) = x·σ(2u): no cancellation for negative u.
            let u = T::from_f64(SQRT_2_OVER_PI) * (x + T::from_f64(TANH_C) * x * x * x);
            x / (T::ONE + clamped_exp_neg2(u))
        }
    }
}

/// d GELU / dx at a scalar.
#[inline(always)]
pub fn gelu_derivative<T: Real>(x: T, kind: GeluKind) -> T {
    let half = T::from_f64(0.5);
    match kind {
        GeluKind::Erf => {
            let cdf = half * (T::ONE + (x * T::from_f64(FRAC_1_SQRT_2)).erf());
            let pdf = T::from_f64(FRAC_1_SQRT_2PI) * (-half * x * x).exp();
            cdf + x * pdf
        }
        GeluKind::Tanh => {
            // With s = σ(2u) = ½(1 + tanh u): 1 − tanh²u = 4s(1 − s).
            let c = T::from_f64(TANH_C);
            let k = T::from_f64(SQRT_2_OVER_PI);
            let u = k * (x + c * x * x * x);
            let e = clamped_exp_neg2(u);
            let s = T::ONE / (T::ONE + e);
            let one_minus_s = e * s;
            s + (x + x) * s * one_minus_s * k * (T::ONE + T::from_f64(3.0) * c * x * x)
        }
    }
}

/// Elements per rayon task on the contiguous paths.
const CHUNK: usize = 1 << 14;

/// `gelu(x)` element-wise.
pub fn gelu<T: Real, D: Dimension>(x: ArrayView<'_, T, D>, kind: GeluKind) -> Array<T, D> {
    if let Some(xs) = x.as_slice() {
        // Contiguous: plain loops over slices, one per kind, which LLVM vectorises (ndarray's
        // `Zip` closures do not).
        let mut out = Array::<T, D>::uninit(x.raw_dim());
        let os = out.as_slice_mut().expect("fresh array is contiguous");
        os.par_chunks_mut(CHUNK)
            .zip(xs.par_chunks(CHUNK))
            .for_each(|(o, i)| match kind {
                GeluKind::Erf => o.iter_mut().zip(i).for_each(|(o, &v)| {
                    o.write(gelu_scalar(v, GeluKind::Erf));
                }),
                GeluKind::Tanh => o.iter_mut().zip(i).for_each(|(o, &v)| {
                    o.write(gelu_scalar(v, GeluKind::Tanh));
                }),
            });
        // SAFETY: the chunks cover the whole output and every element was written.
        return unsafe { out.assume_init() };
    }
    match kind {
        GeluKind::Erf => Zip::from(&x).par_map_collect(|&v| gelu_scalar(v, GeluKind::Erf)),
        GeluKind::Tanh => Zip::from(&x).par_map_collect(|&v| gelu_scalar(v, GeluKind::Tanh)),
    }
}

/// `dx = dy ⊙ gelu'(x)` element-wise (`x`, `dy` of the same shape).
pub fn gelu_backward<T: Real, D: Dimension>(
    x: ArrayView<'_, T, D>,
    dy: ArrayView<'_, T, D>,
    kind: GeluKind,
) -> Array<T, D> {
    if let (Some(xs), Some(ds)) = (x.as_slice(), dy.as_slice()) {
        let mut out = Array::<T, D>::uninit(x.raw_dim());
        let os = out.as_slice_mut().expect("fresh array is contiguous");
        os.par_chunks_mut(CHUNK)
            .zip(xs.par_chunks(CHUNK).zip(ds.par_chunks(CHUNK)))
            .for_each(|(o, (i, d))| match kind {
                GeluKind::Erf => o.iter_mut().zip(i.iter().zip(d)).for_each(|(o, (&v, &g))| {
                    o.write(g * gelu_derivative(v, GeluKind::Erf));
                }),
                GeluKind::Tanh => o.iter_mut().zip(i.iter().zip(d)).for_each(|(o, (&v, &g))| {
                    o.write(g * gelu_derivative(v, GeluKind::Tanh));
                }),
            });
        // SAFETY: the chunks cover the whole output and every element was written.
        return unsafe { out.assume_init() };
    }
    match kind {
        GeluKind::Erf => Zip::from(&x)
            .and(&dy)
            .par_map_collect(|&v, &d| d * gelu_derivative(v, GeluKind::Erf)),
        GeluKind::Tanh => Zip::from(&x)
            .and(&dy)
            .par_map_collect(|&v, &d| d * gelu_derivative(v, GeluKind::Tanh)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2};

    #[test]
    fn erf_f32_accuracy() {
        let mut worst = (0.0f64, 0.0f32);
        let n = 400_000;
        for i in 0..=n {
            let x = (-6.0 + 12.0 * i as f64 / n as f64) as f32;
            let err = (erf_f32(x) as f64 - libm::erf(x as f64)).abs();
            if err > worst.0 {
                worst = (err, x);
            }
        }
        eprintln!("erf_f32 worst abs error {worst:?}");
        assert!(worst.0 < 1.5e-7, "worst abs error {worst:?}");
        assert_eq!(erf_f32(0.0), 0.0);
        assert!(erf_f32(f32::NAN).is_nan());
    }

    #[test]
    fn forward_matches_f64_and_derivative_matches_finite_differences() {
        let xs = Array1::from_shape_fn(2001, |i| -8.0 + 16.0 * i as f64 / 2000.0);
        for kind in [GeluKind::Erf, GeluKind::Tanh] {
            let y64 = gelu(xs.view(), kind);
            let y32 = gelu(xs.mapv(|v| v as f32).view(), kind);
            for (a, b) in y32.iter().zip(y64.iter()) {
                assert!(
                    (*a as f64 - b).abs() < 1e-6 * (1.0 + b.abs()),
                    "{kind:?}: {a} vs {b}"
                );
            }
            let h = 1e-6;
            let ones = Array1::ones(xs.len());
            let d = gelu_backward(xs.view(), ones.view(), kind);
            for (&x, &dv) in xs.iter().zip(d.iter()) {
                let fd = (gelu_scalar(x + h, kind) - gelu_scalar(x - h, kind)) / (2.0 * h);
                assert!((fd - dv).abs() < 1e-8, "{kind:?} x={x}: fd {fd} vs {dv}");
            }
            let d32 = gelu_backward(
                xs.mapv(|v| v as f32).view(),
                ones.mapv(|v: f64| v as f32).view(),
                kind,
            );
            for (a, b) in d32.iter().zip(d.iter()) {
                assert!((*a as f64 - b).abs() < 1e-6, "{kind:?}: {a} vs {b}");
            }
        }
        // Far tails stay finite.
        for kind in [GeluKind::Erf, GeluKind::Tanh] {
            for x in [-1e10f32, -30.0, -12.0, 12.0, 1e10] {
                let (y, d) = (gelu_scalar(x, kind), gelu_derivative(x, kind));
                assert!(y.is_finite() && d.is_finite(), "{kind:?} x={x}: {y} {d}");
            }
        }
        // Erf GELU reference values (PyTorch): gelu(1) = 0.8413447, gelu(-1) = -0.15865526.
        let y = gelu(ndarray::array![1.0f32, -1.0].view(), GeluKind::Erf);
        assert!((y[0] - 0.841_344_7).abs() < 1e-7 && (y[1] + 0.158_655_26).abs() < 1e-7);
        // Works on any dimension and layout.
        let m = Array2::from_shape_fn((3, 4), |(i, j)| i as f32 - j as f32);
        let t = gelu(m.t(), GeluKind::Tanh);
        assert_eq!(t.dim(), (4, 3));
    }
}

//! Raw compute kernels on ndarray views: no autodiff, no shape validation beyond debug assertions
//! (the ops in `crate::ops` validate and give typed errors before calling in here).
//!
//! * [`gemm`]: f32 GEMM through faer (`matmul`, `matmul_into`, `batched_matmul`).
//! * [`softmax`]: softmax / log-softmax over the last axis and their backward.
//! * [`layernorm`]: layer norm over the last axis and its backward.
//! * [`gelu`]: GELU (erf and tanh forms) and derivatives.
//!
//! The row-wise kernels are generic over [`Real`] (`f32` for the model, `f64` for the
//! finite-difference tests of the backward formulas) and parallel over rows with rayon.

pub mod gelu;
pub mod gemm;
pub mod layernorm;
pub mod softmax;

pub use gelu::{gelu, gelu_backward, GeluKind};
pub use gemm::{batched_matmul, matmul, matmul_into};
pub use layernorm::{layernorm, layernorm_backward, LayerNormOutput};
pub use softmax::{log_softmax, log_softmax_backward, softmax, softmax_backward};

use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

/// The floating-point types the row-wise kernels run on (`f32`, `f64`).
pub trait Real:
    Copy
    + Send
    + Sync
    + Debug
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + 'static
{
    const ZERO: Self;
    const ONE: Self;
    const NEG_INFINITY: Self;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    /// `eˣ`; for `f32` a branch-free, auto-vectorisable polynomial (see [`exp_f32`]).
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sqrt(self) -> Self;
    /// `erf(x)`; for `f32` a vectorisable rational approximation (see [`gelu::erf_f32`]).
    fn erf(self) -> Self;
}

impl Real for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NEG_INFINITY: Self = f32::NEG_INFINITY;
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn exp(self) -> Self {
        exp_f32(self)
    }
    #[inline(always)]
    fn ln(self) -> Self {
        f32::ln(self)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
    #[inline(always)]
    fn erf(self) -> Self {
        gelu::erf_f32(self)
    }
}

impl Real for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NEG_INFINITY: Self = f64::NEG_INFINITY;
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn exp(self) -> Self {
        f64::exp(self)
    }
    #[inline(always)]
    fn ln(self) -> Self {
        f64::ln(self)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    #[inline(always)]
    fn erf(self) -> Self {
        gelu::erf_f64(self)
    }
}

/// `eˣ` in f32 without branches or calls, so that loops over slices auto-vectorise (Cephes `expf`:
/// `x = n·ln2 + r`, |r| ≤ ln2/2, degree-6 polynomial for `eʳ`, `2ⁿ` built in the exponent bits).
/// Max relative error ≈ 2 ulp for `x ∈ [-87.3, 88]`; returns `0` below (true results are
/// sub-normal), `+∞` above 88 (true results in `[1.6e38, 3.4e38]` are lost), NaN for NaN.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LO: f32 = -87.336_55; // ln(f32::MIN_POSITIVE)
    const HI: f32 = 88.0;
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const C1: f32 = 0.693_359_4; // ln2 split: C1 exact in few bits, C1 + C2 = ln2
    const C2: f32 = -2.121_944_4e-4;
    // Round x·log2(e) to the nearest integer n by adding 1.5·2²³ (no float→int conversion, so the
    // loop vectorises); n also sits in the low mantissa bits of `t`.
    const SHIFTER: f32 = 12_582_912.0;
    let xc = x.clamp(LO, HI);
    let t = xc.mul_add(LOG2E, SHIFTER);
    let n = t - SHIFTER;
    let r = n.mul_add(-C2, n.mul_add(-C1, xc));
    let mut p = 1.987_569_1e-4_f32;
    p = p.mul_add(r, 1.398_2e-3);
    p = p.mul_add(r, 8.333_452e-3);
    p = p.mul_add(r, 4.166_579_6e-2);
    p = p.mul_add(r, 0.166_666_65);
    p = p.mul_add(r, 0.5);
    let er = (p * r).mul_add(r, r) + 1.0;
    let ni = t.to_bits().wrapping_sub(SHIFTER.to_bits());
    let scale = f32::from_bits(ni.wrapping_add(127) << 23);
    let y = er * scale;
    if x < LO {
        0.0
    } else if x > HI {
        f32::INFINITY
    } else {
        y
    }
}

/// Σ x, with 16 independent accumulators so the loop vectorises.
#[inline]
pub(crate) fn sum<T: Real>(x: &[T]) -> T {
    let mut acc = [T::ZERO; 16];
    let mut it = x.chunks_exact(16);
    for c in &mut it {
        for i in 0..16 {
            acc[i] += c[i];
        }
    }
    let mut s = T::ZERO;
    for &v in it.remainder() {
        s += v;
    }
    for a in acc {
        s += a;
    }
    s
}

/// Σ xᵢ·yᵢ, vectorised like [`sum`].
#[inline]
pub(crate) fn dot<T: Real>(x: &[T], y: &[T]) -> T {
    debug_assert_eq!(x.len(), y.len());
    let mut acc = [T::ZERO; 16];
    let mut ix = x.chunks_exact(16);
    let mut iy = y.chunks_exact(16);
    for (cx, cy) in (&mut ix).zip(&mut iy) {
        for i in 0..16 {
            acc[i] += cx[i] * cy[i];
        }
    }
    let mut s = T::ZERO;
    for (&a, &b) in ix.remainder().iter().zip(iy.remainder()) {
        s += a * b;
    }
    for a in acc {
        s += a;
    }
    s
}

/// Σ (xᵢ − μ)², vectorised like [`sum`] (the second pass of a two-pass variance).
#[inline]
pub(crate) fn centered_sum_sq<T: Real>(x: &[T], mu: T) -> T {
    let mut acc = [T::ZERO; 16];
    let mut it = x.chunks_exact(16);
    for c in &mut it {
        for i in 0..16 {
            let d = c[i] - mu;
            acc[i] += d * d;
        }
    }
    let mut s = T::ZERO;
    for &v in it.remainder() {
        s += (v - mu) * (v - mu);
    }
    for a in acc {
        s += a;
    }
    s
}

/// max x (NaNs ignored; `-∞` for an empty slice), vectorised like [`sum`].
#[inline]
pub(crate) fn max<T: Real>(x: &[T]) -> T {
    let mut acc = [T::NEG_INFINITY; 16];
    let mut it = x.chunks_exact(16);
    for c in &mut it {
        for i in 0..16 {
            acc[i] = if c[i] > acc[i] { c[i] } else { acc[i] };
        }
    }
    let mut m = T::NEG_INFINITY;
    for &v in it.remainder().iter().chain(acc.iter()) {
        m = if v > m { v } else { m };
    }
    m
}

/// Rows per rayon task so that a task touches at least ~16k elements.
#[inline]
pub(crate) fn rows_per_task(cols: usize) -> usize {
    (16 * 1024 / cols.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_f32_accuracy() {
        let mut worst = 0.0f64;
        let n = 200_000;
        for i in 0..=n {
            let x = -87.0 + 175.0 * i as f64 / n as f64;
            let x32 = x as f32;
            let want = (x32 as f64).exp();
            let got = exp_f32(x32) as f64;
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 3.0 * f32::EPSILON as f64, "worst rel err {worst}");
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32(-100.0), 0.0);
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(f32::INFINITY), f32::INFINITY);
        assert!(exp_f32(f32::NAN).is_nan());
    }

    #[test]
    fn reductions() {
        let x: Vec<f64> = (0..37).map(|i| ((i * 7) % 11) as f64 - 5.0).collect();
        let y: Vec<f64> = (0..37).map(|i| (i as f64).sin()).collect();
        assert!((sum(&x) - x.iter().sum::<f64>()).abs() < 1e-12);
        let d: f64 = x.iter().zip(&y).map(|(a, b)| a * b).sum();
        assert!((dot(&x, &y) - d).abs() < 1e-12);
        let c: f64 = x.iter().map(|v| (v - 1.5) * (v - 1.5)).sum();
        assert!((centered_sum_sq(&x, 1.5) - c).abs() < 1e-12);
        assert_eq!(max(&x), 5.0);
        assert_eq!(max::<f64>(&[]), f64::NEG_INFINITY);
    }
}

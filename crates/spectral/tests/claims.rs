//! Property tests of the claims C1–C11 of `docs/theory.md` (with C8′, post-LN, and the causal
//! attention claim), one test (or more) per claim, each named after it, plus checks that the
//! predicted regime matches the simulated limit (for dense and for causal A).
//!
//! Sizes are kept small (n, d ≤ 6) so the whole file runs in seconds in the dev profile.

mod common;

use common::*;
use eigenformer_spectral::construction::{
    clipped_eigenvalues, general_h, low_rank_head_h, symmetric_h, ClipBounds, SpectrumSign,
};
use eigenformer_spectral::dynamics::{
    layer_norm, simulate, DynamicsConfig, DynamicsHead, LayerNormParams,
};
use eigenformer_spectral::linalg;
use eigenformer_spectral::metrics::{hc_component, mean_pairwise_cosine};
use eigenformer_spectral::spectrum::{
    attention_spectrum, causal_attention_spectrum, head_eigenvalues, multi_head_spectrum,
    pre_ln_spectrum, HeadInput, HeadWeights, MultiHeadMethod, Regime, SpectrumOptions,
    UpdateSpectrum,
};
use eigenformer_spectral::validate::{check_lower_triangular, check_row_stochastic};
use eigenformer_spectral::Complex64;
use ndarray::{Array1, Array2};
use proptest::prelude::*;
use rand::Rng;

fn config() -> ProptestConfig {
    // Several tests filter instances (margins, conditioning): allow plenty of rejections.
    ProptestConfig {
        cases: 64,
        max_global_rejects: 1 << 16,
        ..ProptestConfig::default()
    }
}

fn opts() -> SpectrumOptions {
    SpectrumOptions::default()
}

/// H = V diag(λ) V⁻¹ with a random well-conditioned V (rejecting badly conditioned draws).
fn h_with_real_spectrum(lambda: &[f64], rng: &mut rand_chacha::ChaCha8Rng) -> Option<Array2<f64>> {
    let v = random_basis(lambda.len(), rng);
    if condition_number(&v) > 50.0 {
        return None;
    }
    general_h(v.view(), lambda).ok()
}

proptest! {
    #![proptest_config(config())]

    /// C1: the n·d eigenvalues 1 + a_i h_j equal the spectrum of the dense I + Hᵀ ⊗ A.
    #[test]
    fn c1_kronecker_spectrum_matches_dense(n in 1usize..=6, d in 1usize..=6, scale in 0.2f64..3.0, seed: u64) {
        let mut r = rng(seed);
        let a = softmax_attention(n, scale, &mut r);
        let h = normal_matrix(d, d, &mut r);
        let s = UpdateSpectrum::from_matrices(a.view(), h.view(), &opts()).unwrap();
        let predicted = s.eigenvalues();
        prop_assert_eq!(predicted.len(), n * d);
        let dense = linalg::eigenvalues(dense_update(&a, &h).view()).unwrap();
        let tol = 1e-7 * (1.0 + dense[0].norm());
        prop_assert!(multiset_close(&predicted, &dense, tol), "predicted {:?}\ndense {:?}", predicted, dense);
        // The dominant modulus is the spectral radius of the dense update.
        prop_assert!((s.dominant_modulus - dense[0].norm()).abs() <= tol);
    }

    /// C2: a positive row-stochastic A has the simple eigenvalue 1 with the constant eigenvector;
    /// every other eigenvalue has modulus < 1 and an eigenvector with entries of both signs.
    #[test]
    fn c2_perron_mode_of_positive_attention(n in 2usize..=7, scale in 0.1f64..4.0, seed: u64) {
        let mut r = rng(seed);
        let a = softmax_attention(n, scale, &mut r);
        let att = attention_spectrum(a.view(), 1e-12).unwrap();
        prop_assert!((att.eigenvalues[att.dc_index] - 1.0).norm() < 1e-10);
        prop_assert!(att.dc_constancy > 1.0 - 1e-8);
        // Perron: 1 is the spectral radius, hence first in the order.
        prop_assert_eq!(att.dc_index, 0);
        let near_one = att.eigenvalues.iter().filter(|z| (*z - 1.0).norm() < 1e-6).count();
        prop_assert_eq!(near_one, 1);
        let e = linalg::eigen(a.view()).unwrap();
        for (k, value) in e.values.iter().enumerate().skip(1) {
            prop_assert!(value.norm() < 1.0 - 1e-9, "eigenvalue {} has modulus >= 1", value);
            let v = e.vectors.column(k);
            let norm = v.iter().map(|z| z.norm_sqr()).sum::<f64>().sqrt();
            for part in [v.mapv(|z| z.re), v.mapv(|z| z.im)] {
                let pn = part.dot(&part).sqrt();
                if pn > 1e-6 * norm {
                    let (lo, hi) = part.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), x| (l.min(*x), h.max(*x)));
                    prop_assert!(lo < -1e-9 * pn && hi > 1e-9 * pn, "eigenvector {:?} has one sign", part);
                }
            }
        }
    }

    /// C3: with real spectra the max of |1 + a h| is at a corner pair, and (a_min, h_max) with
    /// h_max > 0 never strictly beats (1, h_max).
    #[test]
    fn c3_real_spectra_maximum_at_corner_pairs(
        n in 2usize..=6,
        lambda in prop::collection::vec(-3.0f64..3.0, 1..=5),
        scale in 0.2f64..3.0,
        seed: u64,
    ) {
        let mut r = rng(seed);
        let a = real_spectrum_attention(n, scale, &mut r);
        let h = h_with_real_spectrum(&lambda, &mut r);
        prop_assume!(h.is_some());
        let h = h.unwrap();
        let s = UpdateSpectrum::from_matrices(a.view(), h.view(), &opts()).unwrap();
        prop_assume!(s.a_eigenvalues.iter().chain(&s.h_eigenvalues).all(|z| z.im.abs() < 1e-8));
        let a_min = s.a_eigenvalues.iter().map(|z| z.re).fold(f64::INFINITY, f64::min);
        let h_max = s.h_eigenvalues.iter().map(|z| z.re).fold(f64::NEG_INFINITY, f64::max);
        let h_min = s.h_eigenvalues.iter().map(|z| z.re).fold(f64::INFINITY, f64::min);
        let corners = [(1.0, h_max), (1.0, h_min), (a_min, h_max), (a_min, h_min)];
        let corner_max = corners.iter().map(|(a, h)| (1.0 + a * h).abs()).fold(0.0, f64::max);
        prop_assert!((s.dominant_modulus - corner_max).abs() < 1e-8, "{} vs corners {}", s.dominant_modulus, corner_max);
        // The top dominating pair sits at a corner.
        let top = s.dominating[0];
        let is_corner = corners.iter().any(|(a, h)| (top.a.re - a).abs() < 1e-8 && (top.h.re - h).abs() < 1e-8);
        prop_assert!(is_corner, "top pair {:?} not at a corner", top);
        if h_max > 0.0 {
            prop_assert!((1.0 + a_min * h_max).abs() <= 1.0 + h_max + 1e-12);
        }
    }

    /// C4: for h = ρe^{iφ} and a real A spectrum in [a_min, 1], the DC mode beats every other
    /// A-mode iff 2 cos φ + ρ(1 + a_min) > 0.
    #[test]
    fn c4_phase_rule_for_complex_h(
        n in 2usize..=6,
        rho in 0.05f64..4.0,
        phi in 0.05f64..3.09,
        scale in 0.2f64..3.0,
        seed: u64,
    ) {
        let mut r = rng(seed);
        let a = real_spectrum_attention(n, scale, &mut r);
        let v = random_basis(2, &mut r);
        prop_assume!(condition_number(&v) < 50.0);
        let h = similar(&v, &rotation_block(rho, phi));
        let s = UpdateSpectrum::from_matrices(a.view(), h.view(), &opts()).unwrap();
        prop_assume!(s.a_eigenvalues.iter().all(|z| z.im.abs() < 1e-8));
        let a_min = s.a_eigenvalues.iter().map(|z| z.re).fold(f64::INFINITY, f64::min);
        let a_second = s.a_eigenvalues[1].re;
        let rule = 2.0 * phi.cos() + rho * (1.0 + a_min);
        prop_assume!(rule.abs() > 1e-2 && 1.0 - a_second > 1e-3);
        // The H spectrum is the conjugate pair ρe^{±iφ}.
        prop_assert!(multiset_close(
            &[Complex64::from_polar(rho, phi), Complex64::from_polar(rho, -phi)],
            &s.h_eigenvalues,
            1e-9 * (1.0 + rho),
        ));
        let best_non_dc = s.best_non_dc.unwrap().modulus;
        prop_assert_eq!(s.best_dc.modulus > best_non_dc, rule > 0.0);
        let expected = if rule > 0.0 { Regime::Smoothing } else { Regime::Sharpening };
        prop_assert_eq!(s.regime, expected);
    }

    /// C5: every eigenvalue of H real in [−1, 0) ⇒ some non-DC eigenvalue of the update strictly
    /// exceeds every DC one (no oversmoothing).
    #[test]
    fn c5_negative_unit_spectrum_prevents_smoothing(
        n in 2usize..=6,
        lambda in prop::collection::vec(-1.0f64..-0.01, 1..=5),
        scale in 0.2f64..3.0,
        seed: u64,
    ) {
        let mut r = rng(seed);
        let a = softmax_attention(n, scale, &mut r);
        let h = h_with_real_spectrum(&lambda, &mut r);
        prop_assume!(h.is_some());
        let s = UpdateSpectrum::from_matrices(a.view(), h.unwrap().view(), &opts()).unwrap();
        prop_assert!(s.best_non_dc.unwrap().modulus > s.best_dc.modulus);
        prop_assert_eq!(s.regime, Regime::Sharpening);
        prop_assert!(!s.limits.angle_convergence);
    }

    /// C5 (bound −1 needed): h = −3 gives |1 + h| = 2 and the DC mode dominates again (with a sign
    /// flip per layer) whenever the non-DC spectrum of A lies in the disc |a − 1/3| < 2/3.
    #[test]
    fn c5_counterexample_h_minus_three_smooths(n in 2usize..=6, d in 1usize..=4, scale in 0.1f64..2.0, seed: u64) {
        let mut r = rng(seed);
        let a = softmax_attention(n, scale, &mut r);
        let h = h_with_real_spectrum(&vec![-3.0; d], &mut r);
        prop_assume!(h.is_some());
        let s = UpdateSpectrum::from_matrices(a.view(), h.unwrap().view(), &opts()).unwrap();
        let non_dc_inside = s.a_eigenvalues.iter().enumerate()
            .filter(|(k, _)| *k != s.dc_index)
            .all(|(_, z)| (z - 1.0 / 3.0).norm() < 2.0 / 3.0 - 1e-6);
        prop_assume!(non_dc_inside);
        prop_assert!((s.dominant_modulus - 2.0).abs() < 1e-9);
        prop_assert_eq!(s.regime, Regime::AlternatingSmoothing);
        prop_assert!(s.limits.angle_convergence && s.limits.rank_collapse);
    }

    /// C6: every eigenvalue of H real and positive ⇒ the DC mode with h_max dominates: angle
    /// convergence and rank collapse.
    #[test]
    fn c6_positive_spectrum_smooths(
        n in 2usize..=6,
        lambda in prop::collection::vec(0.01f64..3.0, 1..=5),
        scale in 0.2f64..3.0,
        seed: u64,
    ) {
        let mut r = rng(seed);
        let a = softmax_attention(n, scale, &mut r);
        let h = h_with_real_spectrum(&lambda, &mut r);
        prop_assume!(h.is_some());
        let s = UpdateSpectrum::from_matrices(a.view(), h.unwrap().view(), &opts()).unwrap();
        let h_max = lambda.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        prop_assert_eq!(s.regime, Regime::Smoothing);
        prop_assert!(s.dominating.iter().all(|p| p.is_dc && (p.h.re - h_max).abs() < 1e-8));
        prop_assert!(s.limits.angle_convergence && s.limits.rank_collapse);
    }

    /// C7: un-normalised token differences shrink iff every non-DC |μ| < 1 (checked by simulation
    /// on instances whose largest non-DC modulus is clearly away from 1).
    #[test]
    fn c7_input_convergence_iff_non_dc_inside_unit_disc(
        n in 2usize..=5,
        lambda in prop::collection::vec(-2.0f64..0.0, 1..=4),
        positive in prop::collection::vec(0.0f64..1.0, 0..=1),
        scale in 0.2f64..3.0,
        seed: u64,
    ) {
        let mut r = rng(seed);
        let a = softmax_attention(n, scale, &mut r);
        let lambda: Vec<f64> = lambda.into_iter().chain(positive).collect();
        let h = h_with_real_spectrum(&lambda, &mut r);
        prop_assume!(h.is_some());
        let h = h.unwrap();
        let s = UpdateSpectrum::from_matrices(a.view(), h.view(), &opts()).unwrap();
        let rho = s.pairs().filter(|p| !p.is_dc).map(|p| p.modulus).fold(0.0, f64::max);
        prop_assume!((rho - 1.0).abs() > 0.02);
        let converges = s.limits.input_convergence;
        prop_assert_eq!(converges, rho < 1.0);
        let layers = ((1e4f64).ln() / (rho.ln().abs())).ceil() as i32;
        // Floating point resolves token differences only down to ε‖X‖: keep the DC part from
        // outgrowing the high-frequency part by more than 1e8 over the run (in either case).
        let dc_growth = s.best_dc.modulus.powi(layers);
        if converges {
            prop_assume!(dc_growth < 1e8);
        } else {
            prop_assume!(dc_growth / rho.powi(layers) < 1e8);
        }
        let x0 = normal_matrix(n, lambda.len(), &mut r);
        let cfg = DynamicsConfig { layers: layers as usize, normalise: false, ..DynamicsConfig::default() };
        let t = simulate(x0.view(), &[DynamicsHead { a: a.view(), h: h.view() }], &cfg).unwrap();
        prop_assert!(t.stopped_at.is_none());
        let hc0 = t.records[0].metrics.hc_norm;
        let hc_l = t.records.last().unwrap().metrics.hc_norm;
        if converges {
            prop_assert!(hc_l < 1e-2 * hc0, "predicted convergence but HC {} -> {}", hc0, hc_l);
        } else {
            prop_assert!(hc_l > hc0, "predicted no convergence but HC {} -> {}", hc0, hc_l);
        }
    }

    /// Causal attention: a lower-triangular row-stochastic A with positive entries on and below
    /// the diagonal has the real spectrum {A_ii} ⊂ (0, 1], A_11 = 1 with eigenvector 1 (the DC
    /// mode) and every other A_ii < 1; `causal_attention_spectrum` reads it off the diagonal.
    /// Checked against the general eigensolver where the diagonal is well separated (elsewhere
    /// the eigenvalues of a triangular matrix are ill-conditioned). Unlike C2 for a positive A,
    /// the left eigenvector of 1 is e₁ (not positive), and the eigenvector of the largest non-DC
    /// A_ii is non-negative, not of mixed signs.
    #[test]
    fn causal_attention_spectrum_is_the_diagonal(n in 1usize..=7, scale in 0.1f64..3.0, seed: u64) {
        let mut r = rng(seed);
        let a = causal_softmax_attention(n, scale, &mut r);
        prop_assert!(check_lower_triangular("a", a.view()).is_ok());
        let att = causal_attention_spectrum(a.view(), 1e-12).unwrap();
        let diagonal: Vec<f64> = (0..n).map(|i| a[[i, i]]).collect();
        prop_assert!(multiset_close(&real(&diagonal), &att.eigenvalues, 0.0), "{:?} vs {:?}", att.eigenvalues, diagonal);
        prop_assert!(att.eigenvalues.iter().all(|z| z.im == 0.0 && z.re > 0.0 && z.re <= 1.0));
        // A_11 = 1, the DC mode, with eigenvector 1 (A 1 = 1) and left eigenvector e₁ (e₁ᵀA = e₁ᵀ).
        prop_assert_eq!(a[[0, 0]], 1.0);
        prop_assert_eq!(att.dc_index, 0);
        prop_assert_eq!(att.eigenvalues[0].re, 1.0);
        let ones = Array1::<f64>::ones(n);
        prop_assert!((a.dot(&ones) - &ones).iter().all(|v| v.abs() < 1e-12));
        prop_assert!(a.row(0).iter().skip(1).all(|v| *v == 0.0));
        prop_assert!(diagonal.iter().skip(1).all(|v| *v < 1.0));
        // Independent check with the general eigensolver (and its DC detection).
        let gap = (0..n).flat_map(|i| (0..i).map(move |j| (i, j)))
            .map(|(i, j)| (diagonal[i] - diagonal[j]).abs())
            .fold(f64::INFINITY, f64::min);
        if gap > 0.05 {
            let general = attention_spectrum(a.view(), 1e-12).unwrap();
            prop_assert!(multiset_close(&general.eigenvalues, &att.eigenvalues, 1e-7), "{:?} vs {:?}", general.eigenvalues, att.eigenvalues);
            prop_assert!((general.eigenvalues[general.dc_index] - 1.0).norm() < 1e-9);
            prop_assert!(general.dc_constancy > 1.0 - 1e-8);
        }
        // The largest non-DC A_ii (token k): its eigenvector is 0 before k, 1 at k and, by forward
        // substitution, (a − A_ii) v_i = Σ_{k≤m<i} A_im v_m > 0 after k: non-negative.
        if n >= 2 && gap > 1e-6 {
            let k = (1..n).max_by(|&i, &j| diagonal[i].total_cmp(&diagonal[j])).unwrap();
            let top = diagonal[k];
            let mut v = Array1::<f64>::zeros(n);
            v[k] = 1.0;
            for i in (k + 1)..n {
                let s: f64 = (k..i).map(|m| a[[i, m]] * v[m]).sum();
                v[i] = s / (top - diagonal[i]);
            }
            let residual = (a.dot(&v) - &v * top).iter().fold(0.0f64, |m, x| m.max(x.abs()));
            let vmax = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            prop_assert!(residual < 1e-9 * vmax, "not an eigenvector: residual {}", residual);
            prop_assert!(v.iter().all(|x| *x >= 0.0), "eigenvector {:?} has mixed signs", v);
        }
    }

    /// Causal attention: the regime analysis applies with the real spectrum {A_ii}. The regime
    /// predicted from `causal_attention_spectrum` and spec(H) matches the simulated limit of the
    /// normalised dynamics (as `predicted_regime_matches_simulated_limit` does for a dense
    /// positive A), on instances with a clear margin: the growth rate, smoothing (cosines → 1,
    /// HC → 0) when the DC mode dominates, rank collapse when predicted.
    ///
    /// In the sharpening regime a non-DC A-mode (a < 1) dominates. Its right eigenvector v has
    /// v₁ = 0 (e₁ᵀ v = e₁ᵀ A v / a = v₁ / a), so the first token's share of the state vanishes, and
    /// a column x with x₁ = 0 has ‖P x‖² = ‖x‖² − (Σx)²/n ≥ ‖x‖²/n: ‖HC‖/‖X‖ ≥ 1/√n. Unlike the
    /// dense case, "no angle convergence" is not asserted there: v need not have mixed signs, and
    /// the vanishing tokens can still align with the others, so the cosines may tend to 1 for some
    /// inputs (see `causal_sharpening_cosines_depend_on_the_input`).
    #[test]
    fn causal_predicted_regime_matches_simulated_limit(
        n in 2usize..=6,
        lambda in prop::collection::vec(-3.5f64..2.0, 1..=4),
        complex_pair in prop::option::of((0.1f64..2.5, 0.2f64..2.9)),
        scale in 0.3f64..3.0,
        seed: u64,
    ) {
        let mut r = rng(seed);
        let a = causal_softmax_attention(n, scale, &mut r);
        let k = lambda.len();
        let d = k + if complex_pair.is_some() { 2 } else { 0 };
        let mut b = Array2::<f64>::zeros((d, d));
        for (i, l) in lambda.iter().enumerate() {
            b[[i, i]] = *l;
        }
        if let Some((rho, phi)) = complex_pair {
            b.slice_mut(ndarray::s![k.., k..]).assign(&rotation_block(rho, phi));
        }
        let v = random_basis(d, &mut r);
        prop_assume!(condition_number(&v) < 50.0);
        let h = similar(&v, &b);
        let att = causal_attention_spectrum(a.view(), 1e-12).unwrap();
        let h_eigs = linalg::eigenvalues(h.view()).unwrap();
        let s = UpdateSpectrum::from_eigenvalues(att.eigenvalues, att.dc_index, h_eigs, &opts()).unwrap();
        prop_assert!(s.a_eigenvalues.iter().all(|z| z.im == 0.0));
        prop_assume!(s.regime != Regime::Balanced && s.convergence_factor() < 0.75);
        let x0 = normal_matrix(n, d, &mut r);
        let cfg = DynamicsConfig { layers: 150, normalise: true, ..DynamicsConfig::default() };
        let t = simulate(x0.view(), &[DynamicsHead { a: a.view(), h: h.view() }], &cfg).unwrap();
        prop_assert!(t.stopped_at.is_none());
        let last = t.records.last().unwrap();
        let m = last.metrics;
        match s.regime {
            Regime::Smoothing | Regime::AlternatingSmoothing => {
                prop_assert!(m.mean_cosine > 1.0 - 1e-6, "cosine {}", m.mean_cosine);
                prop_assert!(m.relative_residual < 1e-6, "residual {}", m.relative_residual);
            }
            Regime::Sharpening => {
                let bound = 0.5 / (n as f64).sqrt();
                prop_assert!(m.relative_residual > bound, "residual {} <= {}", m.relative_residual, bound);
                let x1 = t.final_state.row(0);
                let share = x1.dot(&x1).sqrt() / m.frobenius_norm;
                prop_assert!(share < 1e-6, "first token's share {}", share);
            }
            Regime::Balanced => unreachable!(),
        }
        if s.regime == Regime::AlternatingSmoothing {
            prop_assert!(last.step_alignment.unwrap() < -1.0 + 1e-6);
        }
        prop_assert_eq!(s.limits.angle_convergence, s.regime != Regime::Sharpening);
        if s.limits.rank_collapse {
            prop_assert!(m.sigma_ratio < 1e-6, "sigma ratio {}", m.sigma_ratio);
        }
        if s.dominating.len() == 1 && s.dominating[0].mu.im == 0.0 {
            let g = last.growth.unwrap();
            prop_assert!((g - s.dominant_modulus).abs() < 1e-6 * s.dominant_modulus, "growth {} vs {}", g, s.dominant_modulus);
        }
    }

    /// C11: with P = I − 11ᵀ/n, HC[X] = P X and P A 1 = 0, so one residual layer gives
    /// `HC[X_{l+1}] = HC[X_l] + (P A P) HC[X_l] H` (checked against the crate's `hc_component`
    /// of the directly computed X + A X H), and
    /// `1 − ‖PAP‖₂‖H‖₂ ≤ ‖HC[X_{l+1}]‖_F / ‖HC[X_l]‖_F ≤ 1 + ‖PAP‖₂‖H‖₂`, on random positive
    /// row-stochastic A, random H (scaled so that κ = ‖PAP‖₂‖H‖₂ is often below 1, where the lower
    /// bound says HC cannot vanish in one layer) and X with a large DC part.
    #[test]
    fn c11_high_frequency_recursion_and_bounds(
        n in 2usize..=7,
        d in 1usize..=6,
        a_scale in 0.1f64..4.0,
        h_scale in 0.05f64..2.0,
        dc in 0.0f64..5.0,
        seed: u64,
    ) {
        let mut r = rng(seed);
        let a = softmax_attention(n, a_scale, &mut r);
        let h = normal_matrix(d, d, &mut r) * (h_scale / (d as f64).sqrt());
        let x = normal_matrix(n, d, &mut r) + dc_rows(n, &(normal_vector(d, &mut r) * dc));
        let p = centring(n);
        prop_assert!(p.dot(&a).dot(&Array1::<f64>::ones(n)).iter().all(|v| v.abs() < 1e-12));
        let hc = hc_component(x.view()).unwrap();
        prop_assert!(max_abs_diff(&hc, &p.dot(&x)) < 1e-12 * (1.0 + max_abs(&x)));
        let x1 = &x + &a.dot(&x).dot(&h);
        let hc1 = hc_component(x1.view()).unwrap();
        let pap = p.dot(&a).dot(&p);
        let recursion = &hc + &pap.dot(&hc).dot(&h);
        prop_assert!(max_abs_diff(&hc1, &recursion) < 1e-12 * (1.0 + max_abs(&x1)), "recursion off by {}", max_abs_diff(&hc1, &recursion));
        let frob = |m: &Array2<f64>| m.iter().map(|v| v * v).sum::<f64>().sqrt();
        let ratio = frob(&hc1) / frob(&hc);
        let kappa = spectral_norm(&pap) * spectral_norm(&h);
        let tol = 1e-10 * (1.0 + kappa);
        prop_assert!(ratio <= 1.0 + kappa + tol, "ratio {} > 1 + {}", ratio, kappa);
        prop_assert!(ratio >= 1.0 - kappa - tol, "ratio {} < 1 - {}", ratio, kappa);
        if kappa < 1.0 {
            prop_assert!(frob(&hc1) > 0.0);
        }
    }

    /// C11 (sharpness): both bounds are attained, so neither can be tightened. With a symmetric
    /// positive doubly stochastic A (PAP symmetric), a symmetric H and HC[X] = v xᵀ, where v is an
    /// eigenvector of PAP for its eigenvalue α of largest modulus and x an eigenvector of H for its
    /// eigenvalue η of largest modulus, HC[X_{l+1}] = (1 + αη) v xᵀ: the ratio is 1 + κ when αη > 0
    /// and 1 − κ when αη < 0 (κ = |αη| = ‖PAP‖₂‖H‖₂ < 1).
    #[test]
    fn c11_bounds_are_attained(
        n in 2usize..=7,
        d in 1usize..=6,
        kappa in 0.05f64..0.95,
        upper: bool,
        dc in 0.0f64..5.0,
        seed: u64,
    ) {
        let mut r = rng(seed);
        let p = centring(n);
        let g = normal_matrix(n, n, &mut r);
        let b = p.dot(&(&g + &g.t())).dot(&p);
        let eps = 0.9 / (n as f64 * max_abs(&b).max(1e-12));
        let a = Array2::from_elem((n, n), 1.0 / n as f64) + &b * eps;
        prop_assert!(check_row_stochastic(a.view(), 1e-12).is_ok() && a.iter().all(|v| *v > 0.0));
        let pap = p.dot(&a).dot(&p);
        let ea = linalg::symmetric_eigen(pap.view()).unwrap();
        let ia = (0..n).max_by(|&i, &j| ea.values[i].abs().total_cmp(&ea.values[j].abs())).unwrap();
        let alpha = ea.values[ia];
        prop_assume!(alpha.abs() > 1e-9);
        let v = ea.vectors.column(ia).to_owned();
        // H symmetric with eigenvalues η_j, |η_1| = κ / |α| the largest, sign chosen by `upper`.
        let q = linalg::qr_sign_fixed(normal_matrix(d, d, &mut r).view()).unwrap().0;
        let top = kappa / alpha.abs();
        let sign = if upper == (alpha > 0.0) { 1.0 } else { -1.0 };
        let mut eta: Vec<f64> = (0..d).map(|_| top * (2.0 * r.gen::<f64>() - 1.0) * 0.99).collect();
        eta[0] = sign * top;
        let h = q_diag_qt(&q, &eta);
        let xv = q.column(0).to_owned();
        let hc = v.view().insert_axis(ndarray::Axis(1)).dot(&xv.view().insert_axis(ndarray::Axis(0)));
        let x = &hc + &dc_rows(n, &(normal_vector(d, &mut r) * dc));
        let x1 = &x + &a.dot(&x).dot(&h);
        let frob = |m: &Array2<f64>| m.iter().map(|v| v * v).sum::<f64>().sqrt();
        let ratio = frob(&hc_component(x1.view()).unwrap()) / frob(&hc_component(x.view()).unwrap());
        let measured_kappa = spectral_norm(&pap) * spectral_norm(&h);
        prop_assert!((measured_kappa - kappa).abs() < 1e-9, "κ {} vs {}", measured_kappa, kappa);
        let bound = if upper { 1.0 + kappa } else { 1.0 - kappa };
        prop_assert!((ratio - bound).abs() < 1e-9, "ratio {} vs bound {}", ratio, bound);
    }

    /// C8 (exact part, centred tokens): in a pre-LN block the linear part acts through
    /// `H_eff = P_d diag(γ) H / σ_l` and β only adds the DC term `1 (Hᵀβ)ᵀ`. For tokens with zero
    /// feature mean (`X P_d = X`) and a common variance s², σ_l = √(s²+eps), LN is linear and one
    /// block equals `X + A X H_eff + 1 (Hᵀβ)ᵀ = X + A X diag(γ) H / σ_l + 1 (Hᵀβ)ᵀ`, for any
    /// (negative or mixed) γ. The crate's `layernorm_effective_h` is the `diag(γ) H` factor, and
    /// `pre_ln_spectrum` reports spec(diag(γ)H) (one of the spectra C8 asks for). Tokens with
    /// different means, where P_d matters, are covered by `c8_pre_ln_block_acts_through_h_eff`.
    #[test]
    fn c8_pre_ln_linear_part_is_diag_gamma_h(
        n in 2usize..=6,
        d in 2usize..=6,
        s in 0.5f64..3.0,
        seed: u64,
    ) {
        let mut r = rng(seed);
        let a = softmax_attention(n, 1.0, &mut r);
        let h = normal_matrix(d, d, &mut r);
        let gamma = normal_vector(d, &mut r);
        let beta = normal_vector(d, &mut r);
        let mut x = normal_matrix(n, d, &mut r);
        for mut row in x.rows_mut() {
            let mean = row.sum() / d as f64;
            row.mapv_inplace(|v| v - mean);
            let sd = (row.dot(&row) / d as f64).sqrt();
            row.mapv_inplace(|v| v * s / sd);
        }
        let ln = LayerNormParams::new(gamma.clone(), beta.clone());
        let eps = ln.eps;
        let cfg = DynamicsConfig { layers: 1, normalise: false, layer_norm: Some(ln), ..DynamicsConfig::default() };
        let t = simulate(x.view(), &[DynamicsHead { a: a.view(), h: h.view() }], &cfg).unwrap();
        let h_eff = eigenformer_spectral::layernorm_effective_h(h.view(), gamma.view()).unwrap();
        let dc_shift = h.t().dot(&beta);
        let predicted = &x + &(a.dot(&x).dot(&h_eff) / (s * s + eps).sqrt()) + dc_shift.broadcast((n, d)).unwrap();
        let err = (&t.final_state - &predicted).iter().fold(0.0f64, |m, v| m.max(v.abs()));
        prop_assert!(err < 1e-10, "max error {}", err);
        // Mixed signs reshuffle the spectrum: the effective spectrum is that of diag(γ)H.
        let p = pre_ln_spectrum(a.view(), h.view(), gamma.view(), &opts()).unwrap();
        let dense = linalg::eigenvalues(h_eff.view()).unwrap();
        prop_assert!(multiset_close(&dense, &p.effective.h_eigenvalues, 1e-9 * (1.0 + dense[0].norm())));
        prop_assert_eq!(p.negative_gamma, gamma.iter().filter(|g| **g < 0.0).count());
    }

    /// C8 (sign): γ = −c·1 negates the spectrum, swapping smoothing (C6) and sharpening (C5), and
    /// the simulated pre-LN dynamics follow the sign: with γ = +c the high-frequency part shrinks
    /// relative to the DC part, with γ = −c it grows.
    ///
    /// The block acts through `H_eff = P_d diag(γ) H / σ_l` (C8): LayerNorm centres each token over
    /// the features (P_d = I − 11ᵀ/d) and divides by its std σ_l. To compare like with like at
    /// small d, H is built on the centred subspace (H = Q diag(λ) Qᵀ with Q ⊥ 1, so P_d H = H, its
    /// spectrum is λ ∪ {0} and H_eff = ±c H / σ_l) and the tokens start centred, with σ_l ∈ [1, 2]
    /// so that the scale 1/σ_l cannot push ±cλ/σ_l past −2 (see `c8_small_sigma_undoes_c5`).
    #[test]
    fn c8_negative_gamma_swaps_smoothing_and_sharpening(
        n in 3usize..=6,
        // d = λ.len() + 1 ≥ 3: with d = 2 the centred subspace is a line and LayerNorm degenerates
        // to the sign function.
        lambda in prop::collection::vec(0.2f64..1.0, 2..=5),
        c in 0.3f64..1.0,
        seed: u64,
    ) {
        let mut r = rng(seed);
        let a = softmax_attention(n, 1.0, &mut r);
        let d = lambda.len() + 1;
        // Orthonormal basis of the centred subspace: QR of [1 | random], drop the first column.
        let mut m = normal_matrix(d, d, &mut r);
        m.column_mut(0).fill(1.0);
        let (q, _) = linalg::qr_sign_fixed(m.view()).unwrap();
        let q = q.slice(ndarray::s![.., 1..]).to_owned();
        let mut ql = q.clone();
        for (mut col, l) in ql.columns_mut().into_iter().zip(&lambda) {
            col.mapv_inplace(|v| v * l);
        }
        let h = ql.dot(&q.t());
        let pos = Array1::from_elem(d, c);
        let neg = Array1::from_elem(d, -c);
        let p_pos = pre_ln_spectrum(a.view(), h.view(), pos.view(), &opts()).unwrap();
        let p_neg = pre_ln_spectrum(a.view(), h.view(), neg.view(), &opts()).unwrap();
        prop_assert_eq!(p_pos.plain.regime, Regime::Smoothing);
        prop_assert_eq!(p_pos.effective.regime, Regime::Smoothing);
        // −c·λ ∪ {0}: the DC mode no longer dominates. The zero eigenvalue (the feature-mean
        // direction that LayerNorm removes) gives |μ| = 1 for every A-mode, so the top may be a tie.
        prop_assert!(
            matches!(p_neg.effective.regime, Regime::Sharpening | Regime::Balanced),
            "gamma=-c regime {:?}",
            p_neg.effective.regime
        );
        prop_assert!(!p_neg.effective.limits.angle_convergence);
        let negated: Vec<Complex64> = p_pos.effective.h_eigenvalues.iter().map(|z| -z).collect();
        prop_assert!(multiset_close(&negated, &p_neg.effective.h_eigenvalues, 1e-9));

        // Start near the smooth state 1wᵀ (+ a small centred perturbation) with w along the top
        // eigenvector of H, i.e. in the DC mode with h_max that C6 says dominates (a generic w
        // would show a transient in which high-frequency components along larger eigenvalues
        // outgrow the DC part). Near 1wᵀ all tokens have about the same feature std s, LayerNorm
        // is close to linear and the block acts through H_eff = P_d diag(γ) H / s = ±c H / s
        // (C8). The token std is set to s ∈ [1, 2] so that c·λ/s ≤ 1 keeps the negated spectrum
        // inside C5's [−1, 0) (for s ≪ 1 it would pass −2 and smooth again: C5's counterexample,
        // the scale case of C8).
        let top = (0..lambda.len()).max_by(|&i, &j| lambda[i].total_cmp(&lambda[j])).unwrap();
        let s_target = 1.0 + r.gen::<f64>();
        let w = q.column(top).to_owned() * (s_target * (d as f64).sqrt());
        let mut x0 = normal_matrix(n, d, &mut r) * 0.01 + w.broadcast((n, d)).unwrap();
        for mut row in x0.rows_mut() {
            let mean = row.sum() / d as f64;
            row.mapv_inplace(|v| v - mean);
        }
        let run = |gamma: &Array1<f64>| {
            let ln = LayerNormParams::new(gamma.clone(), Array1::zeros(d));
            let cfg = DynamicsConfig { layers: 20, normalise: false, layer_norm: Some(ln), ..DynamicsConfig::default() };
            simulate(x0.view(), &[DynamicsHead { a: a.view(), h: h.view() }], &cfg).unwrap()
        };
        let ratio = |t: &eigenformer_spectral::Trajectory, layer: usize| {
            t.records[layer].metrics.hc_dc_ratio / t.records[0].metrics.hc_dc_ratio
        };
        let (t_pos, t_neg) = (run(&pos), run(&neg));
        // γ = +c: the smooth state is stable, HC/DC keeps shrinking over the whole run.
        prop_assert!(
            ratio(&t_pos, 1) < 1.0 && ratio(&t_pos, 20) < 1.0,
            "gamma=+c did not smooth: {} {}",
            ratio(&t_pos, 1),
            ratio(&t_pos, 20)
        );
        // γ = −c: the DC part decays faster than HC, so HC/DC grows. Only the first layer is
        // checked: once DC has decayed to the size of HC, the tokens' norms differ and LayerNorm
        // is far from linear.
        prop_assert!(ratio(&t_neg, 1) > 1.0, "gamma=-c did not sharpen: {}", ratio(&t_neg, 1));
    }

    /// C8 (exact statement): LN(X) = diag(σ)⁻¹ X P_d diag(γ) + 1βᵀ with σ_i = √(var_i + eps) the
    /// token's std over its channels and P_d = I − 11ᵀ/d, so for any X one pre-LN block
    /// X + A·LN(X)·H equals X + A diag(σ)⁻¹ X P_d diag(γ) H + 1 (Hᵀβ)ᵀ (using A1 = 1: β only adds
    /// a DC term). When all tokens share σ_l (constructed here: equal stds, different means, so
    /// X P_d ≠ X and P_d matters), it is exactly X + A X H_eff + 1 (Hᵀβ)ᵀ with
    /// H_eff = P_d diag(γ) H / σ_l. Checked against the crate's real LayerNorm (`layer_norm`) and
    /// its pre-LN dynamics (`simulate`), for mixed-sign γ.
    #[test]
    fn c8_pre_ln_block_acts_through_h_eff(
        n in 2usize..=6,
        d in 2usize..=6,
        s in 0.05f64..3.0,
        offset in 0.0f64..3.0,
        seed: u64,
    ) {
        let mut r = rng(seed);
        let a = softmax_attention(n, 1.0, &mut r);
        let h = normal_matrix(d, d, &mut r);
        let gamma = normal_vector(d, &mut r);
        let beta = normal_vector(d, &mut r);
        let ln = LayerNormParams::new(gamma.clone(), beta.clone());
        let block = |x: &Array2<f64>| x + &a.dot(&layer_norm(x.view(), &ln).unwrap()).dot(&h);
        let dc_term = dc_rows(n, &h.t().dot(&beta));
        let p_d = centring(d);
        let diag_gamma = Array2::from_diag(&gamma);

        // Any X: per-token σ_i.
        let x = normal_matrix(n, d, &mut r) * (0.2 + s) + dc_rows(n, &(normal_vector(d, &mut r) * offset));
        let sigma = token_sigma(&x, ln.eps);
        let inv_sigma = Array2::from_diag(&sigma.mapv(|v| 1.0 / v));
        let per_token = &x + &a.dot(&inv_sigma).dot(&x).dot(&p_d).dot(&diag_gamma).dot(&h) + &dc_term;
        let direct = block(&x);
        let err = max_abs_diff(&direct, &per_token);
        prop_assert!(err < 1e-10 * (1.0 + max_abs(&direct)), "per-token form off by {}", err);

        // Shared σ_l: the block is affine in X with the linear part X ↦ A X H_eff.
        let x = shared_sigma_tokens(n, d, s, offset, &mut r);
        let sigma = token_sigma(&x, ln.eps);
        let sigma_l = sigma[0];
        prop_assert!(sigma.iter().all(|v| (v - sigma_l).abs() < 1e-12 * sigma_l));
        prop_assert!((sigma_l - (s * s + ln.eps).sqrt()).abs() < 1e-12 * sigma_l);
        let h_eff = pre_ln_effective_h(&h, &gamma, sigma_l);
        let predicted = &x + &a.dot(&x).dot(&h_eff) + &dc_term;
        let direct = block(&x);
        let err = max_abs_diff(&direct, &predicted);
        prop_assert!(err < 1e-10 * (1.0 + max_abs(&direct)), "H_eff form off by {}", err);
        let cfg = DynamicsConfig { layers: 1, normalise: false, layer_norm: Some(ln.clone()), ..DynamicsConfig::default() };
        let t = simulate(x.view(), &[DynamicsHead { a: a.view(), h: h.view() }], &cfg).unwrap();
        prop_assert!(max_abs_diff(&t.final_state, &direct) < 1e-12 * (1.0 + max_abs(&direct)));
    }

    /// C8 (the scale 1/σ_l matters): take H symmetric with spectrum in [−1, 0), so C5 says the DC
    /// mode never dominates, and γ = c·1 (c ∈ [½, 1]), so spec(diag(γ)H) = c·spec(H) is in
    /// [−1, 0) too. H is built as λ̄ 11ᵀ/d + Q diag(λ) Qᵀ (Q ⊥ 1), so
    /// H_eff = P_d diag(γ) H / σ_l = (c/σ_l) Q diag(λ) Qᵀ with spectrum {0} ∪ cλ/σ_l. With small
    /// activations (token std ≤ 0.05, σ_l measured from X) every nonzero eigenvalue of H_eff lies
    /// below −2, and the DC mode dominates again (alternating smoothing) whenever the non-DC
    /// spectrum of A satisfies |a| < (|h_min| − 2)/|h_min| (then |1 + a h| ≤ 1 + |a||h_min| <
    /// |1 + h_min| for every h ∈ [h_min, 0]). With token std in [1, 2] the same H, γ and A keep
    /// H_eff's spectrum in [−1, 0] and no smoothing. In both cases one real pre-LN block equals
    /// the H_eff form exactly (shared σ_l).
    #[test]
    fn c8_small_sigma_undoes_c5(
        n in 2usize..=6,
        lambda in prop::collection::vec(-1.0f64..-0.5, 2..=5),
        lambda_mean in -1.0f64..-0.01,
        c in 0.5f64..1.0,
        s_small in 0.01f64..0.05,
        s_large in 1.0f64..2.0,
        scale in 0.1f64..1.5,
        seed: u64,
    ) {
        let mut r = rng(seed);
        let a = softmax_attention(n, scale, &mut r);
        let d = lambda.len() + 1;
        let q = centred_basis(d, &mut r);
        let h = Array2::from_elem((d, d), lambda_mean / d as f64) + q_diag_qt(&q, &lambda);
        let gamma = Array1::from_elem(d, c);
        let beta = normal_vector(d, &mut r);
        let ln = LayerNormParams::new(gamma.clone(), beta.clone());
        // C5 on H and on diag(γ)H (the spectrum that ignores 1/σ_l): no smoothing predicted.
        let plain = pre_ln_spectrum(a.view(), h.view(), gamma.view(), &opts()).unwrap();
        prop_assert!(plain.plain.h_eigenvalues.iter().all(|z| z.im.abs() < 1e-9 && z.re >= -1.0 - 1e-9 && z.re < 0.0));
        prop_assert_eq!(plain.plain.regime, Regime::Sharpening);
        prop_assert_eq!(plain.effective.regime, Regime::Sharpening);
        let non_dc_a = plain.plain.a_eigenvalues.iter().enumerate()
            .filter(|(k, _)| *k != plain.plain.dc_index)
            .map(|(_, z)| z.norm())
            .fold(0.0f64, f64::max);

        for (s, small) in [(s_small, true), (s_large, false)] {
            let x = shared_sigma_tokens(n, d, s, 1.0, &mut r);
            let sigma = token_sigma(&x, ln.eps);
            let sigma_l = sigma[0];
            prop_assert!(sigma.iter().all(|v| (v - sigma_l).abs() < 1e-12 * sigma_l));
            let h_eff = pre_ln_effective_h(&h, &gamma, sigma_l);
            let direct = &x + &a.dot(&layer_norm(x.view(), &ln).unwrap()).dot(&h);
            let predicted = &x + &a.dot(&x).dot(&h_eff) + &dc_rows(n, &h.t().dot(&beta));
            prop_assert!(max_abs_diff(&direct, &predicted) < 1e-10 * (1.0 + max_abs(&direct)));
            let eff = UpdateSpectrum::from_matrices(a.view(), h_eff.view(), &opts()).unwrap();
            let want: Vec<f64> = std::iter::once(0.0).chain(lambda.iter().map(|l| c * l / sigma_l)).collect();
            let h_min = want.iter().copied().fold(f64::INFINITY, f64::min);
            prop_assert!(multiset_close(&real(&want), &eff.h_eigenvalues, 1e-9 * (1.0 + h_min.abs())), "{:?} vs {:?}", eff.h_eigenvalues, want);
            if small {
                prop_assert!(want.iter().skip(1).all(|h| *h < -2.0), "spec(H_eff) {:?}", want);
                prop_assume!(non_dc_a < (h_min.abs() - 2.0) / h_min.abs());
                prop_assert_eq!(eff.regime, Regime::AlternatingSmoothing);
                prop_assert!(eff.best_dc.modulus > eff.best_non_dc.unwrap().modulus);
                prop_assert!((eff.best_dc.mu.re - (1.0 + h_min)).abs() < 1e-9 * h_min.abs());
                prop_assert!(eff.limits.angle_convergence);
            } else {
                prop_assert!(want.iter().all(|h| *h >= -1.0 && *h <= 0.0));
                prop_assert!(matches!(eff.regime, Regime::Sharpening | Regime::Balanced), "regime {:?}", eff.regime);
                prop_assert!(!eff.limits.angle_convergence);
            }
        }
    }

    /// C8′ (post-LN): X_l = N diag(γ) + 1βᵀ (N row-normalised, the previous LayerNorm's output)
    /// gives X_l + A X_l H = (N + A N H̃) diag(γ) + 1 (β + Hᵀβ)ᵀ with H̃ = diag(γ) H diag(γ)⁻¹,
    /// which is similar to H: spec(H̃) = spec(H) and the same regime, for γ with nonzero entries
    /// of any signs.
    #[test]
    fn c8_prime_post_ln_effective_h_is_similar_to_h(n in 1usize..=6, d in 1usize..=6, seed: u64) {
        let mut r = rng(seed);
        let a = softmax_attention(n, 1.0, &mut r);
        let h = normal_matrix(d, d, &mut r);
        let gamma = Array1::from_shape_fn(d, |_| {
            let m = 0.2 + 2.8 * r.gen::<f64>();
            if r.gen::<bool>() { m } else { -m }
        });
        let beta = normal_vector(d, &mut r);
        let h_tilde = Array2::from_shape_fn((d, d), |(i, j)| gamma[i] * h[[i, j]] / gamma[j]);
        // Spectrum and regime are those of H.
        let spec_h = linalg::eigenvalues(h.view()).unwrap();
        let spec_t = linalg::eigenvalues(h_tilde.view()).unwrap();
        prop_assert!(multiset_close(&spec_h, &spec_t, 1e-7 * (1.0 + spec_h[0].norm())), "{:?} vs {:?}", spec_t, spec_h);
        let s_h = UpdateSpectrum::from_matrices(a.view(), h.view(), &opts()).unwrap();
        let s_t = UpdateSpectrum::from_matrices(a.view(), h_tilde.view(), &opts()).unwrap();
        prop_assert!((s_h.dominant_modulus - s_t.dominant_modulus).abs() < 1e-7 * (1.0 + s_h.dominant_modulus));
        if s_h.convergence_factor() < 1.0 - 1e-6 && s_h.regime != Regime::Balanced {
            prop_assert_eq!(s_h.regime, s_t.regime);
        }
        // The factorisation of the residual sum, with a real LayerNorm output N.
        let raw = normal_matrix(n, d, &mut r) * 3.0;
        let nrm = layer_norm(raw.view(), &LayerNormParams::identity(d)).unwrap();
        let x = layer_norm(raw.view(), &LayerNormParams::new(gamma.clone(), beta.clone())).unwrap();
        prop_assert!(max_abs_diff(&x, &(nrm.dot(&Array2::from_diag(&gamma)) + dc_rows(n, &beta))) < 1e-12);
        let direct = &x + &a.dot(&x).dot(&h);
        let factored = (&nrm + &a.dot(&nrm).dot(&h_tilde)).dot(&Array2::from_diag(&gamma))
            + dc_rows(n, &(&beta + &h.t().dot(&beta)));
        let err = max_abs_diff(&direct, &factored);
        prop_assert!(err < 1e-10 * (1.0 + max_abs(&direct)), "factorisation off by {}", err);
    }

    /// C8′ (post-LN, sign of γ): in a real post-LN stack X_{l+1} = LN(X_l + A X_l H) with
    /// X_0 = LN(X_raw) (so every X_l = N_l diag(γ) + 1βᵀ) and β = 0, γ → −γ leaves every pairwise
    /// token cosine unchanged at every layer (X_0 → −X_0, and after the next LayerNorm the states
    /// agree), for mixed-sign γ. The condition β = 0 is needed: with a fixed β ≠ 0 (or with
    /// β → −β too) the flip changes the cosines. By contrast the pre-LN block X + A·LN(X)·H does
    /// feel the flip even with β = 0 (C8): its token cosines change.
    #[test]
    fn c8_prime_post_ln_token_cosines_ignore_sign_of_gamma(
        n in 2usize..=6,
        d in 2usize..=6,
        layers in 1usize..=8,
        seed: u64,
    ) {
        let mut r = rng(seed);
        let a = softmax_attention(n, 1.0, &mut r);
        let h = normal_matrix(d, d, &mut r) / (d as f64).sqrt();
        let gamma = Array1::from_shape_fn(d, |_| {
            let m = 0.2 + 2.8 * r.gen::<f64>();
            if r.gen::<bool>() { m } else { -m }
        });
        let raw = normal_matrix(n, d, &mut r) + dc_rows(n, &normal_vector(d, &mut r));
        let stack = |g: &Array1<f64>, b: &Array1<f64>| {
            let ln = LayerNormParams::new(g.clone(), b.clone());
            let mut x = layer_norm(raw.view(), &ln).unwrap();
            let mut states = vec![x.clone()];
            for _ in 0..layers {
                x = layer_norm((&x + &a.dot(&x).dot(&h)).view(), &ln).unwrap();
                states.push(x.clone());
            }
            states
        };
        let zero = Array1::<f64>::zeros(d);
        let (pos, neg) = (stack(&gamma, &zero), stack(&-&gamma, &zero));
        for (l, (xp, xn)) in pos.iter().zip(&neg).enumerate() {
            let diff = max_abs_diff(&token_cosines(xp), &token_cosines(xn));
            prop_assert!(diff < 1e-12, "layer {}: cosines differ by {}", l, diff);
            let mp = mean_pairwise_cosine(xp.view(), &[]).unwrap();
            let mn = mean_pairwise_cosine(xn.view(), &[]).unwrap();
            prop_assert!((mp - mn).abs() < 1e-12);
        }
        // β ≠ 0: neither (−γ, β) nor (−γ, −β) preserves the cosines (d ≥ 3: for d = 2 LayerNorm
        // maps every token to ±(1, −1)·γ + β and coincidences are common).
        let beta = normal_vector(d, &mut r);
        let with_beta = stack(&gamma, &beta);
        for flipped in [stack(&-&gamma, &beta), stack(&-&gamma, &-&beta)] {
            let diff = with_beta.iter().zip(&flipped)
                .map(|(x, y)| max_abs_diff(&token_cosines(x), &token_cosines(y)))
                .fold(0.0f64, f64::max);
            prop_assert!(d == 2 || diff > 1e-9, "β ≠ 0: cosines unchanged under γ → −γ ({})", diff);
        }
        // Pre-LN contrast: one block X + A·LN(X)·H from the same X with γ and with −γ.
        let pre = |g: &Array1<f64>| {
            let ln = LayerNormParams::new(g.clone(), Array1::zeros(d));
            &raw + &a.dot(&layer_norm(raw.view(), &ln).unwrap()).dot(&h)
        };
        let diff = max_abs_diff(&token_cosines(&pre(&gamma)), &token_cosines(&pre(&-&gamma)));
        prop_assert!(diff > 1e-9, "pre-LN cosines unchanged under γ → −γ ({})", diff);
    }

    /// C9: the nonzero eigenvalues of W_V W_O (d×d) equal the eigenvalues of W_O W_V (d_h×d_h); the
    /// rest are zero.
    #[test]
    fn c9_head_spectrum_from_small_factor(d in 1usize..=6, dh in 1usize..=6, seed: u64) {
        let mut r = rng(seed);
        let wv = normal_matrix(d, dh, &mut r);
        let wo = normal_matrix(dh, d, &mut r);
        let he = head_eigenvalues(wv.view(), wo.view()).unwrap();
        let big = linalg::eigenvalues(wv.dot(&wo).view()).unwrap();
        let small = linalg::eigenvalues(wo.dot(&wv).view()).unwrap();
        let tol = 1e-8 * (1.0 + big[0].norm());
        prop_assert_eq!(he.full.len(), d);
        prop_assert_eq!(he.small.len(), dh);
        prop_assert!(multiset_close(&big, &he.full, tol), "full {:?} vs {:?}", he.full, big);
        prop_assert!(multiset_close(&small, &he.small, tol));
        // Nonzero parts agree between the two products.
        let nz = |v: &[Complex64]| v.iter().copied().filter(|z| z.norm() > 1e-6).collect::<Vec<_>>();
        prop_assert!(multiset_close(&nz(&big), &nz(&small), 1e-6));
        // The per-head analysis through the factors equals the one through the full matrix.
        let a = softmax_attention(3, 1.0, &mut r);
        let hw = wv.dot(&wo);
        let via_factors = multi_head_spectrum(&[HeadInput { a: a.view(), weights: HeadWeights::Factored { w_v: wv.view(), w_o: wo.view() } }], None, &opts()).unwrap();
        let via_full = UpdateSpectrum::from_matrices(a.view(), hw.view(), &opts()).unwrap();
        prop_assert!((via_factors.heads[0].dominant_modulus - via_full.dominant_modulus).abs() < tol);
        let direct = UpdateSpectrum::from_head_factors(a.view(), wv.view(), wo.view(), &opts()).unwrap();
        prop_assert_eq!(direct.h_eigenvalues, via_factors.heads[0].h_eigenvalues.clone());
    }

    /// C10: for any ψ, Θ (or V, or the low-rank parameter) the realised spectrum is exactly the
    /// clipped λ, so the sign guarantee holds.
    #[test]
    fn c10_construction_realises_clipped_spectrum(
        psi in prop::collection::vec(-2.0f64..2.0, 1..=6),
        sharpening: bool,
        dh_frac in 0.0f64..1.0,
        seed: u64,
    ) {
        let mut r = rng(seed);
        let d = psi.len();
        let sign = if sharpening { SpectrumSign::Sharpening } else { SpectrumSign::Smoothing };
        let bounds = ClipBounds::default();
        let lambda = clipped_eigenvalues(&psi, sign, bounds).unwrap();
        for l in &lambda {
            let m = l.abs();
            prop_assert!(m >= bounds.eps && m <= bounds.upper);
            prop_assert_eq!(*l < 0.0, sharpening);
        }
        let mut sorted = lambda.clone();
        sorted.sort_by(|x, y| y.total_cmp(x));

        let theta = normal_matrix(d, d, &mut r);
        prop_assume!(condition_number(&theta) < 1e6);
        let hs = symmetric_h(theta.view(), &lambda).unwrap();
        let ev = linalg::symmetric_eigenvalues(hs.view()).unwrap();
        prop_assert!(ev.iter().zip(&sorted).all(|(x, y)| (x - y).abs() < 1e-12), "{:?} vs {:?}", ev, sorted);

        let v = normal_matrix(d, d, &mut r);
        let cond = condition_number(&v);
        prop_assume!(cond < 1e3);
        let hg = general_h(v.view(), &lambda).unwrap();
        let eg = linalg::eigenvalues(hg.view()).unwrap();
        prop_assert!(multiset_close(&real(&lambda), &eg, 1e-10 * cond * cond), "{:?} vs {:?}", eg, lambda);

        let dh = 1 + ((d - 1) as f64 * dh_frac) as usize;
        let p = normal_matrix(d, dh, &mut r);
        let hl = low_rank_head_h(p.view(), &lambda[..dh]).unwrap();
        let el = linalg::symmetric_eigenvalues(hl.view()).unwrap();
        let mut want: Vec<f64> = lambda[..dh].to_vec();
        want.resize(d, 0.0);
        want.sort_by(|x, y| y.total_cmp(x));
        prop_assert!(el.iter().zip(&want).all(|(x, y)| (x - y).abs() < 1e-12), "{:?} vs {:?}", el, want);

        // The guarantee in action (C5/C6) on a positive attention matrix.
        let a = softmax_attention(4, 1.0, &mut r);
        let s = UpdateSpectrum::from_matrices(a.view(), hs.view(), &opts()).unwrap();
        let expected = if sharpening { Regime::Sharpening } else { Regime::Smoothing };
        prop_assert_eq!(s.regime, expected);
    }

    /// Multi-head with a shared A is exact: the combined spectrum is that of the dense
    /// I + Σ_h H_hᵀ ⊗ A; with different A the result is labelled a heuristic.
    #[test]
    fn multi_head_shared_attention_is_exact(n in 1usize..=4, d in 1usize..=4, heads in 1usize..=3, seed: u64) {
        let mut r = rng(seed);
        let a = softmax_attention(n, 1.0, &mut r);
        let hs: Vec<Array2<f64>> = (0..heads).map(|_| normal_matrix(d, d, &mut r)).collect();
        let inputs: Vec<HeadInput> = hs.iter().map(|h| HeadInput { a: a.view(), weights: HeadWeights::Full(h.view()) }).collect();
        let m = multi_head_spectrum(&inputs, None, &opts()).unwrap();
        prop_assert!(m.exact);
        prop_assert_eq!(m.method, MultiHeadMethod::SharedAttention);
        let sum = hs.iter().fold(Array2::zeros((d, d)), |acc, h| acc + h);
        let dense = linalg::eigenvalues(dense_update(&a, &sum).view()).unwrap();
        let combined = m.combined.unwrap().eigenvalues();
        prop_assert!(multiset_close(&combined, &dense, 1e-7 * (1.0 + dense[0].norm())));
        if n >= 2 {
            let a2 = softmax_attention(n, 1.0, &mut r);
            let mut inputs2 = inputs.clone();
            inputs2.push(HeadInput { a: a2.view(), weights: HeadWeights::Full(hs[0].view()) });
            let m2 = multi_head_spectrum(&inputs2, None, &opts()).unwrap();
            prop_assert!(!m2.exact && m2.combined.is_none());
            prop_assert_eq!(m2.method, MultiHeadMethod::PerHeadHeuristic);
        }
    }

    /// The predicted regime and limit notions match the simulated limit of the normalised dynamics
    /// on random instances whose dominating modulus beats the runner-up by a clear margin.
    #[test]
    fn predicted_regime_matches_simulated_limit(
        n in 2usize..=6,
        lambda in prop::collection::vec(-3.5f64..2.0, 1..=4),
        complex_pair in prop::option::of((0.1f64..2.5, 0.2f64..2.9)),
        scale in 0.3f64..4.0,
        seed: u64,
    ) {
        let mut r = rng(seed);
        let a = softmax_attention(n, scale, &mut r);
        let k = lambda.len();
        let d = k + if complex_pair.is_some() { 2 } else { 0 };
        let mut b = Array2::<f64>::zeros((d, d));
        for (i, l) in lambda.iter().enumerate() {
            b[[i, i]] = *l;
        }
        if let Some((rho, phi)) = complex_pair {
            b.slice_mut(ndarray::s![k.., k..]).assign(&rotation_block(rho, phi));
        }
        let v = random_basis(d, &mut r);
        prop_assume!(condition_number(&v) < 50.0);
        let h = similar(&v, &b);
        let s = UpdateSpectrum::from_matrices(a.view(), h.view(), &opts()).unwrap();
        prop_assume!(s.regime != Regime::Balanced && s.convergence_factor() < 0.75);
        let x0 = normal_matrix(n, d, &mut r);
        let cfg = DynamicsConfig { layers: 150, normalise: true, ..DynamicsConfig::default() };
        let t = simulate(x0.view(), &[DynamicsHead { a: a.view(), h: h.view() }], &cfg).unwrap();
        prop_assert!(t.stopped_at.is_none());
        let last = t.records.last().unwrap();
        let m = last.metrics;
        match s.regime {
            Regime::Smoothing | Regime::AlternatingSmoothing => {
                prop_assert!(m.mean_cosine > 1.0 - 1e-6, "cosine {}", m.mean_cosine);
                prop_assert!(m.relative_residual < 1e-6, "residual {}", m.relative_residual);
            }
            Regime::Sharpening => {
                // The limit's columns are orthogonal to the positive left Perron vector, which
                // forces ‖HC‖/‖X‖ ≥ 1/√(n+1).
                let bound = 0.5 / ((n + 1) as f64).sqrt();
                prop_assert!(m.relative_residual > bound, "residual {} <= {}", m.relative_residual, bound);
            }
            Regime::Balanced => unreachable!(),
        }
        if s.regime == Regime::AlternatingSmoothing {
            prop_assert!(last.step_alignment.unwrap() < -1.0 + 1e-6);
        }
        prop_assert_eq!(s.limits.angle_convergence, m.mean_cosine > 1.0 - 1e-6);
        if s.limits.rank_collapse {
            prop_assert!(m.sigma_ratio < 1e-6, "sigma ratio {}", m.sigma_ratio);
        }
        if s.dominating.len() == 1 && s.dominating[0].mu.im == 0.0 {
            let g = last.growth.unwrap();
            prop_assert!((g - s.dominant_modulus).abs() < 1e-6 * s.dominant_modulus, "growth {} vs {}", g, s.dominant_modulus);
        }
    }
}

#[test]
fn c5_zero_must_be_excluded() {
    // H = 0: every μ = 1, the DC mode ties with the non-DC modes.
    let mut r = rng(7);
    let a = softmax_attention(4, 1.0, &mut r);
    let h = Array2::<f64>::zeros((3, 3));
    let s = UpdateSpectrum::from_matrices(a.view(), h.view(), &opts()).unwrap();
    assert_eq!(s.regime, Regime::Balanced);
    assert!(!s.limits.input_convergence && !s.limits.rank_collapse);
    let _ = r.gen::<u8>();
}

/// Causal attention (a caveat to "the regime analysis applies unchanged"): in the sharpening
/// regime the limit notion "no angle convergence" does not carry over. A = [[1, 0], [½, ½]],
/// H = diag(−½, −¼) (spectrum in [−1, 0), so C5's setting): the pair (½, −¼) dominates with
/// |μ| = 7/8 > 3/4, the best DC modulus. Its eigenvector (0, 1) is non-negative, token 1 vanishes
/// relative to token 2, and both tokens tend to ±e₂ (each token's fastest-growing part uses the
/// H-mode h = −¼): the cosine tends to +1 or −1 depending on the input. The share of HC stays at
/// 1/√2 (no smoothing in the HC/DC sense) either way.
#[test]
fn causal_sharpening_cosines_depend_on_the_input() {
    let a = ndarray::array![[1.0, 0.0], [0.5, 0.5]];
    let h = ndarray::array![[-0.5, 0.0], [0.0, -0.25]];
    let att = causal_attention_spectrum(a.view(), 1e-12).unwrap();
    let h_eigs = linalg::eigenvalues(h.view()).unwrap();
    let s =
        UpdateSpectrum::from_eigenvalues(att.eigenvalues, att.dc_index, h_eigs, &opts()).unwrap();
    assert_eq!(s.regime, Regime::Sharpening);
    assert!((s.dominant_modulus - 0.875).abs() < 1e-15 && (s.best_dc.modulus - 0.75).abs() < 1e-15);
    assert!(!s.limits.angle_convergence && s.limits.rank_collapse);
    let cfg = DynamicsConfig {
        layers: 400,
        normalise: true,
        ..DynamicsConfig::default()
    };
    for (x12, cosine) in [(0.3, 1.0), (-0.3, -1.0)] {
        let x0 = ndarray::array![[1.0, x12], [2.0, 1.0]];
        let t = simulate(
            x0.view(),
            &[DynamicsHead {
                a: a.view(),
                h: h.view(),
            }],
            &cfg,
        )
        .unwrap();
        let m = t.records.last().unwrap().metrics;
        assert!(
            (m.mean_cosine - cosine).abs() < 1e-9,
            "x12 = {x12}: cosine {}",
            m.mean_cosine
        );
        assert!(
            (m.relative_residual - 0.5f64.sqrt()).abs() < 1e-9,
            "residual {}",
            m.relative_residual
        );
        assert!(m.sigma_ratio < 1e-9);
    }
}

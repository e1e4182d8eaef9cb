//! Property tests of the claims C1–C11 of `docs/theory.md`, one test (or more) per claim,
//! each named after it, plus a check that the predicted regime matches the simulated limit.
//!
//! Sizes are kept small (n, d ≤ 6) so the whole file runs in seconds in the dev profile.

mod common;

use common::*;
use eigenformer_spectral::construction::{
    clipped_eigenvalues, general_h, low_rank_head_h, symmetric_h, ClipBounds, SpectrumSign,
};
use eigenformer_spectral::dynamics::{simulate, DynamicsConfig, DynamicsHead, LayerNormParams};
use eigenformer_spectral::linalg;
use eigenformer_spectral::spectrum::{
    attention_spectrum, head_eigenvalues, multi_head_spectrum, pre_ln_spectrum, HeadInput,
    HeadWeights, MultiHeadMethod, Regime, SpectrumOptions, UpdateSpectrum,
};
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

    /// C8 (exact part): in a pre-LN block the linear part acts through diag(γ)H and β only adds a
    /// DC term. For tokens with zero feature mean and a common variance s², LN is linear and one
    /// block equals X + A X diag(γ) H / √(s²+eps) + 1 (Hᵀβ)ᵀ, for any (negative or mixed) γ.
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
    /// LayerNorm also centres each token over the features (a projection C = I − 11ᵀ/d), so the
    /// block really acts through C diag(γ) H. To compare like with like at small d, H is built on
    /// the centred subspace (H = Q diag(λ) Qᵀ with Q ⊥ 1, so C H = H and its spectrum is λ ∪ {0})
    /// and the tokens start centred.
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
        // is close to linear and the block acts through diag(γ)H / s. The token std is set to
        // s ∈ [1, 2] so that c·λ/s ≤ 1 keeps the negated spectrum inside C5's [−1, 0) (for s ≪ 1
        // it would pass −2 and smooth again: C5's counterexample).
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

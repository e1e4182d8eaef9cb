//! The two analyses of matrices given by a user, shared by the `eigenformer spectrum` and
//! `eigenformer simulate` commands and the Python package: [`analyse_spectrum`] (the spectra
//! of A and H, the dominating pair and the predicted regime, as `eigenformer spectrum --json`
//! prints them) and [`simulate_stack`] (the regime the spectra predict for a stack of
//! `X ← X + Σ_h A_h X H_h` layers, and the simulated trajectory). Reading files, naming them in
//! errors and accepting a non-stochastic A are the callers' business; these functions take
//! arrays.

use crate::dynamics::{simulate, DynamicsConfig, DynamicsHead, LayerNormParams, Trajectory};
use crate::error::SpectralError;
use crate::spectrum::{
    layernorm_effective_h, multi_head_spectrum, HeadInput, HeadWeights, LimitNotions, ModePair,
    Regime, SpectrumOptions, UpdateSpectrum,
};
use ndarray::{Array2, ArrayView1, ArrayView2};
use num_complex::Complex64;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;

/// Why an analysis failed, by the step that failed (so that a caller can say which of its
/// inputs is at fault).
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// `diag(γ) H` could not be formed (γ of the wrong length, …).
    #[error("combining gamma with H: {0}")]
    Gamma(#[source] SpectralError),
    /// The spectrum of the update `X + A X H` could not be computed.
    #[error("analysing A and H: {0}")]
    Update(#[source] SpectralError),
    /// The eigenvalues of H itself could not be computed.
    #[error(transparent)]
    RawH(SpectralError),
    /// The update has no dominating pair (cannot happen for valid inputs).
    #[error("the spectrum has no dominating pair")]
    NoDominatingPair,
    /// The regime could not be predicted from the heads' spectra.
    #[error("predicting the regime from the spectra: {0}")]
    Prediction(#[source] SpectralError),
    /// The stack could not be simulated.
    #[error("simulating the dynamics: {0}")]
    Simulation(#[source] SpectralError),
    /// The simulation recorded no layer.
    #[error("the simulation recorded no layer")]
    NoLayers,
}

/// A complex number as `[re, im]`.
fn pair(z: Complex64) -> [f64; 2] {
    [z.re, z.im]
}

/// The dominating pair of [`SpectrumReport`].
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct DominantPair {
    /// Eigenvalue of A, `[re, im]`.
    pub a: [f64; 2],
    /// Eigenvalue of the analysed H, `[re, im]`.
    pub h: [f64; 2],
    /// `|1 + a h|`.
    pub mu_abs: f64,
    /// Whether `a` is the DC mode of A.
    pub is_dc: bool,
}

impl From<&ModePair> for DominantPair {
    fn from(p: &ModePair) -> Self {
        DominantPair {
            a: pair(p.a),
            h: pair(p.h),
            mu_abs: p.modulus,
            is_dc: p.is_dc,
        }
    }
}

/// The analysis of one (A, H[, γ]): the document `eigenformer spectrum --json` prints (see
/// docs/cli.md); the field order is the JSON's.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct SpectrumReport {
    /// Number of tokens.
    pub n: usize,
    /// Width.
    pub d: usize,
    /// Which matrix the H-spectrum is of: `"H"` or `"diag(gamma) H"`.
    pub h_used: &'static str,
    /// Eigenvalues of A, `[re, im]`, by descending modulus.
    pub eigenvalues_a: Vec<[f64; 2]>,
    /// Eigenvalues of the analysed H (diag(γ)H with γ), `[re, im]`.
    pub eigenvalues_h: Vec<[f64; 2]>,
    /// Eigenvalues of H itself when γ was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eigenvalues_h_raw: Option<Vec<[f64; 2]>>,
    /// Index of the DC mode in `eigenvalues_a`.
    pub dc_index: usize,
    /// The first dominating pair.
    pub dominant: DominantPair,
    /// Every pair within the tie tolerance of the maximal |μ|.
    pub dominating: Vec<DominantPair>,
    /// The largest |μ| outside the dominating set (how clear the prediction is).
    pub runner_up_mu_abs: Option<f64>,
    /// `"smoothing"`, `"alternating-smoothing"`, `"sharpening"` or `"balanced"`.
    pub regime: Regime,
    /// Which limit notions hold.
    pub limit: LimitNotions,
    /// Warnings (for example a non-stochastic A accepted anyway); empty from
    /// [`analyse_spectrum`], filled by the caller.
    pub warnings: Vec<String>,
}

/// The spectra of `a` and `h` (or `diag(gamma) h`), the dominating pair of `X + A X H` and the
/// regime it predicts (theory.md §1–§2). `opts.stochastic_tol` is the row-sum tolerance of A
/// (a caller that accepts any A passes `f64::MAX`).
pub fn analyse_spectrum(
    a: ArrayView2<'_, f64>,
    h: ArrayView2<'_, f64>,
    gamma: Option<ArrayView1<'_, f64>>,
    opts: &SpectrumOptions,
) -> Result<SpectrumReport, AnalysisError> {
    let (used, h_used): (Array2<f64>, &'static str) = match gamma {
        Some(g) => (
            layernorm_effective_h(h, g).map_err(AnalysisError::Gamma)?,
            "diag(gamma) H",
        ),
        None => (h.to_owned(), "H"),
    };
    let spectrum =
        UpdateSpectrum::from_matrices(a, used.view(), opts).map_err(AnalysisError::Update)?;
    let eigenvalues_h_raw = match gamma {
        Some(_) => Some(
            crate::linalg::eigenvalues(h)
                .map_err(AnalysisError::RawH)?
                .into_iter()
                .map(pair)
                .collect(),
        ),
        None => None,
    };
    let dominant = spectrum
        .dominating
        .first()
        .map(DominantPair::from)
        .ok_or(AnalysisError::NoDominatingPair)?;
    Ok(SpectrumReport {
        n: spectrum.n(),
        d: spectrum.d(),
        h_used,
        eigenvalues_a: spectrum.a_eigenvalues.iter().copied().map(pair).collect(),
        eigenvalues_h: spectrum.h_eigenvalues.iter().copied().map(pair).collect(),
        eigenvalues_h_raw,
        dc_index: spectrum.dc_index,
        dominant,
        dominating: spectrum.dominating.iter().map(DominantPair::from).collect(),
        runner_up_mu_abs: spectrum.runner_up_modulus,
        regime: spectrum.regime,
        limit: spectrum.limits,
        warnings: Vec::new(),
    })
}

/// The default initial state of a simulation: an `n×d` matrix of standard normal entries drawn
/// from a ChaCha8 stream seeded with `seed`, row by row.
pub fn random_initial_state(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((n, d), || StandardNormal.sample(&mut rng))
}

/// A simulated stack and the regime its spectra predict.
#[derive(Debug, Clone)]
pub struct StackSimulation {
    /// Regime predicted from the spectra: one entry for one head or heads sharing A (exact),
    /// one per head otherwise (a heuristic).
    pub predicted_regime: Vec<Regime>,
    /// Whether the prediction is exact (one head, or heads sharing A).
    pub prediction_exact: bool,
    /// The metrics per layer.
    pub trajectory: Trajectory,
}

/// Predict the regime of `X ← X + Σ_h A_h X H_h` (with the pre-LN `layer_norm`'s γ, if any)
/// from the spectra of `heads` (pairs `(A_h, H_h)`), then simulate `cfg.layers` layers from
/// `x0`. `cfg.stochastic_tol` is also the row-sum tolerance of the prediction.
pub fn simulate_stack(
    heads: &[(ArrayView2<'_, f64>, ArrayView2<'_, f64>)],
    x0: ArrayView2<'_, f64>,
    cfg: &DynamicsConfig,
) -> Result<StackSimulation, AnalysisError> {
    let opts = SpectrumOptions {
        stochastic_tol: cfg.stochastic_tol,
        ..SpectrumOptions::default()
    };
    let inputs: Vec<HeadInput<'_>> = heads
        .iter()
        .map(|(a, h)| HeadInput {
            a: *a,
            weights: HeadWeights::Full(*h),
        })
        .collect();
    let gamma = cfg
        .layer_norm
        .as_ref()
        .map(|ln: &LayerNormParams| ln.gamma.view());
    let prediction =
        multi_head_spectrum(&inputs, gamma, &opts).map_err(AnalysisError::Prediction)?;
    let predicted_regime = match &prediction.combined {
        Some(c) => vec![c.regime],
        None => prediction.heads.iter().map(|h| h.regime).collect(),
    };
    let dynamics: Vec<DynamicsHead<'_>> = heads
        .iter()
        .map(|(a, h)| DynamicsHead { a: *a, h: *h })
        .collect();
    let trajectory = simulate(x0, &dynamics, cfg).map_err(AnalysisError::Simulation)?;
    if trajectory.records.is_empty() {
        return Err(AnalysisError::NoLayers);
    }
    Ok(StackSimulation {
        predicted_regime,
        prediction_exact: prediction.exact,
        trajectory,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn spectrum_report_fields() {
        let a = array![[0.7, 0.3], [0.4, 0.6]];
        let h = array![[0.5, 0.0], [0.0, -0.1]];
        let r = analyse_spectrum(a.view(), h.view(), None, &SpectrumOptions::default()).unwrap();
        assert_eq!((r.n, r.d, r.h_used), (2, 2, "H"));
        assert_eq!(r.regime, Regime::Smoothing);
        assert!(r.dominant.is_dc);
        assert!((r.dominant.mu_abs - 1.5).abs() < 1e-12);
        assert!(r.eigenvalues_h_raw.is_none());
        // γ = −1 flips the sign of every eigenvalue of H (C8).
        let g = array![-1.0, -1.0];
        let r = analyse_spectrum(a.view(), h.view(), Some(g.view()), &Default::default()).unwrap();
        assert_eq!(r.h_used, "diag(gamma) H");
        assert_eq!(r.eigenvalues_h_raw.as_ref().unwrap()[0], [0.5, 0.0]);
        assert_eq!(r.eigenvalues_h[0], [-0.5, 0.0]);
        let bad = array![1.0];
        let e = analyse_spectrum(a.view(), h.view(), Some(bad.view()), &Default::default());
        assert!(matches!(e, Err(AnalysisError::Gamma(_))), "{e:?}");
        let not_stochastic = array![[0.7, 0.7], [0.4, 0.6]];
        let e = analyse_spectrum(not_stochastic.view(), h.view(), None, &Default::default());
        assert!(matches!(e, Err(AnalysisError::Update(_))), "{e:?}");
    }

    #[test]
    fn simulated_stack_follows_the_prediction() {
        let a = array![[0.7, 0.3], [0.4, 0.6]];
        let h = array![[0.5, 0.0], [0.0, 0.1]];
        let x0 = random_initial_state(2, 2, 3);
        assert_eq!(x0, random_initial_state(2, 2, 3), "seeded");
        let cfg = DynamicsConfig {
            layers: 30,
            normalise: true,
            layer_norm: None,
            exclude_tokens: Vec::new(),
            stochastic_tol: SpectrumOptions::default().stochastic_tol,
        };
        let s = simulate_stack(&[(a.view(), h.view())], x0.view(), &cfg).unwrap();
        assert_eq!(s.predicted_regime, vec![Regime::Smoothing]);
        assert!(s.prediction_exact);
        assert_eq!(s.trajectory.records.len(), 31);
        let last = s.trajectory.records.last().unwrap().metrics.mean_cosine;
        assert!(last > 0.999, "{last}");
    }
}

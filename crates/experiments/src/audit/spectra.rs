//! The weight-only part of the audit: each head's spectrum of `H_h = W_V^h W_O^h`, of
//! `diag(γ) H_h` and, for pre-LN models, of `H_eff = P_d diag(γ) H_h / σ_l` (theory.md C8, C9),
//! computed with the spectral crate on the small `d_h × d_h` factor. Only σ_l needs the data:
//! `spec(H_eff) = spec(P_d diag(γ) H_h) / σ_l`, so the weights' part is computed once and
//! divided when σ_l has been measured.

use eigenformer_model::hf::NormKind;
use eigenformer_spectral::{head_eigenvalues, Complex64, HeadEigenvalues, SpectralError};
use ndarray::{Array1, Array2};

/// The spectra of one head.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadSpectra {
    /// Spectrum of `H_h` (`full`: d values, the `d_h` of the small factor plus zeros).
    pub h: HeadEigenvalues,
    /// Spectrum of `diag(γ) H_h`.
    pub h_eff: HeadEigenvalues,
    /// Pre-LN: spectrum of `P_d diag(γ) H_h` (LayerNorm; P_d = I − 11ᵀ/d removes each token's
    /// channel mean) or `diag(γ) H_h` (RMSNorm, which does not centre): `H_eff` before the
    /// division by σ_l. `None` for post-LN models (C8′: their effective H is similar to H).
    pub h_norm: Option<HeadEigenvalues>,
    /// Pre-LN: spectrum of `H_eff = h_norm / σ_l` once σ_l is measured ([`HeadSpectra::with_sigma`]).
    pub h_sigma: Option<HeadEigenvalues>,
}

/// Spectrum of `P diag(γ) W_V W_O` from the small factor `W_O (P diag(γ) W_V)` (C9), with
/// `P = P_d` when `centre` (LayerNorm) and `P = I` otherwise (RMSNorm).
pub fn norm_spectrum(
    w_v: &Array2<f64>,
    w_o: &Array2<f64>,
    gamma: &Array1<f64>,
    centre: bool,
) -> Result<HeadEigenvalues, SpectralError> {
    check_gamma(w_v, gamma)?;
    let mut scaled = w_v * &gamma.view().insert_axis(ndarray::Axis(1));
    if centre {
        // P_d M = M − 1 (1ᵀM)/d: subtract each column's mean over the d channels.
        if let Some(mean) = scaled.mean_axis(ndarray::Axis(0)) {
            scaled -= &mean.insert_axis(ndarray::Axis(0));
        }
    }
    head_eigenvalues(scaled.view(), w_o.view())
}

fn check_gamma(w_v: &Array2<f64>, gamma: &Array1<f64>) -> Result<(), SpectralError> {
    if gamma.len() != w_v.nrows() {
        return Err(SpectralError::Shape {
            arg: "gamma",
            got: vec![gamma.len()],
            expected: format!("length {} (the width d)", w_v.nrows()),
        });
    }
    Ok(())
}

/// Spectra of one head from its factors (`w_v`: d×d_h, `w_o`: d_h×d) and the γ of the
/// LayerNorm that feeds its attention. `diag(γ) W_V W_O = (diag(γ) W_V) W_O` stays factored, so
/// both spectra cost `O(d_h³)` (C9).
pub fn head_spectra(
    w_v: &Array2<f64>,
    w_o: &Array2<f64>,
    gamma: &Array1<f64>,
) -> Result<HeadSpectra, SpectralError> {
    let h = head_eigenvalues(w_v.view(), w_o.view())?;
    check_gamma(w_v, gamma)?;
    let scaled = w_v * &gamma.view().insert_axis(ndarray::Axis(1));
    let h_eff = head_eigenvalues(scaled.view(), w_o.view())?;
    Ok(HeadSpectra {
        h,
        h_eff,
        h_norm: None,
        h_sigma: None,
    })
}

/// Everything the audit computes from one head's weights: [`head_spectra`], and for a pre-LN
/// model (`post_ln` false) also `h_norm` = [`norm_spectrum`] (centred for a LayerNorm, not for
/// an RMSNorm).
pub fn audit_head_spectra(
    w_v: &Array2<f64>,
    w_o: &Array2<f64>,
    gamma: &Array1<f64>,
    post_ln: bool,
    norm: NormKind,
) -> Result<HeadSpectra, SpectralError> {
    let mut s = head_spectra(w_v, w_o, gamma)?;
    if !post_ln {
        let centre = norm == NormKind::LayerNorm;
        s.h_norm = Some(norm_spectrum(w_v, w_o, gamma, centre)?);
    }
    Ok(s)
}

impl HeadSpectra {
    /// Fill [`HeadSpectra::h_sigma`] = `h_norm / sigma` (eigenvalues scale with the matrix).
    /// Without `h_norm`, or with a σ that is not a positive finite number (a layer whose inputs
    /// are all zero), `h_sigma` stays `None`.
    pub fn with_sigma(mut self, sigma: f64) -> HeadSpectra {
        self.h_sigma = match &self.h_norm {
            Some(n) if sigma.is_finite() && sigma > 0.0 => Some(HeadEigenvalues {
                small: n.small.iter().map(|z| z / sigma).collect(),
                full: n.full.iter().map(|z| z / sigma).collect(),
            }),
            _ => None,
        };
        self
    }

    /// [`HeadSpectra::analysis_eigenvalues`] for `H_eff` (`None` without `h_sigma`).
    pub fn analysis_eigenvalues_sigma(&self) -> Option<Vec<Complex64>> {
        let h = self.h_sigma.as_ref()?;
        let mut v = h.small.clone();
        if h.full.len() > h.small.len() {
            v.push(Complex64::new(0.0, 0.0));
        }
        Some(v)
    }

    /// The H-eigenvalues for the per-sentence analysis: the `d_h` nonzero ones plus a single
    /// zero standing for the `d − d_h` zeros. Every zero gives `μ = 1 + a·0 = 1` for every A-mode,
    /// so one zero decides dominance and regime exactly as all of them would, at `d_h/d` of the
    /// cost (12× fewer pairs for MiniLM).
    pub fn analysis_eigenvalues(&self, eff: bool) -> Vec<Complex64> {
        let h = if eff { &self.h_eff } else { &self.h };
        let mut v = h.small.clone();
        if h.full.len() > h.small.len() {
            v.push(Complex64::new(0.0, 0.0));
        }
        v
    }
}

/// Fraction of `values` with a negative real part (below `−tol·max|z|`, so rounding noise
/// around the zero eigenvalues does not count).
pub fn negative_real_fraction(values: &[Complex64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let tol = 1e-12 * spectral_radius(values).max(f64::MIN_POSITIVE);
    values.iter().filter(|z| z.re < -tol).count() as f64 / values.len() as f64
}

/// `max |z|` (0 for an empty list).
pub fn spectral_radius(values: &[Complex64]) -> f64 {
    values.iter().map(|z| z.norm()).fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn small_factor_and_layernorm_sign() {
        // d = 3, d_h = 1: H = w_v w_o has the single nonzero eigenvalue w_o·w_v = 0.2.
        let w_v = array![[1.0], [2.0], [0.5]];
        let w_o = array![[0.3, -0.1, 0.2]];
        let s = head_spectra(&w_v, &w_o, &array![1.0, 1.0, 1.0]).unwrap();
        assert_eq!(s.h.small.len(), 1);
        assert_eq!(s.h.full.len(), 3);
        assert!((s.h.small[0].re - 0.2).abs() < 1e-12);
        let flipped = head_spectra(&w_v, &w_o, &array![-1.0, -1.0, -1.0]).unwrap();
        assert!((flipped.h_eff.small[0].re + 0.2).abs() < 1e-12);
        assert_eq!(negative_real_fraction(&s.h.small), 0.0);
        assert_eq!(negative_real_fraction(&flipped.h_eff.small), 1.0);
        // The zeros of the full spectrum are not negative.
        assert!((negative_real_fraction(&flipped.h_eff.full) - 1.0 / 3.0).abs() < 1e-12);
        assert!((spectral_radius(&s.h.full) - 0.2).abs() < 1e-12);
        assert!(head_spectra(&w_v, &w_o, &array![1.0]).is_err());
    }

    /// `spec(P_d diag(γ) H)` through the small factor equals the spectrum of the full d×d
    /// matrix built directly, and dividing by σ scales every eigenvalue.
    #[test]
    fn centred_spectrum_matches_the_full_matrix() {
        use eigenformer_spectral::linalg::eigenvalues;
        use eigenformer_spectral::random::normal_matrix;
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let (d, dh) = (7, 3);
        let w_v = normal_matrix(d, dh, &mut rng);
        let w_o = normal_matrix(dh, d, &mut rng);
        let gamma = Array1::from_iter((0..d).map(|i| if i % 3 == 0 { -0.7 } else { 1.3 }));
        let p = Array2::<f64>::eye(d) - Array2::<f64>::from_elem((d, d), 1.0 / d as f64);
        let full = p.dot(&Array2::from_diag(&gamma)).dot(&w_v.dot(&w_o));
        let want = eigenvalues(full.view()).unwrap();
        let got = norm_spectrum(&w_v, &w_o, &gamma, true).unwrap();
        assert_eq!(got.full.len(), d);
        for z in &got.small {
            let nearest = want.iter().map(|w| (w - z).norm()).fold(f64::MAX, f64::min);
            assert!(nearest < 1e-9, "{z} not in {want:?}");
        }
        // Without centring it is diag(γ) H, as h_eff.
        let plain = norm_spectrum(&w_v, &w_o, &gamma, false).unwrap();
        let s = head_spectra(&w_v, &w_o, &gamma).unwrap();
        assert_eq!(plain, s.h_eff);
        let s = HeadSpectra {
            h_norm: Some(got.clone()),
            ..s
        }
        .with_sigma(0.5);
        let sigma = s.h_sigma.as_ref().unwrap();
        for (a, b) in sigma.small.iter().zip(&got.small) {
            assert!((a - b * 2.0).norm() < 1e-12);
        }
        assert_eq!(
            s.analysis_eigenvalues_sigma().unwrap().len(),
            dh + 1,
            "d_h values and one zero"
        );
        assert!(s.with_sigma(0.0).h_sigma.is_none());
    }

    #[test]
    fn one_zero_stands_for_all_zeros_in_the_regime() {
        use eigenformer_spectral::random::{normal_matrix, softmax_attention};
        use eigenformer_spectral::{attention_spectrum, SpectrumOptions, UpdateSpectrum};
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let opts = SpectrumOptions::default();
        for trial in 0..40 {
            let (d, dh, n) = (12, 3, 6);
            let scale = [0.1, 1.0, 3.0][trial % 3];
            let w_v = normal_matrix(d, dh, &mut rng) * scale;
            let w_o = normal_matrix(dh, d, &mut rng);
            let gamma = Array1::from_elem(d, 1.0);
            let s = head_spectra(&w_v, &w_o, &gamma).unwrap();
            let a = softmax_attention(n, 2.0, &mut rng);
            let att = attention_spectrum(a.view(), 1e-9).unwrap();
            let run = |h: Vec<Complex64>| {
                UpdateSpectrum::from_eigenvalues(att.eigenvalues.clone(), att.dc_index, h, &opts)
                    .unwrap()
            };
            let full = run(s.h.full.clone());
            let reduced = run(s.analysis_eigenvalues(false));
            assert_eq!(full.regime, reduced.regime, "trial {trial}");
            assert!((full.dominant_modulus - reduced.dominant_modulus).abs() < 1e-12);
        }
    }
}

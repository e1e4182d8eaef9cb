//! `eigenformer theory`: the theory section of the report (theory.md §1–§2, §5). It
//!
//! 1. builds one example per regime (smoothing, alternating-smoothing, sharpening, balanced),
//!    simulates it for [`EXAMPLE_LAYERS`] layers and plots the smoothing metrics against depth;
//! 2. compares the regime predicted from spec(A) and spec(H) ([`UpdateSpectrum`]) with the regime
//!    observed in simulation on many seeded random instances (the agreement table);
//! 3. checks claims C1, C2, C5, C6, C8 and C10 numerically ([`claims`]);
//!
//! and writes `theory.md`, `theory.json`, one SVG and one CSV per example and `instances.csv` into
//! the output directory. Spectra, dynamics and metrics all come from `eigenformer-spectral`; this
//! module draws inputs, applies the observation rule ([`observe`]) and reports.
//!
//! ## Observation rule
//!
//! The simulated regime is read from the last layer L of the renormalised dynamics, with
//! `r = ‖X − 1πᵀX‖/‖1πᵀX‖` (π the left Perron vector of A, so `1πᵀ` is the spectral projector onto
//! the DC mode), `c` = mean pairwise cosine, `g` = step alignment `⟨X_L, X_{L−1}⟩/(‖·‖‖·‖)` and
//! `σ₂/σ₁` of X_L:
//!
//! - **smoothing** (the DC mode took over): `c > 1 − 1e-3` and `r < 1e-2`, and not a flip;
//! - **alternating-smoothing**: the same and `g < −1 + 1e-3` (X_L ≈ −X_{L−1}). A plain `g < 0` is
//!   not used: a DC mode with a complex `μ = 1 + h` of argument beyond π/2 rotates the common token
//!   by more than 90° per layer, which is smoothing, not a sign flip;
//! - **sharpening** (the DC mode vanished): `r > 1e2` and `c < 1 − 1e-3`;
//! - **balanced** (both persist): `1e-2 ≤ r ≤ 1e2`, `σ₂/σ₁ > 1e-4` and r steady between layers
//!   `3L/4` and L (max/min < 2);
//! - otherwise **undetermined** (not converged at this depth), which counts as a disagreement.
//!
//! The §4 ratio `‖HC‖/‖DC‖` (token mean split off) is reported but not used: A's non-DC
//! eigenvectors are orthogonal to π, not to 1, so a sharpened state keeps a nonzero token mean and
//! `‖HC‖/‖DC‖` stays finite. Rank collapse is observed when `σ₂/σ₁ < 1e-4`.

pub mod claims;
pub mod random;

use crate::plot::{self, Figure, Mark, Panel, Scale, Series};
use crate::profile::{Profile, ProfilesFile};
use crate::report::Verdict;
use crate::trajectory::trajectory_csv;
use anyhow::{bail, Context, Result};
use claims::{regime_name, verdict_label, ClaimCheck};
use clap::Args;
use eigenformer_io::write_atomic;
use eigenformer_spectral::{
    general_h, linalg, simulate, Complex64, DynamicsConfig, DynamicsHead, LimitNotions, ModePair,
    Regime, SpectrumOptions, Trajectory, UpdateSpectrum,
};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use random::HKind;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Layers of the constructed examples.
pub const EXAMPLE_LAYERS: usize = 40;
/// Tokens of the constructed examples.
pub const EXAMPLE_N: usize = 8;
/// Width of the constructed examples.
pub const EXAMPLE_D: usize = 6;
/// Largest runner-up/dominant modulus ratio accepted for the smoothing, alternating and
/// sharpening examples (`0.75^40 ≈ 1e-5`: converged within [`EXAMPLE_LAYERS`]).
pub const EXAMPLE_MAX_FACTOR: f64 = 0.75;
/// Runner-up/dominant modulus ratio below which a random instance has a "clear margin".
pub const CLEAR_MARGIN: f64 = 0.97;
/// Layers of the tie-breaking runs of the balanced example (`0.984^1000 ≈ 1e-7`).
pub const TIE_BREAK_LAYERS: usize = 1000;
/// Default layers of the random instances (`0.97^600 ≈ 1e-8`).
pub const DEFAULT_RANDOM_LAYERS: usize = 600;

/// Thresholds of the observation rule (see the module documentation).
pub mod rule {
    /// `c > 1 − COS_TOL`: tokens parallel.
    pub const COS_TOL: f64 = 1e-3;
    /// `r < DC_TOOK_OVER`: the part outside the DC mode is negligible.
    pub const DC_TOOK_OVER: f64 = 1e-2;
    /// `r > HC_TOOK_OVER`: the DC-mode part is negligible.
    pub const HC_TOOK_OVER: f64 = 1e2;
    /// `g < −1 + FLIP_TOL`: the state flips sign each layer.
    pub const FLIP_TOL: f64 = 1e-3;
    /// `σ₂/σ₁ < RANK_TOL`: rank one.
    pub const RANK_TOL: f64 = 1e-4;
    /// Balanced: max/min of r at layers 3L/4 and L below this.
    pub const STEADY_RATIO: f64 = 2.0;
}

/// Arguments of `eigenformer theory`.
#[derive(Args, Debug, Clone)]
pub struct TheoryArgs {
    /// Output directory (created): theory.md, theory.json, instances.csv, <regime>.svg/.csv.
    #[arg(long)]
    pub out: PathBuf,
    /// Compute profile: its `[<profile>.theory]` table in `<experiments-dir>/profiles.toml` sets
    /// the number of random instances (smoke 100, quick 1000, full 5000).
    #[arg(long, value_enum, default_value_t = Profile::Quick)]
    pub profile: Profile,
    /// Number of random instances (overrides the profile; the profile file is then not read).
    #[arg(long)]
    pub instances: Option<usize>,
    /// Directory of the profile file `profiles.toml`.
    #[arg(long, default_value = "experiments")]
    pub experiments_dir: PathBuf,
    /// Layers simulated for each random instance.
    #[arg(long, default_value_t = DEFAULT_RANDOM_LAYERS)]
    pub layers: usize,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// The regime read off a simulation (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Observed {
    /// Tokens parallel, DC part dominant, no sign flip.
    Smoothing,
    /// Tokens parallel, DC part dominant, the state flips sign each layer.
    AlternatingSmoothing,
    /// The DC part vanished.
    Sharpening,
    /// DC and high-frequency parts both persist.
    Balanced,
    /// None of the above at this depth.
    Undetermined,
}

impl Observed {
    /// All values, in table order.
    pub const ALL: [Observed; 5] = [
        Observed::Smoothing,
        Observed::AlternatingSmoothing,
        Observed::Sharpening,
        Observed::Balanced,
        Observed::Undetermined,
    ];

    /// The kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            Observed::Smoothing => "smoothing",
            Observed::AlternatingSmoothing => "alternating-smoothing",
            Observed::Sharpening => "sharpening",
            Observed::Balanced => "balanced",
            Observed::Undetermined => "undetermined",
        }
    }
}

impl From<Regime> for Observed {
    fn from(r: Regime) -> Self {
        match r {
            Regime::Smoothing => Observed::Smoothing,
            Regime::AlternatingSmoothing => Observed::AlternatingSmoothing,
            Regime::Sharpening => Observed::Sharpening,
            Regime::Balanced => Observed::Balanced,
        }
    }
}

/// What [`observe`] reads from a simulation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Observation {
    /// The observed regime.
    pub regime: Observed,
    /// `σ₂/σ₁ < RANK_TOL` at the last layer.
    pub rank_collapse: bool,
    /// Layers simulated (the last recorded layer).
    pub layers: usize,
    /// Mean pairwise cosine at the last layer.
    pub mean_cosine: f64,
    /// `‖HC‖/‖DC‖` (mean-based split of theory.md §4) at the last layer.
    pub hc_dc_ratio: f64,
    /// `r = ‖X − 1πᵀX‖/‖1πᵀX‖` at the last layer: non-DC-mode over DC-mode part.
    pub mode_ratio: f64,
    /// `r` at layer `3L/4`.
    pub mode_ratio_earlier: f64,
    /// `σ₂/σ₁` at the last layer.
    pub sigma_ratio: f64,
    /// Step alignment at the last layer.
    pub step_alignment: f64,
}

/// The left Perron vector π of a row-stochastic A (`πᵀA = πᵀ`, `Σπ = 1`), from the linear system
/// `(Aᵀ − I)π = 0` with its last equation replaced by `Σπ = 1`. `1πᵀ` is the spectral projector
/// onto the DC mode of A.
pub fn left_perron(a: &Array2<f64>) -> Result<Array1<f64>> {
    let n = a.nrows();
    let mut m = a.t().to_owned() - Array2::<f64>::eye(n);
    m.row_mut(n - 1).fill(1.0);
    let mut rhs = Array2::<f64>::zeros((n, 1));
    rhs[[n - 1, 0]] = 1.0;
    Ok(linalg::solve(m.view(), rhs.view())?.column(0).to_owned())
}

/// `‖X − 1πᵀX‖_F / ‖1πᵀX‖_F`: the part of X outside the DC mode of A over the part in it. Unlike
/// `‖HC‖/‖DC‖` (which splits off the token mean), it tends to ∞ under sharpening: A's non-DC
/// eigenvectors are orthogonal to π, not to 1, so a sharpened state keeps a nonzero token mean.
pub fn dc_mode_ratio(pi: &Array1<f64>, x: &Array2<f64>) -> f64 {
    let w = pi.dot(x);
    let (mut dc, mut rest) = (0.0, 0.0);
    for row in x.rows() {
        for (v, m) in row.iter().zip(w.iter()) {
            dc += m * m;
            rest += (v - m) * (v - m);
        }
    }
    (rest / dc).sqrt()
}

/// Simulates `X ← X + A X H` (renormalised) for `layers` layers in two legs (`3L/4`, then the
/// rest, so that the DC-mode ratio is known at both points) and applies the observation rule.
/// Returns the observation and the whole trajectory.
pub fn simulate_and_observe(
    a: &Array2<f64>,
    h: &Array2<f64>,
    x0: &Array2<f64>,
    layers: usize,
) -> Result<(Observation, Trajectory)> {
    let first = layers - layers / 4;
    let mut t = simulate_linear(a, h, x0, first)?;
    let earlier_state = t.final_state.clone();
    if t.stopped_at.is_none() && layers > first {
        let t2 = simulate_linear(a, h, &earlier_state, layers - first)?;
        t.records
            .extend(t2.records.into_iter().skip(1).map(|mut r| {
                r.layer += first;
                r
            }));
        t.stopped_at = t2.stopped_at.map(|l| l + first);
        t.final_state = t2.final_state;
    }
    let pi = left_perron(a)?;
    let last = t.records.last().context("a trajectory has layer 0")?;
    let m = last.metrics;
    let g = last.step_alignment.unwrap_or(f64::NAN);
    let r = dc_mode_ratio(&pi, &t.final_state);
    let r_earlier = dc_mode_ratio(&pi, &earlier_state);
    let c = m.mean_cosine;
    let regime = if t.stopped_at.is_some() || r.is_nan() {
        Observed::Undetermined
    } else if c > 1.0 - rule::COS_TOL && r < rule::DC_TOOK_OVER {
        if g < -1.0 + rule::FLIP_TOL {
            Observed::AlternatingSmoothing
        } else {
            Observed::Smoothing
        }
    } else if r > rule::HC_TOOK_OVER && c < 1.0 - rule::COS_TOL {
        Observed::Sharpening
    } else if (rule::DC_TOOK_OVER..=rule::HC_TOOK_OVER).contains(&r)
        && m.sigma_ratio > rule::RANK_TOL
        && r.max(r_earlier) < rule::STEADY_RATIO * r.min(r_earlier)
    {
        Observed::Balanced
    } else {
        Observed::Undetermined
    };
    let obs = Observation {
        regime,
        rank_collapse: m.sigma_ratio < rule::RANK_TOL,
        layers: last.layer,
        mean_cosine: c,
        hc_dc_ratio: m.hc_dc_ratio,
        mode_ratio: r,
        mode_ratio_earlier: r_earlier,
        sigma_ratio: m.sigma_ratio,
        step_alignment: g,
    };
    Ok((obs, t))
}

/// `X ← X + A X H` for `layers` layers from `x0`, renormalised every layer.
pub fn simulate_linear(
    a: &Array2<f64>,
    h: &Array2<f64>,
    x0: &Array2<f64>,
    layers: usize,
) -> Result<Trajectory> {
    let cfg = DynamicsConfig {
        layers,
        normalise: true,
        ..DynamicsConfig::default()
    };
    Ok(simulate(
        x0.view(),
        &[DynamicsHead {
            a: a.view(),
            h: h.view(),
        }],
        &cfg,
    )?)
}

/// The DC-mode ratio after each layer `0..=layers` (one single-layer simulation step at a time).
fn mode_ratio_per_layer(
    a: &Array2<f64>,
    h: &Array2<f64>,
    x0: &Array2<f64>,
    layers: usize,
) -> Result<Vec<f64>> {
    let pi = left_perron(a)?;
    let mut x = x0.clone();
    let mut out = vec![dc_mode_ratio(&pi, &x)];
    for _ in 0..layers {
        x = simulate_linear(a, h, &x, 1)?.final_state;
        out.push(dc_mode_ratio(&pi, &x));
    }
    Ok(out)
}

/// The random generator of instance `i` of a stream (`stream` separates the uses of one seed).
pub fn instance_rng(seed: u64, stream: u64, i: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream((stream << 40) | i as u64);
    rng
}

/// A constructed example.
#[derive(Debug, Clone)]
pub struct Example {
    /// The regime it was built for.
    pub regime: Regime,
    /// Attention matrix (n × n).
    pub a: Array2<f64>,
    /// H (d × d).
    pub h: Array2<f64>,
    /// Initial tokens (n × d).
    pub x0: Array2<f64>,
    /// The eigenvector matrix V of `H = V diag(λ) V⁻¹`.
    pub v: Array2<f64>,
    /// The prescribed eigenvalues λ of H.
    pub lambda: Vec<f64>,
    /// How A and H were built.
    pub construction: String,
    /// Seeds tried before one met the acceptance rule.
    pub tries: usize,
}

const EXAMPLE_STREAM: u64 = 3;
const EXAMPLE_MAX_TRIES: usize = 5000;

/// The four examples, in the order smoothing, alternating-smoothing, sharpening, balanced.
pub fn build_examples(seed: u64) -> Result<Vec<Example>> {
    let specs: [(Regime, f64, [f64; EXAMPLE_D], &str); 3] = [
        (
            Regime::Smoothing,
            1.0,
            [1.0, 0.5, 0.3, 0.2, 0.1, 0.05],
            "spec(H) > 0 (C6)",
        ),
        (
            Regime::AlternatingSmoothing,
            1.0,
            [-4.0, -0.5, 0.4, 0.2, -0.2, 0.1],
            "h_min = −4 < −2, so |1 + h_min| = 3 can beat every non-DC mode",
        ),
        (
            Regime::Sharpening,
            2.5,
            [-1.0, -0.1, -0.05, -0.03, -0.02, -0.01],
            "spec(H) ⊂ [−1, 0) (C5)",
        ),
    ];
    let mut out = Vec::new();
    for (k, (regime, scale, lambda, why)) in specs.into_iter().enumerate() {
        let mut found = None;
        for t in 0..EXAMPLE_MAX_TRIES {
            let mut rng = instance_rng(seed, EXAMPLE_STREAM, k * EXAMPLE_MAX_TRIES + t);
            let a = random::softmax_attention(EXAMPLE_N, scale, &mut rng);
            let v = random::conditioned_basis(EXAMPLE_D, 20.0, &mut rng)?;
            let h = general_h(v.view(), &lambda)?;
            let s = UpdateSpectrum::from_matrices(a.view(), h.view(), &SpectrumOptions::default())?;
            let real_a = s.dominating.iter().all(|p| p.a.im == 0.0);
            if s.regime == regime && s.convergence_factor() <= EXAMPLE_MAX_FACTOR && real_a {
                let x0 = random::normal_matrix(EXAMPLE_N, EXAMPLE_D, &mut rng);
                found = Some(Example {
                    regime,
                    a,
                    h,
                    x0,
                    v,
                    lambda: lambda.to_vec(),
                    construction: format!(
                        "A = softmax({scale}·N(0,1) scores), n = {EXAMPLE_N}; H = V diag(λ) V⁻¹, \
                         d = {EXAMPLE_D}, {why}; first seed (of {} tried) whose runner-up/dominant \
                         |μ| ≤ {EXAMPLE_MAX_FACTOR} and whose dominating A-mode is real",
                        t + 1
                    ),
                    tries: t + 1,
                });
                break;
            }
        }
        out.push(found.with_context(|| {
            format!(
                "no {} example with a clear margin in {EXAMPLE_MAX_TRIES} seeds",
                regime_name(regime)
            )
        })?);
    }
    out.push(balanced_example(seed, 0.0)?);
    Ok(out)
}

/// Non-DC eigenvalues of the balanced example's A; all `|a| < 1/n`, which keeps every entry of
/// `A = 11ᵀ/n + Σ a_k q_k q_kᵀ` positive.
const BALANCED_A: [f64; EXAMPLE_N - 1] = [-0.12, 0.05, 0.04, 0.03, 0.02, 0.01, 0.005];
/// The DC eigenvalue h₁ of H in the balanced example; h₂ = h₁/a₂ makes `1 + a₂h₂ = 1 + h₁`.
const BALANCED_H1: f64 = 0.2;

/// The balanced example: a symmetric A with the known non-DC eigenvalue a₂ = −0.12 and H with
/// eigenvalues h₁ = 0.2, h₂ = h₁/a₂, so that `|1 + h₁| = |1 + a₂h₂| = 1.2` tie exactly. `perturb`
/// multiplies h₁ by `1 + perturb` (0 for the tie itself).
pub fn balanced_example(seed: u64, perturb: f64) -> Result<Example> {
    let n = EXAMPLE_N;
    let mut rng = instance_rng(seed, EXAMPLE_STREAM + 1, 0);
    // Q orthogonal with first column 1/√n: sign-fixed QR of [1 | random].
    let mut m = random::normal_matrix(n, n, &mut rng);
    m.column_mut(0).fill(1.0);
    let (q, _) = linalg::qr_sign_fixed(m.view())?;
    let mut spec = vec![1.0];
    spec.extend_from_slice(&BALANCED_A);
    let mut qd = q.clone();
    for (mut col, s) in qd.columns_mut().into_iter().zip(&spec) {
        col.mapv_inplace(|x| x * s);
    }
    let a = qd.dot(&q.t());
    let a2 = BALANCED_A[0];
    let h1 = BALANCED_H1;
    let lambda = vec![h1 * (1.0 + perturb), h1 / a2, 0.01, -0.05, 0.005, -0.02];
    let v = random::conditioned_basis(EXAMPLE_D, 20.0, &mut rng)?;
    let h = general_h(v.view(), &lambda)?;
    let x0 = random::normal_matrix(n, EXAMPLE_D, &mut rng);
    Ok(Example {
        regime: Regime::Balanced,
        a,
        h,
        x0,
        v,
        lambda,
        construction: format!(
            "A = Q diag(1, {BALANCED_A:?}) Qᵀ (symmetric, row-stochastic, positive; Q orthogonal \
             with first column 1/√n), n = {n}; H = V diag(λ) V⁻¹ with h₁ = {h1}, h₂ = h₁/a₂ = \
             {:.6}: |1 + h₁| = |1 + a₂h₂| = {:.1} exactly",
            h1 / a2,
            1.0 + h1
        ),
        tries: 1,
    })
}

/// One example's results, as written to theory.json.
#[derive(Debug, Clone, Serialize)]
pub struct ExampleResult {
    /// The regime the example was built for.
    pub regime: Regime,
    /// How it was built.
    pub construction: String,
    /// Tokens.
    pub n: usize,
    /// Width.
    pub d: usize,
    /// Eigenvalues of A (sorted).
    pub a_eigenvalues: Vec<Complex64>,
    /// Eigenvalues of H (sorted).
    pub h_eigenvalues: Vec<Complex64>,
    /// The dominating pairs.
    pub dominating: Vec<ModePair>,
    /// Runner-up/dominant modulus.
    pub convergence_factor: f64,
    /// The predicted regime.
    pub predicted: Regime,
    /// The predicted limit notions.
    pub predicted_limits: LimitNotions,
    /// What the simulation showed.
    pub observed: Observation,
    /// Files written (relative to the output directory).
    pub plot: String,
    /// Spectrum plot.
    pub spectrum_plot: String,
    /// Per-layer metrics.
    pub csv: String,
}

fn fmt_c(z: Complex64) -> String {
    if z.im.abs() < 1e-12 * (1.0 + z.re.abs()) {
        format!("{:.4}", z.re)
    } else {
        format!(
            "{:.4}{}{:.4}i",
            z.re,
            if z.im < 0.0 { "−" } else { "+" },
            z.im.abs()
        )
    }
}

fn run_example(ex: &Example, out: &Path) -> Result<ExampleResult> {
    let name = regime_name(ex.regime);
    let s = UpdateSpectrum::from_matrices(ex.a.view(), ex.h.view(), &SpectrumOptions::default())?;
    let (obs, t) = simulate_and_observe(&ex.a, &ex.h, &ex.x0, EXAMPLE_LAYERS)?;
    let mode_ratio = mode_ratio_per_layer(&ex.a, &ex.h, &ex.x0, EXAMPLE_LAYERS)?;
    let csv = format!("{name}.csv");
    write_atomic(&out.join(&csv), trajectory_csv(&t).as_bytes())?;

    let col = |f: fn(&eigenformer_spectral::LayerRecord) -> f64| -> Vec<f64> {
        t.records.iter().map(f).collect()
    };
    let cosine = col(|r| r.metrics.mean_cosine);
    let alignment: Vec<(f64, f64)> = t
        .records
        .iter()
        .filter_map(|r| r.step_alignment.map(|g| (r.layer as f64, g)))
        .collect();
    let title = format!(
        "{name}: predicted {}, observed {} (n = {}, d = {}, {} layers)",
        regime_name(s.regime),
        obs.regime.name(),
        ex.a.nrows(),
        ex.h.nrows(),
        EXAMPLE_LAYERS
    );
    let fig = Figure::new(title, 2)
        .with(Panel {
            y_range: Some((-1.05, 1.05)),
            ..Panel::against_depth("Token alignment", "cosine", Scale::Linear)
                .with(Series::against_index("mean pairwise cosine", &cosine))
                .with(Series {
                    mark: Mark::LinePoints,
                    ..Series::line("step alignment ⟨X_l, X_l−1⟩", alignment)
                })
        })
        .with(
            Panel::against_depth("Frequency split and rank (log scale)", "ratio", Scale::Log)
                .with(Series::against_index(
                    "non-DC/DC mode ‖X − 1πᵀX‖/‖1πᵀX‖",
                    &mode_ratio,
                ))
                .with(Series::against_index(
                    "HC/DC = ‖HC‖/‖DC‖ (token mean)",
                    &col(|r| r.metrics.hc_dc_ratio),
                ))
                .with(Series::against_index(
                    "σ₂/σ₁",
                    &col(|r| r.metrics.sigma_ratio),
                ))
                .with(Series::against_index(
                    "1 − mean cosine",
                    &cosine.iter().map(|c| 1.0 - c).collect::<Vec<_>>(),
                )),
        );
    let plot_file = format!("{name}.svg");
    plot::write_svg(&out.join(&plot_file), &fig)?;

    let (dc, non_dc): (Vec<ModePair>, Vec<ModePair>) = s.pairs().partition(|p| p.is_dc);
    let mus = |v: &[ModePair]| v.iter().map(|p| p.mu).collect::<Vec<_>>();
    let spectrum = Figure::new(
        format!("{name}: eigenvalues μ = 1 + a h of the update (C1)"),
        1,
    )
    .with(
        Panel::complex_plane("μ_ij in the complex plane")
            .with(Series::complex_points(
                "non-DC modes (a ≠ 1)",
                &mus(&non_dc),
                Mark::Points,
            ))
            .with(Series::complex_points(
                "DC modes (a = 1)",
                &mus(&dc),
                Mark::Points,
            ))
            .with(Series::complex_points(
                "dominating",
                &mus(&s.dominating),
                Mark::HollowPoints,
            ))
            .with_circle(
                format!("|μ| = {:.3}", s.dominant_modulus),
                (0.0, 0.0),
                s.dominant_modulus,
            ),
    );
    let spectrum_file = format!("{name}-spectrum.svg");
    plot::write_svg(&out.join(&spectrum_file), &spectrum)?;

    Ok(ExampleResult {
        regime: ex.regime,
        construction: ex.construction.clone(),
        n: ex.a.nrows(),
        d: ex.h.nrows(),
        a_eigenvalues: s.a_eigenvalues.clone(),
        h_eigenvalues: s.h_eigenvalues.clone(),
        dominating: s.dominating.clone(),
        convergence_factor: s.convergence_factor(),
        predicted: s.regime,
        predicted_limits: s.limits,
        observed: obs,
        plot: plot_file,
        spectrum_plot: spectrum_file,
        csv,
    })
}

/// The balanced example with h₁ perturbed: ties are non-generic.
#[derive(Debug, Clone, Serialize)]
pub struct TieBreak {
    /// Relative change of h₁.
    pub perturbation: f64,
    /// Layers simulated.
    pub layers: usize,
    /// The predicted regime.
    pub predicted: Regime,
    /// Runner-up/dominant modulus.
    pub convergence_factor: f64,
    /// What the simulation showed.
    pub observed: Observation,
}

fn tie_breaks(seed: u64, layers: usize) -> Result<Vec<TieBreak>> {
    [0.1, -0.1]
        .into_iter()
        .map(|p| {
            let ex = balanced_example(seed, p)?;
            let s = UpdateSpectrum::from_matrices(
                ex.a.view(),
                ex.h.view(),
                &SpectrumOptions::default(),
            )?;
            let (observed, _) = simulate_and_observe(&ex.a, &ex.h, &ex.x0, layers)?;
            Ok(TieBreak {
                perturbation: p,
                layers,
                predicted: s.regime,
                convergence_factor: s.convergence_factor(),
                observed,
            })
        })
        .collect()
}

/// One random instance of the agreement table.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceRecord {
    /// Index (its random stream).
    pub index: usize,
    /// Kind of H.
    pub kind: HKind,
    /// Tokens.
    pub n: usize,
    /// Width.
    pub d: usize,
    /// Scale of the attention scores.
    pub score_scale: f64,
    /// Predicted regime.
    pub predicted: Regime,
    /// Observed regime.
    pub observed: Observed,
    /// `observed == predicted`.
    pub agree: bool,
    /// Runner-up/dominant modulus.
    pub convergence_factor: f64,
    /// `convergence_factor < CLEAR_MARGIN`.
    pub clear_margin: bool,
    /// Dominating |μ|.
    pub dominant_modulus: f64,
    /// Predicted rank collapse ([`LimitNotions::rank_collapse`]).
    pub predicted_rank_collapse: bool,
    /// Observed rank collapse (σ₂/σ₁ < RANK_TOL).
    pub observed_rank_collapse: bool,
    /// Whether the dominating set is a complex-conjugate pair of A with a single real h.
    pub complex_a_real_h: bool,
    /// Final metrics.
    pub final_mean_cosine: f64,
    /// Final HC/DC.
    pub final_hc_dc_ratio: f64,
    /// Final σ₂/σ₁.
    pub final_sigma_ratio: f64,
    /// Final step alignment.
    pub final_step_alignment: f64,
}

fn random_instance(seed: u64, i: usize, layers: usize) -> Result<InstanceRecord> {
    let mut rng = instance_rng(seed, 0, i);
    let kind = HKind::ALL[rng.gen_range(0..HKind::ALL.len())];
    let n = rng.gen_range(3..=12);
    let d = rng.gen_range(2..=8);
    let score_scale = rng.gen_range(0.2..=4.0);
    let a = random::softmax_attention(n, score_scale, &mut rng);
    let h = random::random_h(kind, d, &mut rng)?;
    let x0 = random::normal_matrix(n, d, &mut rng);
    let s = UpdateSpectrum::from_matrices(a.view(), h.view(), &SpectrumOptions::default())
        .with_context(|| format!("instance {i}: spectrum"))?;
    let (obs, _) =
        simulate_and_observe(&a, &h, &x0, layers).with_context(|| format!("instance {i}"))?;
    let first = s.dominating[0];
    let complex_a_real_h = first.a.im != 0.0
        && s.dominating.len() == 2
        && s.dominating
            .iter()
            .all(|p| p.h_index == first.h_index && p.h.im == 0.0);
    let cf = s.convergence_factor();
    Ok(InstanceRecord {
        index: i,
        kind,
        n,
        d,
        score_scale,
        predicted: s.regime,
        observed: obs.regime,
        agree: obs.regime == Observed::from(s.regime),
        convergence_factor: cf,
        clear_margin: cf < CLEAR_MARGIN,
        dominant_modulus: s.dominant_modulus,
        predicted_rank_collapse: s.limits.rank_collapse,
        observed_rank_collapse: obs.rank_collapse,
        complex_a_real_h,
        final_mean_cosine: obs.mean_cosine,
        final_hc_dc_ratio: obs.hc_dc_ratio,
        final_sigma_ratio: obs.sigma_ratio,
        final_step_alignment: obs.step_alignment,
    })
}

/// Counts for one predicted regime.
#[derive(Debug, Clone, Serialize)]
pub struct RegimeRow {
    /// Predicted regime.
    pub predicted: Regime,
    /// Instances predicted so.
    pub all: usize,
    /// Of which the simulation agreed.
    pub all_agree: usize,
    /// Instances with a clear margin.
    pub clear: usize,
    /// Of which the simulation agreed.
    pub clear_agree: usize,
}

/// Counts for one kind of H.
#[derive(Debug, Clone, Serialize)]
pub struct KindRow {
    /// Kind of H.
    pub kind: HKind,
    /// Instances.
    pub instances: usize,
    /// Predicted regimes: smoothing, alternating-smoothing, sharpening, balanced.
    pub predicted: [usize; 4],
    /// Agreements.
    pub agree: usize,
    /// Instances with a clear margin.
    pub clear: usize,
    /// Agreements among them.
    pub clear_agree: usize,
}

/// Predicted vs observed rank collapse among the clear-margin instances.
#[derive(Debug, Clone, Serialize)]
pub struct RankAgreement {
    /// Both true.
    pub both: usize,
    /// Both false.
    pub neither: usize,
    /// Predicted, not observed.
    pub predicted_only: usize,
    /// Observed, not predicted.
    pub observed_only: usize,
    /// Of the `observed_only`: dominating set = a complex pair of A with one real h.
    pub observed_only_complex_a_real_h: usize,
}

/// The agreement table.
#[derive(Debug, Clone, Serialize)]
pub struct Agreement {
    /// Random instances.
    pub instances: usize,
    /// Layers simulated per instance.
    pub layers: usize,
    /// Clear-margin threshold on runner-up/dominant.
    pub clear_margin_threshold: f64,
    /// Agreements over all instances.
    pub agree: usize,
    /// Agreement rate over all instances.
    pub rate: f64,
    /// Clear-margin instances.
    pub clear: usize,
    /// Agreements among them.
    pub clear_agree: usize,
    /// Agreement rate among them (1 when there are none).
    pub clear_rate: f64,
    /// Per predicted regime.
    pub by_regime: Vec<RegimeRow>,
    /// Confusion matrix over all instances: `confusion[predicted][observed]` in the orders of
    /// [`REGIMES`] and [`Observed::ALL`].
    pub confusion: Vec<Vec<usize>>,
    /// Confusion matrix over the clear-margin instances.
    pub confusion_clear: Vec<Vec<usize>>,
    /// Per kind of H.
    pub by_kind: Vec<KindRow>,
    /// Rank collapse, predicted vs observed, over the clear-margin instances.
    pub rank_collapse: RankAgreement,
    /// The disagreeing instances (clear-margin ones first; at most 25).
    pub disagreements: Vec<InstanceRecord>,
}

/// The regimes in table order.
pub const REGIMES: [Regime; 4] = [
    Regime::Smoothing,
    Regime::AlternatingSmoothing,
    Regime::Sharpening,
    Regime::Balanced,
];

fn regime_index(r: Regime) -> usize {
    REGIMES.iter().position(|&x| x == r).unwrap_or(0)
}

fn observed_index(o: Observed) -> usize {
    Observed::ALL.iter().position(|&x| x == o).unwrap_or(0)
}

fn rate(k: usize, n: usize) -> f64 {
    if n == 0 {
        1.0
    } else {
        k as f64 / n as f64
    }
}

fn summarise(records: &[InstanceRecord], layers: usize) -> Agreement {
    let mut by_regime: Vec<RegimeRow> = REGIMES
        .iter()
        .map(|&predicted| RegimeRow {
            predicted,
            all: 0,
            all_agree: 0,
            clear: 0,
            clear_agree: 0,
        })
        .collect();
    let mut by_kind: Vec<KindRow> = HKind::ALL
        .iter()
        .map(|&kind| KindRow {
            kind,
            instances: 0,
            predicted: [0; 4],
            agree: 0,
            clear: 0,
            clear_agree: 0,
        })
        .collect();
    let mut confusion = vec![vec![0; Observed::ALL.len()]; REGIMES.len()];
    let mut confusion_clear = confusion.clone();
    let mut rank = RankAgreement {
        both: 0,
        neither: 0,
        predicted_only: 0,
        observed_only: 0,
        observed_only_complex_a_real_h: 0,
    };
    for r in records {
        let ri = regime_index(r.predicted);
        let oi = observed_index(r.observed);
        let row = &mut by_regime[ri];
        row.all += 1;
        row.all_agree += usize::from(r.agree);
        confusion[ri][oi] += 1;
        let kr = &mut by_kind[HKind::ALL.iter().position(|&k| k == r.kind).unwrap_or(0)];
        kr.instances += 1;
        kr.predicted[ri] += 1;
        kr.agree += usize::from(r.agree);
        if r.clear_margin {
            row.clear += 1;
            row.clear_agree += usize::from(r.agree);
            confusion_clear[ri][oi] += 1;
            kr.clear += 1;
            kr.clear_agree += usize::from(r.agree);
            match (r.predicted_rank_collapse, r.observed_rank_collapse) {
                (true, true) => rank.both += 1,
                (false, false) => rank.neither += 1,
                (true, false) => rank.predicted_only += 1,
                (false, true) => {
                    rank.observed_only += 1;
                    rank.observed_only_complex_a_real_h += usize::from(r.complex_a_real_h);
                }
            }
        }
    }
    let agree = records.iter().filter(|r| r.agree).count();
    let clear = records.iter().filter(|r| r.clear_margin).count();
    let clear_agree = records.iter().filter(|r| r.clear_margin && r.agree).count();
    let mut disagreements: Vec<InstanceRecord> =
        records.iter().filter(|r| !r.agree).cloned().collect();
    disagreements.sort_by_key(|r| (!r.clear_margin, r.index));
    disagreements.truncate(25);
    Agreement {
        instances: records.len(),
        layers,
        clear_margin_threshold: CLEAR_MARGIN,
        agree,
        rate: rate(agree, records.len()),
        clear,
        clear_agree,
        clear_rate: rate(clear_agree, clear),
        by_regime,
        confusion,
        confusion_clear,
        by_kind,
        rank_collapse: rank,
        disagreements,
    }
}

/// Everything `theory.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct TheoryReport {
    /// The profile.
    pub profile: Profile,
    /// The seed.
    pub seed: u64,
    /// Layers of the examples.
    pub example_layers: usize,
    /// Observation rule thresholds.
    pub observation_rule: serde_json::Value,
    /// The constructed examples.
    pub examples: Vec<ExampleResult>,
    /// The balanced example with the tie broken.
    pub tie_breaking: Vec<TieBreak>,
    /// Prediction vs simulation on random instances.
    pub agreement: Agreement,
    /// Claim checks.
    pub claims: Vec<ClaimCheck>,
}

const INSTANCE_CSV_HEADER: &str = "index,kind,n,d,score_scale,predicted,observed,agree,convergence_factor,clear_margin,dominant_modulus,predicted_rank_collapse,observed_rank_collapse,final_mean_cosine,final_hc_dc_ratio,final_sigma_ratio,final_step_alignment";

fn instances_csv(records: &[InstanceRecord]) -> String {
    let mut s = String::from(INSTANCE_CSV_HEADER);
    s.push('\n');
    for r in records {
        let _ = writeln!(
            s,
            "{},{},{},{},{:.6},{},{},{},{:.10e},{},{:.10e},{},{},{:.10e},{:.10e},{:.10e},{:.10e}",
            r.index,
            r.kind.name(),
            r.n,
            r.d,
            r.score_scale,
            regime_name(r.predicted),
            r.observed.name(),
            r.agree,
            r.convergence_factor,
            r.clear_margin,
            r.dominant_modulus,
            r.predicted_rank_collapse,
            r.observed_rank_collapse,
            r.final_mean_cosine,
            r.final_hc_dc_ratio,
            r.final_sigma_ratio,
            r.final_step_alignment,
        );
    }
    s
}

impl TheoryArgs {
    /// The number of random instances: `--instances`, or the profile's from the profile file.
    pub fn instance_count(&self) -> Result<usize> {
        match self.instances {
            Some(n) => Ok(n),
            None => Ok(ProfilesFile::in_dir(&self.experiments_dir)
                .context("the theory sizes of the profile (or pass --instances)")?
                .get(self.profile)
                .theory
                .instances),
        }
    }
}

/// Runs everything, writes the files and returns the report.
pub fn execute(args: &TheoryArgs) -> Result<TheoryReport> {
    let count = args.instance_count()?;
    if count == 0 {
        bail!("--instances must be at least 1");
    }
    if args.layers < 4 {
        bail!("--layers must be at least 4");
    }
    let out = &args.out;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;

    let examples = build_examples(args.seed)?;
    let example_results = examples
        .iter()
        .map(|ex| run_example(ex, out))
        .collect::<Result<Vec<_>>>()?;
    let tie_breaking = tie_breaks(args.seed, TIE_BREAK_LAYERS)?;

    let bar = ProgressBar::new(count as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "theory: random instances {bar:40} {pos}/{len} [{elapsed_precise}, eta {eta}]",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut records = Vec::with_capacity(count);
    for i in 0..count {
        records.push(random_instance(args.seed, i, args.layers)?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let agreement = summarise(&records, args.layers);
    write_atomic(
        &out.join("instances.csv"),
        instances_csv(&records).as_bytes(),
    )?;

    let mut claim_checks = vec![claims::c1(args.seed, count)?, claims::c2(args.seed, count)?];
    claim_checks.extend(claims::c5(args.seed, count, &examples)?);
    claim_checks.push(claims::c6(args.seed, count)?);
    claim_checks.push(claims::c8(&examples)?);
    claim_checks.push(claims::c10(args.seed, count)?);

    let report = TheoryReport {
        profile: args.profile,
        seed: args.seed,
        example_layers: EXAMPLE_LAYERS,
        observation_rule: serde_json::json!({
            "cos_tol": rule::COS_TOL,
            "dc_took_over_below_mode_ratio": rule::DC_TOOK_OVER,
            "non_dc_took_over_above_mode_ratio": rule::HC_TOOK_OVER,
            "flip_tol": rule::FLIP_TOL,
            "rank_tol": rule::RANK_TOL,
            "steady_ratio": rule::STEADY_RATIO,
        }),
        examples: example_results,
        tie_breaking,
        agreement,
        claims: claim_checks,
    };
    write_atomic(
        &out.join("theory.json"),
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    write_atomic(&out.join("theory.md"), markdown(&report, count).as_bytes())?;
    Ok(report)
}

fn pct(k: usize, n: usize) -> String {
    if n == 0 {
        "–".into()
    } else {
        format!("{:.1}%", 100.0 * k as f64 / n as f64)
    }
}

/// The Markdown section (links relative to the output directory).
pub fn markdown(r: &TheoryReport, count: usize) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(w, "# Theory: spectra and regimes of X + A X H\n");
    let _ = writeln!(
        w,
        "One attention head with fixed attention A (n×n, row-stochastic) and H = W_V W_O (d×d) \
         updates tokens by X ← X + A X H. By C1 the update has the n·d eigenvalues \
         μ_ij = 1 + a_i h_j; the pair(s) of largest |μ| decide the deep limit. If the DC mode of \
         A (a = 1, constant eigenvector) dominates, all tokens become parallel (smoothing; with \
         a sign flip per layer when μ < 0); if a non-DC mode dominates, the DC part vanishes and \
         the tokens split into anti-aligned groups (sharpening); a tie is balanced. The regime \
         is **predicted** from spec(A) and spec(H) only (`UpdateSpectrum`) and **observed** by \
         simulating the renormalised dynamics (seed {}, profile `{}`).\n",
        r.seed,
        serde_json::to_value(r.profile)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    );
    let _ = writeln!(
        w,
        "**Observation rule** (last layer L; r = ‖X − 1πᵀX‖/‖1πᵀX‖ with π the left Perron vector \
         of A, i.e. the part of X outside the DC mode over the part in it; c = mean pairwise \
         cosine; g = ⟨X_L, X_L−1⟩/(‖X_L‖‖X_L−1‖)): smoothing if c > 1 − {cos:.0e} and r < {dc:.0e} \
         (alternating-smoothing if moreover g < −1 + {flip:.0e}, i.e. X_L ≈ −X_L−1; a plain \
         g < 0 would also catch a DC mode whose complex μ rotates the common token by more than \
         90° per layer); sharpening if r > {hc:.0e} and c < 1 − {cos:.0e}; balanced if \
         {dc:.0e} ≤ r ≤ {hc:.0e}, σ₂/σ₁ > {rank:.0e} and r steady between layers 3L/4 and L \
         (max/min < {steady}); otherwise undetermined (counted as a disagreement). Rank collapse \
         is observed when σ₂/σ₁ < {rank:.0e}. The §4 ratio ‖HC‖/‖DC‖ (token mean split off) is \
         shown but not used: A's non-DC eigenvectors are orthogonal to π, not to 1, so under \
         sharpening the state keeps a nonzero token mean and ‖HC‖/‖DC‖ levels off at a finite \
         value instead of growing (see the sharpening plot).\n",
        cos = rule::COS_TOL,
        dc = rule::DC_TOOK_OVER,
        hc = rule::HC_TOOK_OVER,
        flip = rule::FLIP_TOL,
        rank = rule::RANK_TOL,
        steady = rule::STEADY_RATIO,
    );

    let _ = writeln!(w, "## Constructed examples\n");
    let _ = writeln!(
        w,
        "n = {EXAMPLE_N} tokens, d = {EXAMPLE_D}, X₀ standard normal, {} layers with \
         renormalisation. Plots: mean cosine and step alignment (linear), r, HC/DC, σ₂/σ₁ and \
         1 − cosine (log) against depth; and the μ_ij in the complex plane.\n",
        r.example_layers
    );
    let _ = writeln!(
        w,
        "| example | spec(H) | dominating μ (a, h) | runner-up/dominant | predicted | observed | \
         final cosine | final r | final HC/DC | final σ₂/σ₁ | final step alignment | plots |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for e in &r.examples {
        let spec_h = e
            .h_eigenvalues
            .iter()
            .map(|z| fmt_c(*z))
            .collect::<Vec<_>>()
            .join(", ");
        let dom = e
            .dominating
            .iter()
            .map(|p| {
                format!(
                    "{} ({}{}, {})",
                    fmt_c(p.mu),
                    fmt_c(p.a),
                    if p.is_dc { " DC" } else { "" },
                    fmt_c(p.h)
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        let _ = writeln!(
            w,
            "| {} | {} | {} | {:.3} | {} | {} | {:.6} | {:.2e} | {:.2e} | {:.2e} | {:.6} | [metrics]({}), \
             [spectrum]({}), [csv]({}) |",
            regime_name(e.regime),
            spec_h,
            dom,
            e.convergence_factor,
            regime_name(e.predicted),
            e.observed.regime.name(),
            e.observed.mean_cosine,
            e.observed.mode_ratio,
            e.observed.hc_dc_ratio,
            e.observed.sigma_ratio,
            e.observed.step_alignment,
            e.plot,
            e.spectrum_plot,
            e.csv
        );
    }
    let _ = writeln!(w);
    for e in &r.examples {
        let _ = writeln!(
            w,
            "- `{}`: {}.",
            regime_name(e.regime),
            e.construction.trim_end_matches('.')
        );
    }
    let _ = writeln!(w);
    for e in &r.examples {
        let _ = writeln!(w, "![{} example]({})\n", regime_name(e.regime), e.plot);
    }
    let tb = r
        .tie_breaking
        .iter()
        .map(|t| {
            format!(
                "h₁ × {:+.0}%: predicted {}, observed {} after {} layers (runner-up/dominant \
                 {:.4}, final r {:.1e})",
                100.0 * t.perturbation,
                regime_name(t.predicted),
                t.observed.regime.name(),
                t.layers,
                t.convergence_factor,
                t.observed.mode_ratio
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let _ = writeln!(
        w,
        "**Balanced is non-generic.** The tie |1 + h₁| = |1 + a₂h₂| holds exactly only by \
         construction; in the simulation both the DC and the a₂ mode persist with a steady ratio \
         r and a rank-2 state (σ₂/σ₁ bounded away from 0). Breaking the tie by 10% makes one \
         mode win, at the slow rate (ratio)^L: {tb}. No random instance below is predicted \
         balanced.\n"
    );

    let a = &r.agreement;
    let _ = writeln!(w, "## Prediction vs simulation on random instances\n");
    let _ = writeln!(
        w,
        "{count} seeded instances: A = softmax(s·N(0,1) scores) with n ∈ [3, 12], s ∈ [0.2, 4]; \
         H of a random kind (table below), d ∈ [2, 8]; X₀ standard normal; {} layers with \
         renormalisation. *Clear margin*: runner-up/dominant |μ| < {} (then \
         {}^{} = {:.1e}).\n",
        a.layers,
        a.clear_margin_threshold,
        a.clear_margin_threshold,
        a.layers,
        a.clear_margin_threshold.powi(a.layers as i32)
    );
    let _ = writeln!(
        w,
        "| predicted regime | instances | observed = predicted | rate | clear-margin instances \
         | observed = predicted | rate |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|---|");
    for row in &a.by_regime {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} | {} |",
            regime_name(row.predicted),
            row.all,
            row.all_agree,
            pct(row.all_agree, row.all),
            row.clear,
            row.clear_agree,
            pct(row.clear_agree, row.clear)
        );
    }
    let _ = writeln!(
        w,
        "| **all** | {} | {} | **{}** | {} | {} | **{}** |\n",
        a.instances,
        a.agree,
        pct(a.agree, a.instances),
        a.clear,
        a.clear_agree,
        pct(a.clear_agree, a.clear)
    );
    let _ = writeln!(
        w,
        "Confusion matrix, all instances (rows: predicted, columns: observed):\n"
    );
    let _ = write!(w, "| predicted \\ observed |");
    for o in Observed::ALL {
        let _ = write!(w, " {} |", o.name());
    }
    let _ = writeln!(w, "\n|---|---|---|---|---|---|");
    for (ri, reg) in REGIMES.iter().enumerate() {
        let _ = write!(w, "| {} |", regime_name(*reg));
        for c in &a.confusion[ri] {
            let _ = write!(w, " {c} |");
        }
        let _ = writeln!(w);
    }
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "| kind of H | spectrum | instances | smoothing | alternating | sharpening | balanced | \
         agreement (all) | agreement (clear margin) |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|---|---|---|");
    for k in &a.by_kind {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} of {} |",
            k.kind.name(),
            k.kind.describe(),
            k.instances,
            k.predicted[0],
            k.predicted[1],
            k.predicted[2],
            k.predicted[3],
            pct(k.agree, k.instances),
            pct(k.clear_agree, k.clear),
            k.clear
        );
    }
    let rc = &a.rank_collapse;
    let _ = writeln!(
        w,
        "\nRank collapse on the clear-margin instances (predicted by `LimitNotions::rank_collapse` \
         vs observed σ₂/σ₁ < {:.0e}): both {}, neither {}, predicted only {}, observed only {} \
         (of which {} have a complex-conjugate pair of A with one real h dominating: the state \
         2·Re(c μ^L v)·uᵀ is rank one at every layer although its column rotates).\n",
        rule::RANK_TOL,
        rc.both,
        rc.neither,
        rc.predicted_only,
        rc.observed_only,
        rc.observed_only_complex_a_real_h
    );
    let clear_dis: Vec<&InstanceRecord> =
        a.disagreements.iter().filter(|d| d.clear_margin).collect();
    if clear_dis.is_empty() {
        let _ = writeln!(
            w,
            "Every clear-margin instance agrees. The disagreements are all instances whose \
             runner-up mode is within 3% of the dominating one: after {} layers they have not \
             converged and are observed as balanced (both modes still present) or undetermined; `instances.csv` lists every \
             instance.\n",
            a.layers
        );
    } else {
        let _ = writeln!(
            w,
            "**Clear-margin disagreements** (index, kind, predicted → observed, \
             runner-up/dominant): {}.\n",
            clear_dis
                .iter()
                .map(|d| format!(
                    "{} ({}, {} → {}, {:.3})",
                    d.index,
                    d.kind.name(),
                    regime_name(d.predicted),
                    d.observed.name(),
                    d.convergence_factor
                ))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }

    let _ = writeln!(w, "## Claim checks\n");
    let _ = writeln!(
        w,
        "Verdict rule: a claim **holds** if the measured quantity meets it on every instance \
         within the stated tolerance, and **fails** otherwise. Random instances are seeded \
         (seed {}); each check uses its own random stream.\n",
        r.seed
    );
    let _ = writeln!(
        w,
        "| claim | statement | what we measured | tolerance | failures | verdict |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|");
    for c in &r.claims {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} of {} | {} |",
            c.claim,
            c.statement.replace('|', "\\|"),
            c.measured.replace('|', "\\|"),
            c.tolerance.replace('|', "\\|"),
            c.failures,
            c.instances,
            verdict_label(c.verdict)
        );
    }
    md
}

/// Runs the command and prints a summary.
pub fn run(args: &TheoryArgs) -> Result<()> {
    let start = Instant::now();
    let report = execute(args)?;
    print_summary(&report)?;
    eigenformer_io::outln!(
        "theory: wrote {} in {:.1} s",
        args.out.join("theory.md").display(),
        start.elapsed().as_secs_f64()
    )?;
    Ok(())
}

/// The command's summary: agreement rates, the examples' regimes and the claims' verdicts.
pub fn print_summary(report: &TheoryReport) -> Result<(), eigenformer_io::IoError> {
    let a = &report.agreement;
    eigenformer_io::outln!(
        "theory: {} random instances, agreement {}/{} ({:.1}%), clear margin {}/{} ({:.1}%)",
        a.instances,
        a.agree,
        a.instances,
        100.0 * a.rate,
        a.clear_agree,
        a.clear,
        100.0 * a.clear_rate
    )?;
    for e in &report.examples {
        eigenformer_io::outln!(
            "theory: example {}: predicted {}, observed {}",
            regime_name(e.regime),
            regime_name(e.predicted),
            e.observed.regime.name()
        )?;
    }
    for c in &report.claims {
        eigenformer_io::outln!(
            "theory: {} {}",
            c.claim,
            if c.verdict == Verdict::Holds {
                "holds"
            } else {
                "FAILS"
            }
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_are_predicted_as_built() {
        let ex = build_examples(0).unwrap();
        assert_eq!(ex.len(), 4);
        for (e, want) in ex.iter().zip(REGIMES) {
            let s =
                UpdateSpectrum::from_matrices(e.a.view(), e.h.view(), &SpectrumOptions::default())
                    .unwrap();
            assert_eq!(s.regime, want);
            assert_eq!(e.regime, want);
        }
    }

    #[test]
    fn balanced_attention_is_positive_and_stochastic() {
        let e = balanced_example(3, 0.0).unwrap();
        assert!(e.a.iter().all(|&v| v > 0.0));
        let rows: Array1<f64> = e.a.sum_axis(ndarray::Axis(1));
        assert!(rows.iter().all(|s| (s - 1.0).abs() < 1e-12));
        assert!((&e.a - &e.a.t()).iter().all(|v| v.abs() < 1e-12));
    }
}

//! `eigenformer simulate`: iterate `X ← X + Σ_h A_h X H_h` (optionally pre-LN) for L layers from
//! `.npy` inputs and write the smoothing metrics of theory.md §4 per layer as CSV, beside the regime
//! that the spectra predict.

use anyhow::{bail, Context, Result};
use clap::Args;
use eigenformer_experiments::trajectory::trajectory_csv;
use eigenformer_io::write_atomic;
use eigenformer_spectral::{
    npy, random_initial_state, simulate_stack, AnalysisError, DynamicsConfig, LayerNormParams,
    Regime, SpectrumOptions, StackSimulation,
};
use ndarray::Array2;
use serde::Serialize;
use std::path::PathBuf;

/// Arguments of `eigenformer simulate`.
#[derive(Args, Debug, Clone)]
pub struct SimulateArgs {
    /// Attention matrix A (n×n, row-stochastic). Repeat with `--h` for several heads.
    #[arg(long, required = true)]
    pub attention: Vec<PathBuf>,
    /// H = W_V W_O (d×d), one per `--attention`.
    #[arg(long, required = true)]
    pub h: Vec<PathBuf>,
    /// Number of layers L.
    #[arg(long)]
    pub layers: usize,
    /// Rescale X to unit Frobenius norm after every layer (the update is linear, so this changes
    /// no direction, only prevents overflow).
    #[arg(long)]
    pub normalize: bool,
    /// Where to write the per-layer metrics (CSV).
    #[arg(long)]
    pub out: PathBuf,
    /// Initial token matrix X₀ (n×d). Default: standard normal entries drawn with `--seed`.
    #[arg(long)]
    pub x0: Option<PathBuf>,
    /// Seed of the random X₀.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Pre-LN weights γ (length d): simulate `X + A·LN(X)·H`.
    #[arg(long)]
    pub gamma: Option<PathBuf>,
    /// Pre-LN bias β (length d; zeros by default when `--gamma` is given).
    #[arg(long, requires = "gamma")]
    pub beta: Option<PathBuf>,
    /// Token indices left out of `mean_cosine_excluding` (e.g. CLS = 0). Repeatable.
    #[arg(long)]
    pub exclude_token: Vec<usize>,
    /// Accept attention matrices that are not row-stochastic (with a warning).
    #[arg(long)]
    pub allow_nonstochastic: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What the command prints.
#[derive(Serialize, Debug)]
pub struct SimulateSummary {
    /// Layers simulated.
    pub layers: usize,
    /// Tokens and width.
    pub n: usize,
    /// Width.
    pub d: usize,
    /// Regime predicted from the spectra (per head when heads have different A: a heuristic).
    pub predicted_regime: Vec<Regime>,
    /// Whether the prediction is exact (one head, or heads sharing A).
    pub prediction_exact: bool,
    /// Metrics at the last layer.
    pub final_mean_cosine: f64,
    /// HC/DC ratio at the last layer.
    pub final_hc_dc_ratio: f64,
    /// σ₂/σ₁ at the last layer.
    pub final_sigma_ratio: f64,
    /// Layer at which the simulation stopped early (overflow or zero state).
    pub stopped_at: Option<usize>,
    /// The CSV written.
    pub csv: PathBuf,
    /// Warnings.
    pub warnings: Vec<String>,
}

/// Run the simulation described by `args`, write the CSV and return the summary.
pub fn execute(args: &SimulateArgs) -> Result<SimulateSummary> {
    if args.attention.len() != args.h.len() {
        bail!(
            "give one --h per --attention (got {} attention matrices and {} H matrices)",
            args.attention.len(),
            args.h.len()
        );
    }
    if args.layers == 0 {
        bail!("--layers must be at least 1");
    }
    let a_mats: Vec<Array2<f64>> = args
        .attention
        .iter()
        .map(npy::read_npy_2d)
        .collect::<Result<_, _>>()?;
    let h_mats: Vec<Array2<f64>> = args
        .h
        .iter()
        .map(npy::read_npy_2d)
        .collect::<Result<_, _>>()?;
    for (m, path) in a_mats.iter().zip(&args.attention) {
        super::require_finite(m, path)?;
    }
    for (m, path) in h_mats.iter().zip(&args.h) {
        super::require_finite(m, path)?;
    }
    let mut warnings = Vec::new();
    let mut stochastic_tol = SpectrumOptions::default().stochastic_tol;
    for (a, path) in a_mats.iter().zip(&args.attention) {
        stochastic_tol = super::accept_attention(
            a.view(),
            path,
            stochastic_tol,
            args.allow_nonstochastic,
            &mut warnings,
        )?;
    }
    let n = a_mats[0].nrows();
    let d = h_mats[0].nrows();
    let x0 = match &args.x0 {
        Some(path) => {
            let x0 = npy::read_npy_2d(path)?;
            super::require_finite(&x0, path)?;
            x0
        }
        None => random_initial_state(n, d, args.seed),
    };
    let layer_norm = match &args.gamma {
        Some(g) => {
            let gamma = npy::read_npy_1d(g)?;
            super::require_finite(&gamma, g)?;
            let beta = match &args.beta {
                Some(b) => {
                    let beta = npy::read_npy_1d(b)?;
                    super::require_finite(&beta, b)?;
                    beta
                }
                None => ndarray::Array1::zeros(gamma.len()),
            };
            Some(LayerNormParams::new(gamma, beta))
        }
        None => None,
    };
    let heads: Vec<_> = a_mats
        .iter()
        .zip(&h_mats)
        .map(|(a, h)| (a.view(), h.view()))
        .collect();
    let cfg = DynamicsConfig {
        layers: args.layers,
        normalise: args.normalize,
        layer_norm,
        exclude_tokens: args.exclude_token.clone(),
        stochastic_tol,
    };
    let StackSimulation {
        predicted_regime,
        prediction_exact,
        trajectory,
    } = simulate_stack(&heads, x0.view(), &cfg).map_err(|e| match e {
        AnalysisError::Prediction(e) => {
            anyhow::Error::new(e).context("predicting the regime from the spectra")
        }
        AnalysisError::Simulation(e) => anyhow::Error::new(e).context("simulating the dynamics"),
        e => anyhow::anyhow!("{e}"),
    })?;
    write_atomic(&args.out, trajectory_csv(&trajectory).as_bytes())?;
    let last = trajectory
        .records
        .last()
        .context("the simulation recorded no layer")?;
    Ok(SimulateSummary {
        layers: args.layers,
        n,
        d,
        predicted_regime,
        prediction_exact,
        final_mean_cosine: last.metrics.mean_cosine,
        final_hc_dc_ratio: last.metrics.hc_dc_ratio,
        final_sigma_ratio: last.metrics.sigma_ratio,
        stopped_at: trajectory.stopped_at,
        csv: args.out.clone(),
        warnings,
    })
}

/// Run the command and print its summary.
pub fn run(args: &SimulateArgs) -> Result<()> {
    let summary = execute(args)?;
    if args.json {
        eigenformer_io::outln!("{}", serde_json::to_string_pretty(&summary)?)?;
        return Ok(());
    }
    for w in &summary.warnings {
        eprintln!("warning: {w}");
    }
    let regimes: Vec<String> = summary
        .predicted_regime
        .iter()
        .map(|r| r.name().to_string())
        .collect();
    eigenformer_io::outln!(
        "simulated {} layers of n = {} tokens, d = {}; predicted regime: {}{}",
        summary.layers,
        summary.n,
        summary.d,
        regimes.join(", "),
        if summary.prediction_exact {
            ""
        } else {
            " (per head, heuristic: heads have different A)"
        }
    )?;
    eigenformer_io::outln!(
        "last layer: mean cosine {:.6}, HC/DC {:.3e}, sigma2/sigma1 {:.3e}",
        summary.final_mean_cosine,
        summary.final_hc_dc_ratio,
        summary.final_sigma_ratio
    )?;
    if let Some(l) = summary.stopped_at {
        eigenformer_io::outln!(
            "stopped early at layer {l} (state overflowed or vanished; try --normalize)"
        )?;
    }
    eigenformer_io::outln!("metrics written to {}", summary.csv.display())?;
    Ok(())
}

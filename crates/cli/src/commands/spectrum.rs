//! `eigenformer spectrum`: the spectra of A and H, the dominating pair of the update `X + A X H`
//! and the regime it predicts (theory.md §1–§2), from `.npy` files.

use anyhow::{Context, Result};
use clap::Args;
use eigenformer_spectral::{
    layernorm_effective_h, npy, Complex64, LimitNotions, ModePair, Regime, SpectrumOptions,
    UpdateSpectrum,
};
use ndarray::Array2;
use serde::Serialize;
use std::path::PathBuf;

/// Arguments of `eigenformer spectrum`.
#[derive(Args, Debug, Clone)]
pub struct SpectrumArgs {
    /// Attention matrix A (n×n, row-stochastic), .npy float32/float64.
    #[arg(long)]
    pub attention: PathBuf,
    /// H = W_V W_O (d×d), .npy float32/float64.
    #[arg(long)]
    pub h: PathBuf,
    /// LayerNorm weight γ (length d) of the pre-LN feeding the attention: analyse diag(γ) H (C8).
    #[arg(long)]
    pub gamma: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Accept an A that is not row-stochastic (with a warning) instead of refusing it.
    #[arg(long)]
    pub allow_nonstochastic: bool,
    /// Relative tolerance under which two |μ| count as tied.
    #[arg(long, default_value_t = 1e-9)]
    pub tie_rtol: f64,
}

/// A complex number as `[re, im]` in JSON.
fn pair(z: Complex64) -> [f64; 2] {
    [z.re, z.im]
}

/// The dominating pair in the JSON output.
#[derive(Serialize, Debug)]
pub struct DominantJson {
    /// Eigenvalue of A, `[re, im]`.
    pub a: [f64; 2],
    /// Eigenvalue of the analysed H, `[re, im]`.
    pub h: [f64; 2],
    /// `|1 + a h|`.
    pub mu_abs: f64,
    /// Whether `a` is the DC mode of A.
    pub is_dc: bool,
}

impl From<&ModePair> for DominantJson {
    fn from(p: &ModePair) -> Self {
        DominantJson {
            a: pair(p.a),
            h: pair(p.h),
            mu_abs: p.modulus,
            is_dc: p.is_dc,
        }
    }
}

/// The JSON document printed by `eigenformer spectrum --json` (see docs/cli.md).
#[derive(Serialize, Debug)]
pub struct SpectrumJson {
    /// Number of tokens.
    pub n: usize,
    /// Width.
    pub d: usize,
    /// Which matrix the H-spectrum is of: `"H"` or `"diag(gamma) H"`.
    pub h_used: &'static str,
    /// Eigenvalues of A, `[re, im]`, by descending modulus.
    pub eigenvalues_a: Vec<[f64; 2]>,
    /// Eigenvalues of the analysed H (diag(γ)H with `--gamma`), `[re, im]`.
    pub eigenvalues_h: Vec<[f64; 2]>,
    /// Eigenvalues of H itself when `--gamma` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eigenvalues_h_raw: Option<Vec<[f64; 2]>>,
    /// Index of the DC mode in `eigenvalues_a`.
    pub dc_index: usize,
    /// The first dominating pair.
    pub dominant: DominantJson,
    /// Every pair within the tie tolerance of the maximal |μ|.
    pub dominating: Vec<DominantJson>,
    /// The largest |μ| outside the dominating set (how clear the prediction is).
    pub runner_up_mu_abs: Option<f64>,
    /// `"smoothing"`, `"alternating-smoothing"`, `"sharpening"` or `"balanced"`.
    pub regime: Regime,
    /// Which limit notions hold.
    pub limit: LimitNotions,
    /// Warnings (for example a non-stochastic A accepted with `--allow-nonstochastic`).
    pub warnings: Vec<String>,
}

/// Analyse the inputs named by `args`.
pub fn analyse(args: &SpectrumArgs) -> Result<SpectrumJson> {
    let a = npy::read_npy_2d(&args.attention)?;
    super::require_finite(&a, &args.attention)?;
    let h_raw = npy::read_npy_2d(&args.h)?;
    super::require_finite(&h_raw, &args.h)?;
    let mut warnings = Vec::new();
    let mut opts = SpectrumOptions {
        tie_rtol: args.tie_rtol,
        ..SpectrumOptions::default()
    };
    opts.stochastic_tol = super::accept_attention(
        a.view(),
        &args.attention,
        opts.stochastic_tol,
        args.allow_nonstochastic,
        &mut warnings,
    )?;
    let (h, h_used): (Array2<f64>, &'static str) = match &args.gamma {
        Some(path) => {
            let gamma = npy::read_npy_1d(path)?;
            super::require_finite(&gamma, path)?;
            let eff = layernorm_effective_h(h_raw.view(), gamma.view()).with_context(|| {
                format!("combining {} with {}", path.display(), args.h.display())
            })?;
            (eff, "diag(gamma) H")
        }
        None => (h_raw.clone(), "H"),
    };
    let spectrum = UpdateSpectrum::from_matrices(a.view(), h.view(), &opts).with_context(|| {
        format!(
            "analysing A = {} and H = {}",
            args.attention.display(),
            args.h.display()
        )
    })?;
    let eigenvalues_h_raw = match args.gamma {
        Some(_) => Some(
            eigenformer_spectral::linalg::eigenvalues(h_raw.view())?
                .into_iter()
                .map(pair)
                .collect(),
        ),
        None => None,
    };
    let dominant = spectrum
        .dominating
        .first()
        .map(DominantJson::from)
        .context("the spectrum has no dominating pair")?;
    Ok(SpectrumJson {
        n: spectrum.n(),
        d: spectrum.d(),
        h_used,
        eigenvalues_a: spectrum.a_eigenvalues.iter().copied().map(pair).collect(),
        eigenvalues_h: spectrum.h_eigenvalues.iter().copied().map(pair).collect(),
        eigenvalues_h_raw,
        dc_index: spectrum.dc_index,
        dominant,
        dominating: spectrum.dominating.iter().map(DominantJson::from).collect(),
        runner_up_mu_abs: spectrum.runner_up_modulus,
        regime: spectrum.regime,
        limit: spectrum.limits,
        warnings,
    })
}

fn fmt_complex(z: [f64; 2]) -> String {
    if z[1] == 0.0 {
        format!("{:.6}", z[0])
    } else {
        format!("{:.6}{:+.6}i", z[0], z[1])
    }
}

fn fmt_list(values: &[[f64; 2]], max: usize) -> String {
    let shown: Vec<String> = values.iter().take(max).map(|&z| fmt_complex(z)).collect();
    let more = values.len().saturating_sub(max);
    if more > 0 {
        format!("{} … (+{more} more)", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// Human-readable rendering of the analysis.
pub fn render_text(r: &SpectrumJson) -> String {
    let regime = r.regime.name();
    let mut s = String::new();
    for w in &r.warnings {
        s.push_str(&format!("warning: {w}\n"));
    }
    s.push_str(&format!(
        "tokens n = {}, width d = {}, H used: {}\n",
        r.n, r.d, r.h_used
    ));
    s.push_str(&format!(
        "eigenvalues of A: {}\n",
        fmt_list(&r.eigenvalues_a, 8)
    ));
    s.push_str(&format!(
        "eigenvalues of {}: {}\n",
        r.h_used,
        fmt_list(&r.eigenvalues_h, 8)
    ));
    if let Some(raw) = &r.eigenvalues_h_raw {
        s.push_str(&format!("eigenvalues of H: {}\n", fmt_list(raw, 8)));
    }
    s.push_str(&format!(
        "dominant pair: a = {}{}, h = {}, |1 + a h| = {:.6}",
        fmt_complex(r.dominant.a),
        if r.dominant.is_dc { " (DC)" } else { "" },
        fmt_complex(r.dominant.h),
        r.dominant.mu_abs
    ));
    if let Some(next) = r.runner_up_mu_abs {
        s.push_str(&format!(" (runner-up {next:.6})"));
    }
    s.push('\n');
    s.push_str(&format!("regime: {regime}\n"));
    s.push_str(&format!(
        "limits: rank collapse {}, angle convergence {}, input convergence {}\n",
        yes_no(r.limit.rank_collapse),
        yes_no(r.limit.angle_convergence),
        yes_no(r.limit.input_convergence)
    ));
    s
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// Run the command: print text or JSON to stdout.
pub fn run(args: &SpectrumArgs) -> Result<()> {
    let report = analyse(args)?;
    if args.json {
        eigenformer_io::outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        for w in &report.warnings {
            eprintln!("warning: {w}");
        }
        eigenformer_io::out!(
            "{}",
            render_text(&SpectrumJson {
                warnings: Vec::new(),
                ..report
            })
        )?;
    }
    Ok(())
}

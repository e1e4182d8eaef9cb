//! `eigenformer spectrum`: the spectra of A and H, the dominating pair of the update `X + A X H`
//! and the regime it predicts (theory.md §1–§2), from `.npy` files.

use anyhow::{anyhow, Result};
use clap::Args;
use eigenformer_spectral::{analyse_spectrum, npy, AnalysisError, SpectrumOptions, SpectrumReport};
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

/// The JSON document printed by `eigenformer spectrum --json` (see docs/cli.md): the library's
/// [`SpectrumReport`], which the Python package returns too.
pub type SpectrumJson = SpectrumReport;

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
    let gamma = match &args.gamma {
        Some(path) => {
            let gamma = npy::read_npy_1d(path)?;
            super::require_finite(&gamma, path)?;
            Some((gamma, path))
        }
        None => None,
    };
    let report = analyse_spectrum(
        a.view(),
        h_raw.view(),
        gamma.as_ref().map(|(g, _)| g.view()),
        &opts,
    );
    let mut report = match report {
        Ok(r) => r,
        Err(AnalysisError::Gamma(e)) => {
            let path = gamma.as_ref().map(|(_, p)| p.display().to_string());
            return Err(anyhow::Error::new(e).context(format!(
                "combining {} with {}",
                path.unwrap_or_default(),
                args.h.display()
            )));
        }
        Err(AnalysisError::Update(e)) => {
            return Err(anyhow::Error::new(e).context(format!(
                "analysing A = {} and H = {}",
                args.attention.display(),
                args.h.display()
            )))
        }
        Err(AnalysisError::RawH(e)) => return Err(e.into()),
        Err(e) => return Err(anyhow!("{e}")),
    };
    report.warnings = warnings;
    Ok(report)
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

//! Writing an audit: `audit.json`, `report.md`, `layers.csv`, `heads.csv`, `similarity.svg` and
//! `eigenvalues.svg`, each atomically.

use crate::audit::report::{AuditReport, HeadReport, LayerReport};
use crate::plot::{self, Figure, Mark, Panel, Scale, Series};
use anyhow::{Context, Result};
use eigenformer_io::write_atomic;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The files [`write_outputs`] writes, relative to the output directory.
pub const OUTPUT_FILES: &[&str] = &[
    "audit.json",
    "report.md",
    "layers.csv",
    "heads.csv",
    "similarity.svg",
    "eigenvalues.svg",
];

/// Write every output of `report` into `out`; returns the paths written.
pub fn write_outputs(report: &AuditReport, out: &Path) -> Result<Vec<PathBuf>> {
    let json = serde_json::to_string_pretty(report).context("serialising audit.json")?;
    let files: [(&str, Vec<u8>); 4] = [
        ("audit.json", json.into_bytes()),
        ("report.md", markdown(report, "").into_bytes()),
        ("layers.csv", layers_csv(report).into_bytes()),
        ("heads.csv", heads_csv(report).into_bytes()),
    ];
    let mut written = Vec::new();
    for (name, bytes) in files {
        let path = out.join(name);
        write_atomic(&path, &bytes)?;
        written.push(path);
    }
    let sim = out.join("similarity.svg");
    plot::write_svg(&sim, &similarity_figure(&[report]))?;
    written.push(sim);
    let eig = out.join("eigenvalues.svg");
    plot::write_svg(&eig, &eigenvalue_figure(report))?;
    written.push(eig);
    Ok(written)
}

/// Token similarity and rank against depth, one line per report (models side by side).
pub fn similarity_figure(reports: &[&AuditReport]) -> Figure {
    let names: Vec<&str> = reports.iter().map(|r| r.model.name.as_str()).collect();
    let mut cos = Panel::against_depth("mean token cosine", "mean pairwise cosine", Scale::Linear);
    let mut hcdc = Panel::against_depth("high/low frequency", "‖HC‖/‖DC‖", Scale::Log);
    let mut sigma = Panel::against_depth("rank collapse", "σ₂/σ₁", Scale::Linear);
    for r in reports {
        let name = &r.model.name;
        let col = |f: &dyn Fn(&LayerReport) -> f64| r.layers.iter().map(f).collect::<Vec<_>>();
        cos.series.push(Series::against_index(
            format!("{name}: all tokens"),
            &col(&|l| l.mean_cosine),
        ));
        cos.series.push(Series::against_index(
            format!("{name}: no special tokens"),
            &col(&|l| l.mean_cosine_no_special.unwrap_or(f64::NAN)),
        ));
        cos.series.push(Series::against_index(
            format!("{name}: centred (corpus-mean token subtracted)"),
            &col(&|l| l.mean_cosine_centred),
        ));
        hcdc.series
            .push(Series::against_index(name.clone(), &col(&|l| l.hc_dc)));
        sigma.series.push(Series::against_index(
            name.clone(),
            &col(&|l| l.sigma2_over_sigma1),
        ));
    }
    Figure::new(
        format!(
            "Token similarity against depth ({}; layer 0 = embeddings)",
            names.join(" vs ")
        ),
        3,
    )
    .with(cos)
    .with(hcdc)
    .with(sigma)
}

/// Each layer's head eigenvalues (all heads pooled) in the complex plane, `H_h`,
/// `diag(γ) H_h` and (pre-LN) `H_eff`.
pub fn eigenvalue_figure(report: &AuditReport) -> Figure {
    let mut fig = Figure::new(
        format!(
            "{}: eigenvalues of H_h = W_V W_O (nonzero part, via W_O W_V) and of diag(γ) H_h",
            report.model.name
        ),
        4,
    );
    fig.panel_size = (420, 400);
    for layer in report.layers.iter().filter(|l| !l.heads.is_empty()) {
        let pool = |eff: bool| {
            layer
                .heads
                .iter()
                .flat_map(|h| {
                    if eff {
                        h.eigenvalues_h_eff.clone()
                    } else {
                        h.eigenvalues_h.clone()
                    }
                })
                .collect::<Vec<_>>()
        };
        let mut panel = Panel::complex_plane(format!("layer {}", layer.index))
            .with(Series::complex_points("H", &pool(false), Mark::Points))
            .with(Series::complex_points(
                "diag(γ)H",
                &pool(true),
                Mark::HollowPoints,
            ));
        let sigma: Vec<_> = layer
            .heads
            .iter()
            .filter_map(|h| h.eigenvalues_h_sigma.clone())
            .flatten()
            .collect();
        if !sigma.is_empty() {
            panel = panel.with(Series::complex_points(
                "H_eff = P diag(γ)H/σ",
                &sigma,
                Mark::HollowPoints,
            ));
        }
        fig.panels.push(panel);
    }
    fig
}

fn fmt(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else {
        format!("{v:.3}")
    }
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), fmt)
}

/// `smoothing 40% · sharpening 60%` for the non-zero counts.
pub fn regime_summary(counts: &BTreeMap<String, usize>) -> String {
    let total: usize = counts.values().sum();
    if total == 0 {
        return "–".into();
    }
    let mut parts: Vec<(usize, &String)> = counts
        .iter()
        .filter(|(_, &v)| v > 0)
        .map(|(k, &v)| (v, k))
        .collect();
    parts.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    parts
        .iter()
        .map(|(v, k)| {
            let pct = 100.0 * *v as f64 / total as f64;
            if pct < 0.5 {
                format!("{k} <1%")
            } else {
                format!("{k} {pct:.0}%")
            }
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The markdown report; `heading` prefixes every heading (e.g. `#` to nest it one level down).
pub fn markdown(r: &AuditReport, heading: &str) -> String {
    let m = &r.model;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{heading}# Audit of `{}`\n\n{} model, {} layers × {} heads{}, width d = {}, head width d_h = {}, {}{}. \
         Checkpoint: `{}`.\n",
        m.name,
        m.model_type,
        m.layers,
        m.heads,
        if m.kv_heads > 0 && m.kv_heads != m.heads {
            format!(" ({} key/value heads)", m.kv_heads)
        } else {
            String::new()
        },
        m.width,
        m.head_dim,
        if m.post_ln { "post-LN" } else { "pre-LN" },
        if m.causal { ", causal attention" } else { "" },
        m.dir
    );
    let _ = writeln!(
        s,
        "{}\n",
        if m.post_ln {
            "Post-LN: the effective matrix of each head is similar to H_h, so spec(H_h) is the one that \
             acts (theory.md C8′); diag(γ) H_h is listed for comparison."
        } else {
            "Pre-LN: each head acts through H_eff = P_d diag(γ) H_h / σ_l (RMSNorm: diag(γ) H_h / σ_l) with \
             σ_l measured on these inputs (theory.md C8); spec(H_h) and spec(diag(γ) H_h) are listed beside it."
        }
    );
    let t = &r.text;
    let _ = writeln!(
        s,
        "Text: {} — {} sentences ({}), {:.1} tokens on average (at most {}), {} cut to {} tokens. \
         Measured in {:.1} s.\n",
        t.source,
        t.sentences,
        t.selection,
        t.mean_tokens,
        t.max_tokens,
        t.truncated,
        m.max_tokens,
        r.seconds
    );
    let _ = writeln!(
        s,
        "{heading}## Smoothing against depth\n\nAverages over the sentences of each hidden state \
         (layer 0 = embedding output). Special tokens: [CLS]/[SEP] or <s>/</s>.\n\n\
         The centred cosine subtracts the layer's corpus-mean token first.\n\n\
         | layer | mean cosine | without special tokens | centred | centred, without special | ‖HC‖/‖DC‖ | σ₂/σ₁ | effective rank |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for l in &r.layers {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            l.index,
            fmt(l.mean_cosine),
            fmt_opt(l.mean_cosine_no_special),
            fmt(l.mean_cosine_centred),
            fmt_opt(l.mean_cosine_centred_no_special),
            fmt(l.hc_dc),
            fmt(l.sigma2_over_sigma1),
            fmt(l.effective_rank)
        );
    }
    let _ = writeln!(
        s,
        "\n{heading}## Head spectra and regimes per layer\n\n\
         Spectra of H_h = W_V^h W_O^h from the d_h × d_h product W_O^h W_V^h (C9; the other d − d_h \
         eigenvalues are 0) and of diag(γ) H_h with γ of the LayerNorm feeding the attention (C8). \
         Regimes: the dominating pair of X + A X H_h with each head's attention A measured on each \
         sentence (C1), counted over heads × sentences.\n\n\
         | layer | γ < 0 | Re h < 0 (H) | Re h < 0 (diag(γ)H) | max ρ(H) | max ρ(diag(γ)H) | regimes (H) | regimes (diag(γ)H) |\n\
         |---:|---:|---:|---:|---:|---:|---|---|"
    );
    for l in r.layers.iter().filter(|l| !l.heads.is_empty()) {
        let max = |f: &dyn Fn(&HeadReport) -> f64| l.heads.iter().map(f).fold(0.0, f64::max);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            l.index,
            l.gamma_negative.map_or("–".into(), |g| g.to_string()),
            fmt(l.mean_negative_fraction(false)),
            fmt(l.mean_negative_fraction(true)),
            fmt(max(&|h| h.spectral_radius)),
            fmt(max(&|h| h.spectral_radius_eff)),
            regime_summary(&l.regime_totals(false)),
            regime_summary(&l.regime_totals(true)),
        );
    }
    if !m.post_ln {
        let _ = writeln!(
            s,
            "\n{heading}## H_eff with the measured σ_l (pre-LN, C8)\n\n\
             | layer | σ_l | Re h < 0 (H_eff) | max ρ(H_eff) | regimes (H_eff) |\n|---:|---:|---:|---:|---|"
        );
        for l in r.layers.iter().filter(|l| !l.heads.is_empty()) {
            let max = l
                .heads
                .iter()
                .filter_map(|h| h.spectral_radius_sigma)
                .fold(f64::NAN, f64::max);
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                l.index,
                fmt_opt(l.sigma),
                fmt(l.mean_negative_fraction_sigma()),
                fmt(max),
                regime_summary(&l.regime_totals_sigma()),
            );
        }
    }
    let _ = writeln!(
        s,
        "\n{heading}## Per head\n\n\
         | layer | head | Re h < 0 (H) | Re h < 0 (diag(γ)H) | ρ(H) | ρ(diag(γ)H) | DC dominates | dominating h | regimes (H) | regimes (diag(γ)H) |\n\
         |---:|---:|---:|---:|---:|---:|---:|---|---|---|"
    );
    for l in &r.layers {
        for h in &l.heads {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {:.3}{:+.3}i ({} sent.) | {} | {} |",
                l.index,
                h.head,
                fmt(h.negative_real_fraction),
                fmt(h.negative_real_fraction_eff),
                fmt(h.spectral_radius),
                fmt(h.spectral_radius_eff),
                fmt(h.dc_dominates_fraction),
                h.dominating_h.re,
                h.dominating_h.im,
                h.dominating_h_sentences,
                regime_summary(&h.regime_counts),
                regime_summary(&h.regime_counts_eff),
            );
        }
    }
    let _ = writeln!(
        s,
        "\nFiles: `audit.json` (everything), `layers.csv`, `heads.csv`, `similarity.svg` (token \
         similarity against depth), `eigenvalues.svg` (each layer's eigenvalues in the complex plane)."
    );
    s
}

/// One row per hidden state.
pub fn layers_csv(r: &AuditReport) -> String {
    let mut s = String::from(
        "layer,mean_cosine,mean_cosine_no_special,hc_dc,sigma2_over_sigma1,effective_rank,\
         gamma_negative,negative_real_fraction,negative_real_fraction_eff,dc_regime_fraction,\
         dc_regime_fraction_eff,mean_cosine_centred,mean_cosine_centred_no_special,sigma,\
         negative_real_fraction_sigma,dc_regime_fraction_sigma\n",
    );
    for l in &r.layers {
        let dc_of = |t: BTreeMap<String, usize>| {
            let all: usize = t.values().sum();
            let dc = t.get("smoothing").copied().unwrap_or(0)
                + t.get("alternating-smoothing").copied().unwrap_or(0);
            if all == 0 {
                String::new()
            } else {
                (dc as f64 / all as f64).to_string()
            }
        };
        let dc = |eff: bool| dc_of(l.regime_totals(eff));
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            l.index,
            l.mean_cosine,
            l.mean_cosine_no_special
                .map_or(String::new(), |v| v.to_string()),
            l.hc_dc,
            l.sigma2_over_sigma1,
            l.effective_rank,
            l.gamma_negative.map_or(String::new(), |v| v.to_string()),
            nan_empty(l.mean_negative_fraction(false)),
            nan_empty(l.mean_negative_fraction(true)),
            dc(false),
            dc(true),
            l.mean_cosine_centred,
            l.mean_cosine_centred_no_special
                .map_or(String::new(), |v| v.to_string()),
            l.sigma.map_or(String::new(), |v| v.to_string()),
            nan_empty(l.mean_negative_fraction_sigma()),
            dc_of(l.regime_totals_sigma()),
        );
    }
    s
}

fn nan_empty(v: f64) -> String {
    if v.is_nan() {
        String::new()
    } else {
        v.to_string()
    }
}

/// One row per head.
pub fn heads_csv(r: &AuditReport) -> String {
    let names: Vec<String> = crate::audit::report::empty_regime_counts()
        .into_keys()
        .collect();
    let mut s = String::from(
        "layer,head,negative_real_fraction,negative_real_fraction_eff,spectral_radius,\
         spectral_radius_eff,dc_dominates_fraction,mean_dominant_modulus,mean_dominant_modulus_eff",
    );
    for n in &names {
        let _ = write!(s, ",{n}");
    }
    for n in &names {
        let _ = write!(s, ",{n}_eff");
    }
    s.push_str(
        ",kv_head,negative_real_fraction_sigma,spectral_radius_sigma,mean_dominant_modulus_sigma",
    );
    for n in &names {
        let _ = write!(s, ",{n}_sigma");
    }
    s.push('\n');
    for l in &r.layers {
        for h in &l.heads {
            let _ = write!(
                s,
                "{},{},{},{},{},{},{},{},{}",
                l.index,
                h.head,
                h.negative_real_fraction,
                h.negative_real_fraction_eff,
                h.spectral_radius,
                h.spectral_radius_eff,
                h.dc_dominates_fraction,
                h.mean_dominant_modulus,
                h.mean_dominant_modulus_eff
            );
            for n in &names {
                let _ = write!(s, ",{}", h.regime_counts.get(n).copied().unwrap_or(0));
            }
            for n in &names {
                let _ = write!(s, ",{}", h.regime_counts_eff.get(n).copied().unwrap_or(0));
            }
            let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
            let _ = write!(
                s,
                ",{},{},{},{}",
                h.kv_head,
                opt(h.negative_real_fraction_sigma),
                opt(h.spectral_radius_sigma),
                opt(h.mean_dominant_modulus_sigma)
            );
            for n in &names {
                let v = h.regime_counts_sigma.as_ref().map_or(String::new(), |c| {
                    c.get(n).copied().unwrap_or(0).to_string()
                });
                let _ = write!(s, ",{v}");
            }
            s.push('\n');
        }
    }
    s
}

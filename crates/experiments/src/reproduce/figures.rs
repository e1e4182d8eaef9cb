//! The SVG figures of the training section, drawn with [`crate::plot`]: accuracy against depth,
//! data fraction and severity, token cosine against layer per variant, and the eigenvalues of
//! the trained H in the complex plane.

use super::aggregate::{variants_in, CosineCurve, SeverityPoint, SpectrumSummary, SweepPoint};
use super::error::Result;
use crate::plot::{write_svg, Figure, Mark, Panel, Scale, Series};
use num_complex::Complex64;
use std::path::Path;

/// Mean test accuracy (%) against the sweep's x, one line per variant.
pub fn sweep(path: &Path, title: &str, x_label: &str, points: &[SweepPoint]) -> Result<()> {
    let lines: Vec<(&String, f64, f64)> = points
        .iter()
        .map(|p| (&p.attention, p.x, p.accuracy.mean))
        .collect();
    accuracy_lines(path, title, title, x_label, &lines)
}

/// Mean accuracy over corruptions (%) against severity (0 = clean), one line per variant.
pub fn severity(path: &Path, points: &[SeverityPoint]) -> Result<()> {
    let lines: Vec<(&String, f64, f64)> = points
        .iter()
        .map(|p| (&p.attention, f64::from(p.severity), p.accuracy.mean))
        .collect();
    accuracy_lines(
        path,
        "Accuracy on corrupted test sets",
        "mean over corruptions (severity 0 = clean)",
        "severity",
        &lines,
    )
}

/// One panel of test accuracy (%) against x, a line per variant, from `(variant, x, accuracy as a
/// fraction)` points in plotting order.
fn accuracy_lines(
    path: &Path,
    title: &str,
    panel_title: &str,
    x_label: &str,
    points: &[(&String, f64, f64)],
) -> Result<()> {
    let mut panel = Panel::against_depth(
        panel_title,
        "test accuracy (%, mean over seeds)",
        Scale::Linear,
    );
    panel.x_label = x_label.into();
    for v in variants_in(points.iter().map(|p| p.0)) {
        let pts = points
            .iter()
            .filter(|p| *p.0 == v)
            .map(|p| (p.1, 100.0 * p.2))
            .collect();
        panel.series.push(Series {
            name: v,
            points: pts,
            mark: Mark::LinePoints,
        });
    }
    write_svg(path, &Figure::new(title, 1).with(panel))?;
    Ok(())
}

/// Mean token cosine of each block's output against the block index, one panel per depth.
pub fn cosine(path: &Path, curves: &[CosineCurve]) -> Result<()> {
    let mut depths: Vec<usize> = curves.iter().map(|c| c.depth).collect();
    depths.sort_unstable();
    depths.dedup();
    let mut fig = Figure::new(
        "Token similarity of trained models against depth",
        depths.len().min(3),
    );
    for d in depths {
        let mut panel = Panel::against_depth(
            format!("depth {d}"),
            "mean token cosine (mean over seeds)",
            Scale::Linear,
        );
        panel.x_label = "block".into();
        for c in curves.iter().filter(|c| c.depth == d) {
            panel.series.push(Series {
                name: c.attention.clone(),
                points: c
                    .layers
                    .iter()
                    .enumerate()
                    .map(|(i, s)| ((i + 1) as f64, s.mean))
                    .collect(),
                mark: Mark::LinePoints,
            });
        }
        fig.panels.push(panel);
    }
    write_svg(path, &fig)?;
    Ok(())
}

/// The nonzero eigenvalues of every head's H (all layers and seeds) in the complex plane, one
/// panel per variant, with the unit circle.
pub fn eigenvalues(path: &Path, spectra: &[SpectrumSummary]) -> Result<()> {
    let depth = spectra.iter().map(|s| s.depth).max().unwrap_or(0);
    let mine: Vec<&SpectrumSummary> = spectra.iter().filter(|s| s.depth == depth).collect();
    let mut fig = Figure::new(
        format!("Eigenvalues of the trained H_h (depth {depth}, all layers, heads and seeds)"),
        mine.len().clamp(1, 3),
    );
    for s in mine {
        let values: Vec<Complex64> = s
            .eigenvalues
            .iter()
            .map(|z| Complex64::new(z[0], z[1]))
            .collect();
        fig.panels.push(
            Panel::complex_plane(s.attention.clone())
                .with(Series::complex_points(
                    "eigenvalues of H_h",
                    &values,
                    Mark::HollowPoints,
                ))
                .with_circle("|λ| = 1", (0.0, 0.0), 1.0),
        );
    }
    write_svg(path, &fig)?;
    Ok(())
}

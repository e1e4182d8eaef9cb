//! A simulated trajectory ([`Trajectory`]) as CSV, one row per layer: what `eigenformer simulate`
//! writes and the theory report's examples link to.

use eigenformer_spectral::Trajectory;
use std::fmt::Write as _;

/// The CSV columns, in order.
pub const CSV_HEADER: &str = "layer,mean_cosine,mean_cosine_excluding,hc_dc_ratio,sigma2_over_sigma1,effective_rank,relative_residual,frobenius_norm,growth,step_alignment";

/// Render a trajectory as CSV (empty fields for values that do not exist at a layer).
pub fn trajectory_csv(t: &Trajectory) -> String {
    let opt = |v: Option<f64>| v.map(|x| format!("{x:.10e}")).unwrap_or_default();
    let mut s = String::from(CSV_HEADER);
    s.push('\n');
    for r in &t.records {
        let m = &r.metrics;
        let _ = writeln!(
            s,
            "{},{:.10e},{},{:.10e},{:.10e},{:.10e},{:.10e},{:.10e},{},{}",
            r.layer,
            m.mean_cosine,
            opt(m.mean_cosine_excluding),
            m.hc_dc_ratio,
            m.sigma_ratio,
            m.effective_rank,
            m.relative_residual,
            m.frobenius_norm,
            opt(r.growth),
            opt(r.step_alignment),
        );
    }
    s
}

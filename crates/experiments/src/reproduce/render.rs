//! The training section as Markdown (`training.md`) and CSV: tables of mean ± sd over seeds,
//! links to the figures, and the claims with their rules.

use super::aggregate::{variants_in, CorruptionSummary, CosineCurve, SpectrumSummary, SweepPoint};
use super::claims::{ComparisonRecord, Endpoint, TrainingClaim};
use super::results::{ExperimentResult, Section};
use super::stats::Stat;
use crate::train::config::TrainConfig;
use std::fmt::Write as _;

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn fmt_x(x: f64, key: &str) -> String {
    if key == "train_fraction" {
        format!("{:.0}%", 100.0 * x)
    } else {
        format!("{x}")
    }
}

/// The name of a sweep's axis `key`: short for a table's header, long for a figure's axis.
pub fn axis_label(key: &str, long: bool) -> &'static str {
    match (key, long) {
        ("depth", false) => "depth",
        ("depth", true) => "depth (blocks)",
        ("lr", _) => "peak learning rate",
        (_, false) => "training fraction",
        (_, true) => "fraction of the training set",
    }
}

/// A table: rows = x, columns = variants, cells = accuracy (%) mean ± sd.
fn sweep_table(points: &[SweepPoint], key: &str) -> String {
    let variants = variants_in(points.iter().map(|p| &p.attention));
    let mut xs: Vec<f64> = points.iter().map(|p| p.x).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let mut s = format!("| {} |", axis_label(key, false));
    for v in &variants {
        let _ = write!(s, " {v} |");
    }
    s.push_str("\n|---:|");
    s.push_str(&"---:|".repeat(variants.len()));
    s.push('\n');
    for x in xs {
        let _ = write!(s, "| {} |", fmt_x(x, key));
        for v in &variants {
            match points.iter().find(|p| p.attention == *v && p.x == x) {
                Some(p) => {
                    let _ = write!(s, " {} |", p.accuracy.show_percent());
                }
                None => s.push_str(" – |"),
            }
        }
        s.push('\n');
    }
    s
}

fn corruption_tables(c: &CorruptionSummary) -> String {
    let variants = variants_in(c.by_severity.iter().map(|p| &p.attention));
    let header = |first: &str| {
        let mut s = format!("| {first} |");
        for v in &variants {
            let _ = write!(s, " {v} |");
        }
        s.push_str("\n|---|");
        s.push_str(&"---:|".repeat(variants.len()));
        s.push('\n');
        s
    };
    let mut s = String::from(
        "Mean accuracy over the corruptions per severity (severity 0 = the clean test images); \
         per seed the mean over corruptions, then mean ± sd over seeds (%):\n\n",
    );
    s.push_str(&header("severity"));
    let mut sev: Vec<u8> = c.by_severity.iter().map(|p| p.severity).collect();
    sev.sort_unstable();
    sev.dedup();
    for k in sev {
        let _ = write!(
            s,
            "| {} |",
            if k == 0 {
                "clean".to_string()
            } else {
                k.to_string()
            }
        );
        for v in &variants {
            match c
                .by_severity
                .iter()
                .find(|p| p.attention == *v && p.severity == k)
            {
                Some(p) => {
                    let _ = write!(s, " {} |", p.accuracy.show_percent());
                }
                None => s.push_str(" – |"),
            }
        }
        s.push('\n');
    }
    s.push_str("| **all (mean)** |");
    for v in &variants {
        match c.overall.iter().find(|(a, _)| a == v) {
            Some((_, st)) => {
                let _ = write!(s, " **{}** |", st.show_percent());
            }
            None => s.push_str(" – |"),
        }
    }
    s.push_str(
        "\n\nPer corruption, averaged over the severities (mean of the per-severity means over \
         seeds, %; every (corruption, severity) cell with its sd is in the CSV):\n\n",
    );
    s.push_str(&header("corruption"));
    let mut names: Vec<&String> = Vec::new();
    for x in &c.cells {
        if !names.contains(&&x.corruption) {
            names.push(&x.corruption);
        }
    }
    for n in names {
        let _ = write!(s, "| {n} |");
        for v in &variants {
            let vals: Vec<f64> = c
                .cells
                .iter()
                .filter(|x| x.attention == *v && x.corruption == *n)
                .map(|x| x.accuracy.mean)
                .collect();
            let _ = write!(s, " {:.1} |", 100.0 * Stat::of(&vals).mean);
        }
        s.push('\n');
    }
    s
}

fn smoothing_tables(curves: &[CosineCurve], spectra: &[SpectrumSummary]) -> String {
    let depth = curves.iter().map(|c| c.depth).max().unwrap_or(0);
    let deepest: Vec<&CosineCurve> = curves.iter().filter(|c| c.depth == depth).collect();
    // The centred cosine (tokens minus their mean) beside the raw one when any run measured it:
    // the raw cosine also rises when every token shares a large common component.
    let centred = deepest
        .iter()
        .any(|c| c.layers_centred.iter().any(Option::is_some));
    let mut s = format!(
        "Mean pairwise token cosine (CLS included) of each block's output on 32 probe test \
         images, mean ± sd over seeds, models of depth {depth}{}:\n\n| block |",
        if centred {
            "; each variant's second column is the centred cosine (tokens minus their mean)"
        } else {
            ""
        }
    );
    for c in &deepest {
        let _ = write!(s, " {} |", c.attention);
        if centred {
            let _ = write!(s, " {} centred |", c.attention);
        }
    }
    let columns = deepest.len() * if centred { 2 } else { 1 };
    s.push_str("\n|---:|");
    s.push_str(&"---:|".repeat(columns));
    s.push('\n');
    for l in 0..depth {
        let _ = write!(s, "| {} |", l + 1);
        for c in &deepest {
            match c.layers.get(l) {
                Some(st) => {
                    let _ = write!(s, " {} |", st.show(3));
                }
                None => s.push_str(" – |"),
            }
            if centred {
                match c.layers_centred.get(l).copied().flatten() {
                    Some(st) => {
                        let _ = write!(s, " {} |", st.show(3));
                    }
                    None => s.push_str(" – |"),
                }
            }
        }
        s.push('\n');
    }
    s.push_str(
        "\nRealised spectra of the trained H_h = W_V^h W_O^h (spectral variants: the constructed \
         H_h), over every layer, head and seed; eigenvalues with |λ| < 1e-6 are counted as zeros \
         (the d − d_h structural zeros of a rank-d_h head):\n\n\
         | variant | depth | nonzero eigenvalues | zeros | Re λ < 0 | max \\|λ\\| | regimes (mean attention, H_h) | heads outside the spectral bounds |\n\
         |---|---:|---:|---:|---:|---:|---|---:|\n",
    );
    for sp in spectra {
        let regimes: Vec<String> = sp
            .regimes
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.3} | {:.3} | {} | {} |",
            sp.attention,
            sp.depth,
            sp.eigenvalues.len(),
            sp.zeros,
            sp.negative_real_fraction,
            sp.max_modulus,
            regimes.join(", "),
            if sp.heads_checked > 0 {
                format!("{} of {}", sp.heads_violating, sp.heads_checked)
            } else {
                "–".into()
            }
        );
    }
    s
}

fn value(c: &ComparisonRecord, v: f64) -> String {
    if c.measure.contains("accuracy") {
        format!("{:.2}", 100.0 * v)
    } else {
        format!("{v:.4}")
    }
}

fn signed(c: &ComparisonRecord, v: Option<f64>) -> String {
    match v {
        Some(v) if c.measure.contains("accuracy") => format!("{:+.2}", 100.0 * v),
        Some(v) => format!("{v:+.4}"),
        None => "–".into(),
    }
}

/// Every per-seed number of every deciding comparison, one table per claim (seed, a, b,
/// difference), so that a reader can recompute each interval; then T6's head counts.
fn endpoint_tables(claims: &[TrainingClaim]) -> String {
    let mut s = String::new();
    for c in claims {
        match &c.endpoint {
            Some(Endpoint::PairedMean { comparisons, .. }) => {
                let deciding: Vec<&ComparisonRecord> =
                    comparisons.iter().filter(|x| x.deciding).collect();
                if deciding.is_empty() {
                    continue;
                }
                let _ = writeln!(
                    s,
                    "\n### {}: the paired differences that decide it\n",
                    c.claim.id
                );
                for x in deciding {
                    let unit = if x.measure.contains("accuracy") {
                        " (%)"
                    } else {
                        ""
                    };
                    let _ = writeln!(
                        s,
                        "{}, {}{unit}: {} − {}, mean {} with {:.2} % interval [{}, {}] over {} \
                         paired seeds.\n\n| seed | {} | {} | difference |\n|---:|---:|---:|---:|",
                        cell(&x.setting),
                        cell(&x.measure),
                        x.a,
                        x.b,
                        signed(x, x.estimate),
                        100.0 * x.level,
                        signed(x, x.lower),
                        signed(x, x.upper),
                        x.n_seeds,
                        x.a,
                        x.b
                    );
                    for p in &x.seeds {
                        let _ = writeln!(
                            s,
                            "| {} | {} | {} | {} |",
                            p.seed,
                            value(x, p.a),
                            value(x, p.b),
                            signed(x, Some(p.diff))
                        );
                    }
                    s.push('\n');
                }
            }
            Some(Endpoint::HeadCount { groups, .. }) if !groups.is_empty() => {
                let _ = writeln!(
                    s,
                    "\n### {}: heads whose effective regime contradicts their sign\n\n\
                     | variant | depth | heads | contradicting | fraction | classified with σ_l |\n\
                     |---|---:|---:|---:|---:|---:|",
                    c.claim.id
                );
                for g in groups {
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | {} | {:.1} % | {} |",
                        g.variant,
                        g.depth,
                        g.heads,
                        g.contradicting,
                        100.0 * g.contradicting as f64 / g.heads.max(1) as f64,
                        g.from_sigma
                    );
                }
            }
            _ => {}
        }
    }
    s
}

/// The settings shared by every run (a field that varies is listed as an axis instead).
fn settings_table(runs: &[&TrainConfig]) -> String {
    let json: Vec<serde_json::Value> = runs
        .iter()
        .filter_map(|r| serde_json::to_value(r).ok())
        .collect();
    let Some(first) = json.first().and_then(|v| v.as_object()) else {
        return String::new();
    };
    let mut s = String::from("| setting | value |\n|---|---|\n");
    for (k, v) in first {
        let mut values: Vec<String> = json.iter().map(|j| j[k].to_string()).collect();
        values.sort();
        values.dedup();
        let shown = if values.len() == 1 {
            v.to_string()
        } else {
            format!("varies: {}", values.join(", "))
        };
        let _ = writeln!(s, "| `{k}` | {} |", cell(&shown.replace('"', "")));
    }
    s
}

/// `training.md`.
pub fn markdown(section: &Section) -> String {
    let c = &section.counts;
    let mut s = String::from("# Training from scratch\n\n");
    let _ = writeln!(
        s,
        "Profile `{}`: {} distinct training runs ({} trained now, {} resumed, {} found finished \
         in the run cache `{}`), {} evaluations of trained models ({} cached); {:.0} s. Every \
         number is a mean ± sample standard deviation over the seeds {:?}. Experiments are \
         declared in `experiments/*.toml`; a configuration shared by several experiments was \
         trained once.\n",
        section.profile.name(),
        c.runs,
        c.trained,
        c.resumed,
        c.cached,
        section.runs_dir.display(),
        c.evaluations,
        c.evaluations_cached,
        section.seconds,
        section.seeds
    );
    let all: Vec<&TrainConfig> = section.runs.iter().map(|(p, _)| &p.spec).collect();
    s.push_str("Settings of the runs:\n\n");
    s.push_str(&settings_table(&all));
    s.push('\n');
    s.push_str(&super::budget::table(&section.budgets));
    s.push_str("\n## Claims\n\n| id | the paper's statement | our measurement | rule | verdict |\n|---|---|---|---|---|\n");
    for r in section.claims.iter().map(|c| &c.claim) {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | **{}** |",
            r.id,
            cell(&r.statement),
            cell(&r.measured),
            cell(&r.rule),
            r.verdict.name()
        );
    }
    s.push_str(&endpoint_tables(&section.claims));
    for (e, r) in &section.experiments {
        let _ = writeln!(s, "\n## {}\n", e.title);
        if !e.description.is_empty() {
            let _ = writeln!(s, "{}\n", e.description);
        }
        let _ = writeln!(
            s,
            "`experiments/{}.toml`: {} runs. Data: [{}.csv]({}.csv).\n",
            e.name,
            e.runs.len(),
            e.name,
            e.name
        );
        match r {
            ExperimentResult::Sweep { x_key, points } => {
                let _ = writeln!(s, "![{}]({}.svg)\n", e.title, e.name);
                s.push_str("Test accuracy (%), mean ± sd over seeds:\n\n");
                s.push_str(&sweep_table(points, x_key));
            }
            ExperimentResult::Corruption { summary } => {
                if let Some(cs) = &e.corruption {
                    let _ = writeln!(
                        s,
                        "Corruptions: {}; severities {:?}; {} test images; corruption seed {}.\n",
                        cs.expanded_names().join(", "),
                        cs.severities,
                        cs.eval_limit
                            .map_or("all".to_string(), |n| format!("the first {n}")),
                        cs.seed
                    );
                }
                let _ = writeln!(s, "![{}]({}.svg)\n", e.title, e.name);
                s.push_str(&corruption_tables(summary));
            }
            ExperimentResult::Smoothing { curves, spectra } => {
                let _ = writeln!(
                    s,
                    "![token cosine against depth]({0}-cosine.svg)\n\n![eigenvalues of the trained H]({0}-eigenvalues.svg)\n",
                    e.name
                );
                s.push_str(&smoothing_tables(curves, spectra));
            }
            ExperimentResult::LearningRate { points, chosen } => {
                let _ = writeln!(s, "![{}]({}.svg)\n", e.title, e.name);
                let _ = writeln!(
                    s,
                    "Validation accuracy (%) of plain attention, mean ± sd over seeds (a split of \
                     the training set; the test set is not read). **Chosen learning rate: \
                     {chosen}**, frozen for every variant of every experiment that declares \
                     `lr = \"selected\"`.\n"
                );
                s.push_str(&sweep_table(points, "lr"));
            }
            ExperimentResult::Ablation { axis, cells } => {
                s.push_str(&ablation_table(axis, cells));
            }
        }
    }
    s
}

/// An ablation's table: per variant and value, accuracy, last-block cosine and saturation,
/// with every seed's accuracy.
fn ablation_table(axis: &str, cells: &[super::ablation::AblationCell]) -> String {
    let mut s = format!(
        "Ablation of `{axis}` (one depth). Test accuracy (%), the last block's mean token cosine \
         and the fraction of the spectral eigenvalues at a clip (ε or upper: ψ² clipped, so they \
         no longer learn), mean ± sd over seeds; the last column lists each seed's accuracy.\n\n\
         | variant | {axis} | accuracy | last-block cosine | saturated λ | per seed (seed: %) |\n\
         |---|---|---:|---:|---:|---|\n"
    );
    for c in cells {
        let seeds: Vec<String> = c
            .runs
            .iter()
            .map(|r| format!("{}: {:.1}", r.seed, 100.0 * r.accuracy))
            .collect();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            c.attention,
            c.label,
            c.accuracy.show_percent(),
            c.last_cosine.show(3),
            if c.saturated.mean.is_finite() {
                c.saturated.show(3)
            } else {
                "–".into()
            },
            seeds.join(", ")
        );
    }
    s
}

/// One CSV per experiment (long format: one row per statistic).
pub fn experiment_csv(r: &ExperimentResult) -> String {
    let mut s = String::new();
    match r {
        ExperimentResult::Sweep { x_key, points } => {
            let _ = writeln!(
                s,
                "attention,{x_key},mean_accuracy,sd_accuracy,n,accuracies"
            );
            for p in points {
                let vals: Vec<String> = p.runs.iter().map(|(_, a)| format!("{a:.6}")).collect();
                let _ = writeln!(
                    s,
                    "{},{},{:.6},{:.6},{},{}",
                    p.attention,
                    p.x,
                    p.accuracy.mean,
                    p.accuracy.sd,
                    p.accuracy.n,
                    vals.join(";")
                );
            }
        }
        ExperimentResult::Corruption { summary } => {
            s.push_str("attention,corruption,severity,mean_accuracy,sd_accuracy,n\n");
            for p in &summary.by_severity {
                let _ = writeln!(
                    s,
                    "{},{},{},{:.6},{:.6},{}",
                    p.attention,
                    if p.severity == 0 { "clean" } else { "mean" },
                    p.severity,
                    p.accuracy.mean,
                    p.accuracy.sd,
                    p.accuracy.n
                );
            }
            for c in &summary.cells {
                let _ = writeln!(
                    s,
                    "{},{},{},{:.6},{:.6},{}",
                    c.attention,
                    c.corruption,
                    c.severity,
                    c.accuracy.mean,
                    c.accuracy.sd,
                    c.accuracy.n
                );
            }
        }
        ExperimentResult::LearningRate { points, chosen } => {
            let _ = writeln!(s, "attention,lr,mean_accuracy,sd_accuracy,n,chosen");
            for p in points {
                let _ = writeln!(
                    s,
                    "{},{},{:.6},{:.6},{},{}",
                    p.attention,
                    p.x,
                    p.accuracy.mean,
                    p.accuracy.sd,
                    p.accuracy.n,
                    p.x == *chosen
                );
            }
        }
        ExperimentResult::Ablation { axis, cells } => {
            let _ = writeln!(
                s,
                "attention,{axis},label,seed,accuracy,last_cosine,saturated"
            );
            for c in cells {
                for r in &c.runs {
                    let _ = writeln!(
                        s,
                        "{},{},{},{},{:.6},{:.6},{:.6}",
                        c.attention, c.x, c.label, r.seed, r.accuracy, r.last_cosine, r.saturated
                    );
                }
            }
        }
        ExperimentResult::Smoothing { curves, .. } => {
            // The centred cosine columns are empty where no run of the cell measured it.
            s.push_str(
                "attention,depth,block,mean_cosine,sd_cosine,n,mean_cosine_centred,sd_cosine_centred,n_centred\n",
            );
            for c in curves {
                for (l, st) in c.layers.iter().enumerate() {
                    let centred = match c.layers_centred.get(l).copied().flatten() {
                        Some(x) => format!("{:.6},{:.6},{}", x.mean, x.sd, x.n),
                        None => ",,".into(),
                    };
                    let _ = writeln!(
                        s,
                        "{},{},{},{:.6},{:.6},{},{centred}",
                        c.attention,
                        c.depth,
                        l + 1,
                        st.mean,
                        st.sd,
                        st.n
                    );
                }
            }
        }
    }
    s
}

/// `runs.csv`: every distinct run with its hash and result.
pub fn runs_csv(section: &Section) -> String {
    let mut s = String::from(
        "hash,experiments,dataset,attention,depth,width,heads,epochs,train_fraction,seed,test_accuracy,train_seconds\n",
    );
    for (p, r) in &section.runs {
        let o = |v: Option<usize>| v.map_or(String::new(), |v| v.to_string());
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{:.6},{:.1}",
            p.hash,
            p.experiments.join(";"),
            p.spec.dataset,
            p.spec.attention,
            o(p.spec.depth),
            o(p.spec.width),
            o(p.spec.heads),
            p.spec.epochs,
            p.spec.train_fraction,
            p.spec.seed,
            r.test_accuracy,
            r.train_seconds
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_sweep_table_names_its_own_axis() {
        let point = |x: f64| SweepPoint {
            attention: "plain".into(),
            x,
            accuracy: Stat::of(&[0.8]),
            runs: vec![(0, 0.8)],
        };
        let points = [point(0.001), point(0.002)];
        for (key, head, row) in [
            ("lr", "| peak learning rate | plain |", "| 0.001 |"),
            ("depth", "| depth | plain |", "| 0.001 |"),
            ("train_fraction", "| training fraction | plain |", "| 0% |"),
        ] {
            let table = sweep_table(&points, key);
            assert!(table.starts_with(head), "{key}: {table}");
            assert!(table.contains(row), "{key}: {table}");
        }
    }
}

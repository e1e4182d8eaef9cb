//! The declarative experiment files under `experiments/` and their expansion into runs.
//!
//! `experiments/profiles.toml` holds, per profile (`[smoke.training]`, `[quick.training]`,
//! `[extended.training]`, `[gpu.training]`, read through [`crate::profile`]), the training settings every experiment of
//! that profile starts from. Each other `experiments/*.toml` is one
//! experiment: its `kind` (what is analysed), a `title`, and a table per profile it runs in whose
//! keys override the base. **Every key whose value is an array is an axis of the grid**: the runs
//! are the Cartesian product of the axes, each point a [`TrainConfig`]. The keys are the flags of
//! `eigenformer train` (`attention`, `seed`, `depth`, `train_fraction`, …). The corruption
//! experiment adds a `corruption` sub-table (what to evaluate the trained models on).
//!
//! Why the base lives in one file: experiments that share a configuration (the depth sweep's
//! middle depth, the data sweep's 100 % point and the corruption models) must produce the same
//! [`TrainConfig`], hence the same hash, so each such model is trained once.

use super::error::{ReproError, Result};
use crate::train::config::TrainConfig;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The compute profile (declared once, in [`crate::profile`]).
pub use crate::profile::Profile;

/// What an experiment analyses, and so which axis is its x axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Test accuracy against depth (axis `depth`).
    Depth,
    /// Test accuracy against the training fraction (axis `train_fraction`).
    Fraction,
    /// Accuracy of the trained models on corrupted test sets (no x axis).
    Corruption,
    /// Per-layer token cosine and realised spectra of H of the trained models (axis `depth`).
    Smoothing,
    /// One setting of the spectral construction varied at one depth (the file's `axis`: `form`,
    /// `spectral_upper`, `spectral_eps` or `nonneg_gamma`): accuracy, last-block cosine and the
    /// fraction of saturated eigenvalues.
    Ablation,
    /// The learning-rate selection: plain attention on a validation split cut from the training
    /// set (axis `lr`); the best mean validation accuracy gives the `lr = "selected"` of every
    /// other experiment. Runs first.
    Lr,
}

impl Kind {
    /// The grid key plotted on the x axis, if any.
    pub fn x_key(self) -> Option<&'static str> {
        match self {
            Kind::Depth | Kind::Smoothing => Some("depth"),
            Kind::Fraction => Some("train_fraction"),
            Kind::Lr => Some("lr"),
            Kind::Corruption | Kind::Ablation => None,
        }
    }
}

/// The settings an ablation file may vary (its `axis`).
pub const ABLATION_AXES: [&str; 4] = ["form", "spectral_upper", "spectral_eps", "nonneg_gamma"];

/// The value `lr = "selected"` in an experiment or profile table: the learning rate the `lr`
/// experiment chooses ([`Kind::Lr`]), filled in by the runner before the runs are planned.
pub const SELECTED_LR: &str = "selected";

/// The axes every experiment averages over or compares.
const VARIANT_KEY: &str = "attention";
const SEED_KEY: &str = "seed";

/// An experiment file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExperimentFile {
    kind: Kind,
    title: String,
    #[serde(default)]
    description: String,
    /// The varied setting of an ablation (one of [`ABLATION_AXES`]).
    #[serde(default)]
    axis: Option<String>,
    smoke: Option<toml::Table>,
    quick: Option<toml::Table>,
    extended: Option<toml::Table>,
    gpu: Option<toml::Table>,
}

/// The corrupted test sets the models of a corruption experiment are evaluated on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorruptionSpec {
    /// Corruption names, or `["all"]` for the 15 of CIFAR-10-C.
    pub names: Vec<String>,
    /// Severities 1–5.
    #[serde(default = "all_severities")]
    pub severities: Vec<u8>,
    /// First N test images (absent: the whole test set).
    #[serde(default)]
    pub eval_limit: Option<usize>,
    /// Seed of the corruptions' random draws.
    #[serde(default)]
    pub seed: u64,
}

fn all_severities() -> Vec<u8> {
    vec![1, 2, 3, 4, 5]
}

impl CorruptionSpec {
    /// The corruption names with `all` expanded, in the canonical order.
    pub fn expanded_names(&self) -> Vec<String> {
        if self.names.iter().any(|n| n == "all") {
            eigenformer_data::corrupt::Corruption::names()
                .into_iter()
                .map(String::from)
                .collect()
        } else {
            self.names.clone()
        }
    }

    fn validate(&self, file: &str) -> Result<()> {
        if self.names.is_empty() {
            return Err(ReproError::spec(file, "corruption.names is empty"));
        }
        for n in &self.names {
            if n != "all" && n.parse::<eigenformer_data::corrupt::Corruption>().is_err() {
                return Err(ReproError::spec(
                    file,
                    format!(
                        "unknown corruption {n:?} (known: {}, or all)",
                        eigenformer_data::corrupt::Corruption::names().join(", ")
                    ),
                ));
            }
        }
        if self.severities.is_empty() || self.severities.iter().any(|s| !(1..=5).contains(s)) {
            return Err(ReproError::spec(
                file,
                "corruption.severities must be a non-empty list of 1..=5",
            ));
        }
        Ok(())
    }
}

/// One experiment of one profile, expanded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Experiment {
    /// The file stem (`depth` for `experiments/depth.toml`).
    pub name: String,
    /// What it analyses.
    pub kind: Kind,
    /// Heading in the report.
    pub title: String,
    /// Free text for the report.
    pub description: String,
    /// The grid's runs, in expansion order.
    pub runs: Vec<TrainConfig>,
    /// What to evaluate on (corruption experiments only).
    pub corruption: Option<CorruptionSpec>,
    /// The grid key on the x axis: the kind's ([`Kind::x_key`]) or an ablation's `axis`.
    pub x_key: Option<String>,
    /// Whether the runs take the selected learning rate (`lr = "selected"`): their `lr` is a
    /// placeholder until the runner sets it.
    pub selected_lr: bool,
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(ReproError::io(path))
}

fn parse<T: for<'de> Deserialize<'de>>(path: &Path, text: &str) -> Result<T> {
    toml::from_str(text).map_err(|source| ReproError::Toml {
        path: path.to_path_buf(),
        source,
    })
}

/// Most runs one experiment may expand to. The real grids have a few dozen; a few lists of a
/// hundred values each would otherwise build millions of configurations before anything ran.
pub const MAX_GRID_RUNS: usize = 10_000;

/// The Cartesian product of the array-valued keys of `table`, as tables of scalars. Axes vary in
/// key order, the last key fastest; an empty array, or a product of more than [`MAX_GRID_RUNS`]
/// points (checked before expanding), is an error.
pub fn expand_grid(table: &toml::Table, file: &str) -> Result<Vec<toml::Table>> {
    let axes: Vec<String> = table
        .iter()
        .filter_map(|(k, v)| v.as_array().map(|a| format!("{k} ({})", a.len())))
        .collect();
    let total = table
        .values()
        .filter_map(|v| v.as_array().map(Vec::len))
        .try_fold(1usize, |acc, n| acc.checked_mul(n));
    if total.is_none_or(|n| n > MAX_GRID_RUNS) {
        return Err(ReproError::spec(
            file,
            format!(
                "the grid {} has {} runs, more than the limit of {MAX_GRID_RUNS}",
                axes.join(" x "),
                total.map_or("more than 2^64".to_string(), |n| n.to_string())
            ),
        ));
    }
    let mut points = vec![toml::Table::new()];
    for (key, value) in table {
        let choices: Vec<toml::Value> = match value {
            toml::Value::Array(values) if values.is_empty() => {
                return Err(ReproError::spec(file, format!("axis `{key}` is empty")))
            }
            toml::Value::Array(values) => values.clone(),
            other => vec![other.clone()],
        };
        let mut next = Vec::with_capacity(points.len() * choices.len());
        for p in &points {
            for c in &choices {
                let mut q = p.clone();
                q.insert(key.clone(), c.clone());
                next.push(q);
            }
        }
        points = next;
    }
    Ok(points)
}

/// The experiment of `text` (named `name`, read from `file`) in `profile` on the `base` settings,
/// or `None` when the file has no table for the profile.
pub fn experiment_from_str(
    name: &str,
    file: &Path,
    text: &str,
    base: &toml::Table,
    profile: Profile,
) -> Result<Option<Experiment>> {
    let f: ExperimentFile = parse(file, text)?;
    let shown = file.display().to_string();
    let table = match profile {
        Profile::Smoke => f.smoke,
        Profile::Quick => f.quick,
        Profile::Extended => f.extended,
        Profile::Gpu => f.gpu,
    };
    let Some(mut table) = table else {
        return Ok(None);
    };
    let corruption: Option<CorruptionSpec> = match table.remove("corruption") {
        Some(v) => Some(v.try_into().map_err(|source| ReproError::Toml {
            path: file.to_path_buf(),
            source,
        })?),
        None => None,
    };
    match (f.kind, &corruption) {
        (Kind::Corruption, None) => {
            return Err(ReproError::spec(
                &shown,
                format!("[{}.corruption] is missing", profile.name()),
            ))
        }
        (Kind::Corruption, Some(c)) => c.validate(&shown)?,
        (_, Some(_)) => {
            return Err(ReproError::spec(
                &shown,
                "only kind = \"corruption\" takes a corruption table",
            ))
        }
        (_, None) => {}
    }
    let x_key: Option<String> = match (f.kind, f.axis) {
        (Kind::Ablation, Some(a)) if ABLATION_AXES.contains(&a.as_str()) => Some(a),
        (Kind::Ablation, other) => {
            return Err(ReproError::spec(
                &shown,
                format!(
                    "an ablation needs `axis`, one of {} (got {other:?})",
                    ABLATION_AXES.join(", ")
                ),
            ))
        }
        (_, Some(_)) => {
            return Err(ReproError::spec(
                &shown,
                "only kind = \"ablation\" takes an `axis`",
            ))
        }
        (kind, None) => kind.x_key().map(String::from),
    };
    let mut merged = base.clone();
    merged.extend(table);
    let selected_lr = merged.get("lr").and_then(|v| v.as_str()) == Some(SELECTED_LR);
    if selected_lr {
        if f.kind == Kind::Lr {
            return Err(ReproError::spec(
                &shown,
                "the lr experiment chooses the learning rate: give it a list of values",
            ));
        }
        // A placeholder the runner replaces by the chosen value before anything is planned.
        merged.insert("lr".into(), toml::Value::Float(0.0));
    }
    // Only the variant, the seed and the x axis may vary: anything else would be averaged over
    // silently.
    let allowed = [Some(VARIANT_KEY), Some(SEED_KEY), x_key.as_deref()];
    for (key, value) in &merged {
        if value.is_array() && !allowed.contains(&Some(key.as_str())) {
            return Err(ReproError::spec(
                &shown,
                format!(
                    "`{key}` is a list, but a {:?} experiment may only vary attention, seed{}",
                    f.kind,
                    f.kind
                        .x_key()
                        .map(|k| format!(" and {k}"))
                        .unwrap_or_default()
                ),
            ));
        }
    }
    if let Some(x) = x_key.as_deref() {
        if !merged.get(x).is_some_and(|v| v.is_array()) {
            return Err(ReproError::spec(
                &shown,
                format!("a {:?} experiment needs `{x}` as a list", f.kind),
            ));
        }
    }
    let seeds = merged
        .get(SEED_KEY)
        .and_then(|v| v.as_array())
        .map_or(0, Vec::len);
    // The learning-rate selection is not a comparison between variants: one seed may do.
    let minimum = match (profile, f.kind) {
        (_, Kind::Lr) => 1,
        (Profile::Smoke, _) => 2,
        _ => 3,
    };
    if seeds < minimum {
        return Err(ReproError::spec(
            &shown,
            format!(
                "`seed` must list at least {minimum} seeds in the {} profile (mean ± sd over seeds)",
                profile.name()
            ),
        ));
    }
    let mut runs = Vec::new();
    for point in expand_grid(&merged, &shown)? {
        let spec: TrainConfig =
            toml::Value::Table(point)
                .try_into()
                .map_err(|source| ReproError::Toml {
                    path: file.to_path_buf(),
                    source,
                })?;
        spec.validate(&shown)?;
        runs.push(spec);
    }
    Ok(Some(Experiment {
        name: name.to_string(),
        kind: f.kind,
        title: f.title,
        description: f.description.trim().to_string(),
        runs,
        corruption,
        x_key,
        selected_lr,
    }))
}

/// The base settings of `profile` (its `[<profile>.training]` table) from `profiles.toml`'s text.
pub fn base_from_str(file: &Path, text: &str, profile: Profile) -> Result<toml::Table> {
    let p = crate::profile::ProfilesFile::parse(file, text)?;
    Ok(p.get(profile).training.clone())
}

/// Every experiment of `profile` in `dir` (all `*.toml` but `profiles.toml`, by name), or only
/// those named in `only` (an unknown name is an error).
pub fn load_experiments(dir: &Path, profile: Profile, only: &[String]) -> Result<Vec<Experiment>> {
    let profiles = dir.join("profiles.toml");
    let base = base_from_str(&profiles, &read(&profiles)?, profile)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(ReproError::io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml") && *p != profiles)
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    // The learning-rate selection always runs: the other experiments may depend on it.
    let mut only = only.to_vec();
    if !only.is_empty() {
        only.push("lr".into());
    }
    for o in &only {
        if o != "lr" && !names.contains(o) {
            return Err(ReproError::spec(
                dir.display(),
                format!("no experiment {o:?} (known: {})", names.join(", ")),
            ));
        }
    }
    let mut out = Vec::new();
    for (path, name) in files.iter().zip(&names) {
        if !only.is_empty() && !only.contains(name) {
            continue;
        }
        if let Some(e) = experiment_from_str(name, path, &read(path)?, &base, profile)? {
            out.push(e);
        }
    }
    // Report order: (a) depth, (b) data, (c) corruption, (d) smoothing, the ablations, the
    // learning-rate selection; by name within a kind.
    out.sort_by_key(|e| (e.kind, e.name.clone()));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three long lists made the expansion build their whole product (here 27 000
    /// configurations; a few more values each exhaust memory) before any check: a small hostile
    /// experiment file (or a fuzzer's) must be refused instead.
    #[test]
    fn a_grid_larger_than_the_limit_is_refused_before_expanding() {
        let list = |n: i64| toml::Value::Array((0..n).map(toml::Value::Integer).collect());
        let mut t = toml::Table::new();
        t.insert("seed".into(), list(30));
        t.insert("depth".into(), list(30));
        t.insert("width".into(), list(30));
        let err = expand_grid(&t, "big.toml").unwrap_err().to_string();
        assert!(
            err.contains("big.toml") && err.contains("27000 runs") && err.contains("10000"),
            "{err}"
        );
        // Overflowing products too.
        let mut t = toml::Table::new();
        for k in 0..8 {
            t.insert(format!("k{k}"), list(300));
        }
        let err = expand_grid(&t, "f").unwrap_err().to_string();
        assert!(
            err.contains("more than 2^64") || err.contains("runs"),
            "{err}"
        );
        // The limit itself is fine.
        let mut t = toml::Table::new();
        t.insert("seed".into(), list(100));
        t.insert("depth".into(), list(100));
        assert_eq!(expand_grid(&t, "f").unwrap().len(), MAX_GRID_RUNS);
    }
}

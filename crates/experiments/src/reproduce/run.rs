//! The runner: expand the experiments of a profile, train every distinct configuration once
//! (through the [`RunCache`]), evaluate the corruption experiment's models, aggregate, and write
//! the section's files.

use super::aggregate::{self, CorruptionRun, SmoothingRun, SpectralBounds};
use super::cache::{read_json, write_json, Action, EvalRequest, Executor, RunCache, RunResult};
use super::claims::{self, Setting, TrainingClaim};
use super::error::{ReproError, Result};
use super::results::{Counts, ExperimentResult, PlannedRun, Section};
use super::spec::{load_experiments, Experiment, Kind, Profile};
use super::{ablation, budget, figures, gate, lr_select, parallel, render};
use crate::progress::Progress;
use crate::train::config::TrainConfig;
use crate::train::diagnostics::Diagnostics;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What to run and where.
#[derive(Debug, Clone)]
pub struct Options {
    pub profile: Profile,
    /// The directory of the experiment files (`experiments/`).
    pub experiments_dir: PathBuf,
    /// Where the section's files go.
    pub out: PathBuf,
    /// The run cache.
    pub runs_dir: PathBuf,
    /// Only these experiments (file stems); empty = all.
    pub only: Vec<String>,
    /// Show progress bars.
    pub progress: bool,
    /// Runs (and evaluations) at a time, each child on its share of the cores
    /// ([`parallel::default_jobs`] unless asked; 1 = one after the other with every core).
    pub jobs: usize,
}

/// The distinct runs of `experiments`, in first-use order (a configuration shared by several
/// experiments appears once).
pub fn plan(experiments: &[Experiment]) -> Vec<PlannedRun> {
    let mut out: Vec<PlannedRun> = Vec::new();
    for e in experiments {
        for spec in &e.runs {
            let hash = spec.hash();
            match out.iter_mut().find(|p| p.hash == hash) {
                Some(p) => {
                    if !p.experiments.contains(&e.name) {
                        p.experiments.push(e.name.clone());
                    }
                }
                None => out.push(PlannedRun {
                    spec: spec.clone(),
                    hash,
                    experiments: vec![e.name.clone()],
                }),
            }
        }
    }
    out
}

/// The evaluations of the corruption experiments: `(spec, request)` pairs, clean first.
pub fn evaluations(experiments: &[Experiment]) -> Vec<(TrainConfig, EvalRequest)> {
    let mut out: Vec<(TrainConfig, EvalRequest)> = Vec::new();
    for e in experiments {
        let Some(c) = &e.corruption else { continue };
        for spec in &e.runs {
            let mut reqs = vec![EvalRequest::Clean {
                eval_limit: c.eval_limit,
            }];
            let all_five = {
                let mut s = c.severities.clone();
                s.sort_unstable();
                s.dedup();
                s == [1, 2, 3, 4, 5]
            };
            for name in c.expanded_names() {
                if all_five {
                    reqs.push(EvalRequest::Corruption {
                        name: name.clone(),
                        severity: None,
                        seed: c.seed,
                        eval_limit: c.eval_limit,
                    });
                } else {
                    for &s in &c.severities {
                        reqs.push(EvalRequest::Corruption {
                            name: name.clone(),
                            severity: Some(s),
                            seed: c.seed,
                            eval_limit: c.eval_limit,
                        });
                    }
                }
            }
            for r in reqs {
                if !out.iter().any(|(s, q)| s == spec && *q == r) {
                    out.push((spec.clone(), r));
                }
            }
        }
    }
    out
}

/// Relative cost of a run, for progress and estimates: image-steps × blocks (the depth, or 6 when
/// the preset's is used).
pub fn cost(spec: &TrainConfig) -> u64 {
    (spec.image_steps() * spec.depth.unwrap_or(6)) as u64
}

/// Train every run of the plan (cached runs are skipped), showing one progress bar weighted by
/// [`cost`]; up to `jobs` runs at once when the executor can be forked ([`parallel`]).
fn train_all(
    planned: &[PlannedRun],
    cache: &RunCache,
    exec: &mut dyn Executor,
    progress: bool,
    counts: &mut Counts,
    jobs: usize,
) -> Result<Vec<RunResult>> {
    let todo: u64 = planned
        .iter()
        .filter(|p| !cache.dir(&p.spec).join("result.json").is_file())
        .map(|p| cost(&p.spec))
        .sum();
    let mut pb = Progress::new("training", planned.len(), todo, progress);
    let line_of = |i: usize, r: &RunResult, action: Action| {
        let p = &planned[i];
        let label = format!("run {}/{}: {}", i + 1, planned.len(), p.spec.label());
        if action == Action::Cached {
            (0, format!("{label} cached ({})", p.hash))
        } else {
            (
                cost(&p.spec),
                format!(
                    "{label} -> test accuracy {:.4} ({:.0} s, {})",
                    r.test_accuracy, r.train_seconds, p.hash
                ),
            )
        }
    };
    let workers = parallel::workers(exec, jobs, planned.len());
    let outcomes = if workers.is_empty() {
        let mut outcomes = Vec::with_capacity(planned.len());
        for (i, p) in planned.iter().enumerate() {
            let dir = cache.dir(&p.spec);
            let label = format!("run {}/{}: {}", i + 1, planned.len(), p.spec.label());
            pb.set_message(label.clone());
            let epochs = p.spec.epochs;
            let metrics = dir.join("metrics.json");
            let mut tick = || {
                if let Ok(m) = read_json::<crate::train::run::Metrics>(&metrics) {
                    if let Some(e) = m.epochs.last() {
                        pb.set_message(format!(
                            "{label}: epoch {}/{epochs} acc {:.3}",
                            e.epoch, e.test_accuracy
                        ));
                    }
                }
                pb.tick();
            };
            let (r, action) = cache.ensure(&p.spec, exec, &mut tick)?;
            let (weight, line) = line_of(i, &r, action);
            pb.finish_item(weight, &line);
            outcomes.push((r, action));
        }
        outcomes
    } else {
        pb.set_message(format!("{} runs at a time", workers.len()));
        let work =
            |i: usize, exec: &mut dyn Executor| cache.ensure(&planned[i].spec, exec, &mut || {});
        let pb_tick = pb.clone_handle();
        let mut done = |i: usize, o: &(RunResult, Action)| {
            let (weight, line) = line_of(i, &o.0, o.1);
            pb.finish_item(weight, &line);
        };
        parallel::run_items(planned.len(), workers, &work, &mut done, &mut || {
            pb_tick.tick()
        })?
    };
    pb.finish();
    let mut results = Vec::with_capacity(outcomes.len());
    for (r, action) in outcomes {
        match action {
            Action::Cached => counts.cached += 1,
            Action::Trained => counts.trained += 1,
            Action::Resumed => counts.resumed += 1,
        }
        results.push(r);
    }
    counts.runs = planned.len();
    Ok(results)
}

fn bounds_of(dir: &Path, spec: &TrainConfig) -> Result<Option<SpectralBounds>> {
    let sign = match spec.attention.as_str() {
        "spectral+" => 1.0,
        "spectral-" => -1.0,
        _ => return Ok(None),
    };
    let metrics: crate::train::run::Metrics = read_json(&dir.join("metrics.json"))?;
    let cfg: eigenformer_model::ViTConfig =
        serde_json::from_value(metrics.config["model_config"].clone()).map_err(|source| {
            ReproError::Json {
                path: dir.join("metrics.json"),
                source,
            }
        })?;
    let rank = match cfg.spectral.form {
        eigenformer_model::SpectralForm::Lowrank => cfg.head_dim(),
        _ => cfg.width,
    };
    Ok(Some(SpectralBounds {
        sign,
        eps: f64::from(cfg.spectral.eps),
        upper: f64::from(cfg.spectral.upper),
        rank,
    }))
}

/// Run the profile: see the module documentation. Returns what the section reports, after
/// writing `training.md`, `results.json`, `claims.json`, the CSV files and the figures to
/// `opts.out`.
pub fn run(opts: &Options, exec: &mut dyn Executor) -> Result<Section> {
    let start = Instant::now();
    let mut experiments = load_experiments(&opts.experiments_dir, opts.profile, &opts.only)?;
    lr_select::check(&experiments)?;
    if experiments.is_empty() {
        return Err(ReproError::spec(
            opts.experiments_dir.display(),
            format!("no experiment runs in the {} profile", opts.profile.name()),
        ));
    }
    let all_runs = plan(&experiments);
    let datasets: BTreeSet<&str> = all_runs.iter().map(|p| p.spec.dataset.as_str()).collect();
    for d in datasets {
        exec.fetch(d).map_err(|e| {
            ReproError::spec(
                format!("the {} profile", opts.profile.name()),
                format!(
                    "needs the data set {d}, which is not available on this machine (it is \
                     resolved through the asset cache or downloaded from its official source): \
                     {e}"
                ),
            )
        })?;
    }
    let cache = RunCache::new(&opts.runs_dir);
    let mut counts = Counts::default();
    // The learning-rate selection first: the other runs' configurations depend on its outcome.
    let lr_experiments: Vec<Experiment> = experiments
        .iter()
        .filter(|e| e.kind == Kind::Lr)
        .cloned()
        .collect();
    let mut selected_lr = None;
    if !lr_experiments.is_empty() {
        let lr_runs = plan(&lr_experiments);
        let mut lr_counts = Counts::default();
        let lr_results = train_all(
            &lr_runs,
            &cache,
            exec,
            opts.progress,
            &mut lr_counts,
            opts.jobs,
        )?;
        let runs: Vec<(&TrainConfig, f64)> = lr_runs
            .iter()
            .zip(&lr_results)
            .map(|(p, r)| (&p.spec, r.test_accuracy))
            .collect();
        let chosen = lr_select::choose(&aggregate::sweep(&runs, "lr")).ok_or_else(|| {
            ReproError::spec(
                "experiments/lr.toml",
                "no learning rate gave a finite accuracy",
            )
        })?;
        lr_select::apply(&mut experiments, chosen);
        selected_lr = Some(chosen);
    }
    let planned = plan(&experiments);
    let results = train_all(
        &planned,
        &cache,
        exec,
        opts.progress,
        &mut counts,
        opts.jobs,
    )?;
    let accuracy_of = |spec: &TrainConfig| -> f64 {
        let h = spec.hash();
        results
            .iter()
            .find(|r| r.hash == h)
            .map_or(f64::NAN, |r| r.test_accuracy)
    };

    // Evaluations of the corruption experiments.
    let evals = evaluations(&experiments);
    let mut pb = Progress::new("evaluating", evals.len(), evals.len() as u64, opts.progress);
    let line_of = |i: usize, cached: bool| {
        let (spec, req) = &evals[i];
        let state = if cached { "cached" } else { "done" };
        format!("{} on {} {state}", spec.label(), req.file_name())
    };
    let workers = parallel::workers(exec, opts.jobs, evals.len());
    let cached_flags = if workers.is_empty() {
        let mut flags = Vec::with_capacity(evals.len());
        for (i, (spec, req)) in evals.iter().enumerate() {
            pb.set_message(format!("{} on {}", spec.label(), req.file_name()));
            let cached = cache.evaluate(spec, req, exec)?;
            pb.finish_item(1, &line_of(i, cached));
            flags.push(cached);
        }
        flags
    } else {
        pb.set_message(format!("{} evaluations at a time", workers.len()));
        let work = |i: usize, exec: &mut dyn Executor| {
            let (spec, req) = &evals[i];
            cache.evaluate(spec, req, exec)
        };
        let pb_tick = pb.clone_handle();
        let mut done = |i: usize, cached: &bool| pb.finish_item(1, &line_of(i, *cached));
        parallel::run_items(evals.len(), workers, &work, &mut done, &mut || {
            pb_tick.tick()
        })?
    };
    pb.finish();
    counts.evaluations += cached_flags.len();
    counts.evaluations_cached += cached_flags.iter().filter(|&&c| c).count();

    let mut out_experiments = Vec::new();
    for e in &experiments {
        let result = match e.kind {
            Kind::Lr => {
                let runs: Vec<(&TrainConfig, f64)> =
                    e.runs.iter().map(|s| (s, accuracy_of(s))).collect();
                ExperimentResult::LearningRate {
                    points: aggregate::sweep(&runs, "lr"),
                    chosen: selected_lr.unwrap_or(f64::NAN),
                }
            }
            Kind::Ablation => {
                let axis = e.x_key.clone().unwrap_or_default();
                let mut runs = Vec::new();
                for spec in &e.runs {
                    let dir = cache.dir(spec);
                    runs.push(ablation::AblationRun {
                        spec,
                        accuracy: accuracy_of(spec),
                        diagnostics: read_json(&dir.join("diagnostics.json"))?,
                        bounds: bounds_of(&dir, spec)?,
                    });
                }
                ExperimentResult::Ablation {
                    cells: ablation::summarise(&runs, &axis),
                    axis,
                }
            }
            Kind::Depth | Kind::Fraction => {
                let key = e.kind.x_key().unwrap_or("depth");
                let runs: Vec<(&TrainConfig, f64)> =
                    e.runs.iter().map(|s| (s, accuracy_of(s))).collect();
                ExperimentResult::Sweep {
                    x_key: key.into(),
                    points: aggregate::sweep(&runs, key),
                }
            }
            Kind::Corruption => {
                let mut runs = Vec::new();
                for spec in &e.runs {
                    let mut clean = f64::NAN;
                    let mut reports = Vec::new();
                    for (s, req) in evals.iter().filter(|(s, _)| s == spec) {
                        match req {
                            EvalRequest::Clean { eval_limit } => {
                                clean = cache.clean_eval(s, *eval_limit, exec)?.0.test_accuracy
                            }
                            EvalRequest::Corruption { .. } => {
                                reports.push(cache.corruption_eval(s, req, exec)?.0)
                            }
                        }
                    }
                    runs.push(CorruptionRun {
                        spec,
                        clean,
                        reports,
                    });
                }
                ExperimentResult::Corruption {
                    summary: aggregate::corruption(&runs),
                }
            }
            Kind::Smoothing => {
                let mut runs = Vec::new();
                for spec in &e.runs {
                    let dir = cache.dir(spec);
                    let diagnostics: Diagnostics = read_json(&dir.join("diagnostics.json"))?;
                    runs.push(SmoothingRun {
                        spec,
                        diagnostics,
                        bounds: bounds_of(&dir, spec)?,
                    });
                }
                let (curves, spectra) = aggregate::smoothing(&runs);
                ExperimentResult::Smoothing { curves, spectra }
            }
        };
        out_experiments.push((e.clone(), result));
    }

    let mut claims = training_claims(&out_experiments);
    let depth_points = out_experiments.iter().find_map(|(e, r)| match r {
        ExperimentResult::Sweep { points, .. } if e.kind == Kind::Depth => Some(points.as_slice()),
        _ => None,
    });
    if let Some(g) = gate::check(depth_points) {
        gate::apply(&g, &mut claims);
        claims.insert(
            0,
            claims::TrainingClaim {
                claim: g.claim,
                endpoint: None,
            },
        );
    }
    let mut seeds: Vec<u64> = planned.iter().map(|p| p.spec.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let mut budgets = Vec::with_capacity(planned.len());
    for p in &planned {
        budgets.push(budget::read(&cache.dir(&p.spec), &p.spec)?);
    }
    let mut section = Section {
        budgets,
        profile: opts.profile,
        runs_dir: opts.runs_dir.clone(),
        counts,
        seconds: start.elapsed().as_secs_f64(),
        seeds,
        experiments: out_experiments,
        runs: planned.into_iter().zip(results).collect(),
        claims,
        files: Vec::new(),
    };
    section.files = write_outputs(&opts.out, &section)?;
    Ok(section)
}

/// The training claims from the experiments' results (whichever are present): T1–T4 decided
/// together under Holm's correction, then T5 and T6.
pub fn training_claims(experiments: &[(Experiment, ExperimentResult)]) -> Vec<TrainingClaim> {
    let sweep_of = |kind: Kind| {
        experiments.iter().find_map(|(e, r)| match r {
            ExperimentResult::Sweep { points, .. } if e.kind == kind => Some(points),
            _ => None,
        })
    };
    let depth_setting = sweep_of(Kind::Depth).and_then(|p| {
        let x = claims::extreme_x(p, true)?;
        Some(claims::sweep_setting(p, x, format!("depth {x} (largest)")))
    });
    let fraction_setting = sweep_of(Kind::Fraction).and_then(|p| {
        let x = claims::extreme_x(p, false)?;
        Some(claims::sweep_setting(
            p,
            x,
            format!("{:.0}% of the training set (smallest)", 100.0 * x),
        ))
    });
    let corruption = experiments.iter().find_map(|(_, r)| match r {
        ExperimentResult::Corruption { summary } => Some(claims::corruption_setting(summary)),
        _ => None,
    });
    let smoothing = experiments.iter().find_map(|(_, r)| match r {
        ExperimentResult::Smoothing { curves, spectra } => Some((curves, spectra)),
        _ => None,
    });
    let secondary: Vec<Setting> = [fraction_setting.clone(), corruption.clone()]
        .into_iter()
        .flatten()
        .collect();
    let mut rows = claims::holm_family(vec![
        claims::spectral_beats_featscale("T1", "with more layers", depth_setting.as_ref()),
        claims::spectral_beats_featscale("T2", "with fewer data points", fraction_setting.as_ref()),
        claims::spectral_beats_featscale("T3", "on corrupted data", corruption.as_ref()),
        claims::smoothing_beats_sharpening("T4", depth_setting.as_ref(), &secondary),
    ]);
    let (curves, spectra) = match smoothing {
        Some((c, s)) => (c.as_slice(), s.as_slice()),
        None => (&[][..], &[][..]),
    };
    rows.push(claims::sign_controls_smoothing("T5", curves));
    rows.push(claims::effective_regimes_follow_sign("T6", spectra));
    rows
}

/// Write the section's files into `out`; returns their names, relative to `out`.
fn write_outputs(out: &Path, section: &Section) -> Result<Vec<String>> {
    std::fs::create_dir_all(out).map_err(ReproError::io(out))?;
    let mut files = Vec::new();
    for (e, r) in &section.experiments {
        match r {
            ExperimentResult::Sweep { x_key, points } => {
                let x_label = super::render::axis_label(x_key, true);
                let svg = format!("{}.svg", e.name);
                figures::sweep(&out.join(&svg), &e.title, x_label, points)?;
                files.push(svg);
            }
            ExperimentResult::Corruption { summary } => {
                let svg = format!("{}.svg", e.name);
                figures::severity(&out.join(&svg), &summary.by_severity)?;
                files.push(svg);
            }
            ExperimentResult::LearningRate { points, .. } => {
                let svg = format!("{}.svg", e.name);
                let x_label = super::render::axis_label("lr", true);
                figures::sweep(&out.join(&svg), &e.title, x_label, points)?;
                files.push(svg);
            }
            ExperimentResult::Ablation { .. } => {}
            ExperimentResult::Smoothing { curves, spectra } => {
                let cosine = format!("{}-cosine.svg", e.name);
                figures::cosine(&out.join(&cosine), curves)?;
                let eigenvalues = format!("{}-eigenvalues.svg", e.name);
                figures::eigenvalues(&out.join(&eigenvalues), spectra)?;
                files.extend([cosine, eigenvalues]);
            }
        }
        let csv = format!("{}.csv", e.name);
        eigenformer_io::write_atomic(&out.join(&csv), render::experiment_csv(r).as_bytes())?;
        files.push(csv);
    }
    eigenformer_io::write_atomic(&out.join("runs.csv"), render::runs_csv(section).as_bytes())?;
    write_json(&out.join("results.json"), section)?;
    write_json(&out.join("claims.json"), &section.claims)?;
    eigenformer_io::write_atomic(
        &out.join("training.md"),
        render::markdown(section).as_bytes(),
    )?;
    files.extend(["runs.csv", "results.json", "claims.json", "training.md"].map(String::from));
    Ok(files)
}

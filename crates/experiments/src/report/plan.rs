//! `eigenformer reproduce --plan`: what each profile would train, and how long that takes on this
//! machine, from a short throughput probe rather than a constant.
//!
//! Why a probe: the step rate of a ViT depends on its shape, the batch, the cores and the kernels
//! of this build, so a rate written into a file is wrong on the next machine (and was, by a factor
//! of two, on this one). For each distinct model shape of a profile the probe times a few real
//! training steps (forward, backward, AdamW) on random images of the run's size, and the estimate
//! of a run is its image-steps × the measured seconds per image. Evaluations (forward passes over
//! clean and corrupted test sets) are estimated at one third of a training step per image, the
//! usual forward : forward + backward ratio. Runs already in the run cache cost nothing.

use crate::progress::clock;
use crate::reproduce::cache::{EvalRequest, RunCache};
use crate::reproduce::run::{evaluations, plan};
use crate::reproduce::spec::{load_experiments, Profile};
use crate::train::command::{dataset_kind, model_config};
use crate::train::config::TrainConfig;
use crate::train::{TrainHyper, Trainer};
use anyhow::{Context, Result};
use eigenformer_model::ViT;
use ndarray::Array4;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Images per probe step: large enough that per-step overheads do not dominate, small enough that
/// probing a DeiT-Ti shape takes seconds.
pub const PROBE_BATCH: usize = 64;
/// Timed steps per shape (after one untimed warm-up step); the median is used.
pub const PROBE_STEPS: usize = 3;

/// Test images of every dataset the toolkit reads (MNIST, Fashion-MNIST, CIFAR-10/100 and the
/// CIFAR-10 copy all have 10,000).
const TEST_IMAGES: usize = 10_000;

/// The estimate of one profile.
#[derive(Debug, Clone)]
pub struct ProfilePlan {
    pub profile: Profile,
    /// Distinct training runs, and how many of them are not cached yet.
    pub runs: usize,
    pub to_train: usize,
    /// Training image-steps still to do.
    pub image_steps: u64,
    /// Estimated wall-clock seconds of the training (for the jobs [`print_plans`] was given).
    pub train_seconds: f64,
    /// Evaluations and their estimated seconds (cached ones included: their cache is per run).
    pub evaluations: usize,
    pub eval_seconds: f64,
    /// Measured seconds per training image, per probed shape (label → s/image).
    pub probes: Vec<(String, f64)>,
}

/// The shape that decides a run's step time (everything else in the configuration does not).
fn shape_key(spec: &TrainConfig) -> String {
    format!(
        "{} {} depth={} width={} heads={}",
        spec.model,
        spec.attention,
        spec.depth.map_or("preset".into(), |d| d.to_string()),
        spec.width.map_or("preset".into(), |d| d.to_string()),
        spec.heads.map_or("preset".into(), |d| d.to_string()),
    )
}

/// Seconds per training image of `spec`'s model, timed on this machine.
pub fn probe(spec: &TrainConfig) -> Result<f64> {
    let kind = dataset_kind(&spec.dataset)?;
    let cfg = model_config(spec, kind)?;
    let batch = spec.batch_size.clamp(1, PROBE_BATCH);
    let model = ViT::new(cfg.clone(), 0)?;
    let hyper = TrainHyper {
        total_steps: PROBE_STEPS + 1,
        ..TrainHyper::default()
    };
    let mut trainer = Trainer::new(model, hyper, 0)?;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let images = Array4::from_shape_simple_fn(
        (batch, cfg.channels, cfg.image_size, cfg.image_size),
        || rng.gen_range(-1.0f32..1.0),
    );
    let labels: Vec<usize> = (0..batch).map(|_| rng.gen_range(0..cfg.classes)).collect();
    trainer
        .train_step(&images, &labels)
        .context("probe warm-up step")?;
    let mut times = Vec::with_capacity(PROBE_STEPS);
    for _ in 0..PROBE_STEPS {
        let start = Instant::now();
        trainer.train_step(&images, &labels).context("probe step")?;
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(times[times.len() / 2] / batch as f64)
}

/// Test images one evaluation request reads (a corruption without a severity reads all five).
fn eval_images(req: &EvalRequest, test_images: usize) -> usize {
    match req {
        EvalRequest::Clean { eval_limit } => eval_limit.unwrap_or(test_images).min(test_images),
        EvalRequest::Corruption {
            severity,
            eval_limit,
            ..
        } => {
            let n = eval_limit.unwrap_or(test_images).min(test_images);
            if severity.is_some() {
                n
            } else {
                5 * n
            }
        }
    }
}

/// The plan of `profile`, probing each distinct shape once (`probes` carries the measurements
/// across profiles, which share shapes).
pub fn plan_profile(
    profile: Profile,
    experiments_dir: &Path,
    runs_dir: &Path,
    probes: &mut BTreeMap<String, f64>,
) -> Result<ProfilePlan> {
    let mut experiments = load_experiments(experiments_dir, profile, &[])
        .with_context(|| format!("loading the {} experiments", profile.name()))?;
    let cache = RunCache::new(runs_dir);
    // With the learning rate already chosen (its runs cached), the runs that depend on it have
    // their real configuration, so the plan finds them in the cache.
    if let Some(lr) = crate::reproduce::lr_select::cached_choice(&experiments, &cache)? {
        crate::reproduce::lr_select::apply(&mut experiments, lr);
    }
    let planned = plan(&experiments);
    let mut out = ProfilePlan {
        profile,
        runs: planned.len(),
        to_train: 0,
        image_steps: 0,
        train_seconds: 0.0,
        evaluations: 0,
        eval_seconds: 0.0,
        probes: Vec::new(),
    };
    let mut seconds_per_image = |spec: &TrainConfig| -> Result<f64> {
        let key = shape_key(spec);
        if let Some(v) = probes.get(&key) {
            return Ok(*v);
        }
        let v = probe(spec).with_context(|| format!("probing {key}"))?;
        probes.insert(key, v);
        Ok(v)
    };
    let mut used = BTreeMap::new();
    for p in &planned {
        let spi = seconds_per_image(&p.spec)?;
        used.insert(shape_key(&p.spec), spi);
        if !cache.dir(&p.spec).join("result.json").is_file() {
            out.to_train += 1;
            out.image_steps += p.spec.image_steps() as u64;
            out.train_seconds += p.spec.image_steps() as f64 * spi;
        }
    }
    for (spec, req) in evaluations(&experiments) {
        let spi = seconds_per_image(&spec)?;
        out.evaluations += 1;
        out.eval_seconds += eval_images(&req, TEST_IMAGES) as f64 * spi / 3.0;
    }
    out.probes = used.into_iter().collect();
    Ok(out)
}

/// Print the plan of every profile (stdout) for `jobs` runs at a time and return them.
///
/// The probe runs on one job's share of the cores (the threads a run gets beside the others), and
/// the estimates divide the work by the jobs: they assume the jobs keep every core busy, which
/// the last runs of a profile do not quite do.
pub fn print_plans(
    experiments_dir: &Path,
    runs_dir: &Path,
    jobs: usize,
) -> Result<Vec<ProfilePlan>> {
    let jobs = jobs.max(1);
    let threads = crate::reproduce::parallel::threads_per_job(jobs);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("starting the probe's threads")?;
    let mut probes = BTreeMap::new();
    let mut plans = Vec::new();
    eigenformer_io::outln!(
        "Estimates from a throughput probe on this machine ({} timed training steps of {} images \
         per model shape, {threads} threads per run, {jobs} runs at a time); runs already in the \
         run cache {} cost nothing.",
        PROBE_STEPS,
        PROBE_BATCH,
        runs_dir.display()
    )?;
    for profile in Profile::ALL {
        let mut p =
            pool.install(|| plan_profile(profile, experiments_dir, runs_dir, &mut probes))?;
        p.train_seconds /= jobs as f64;
        p.eval_seconds /= jobs as f64;
        eigenformer_io::outln!(
            "\n{}: {} distinct runs, {} to train ({} image-steps): training ~{}, {} evaluations ~{}; \
             total ~{} (plus the theory and pre-trained sections and the build)",
            profile.name(),
            p.runs,
            p.to_train,
            p.image_steps,
            clock(Duration::from_secs_f64(p.train_seconds)),
            p.evaluations,
            clock(Duration::from_secs_f64(p.eval_seconds)),
            clock(Duration::from_secs_f64(p.train_seconds + p.eval_seconds)),
        )?;
        for (shape, spi) in &p.probes {
            eigenformer_io::outln!("  {shape}: {:.0} images/s measured", 1.0 / spi)?;
        }
        plans.push(p);
    }
    Ok(plans)
}

/// `eigenformer reproduce --plan`: the plans of every profile against the default run cache.
pub fn run(args: &super::ReproduceArgs) -> Result<()> {
    let runs_dir = crate::reproduce::command::default_runs_dir()?;
    let jobs = args.jobs.jobs();
    print_plans(&args.experiments_dir, &runs_dir, jobs).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_measures_a_positive_finite_rate() {
        let spec: TrainConfig = toml::from_str(
            "dataset = \"fashion-mnist\"\nmodel = \"vit-small\"\ndepth = 1\nwidth = 16\nheads = 2\nbatch_size = 8\n",
        )
        .unwrap();
        let spi = probe(&spec).unwrap();
        assert!(spi.is_finite() && spi > 0.0, "{spi}");
    }

    #[test]
    fn evaluations_count_their_images() {
        let all = EvalRequest::Corruption {
            name: "fog".into(),
            severity: None,
            seed: 0,
            eval_limit: Some(500),
        };
        assert_eq!(eval_images(&all, 10_000), 2500);
        assert_eq!(
            eval_images(&EvalRequest::Clean { eval_limit: None }, 10_000),
            10_000
        );
    }
}

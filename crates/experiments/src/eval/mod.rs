//! `eigenformer eval`: test accuracy of a training checkpoint, on the clean test set or, with
//! `--corruption`, on corrupted copies of it (the CIFAR-10-C protocol of [`eigenformer_data::corrupt`]).
//!
//! A corrupted test set is a pure function of (dataset, images, corruption, severity, seed), so
//! it is written once to a cache file ([`CorruptedCache`]) and read back by every later
//! evaluation, of any checkpoint.

use crate::train::checkpoint;
use crate::train::command::dataset_kind;
use crate::train::eval::{evaluate, EvalResult};
use anyhow::{bail, Context, Result};
use clap::Args;
use eigenformer_assets::{self as assets, Resolver};
use eigenformer_data::corrupt::{
    self, corrupt_dataset, load_frost_images, Corruption, FrostImage, Severity, CORRUPTION_VERSION,
};
use eigenformer_data::{Dataset, DatasetKind, Split};
use eigenformer_io::write_atomic;
use eigenformer_model::ViT;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Arguments of `eigenformer eval`. `Default` gives the command's defaults (batches of 256).
#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    /// The output directory of `eigenformer train` (its current checkpoint), or one checkpoint
    /// directory in it (`checkpoints/epoch-…`).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Directory holding the dataset's files (otherwise the cache / download).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Evaluate on the first N test images only.
    #[arg(long)]
    pub eval_limit: Option<usize>,
    /// Images per forward pass.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Print JSON: `{"test_accuracy", "test_loss", "images"}`, or with --corruption the table
    /// `{"dataset", "corruption_seed", "clean", "results": [...], "mean_by_severity", ...}`.
    #[arg(long)]
    pub json: bool,
    /// Evaluate on the corrupted test set: one of the 15 CIFAR-10-C corruptions
    /// (gaussian_noise, shot_noise, impulse_noise, defocus_blur, glass_blur, motion_blur,
    /// zoom_blur, snow, frost, fog, brightness, contrast, elastic_transform, pixelate,
    /// jpeg_compression), or `all` for every one.
    #[arg(long)]
    pub corruption: Option<String>,
    /// Severity 1–5 of --corruption (default: all five).
    #[arg(long)]
    pub severity: Option<String>,
    /// Seed of the corruptions' random draws.
    #[arg(long, default_value_t = 0)]
    pub corruption_seed: u64,
    /// Directory for the cached corrupted test sets (default: `<asset cache>/corrupted`).
    #[arg(long)]
    pub corrupted_dir: Option<PathBuf>,
    /// Directory holding frost1.png … frost6.jpg of imagecorruptions==1.1.2 (otherwise the
    /// asset resolver), for the frost corruption.
    #[arg(long)]
    pub frost_dir: Option<PathBuf>,
    /// Also write the JSON result to this file (atomically).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl Default for EvalArgs {
    fn default() -> Self {
        EvalArgs {
            checkpoint: PathBuf::new(),
            data_dir: None,
            eval_limit: None,
            batch_size: 256,
            json: false,
            corruption: None,
            severity: None,
            corruption_seed: 0,
            corrupted_dir: None,
            frost_dir: None,
            out: None,
        }
    }
}

/// The model stored in the checkpoint directory `dir`, and the checkpoint's metadata.
pub fn load_model(dir: &Path) -> Result<(ViT, checkpoint::CheckpointMeta)> {
    let ck = checkpoint::load(dir)?;
    let model =
        ViT::new(ck.meta.model_config.clone(), 0).context("building the checkpoint's model")?;
    model
        .load_named(&ck.model)
        .context("loading the checkpoint's weights")?;
    Ok((model, ck.meta))
}

impl EvalArgs {
    /// Refuse values that cannot be evaluated, before anything is loaded, as `eigenformer train`
    /// refuses them: no images (`--eval-limit 0` would report an accuracy of 0 over nothing) and
    /// batches of no images.
    pub fn validate(&self) -> Result<()> {
        if self.eval_limit == Some(0) {
            bail!("--eval-limit must be at least 1 (leave it out for the whole test set)");
        }
        if self.batch_size == 0 {
            bail!("--batch-size must be at least 1");
        }
        Ok(())
    }
}

/// Refuse an evaluation whose loss or accuracy is not finite (a checkpoint with NaN or infinite
/// weights): printing `test_loss=NaN` and exiting 0 would let a broken model pass for a result.
fn require_finite(r: &EvalResult, what: &str, checkpoint: &Path) -> Result<()> {
    if !(r.test_loss.is_finite() && r.test_accuracy.is_finite()) {
        bail!(
            "{}: evaluation on {what} gave test_loss={} test_accuracy={}: the checkpoint's \
             weights or outputs are not finite",
            checkpoint.display(),
            r.test_loss,
            r.test_accuracy
        );
    }
    Ok(())
}

/// The checkpoint's model, dataset kind and (possibly limited) clean test set.
fn load_for_eval(
    args: &EvalArgs,
) -> Result<(ViT, checkpoint::CheckpointMeta, DatasetKind, Dataset)> {
    args.validate()?;
    let (model, meta) = load_model(&args.checkpoint)?;
    if let Some((name, _)) = model
        .state_dict()
        .iter()
        .find(|(_, a)| a.iter().any(|v| !v.is_finite()))
    {
        bail!(
            "{}: the checkpoint's tensor {name} holds non-finite values (NaN or infinity)",
            args.checkpoint.display()
        );
    }
    let kind = dataset_kind(&meta.run.dataset)?;
    let mut test = kind.load(Split::Test, args.data_dir.as_deref())?;
    if let Some(n) = args.eval_limit {
        let idx: Vec<usize> = (0..n.min(test.len())).collect();
        test = test.select(&idx)?;
    }
    Ok((model, meta, kind, test))
}

/// Evaluate the checkpoint of `args` on the clean test set.
pub fn measure(args: &EvalArgs) -> Result<EvalResult> {
    let (model, _, kind, test) = load_for_eval(args)?;
    let r = evaluate(&model, kind, &test, args.batch_size)?;
    require_finite(&r, "the clean test set", &args.checkpoint)?;
    Ok(r)
}

/// Which corrupted test sets to evaluate: corruptions × severities under one seed.
#[derive(Clone, Debug, PartialEq)]
pub struct CorruptionPlan {
    pub corruptions: Vec<Corruption>,
    pub severities: Vec<Severity>,
    pub seed: u64,
}

impl CorruptionPlan {
    /// From `--corruption NAME|all` and `--severity S` (absent: all five).
    pub fn parse(corruption: &str, severity: Option<&str>, seed: u64) -> Result<Self> {
        let corruptions = if corruption.trim() == "all" {
            Corruption::ALL.to_vec()
        } else {
            vec![corruption.parse::<Corruption>()?]
        };
        let severities = match severity {
            Some(s) => vec![s.parse::<Severity>().context("--severity")?],
            None => Severity::ALL.to_vec(),
        };
        Ok(CorruptionPlan {
            corruptions,
            severities,
            seed,
        })
    }

    /// The plan the arguments ask for (`None`: the clean test set); errors on an unknown name,
    /// a bad severity, or `--severity` without `--corruption`.
    pub fn from_args(args: &EvalArgs) -> Result<Option<Self>> {
        match (&args.corruption, &args.severity) {
            (None, None) => Ok(None),
            (None, Some(_)) => bail!(
                "--severity needs --corruption NAME (one of {}, or all)",
                Corruption::names().join(", ")
            ),
            (Some(c), s) => Ok(Some(Self::parse(c, s.as_deref(), args.corruption_seed)?)),
        }
    }

    /// Whether the plan includes frost (which needs the frost images).
    pub fn needs_frost(&self) -> bool {
        self.corruptions.contains(&Corruption::Frost)
    }
}

/// Accuracy on one corrupted test set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorruptionResult {
    pub corruption: String,
    pub severity: u8,
    /// Fraction correct, in [0, 1].
    pub test_accuracy: f64,
    pub test_loss: f64,
    pub images: usize,
    /// Whether the corrupted images came from the cache.
    pub cached: bool,
}

/// The mean accuracy over the evaluated corruptions at one severity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeverityMean {
    pub severity: u8,
    pub test_accuracy: f64,
}

/// Everything `eval --corruption` measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorruptionReport {
    pub dataset: String,
    pub checkpoint: Option<String>,
    pub corruption_seed: u64,
    /// Accuracy on the clean test set (evaluated with `--corruption all`).
    pub clean: Option<EvalResult>,
    pub results: Vec<CorruptionResult>,
    pub mean_by_severity: Vec<SeverityMean>,
    /// Mean accuracy over every evaluated (corruption, severity).
    pub mean_accuracy: f64,
}

/// On-disk cache of corrupted test sets, one file per (dataset, corruption, severity, seed,
/// number of images, fingerprint of the clean images, corruption code version).
///
/// File layout: the magic `EFCORR02`, the shape `[N, C, H, W]` as four little-endian `u64`, the
/// sha256 of the pixels as 64 lowercase hex digits, then the `N·C·H·W` pixel bytes. Labels are
/// not stored: they are the clean set's. A file that does not match (truncated, other shape, or
/// pixels that fail the checksum, i.e. bit rot) is rebuilt with a warning on stderr. Why a
/// checksum and not only the length: a file with flipped bytes has the right length and would
/// silently change every later evaluation. (`EFCORR01` files, without a checksum, are rebuilt.)
#[derive(Clone, Debug)]
pub struct CorruptedCache {
    dir: PathBuf,
}

const CACHE_MAGIC: &[u8; 8] = b"EFCORR02";
/// The previous layout, without a checksum: recognised only to say why it is rebuilt.
const CACHE_MAGIC_V1: &[u8; 8] = b"EFCORR01";
/// Magic, shape, checksum.
const CACHE_HEADER: usize = 8 + 32 + 64;

impl CorruptedCache {
    /// A cache in `dir` (created on the first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        CorruptedCache { dir: dir.into() }
    }

    /// `--corrupted-dir`, else `<asset cache root>/corrupted`.
    pub fn from_args(args: &EvalArgs) -> Result<Self> {
        match &args.corrupted_dir {
            Some(d) => Ok(Self::new(d)),
            None => Ok(Self::new(
                Resolver::default_cache_root()
                    .context(
                        "locating the cache for corrupted test sets (or pass --corrupted-dir)",
                    )?
                    .join("corrupted"),
            )),
        }
    }

    /// The cache file of `clean` (named `dataset`) under `corruption` at `severity`.
    pub fn path(
        &self,
        dataset: &str,
        clean: &Dataset,
        corruption: Corruption,
        severity: Severity,
        seed: u64,
    ) -> PathBuf {
        let mut h = eigenformer_io::Sha256Stream::default();
        for d in clean.shape() {
            h.update(&(d as u64).to_le_bytes());
        }
        h.update(clean.images());
        let fingerprint = h.hex()[..16].to_string();
        self.dir.join(format!(
            "{dataset}-{corruption}-s{severity}-seed{seed}-n{}-{fingerprint}-v{CORRUPTION_VERSION}.u8",
            clean.len()
        ))
    }

    /// The corrupted copy of `clean`: read from the cache if present and valid, else computed
    /// and written (atomically). Returns the data set and whether it came from the cache.
    pub fn get_or_create(
        &self,
        dataset: &str,
        clean: &Dataset,
        corruption: Corruption,
        severity: Severity,
        seed: u64,
        frost: Option<&[FrostImage]>,
    ) -> Result<(Dataset, bool)> {
        let path = self.path(dataset, clean, corruption, severity, seed);
        let name = format!("{}/{corruption}-{severity}", clean.name());
        if path.is_file() {
            match read_cache_file(&path, clean.shape()) {
                Ok(pixels) => {
                    let ds = Dataset::new(
                        name,
                        pixels,
                        clean.shape(),
                        clean.labels().to_vec(),
                        clean.num_classes(),
                    )?;
                    return Ok((ds, true));
                }
                Err(why) => eprintln!(
                    "warning: {}: {why:#}; computing the corrupted test set again",
                    path.display()
                ),
            }
        }
        let ds = corrupt_dataset(clean, corruption, severity, seed, frost).with_context(|| {
            format!(
                "corrupting {} with {corruption} at severity {severity}",
                clean.name()
            )
        })?;
        let mut bytes = Vec::with_capacity(CACHE_HEADER + ds.images().len());
        bytes.extend_from_slice(CACHE_MAGIC);
        for d in ds.shape() {
            bytes.extend_from_slice(&(d as u64).to_le_bytes());
        }
        bytes.extend_from_slice(eigenformer_io::sha256_hex(ds.images()).as_bytes());
        bytes.extend_from_slice(ds.images());
        write_atomic(&path, &bytes)
            .with_context(|| format!("caching the corrupted test set in {}", path.display()))?;
        Ok((ds, false))
    }
}

/// The pixels of a cache file, checked against the expected shape and the stored checksum.
fn read_cache_file(path: &Path, shape: [usize; 4]) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.get(..8) == Some(CACHE_MAGIC_V1) {
        bail!("an older cache file without a checksum");
    }
    if bytes.len() < CACHE_HEADER || &bytes[..8] != CACHE_MAGIC {
        bail!("not a corrupted-test-set cache file");
    }
    let mut stored = [0u64; 4];
    for (i, d) in stored.iter_mut().enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[8 + 8 * i..16 + 8 * i]);
        *d = u64::from_le_bytes(b);
    }
    if stored != shape.map(|d| d as u64) {
        bail!("holds images of shape {stored:?}, expected {shape:?}");
    }
    let n: usize = shape.iter().product();
    let pixels = &bytes[CACHE_HEADER..];
    if pixels.len() != n {
        bail!("truncated: {} pixel bytes, expected {n}", pixels.len());
    }
    let expected = &bytes[40..CACHE_HEADER];
    let actual = eigenformer_io::sha256_hex(pixels);
    if actual.as_bytes() != expected {
        bail!(
            "the pixels do not match the stored sha256 (stored {}, now {actual}): the file is \
             damaged",
            String::from_utf8_lossy(expected)
        );
    }
    Ok(pixels.to_vec())
}

/// The frost images: from `frost_dir` if given, else through the asset resolver when it knows
/// the asset [`corrupt::frost::FROST_ASSET`]; otherwise an error saying how to provide them.
pub fn frost_images(frost_dir: Option<&Path>) -> Result<Vec<FrostImage>> {
    let help = || {
        format!(
            "the frost corruption needs the six frost photographs ({}) of the PyPI package \
             imagecorruptions==1.1.2 (folder imagecorruptions/frost/ inside the wheel); pass \
             --frost-dir DIR with them",
            corrupt::frost::frost_files().join(", ")
        )
    };
    let dir = match frost_dir {
        Some(d) => d.to_path_buf(),
        None => match assets::builtin(corrupt::frost::FROST_ASSET) {
            Some(asset) => Resolver::from_env()?
                .resolve(&asset, None)
                .with_context(help)?,
            None => bail!(help()),
        },
    };
    load_frost_images(&dir)
        .with_context(|| format!("loading the frost images from {}", dir.display()))
}

/// Evaluate `model` on every corrupted test set of `plan`, built from `test` (named `dataset`
/// in cache file names) and normalised as `kind` prescribes. `clean` is recorded as given.
/// Status lines go to stderr when `progress` is set.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_corruptions(
    model: &ViT,
    kind: DatasetKind,
    dataset: &str,
    test: &Dataset,
    plan: &CorruptionPlan,
    cache: &CorruptedCache,
    frost: Option<&[FrostImage]>,
    batch_size: usize,
    progress: bool,
) -> Result<Vec<CorruptionResult>> {
    let mut results = Vec::new();
    for &c in &plan.corruptions {
        for &s in &plan.severities {
            let t = std::time::Instant::now();
            let (ds, cached) = cache.get_or_create(dataset, test, c, s, plan.seed, frost)?;
            let r = evaluate(model, kind, &ds, batch_size.max(1))
                .with_context(|| format!("evaluating on {c} at severity {s}"))?;
            if progress {
                eprintln!(
                    "{c:<18} severity {s}: accuracy {:.4} ({} images, {}, {:.1?})",
                    r.test_accuracy,
                    r.images,
                    if cached { "cached" } else { "corrupted now" },
                    t.elapsed()
                );
            }
            results.push(CorruptionResult {
                corruption: c.name().into(),
                severity: s.get(),
                test_accuracy: r.test_accuracy,
                test_loss: r.test_loss,
                images: r.images,
                cached,
            });
        }
    }
    Ok(results)
}

/// The report of `results`: per-severity means and the overall mean.
pub fn summarize(
    dataset: &str,
    checkpoint: Option<&Path>,
    seed: u64,
    clean: Option<EvalResult>,
    results: Vec<CorruptionResult>,
) -> CorruptionReport {
    let mean = |it: &mut dyn Iterator<Item = f64>| {
        let (sum, n) = it.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
        if n == 0 {
            f64::NAN
        } else {
            sum / n as f64
        }
    };
    let mut severities: Vec<u8> = results.iter().map(|r| r.severity).collect();
    severities.sort_unstable();
    severities.dedup();
    let mean_by_severity = severities
        .into_iter()
        .map(|s| SeverityMean {
            severity: s,
            test_accuracy: mean(
                &mut results
                    .iter()
                    .filter(|r| r.severity == s)
                    .map(|r| r.test_accuracy),
            ),
        })
        .collect();
    let mean_accuracy = mean(&mut results.iter().map(|r| r.test_accuracy));
    CorruptionReport {
        dataset: dataset.into(),
        checkpoint: checkpoint.map(|p| p.display().to_string()),
        corruption_seed: seed,
        clean,
        results,
        mean_by_severity,
        mean_accuracy,
    }
}

/// The report as a text table: one row per corruption, one column per severity, and the means.
pub fn format_table(report: &CorruptionReport) -> String {
    let mut severities: Vec<u8> = report.results.iter().map(|r| r.severity).collect();
    severities.sort_unstable();
    severities.dedup();
    let mut out = format!("{:<18}", "corruption");
    for s in &severities {
        out.push_str(&format!(" {:>7}", format!("s{s}")));
    }
    out.push_str(&format!(" {:>7}\n", "mean"));
    let mut names: Vec<&str> = Vec::new();
    for r in &report.results {
        if !names.contains(&r.corruption.as_str()) {
            names.push(&r.corruption);
        }
    }
    for name in names {
        out.push_str(&format!("{name:<18}"));
        let mut row = Vec::new();
        for s in &severities {
            match report
                .results
                .iter()
                .find(|r| r.corruption == name && r.severity == *s)
            {
                Some(r) => {
                    row.push(r.test_accuracy);
                    out.push_str(&format!(" {:>7.4}", r.test_accuracy));
                }
                None => out.push_str(&format!(" {:>7}", "-")),
            }
        }
        let m = row.iter().sum::<f64>() / row.len().max(1) as f64;
        out.push_str(&format!(" {m:>7.4}\n"));
    }
    out.push_str(&format!("{:<18}", "mean"));
    for m in &report.mean_by_severity {
        out.push_str(&format!(" {:>7.4}", m.test_accuracy));
    }
    out.push_str(&format!(" {:>7.4}\n", report.mean_accuracy));
    if let Some(c) = &report.clean {
        out.push_str(&format!("clean test_accuracy={:.4}\n", c.test_accuracy));
    }
    out
}

/// Run the command.
pub fn run(args: &EvalArgs) -> Result<()> {
    let Some(plan) = CorruptionPlan::from_args(args)? else {
        let r = measure(args)?;
        let json = serde_json::to_string(&r)?;
        if let Some(out) = &args.out {
            write_atomic(out, format!("{json}\n").as_bytes())?;
        }
        if args.json {
            eigenformer_io::outln!("{json}")?;
        } else {
            eigenformer_io::outln!(
                "test_accuracy={:.4} test_loss={:.4} images={}",
                r.test_accuracy,
                r.test_loss,
                r.images
            )?;
        }
        return Ok(());
    };
    // Resolve the frost images before any long work, so a missing asset fails fast.
    let frost = if plan.needs_frost() {
        Some(frost_images(args.frost_dir.as_deref())?)
    } else {
        None
    };
    args.validate()?;
    let cache = CorruptedCache::from_args(args)?;
    let (model, meta, kind, test) = load_for_eval(args)?;
    let batch = args.batch_size;
    let clean = if plan.corruptions.len() > 1 {
        let r = evaluate(&model, kind, &test, batch).context("evaluating on the clean test set")?;
        require_finite(&r, "the clean test set", &args.checkpoint)?;
        Some(r)
    } else {
        None
    };
    let results = evaluate_corruptions(
        &model,
        kind,
        &meta.run.dataset,
        &test,
        &plan,
        &cache,
        frost.as_deref(),
        batch,
        true,
    )?;
    for r in &results {
        let what = format!("{} at severity {}", r.corruption, r.severity);
        let as_eval = EvalResult {
            test_accuracy: r.test_accuracy,
            test_loss: r.test_loss,
            images: r.images,
        };
        require_finite(&as_eval, &what, &args.checkpoint)?;
    }
    let report = summarize(
        &meta.run.dataset,
        Some(&args.checkpoint),
        plan.seed,
        clean,
        results,
    );
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(out) = &args.out {
        write_atomic(out, format!("{json}\n").as_bytes())?;
    }
    if args.json {
        eigenformer_io::outln!("{json}")?;
    } else if let [r] = report.results.as_slice() {
        eigenformer_io::outln!(
            "corruption={} severity={} test_accuracy={:.4} test_loss={:.4} images={}",
            r.corruption,
            r.severity,
            r.test_accuracy,
            r.test_loss,
            r.images
        )?;
    } else {
        eigenformer_io::out!("{}", format_table(&report))?;
    }
    Ok(())
}

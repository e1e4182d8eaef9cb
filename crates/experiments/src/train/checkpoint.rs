//! One training checkpoint: a directory holding everything a resumed run needs, so that it is
//! written, verified and kept or discarded as one unit.
//!
//! * `checkpoint.safetensors`: the model's `state_dict()` and the optimiser's buffers (prefixed
//!   `optim.`), in the standard layout so Python can open it;
//! * `metrics.json`: the run's whole metrics history up to this epoch (the same bytes the run
//!   directory's top-level `metrics.json` gets);
//! * `diagnostics.json`: this epoch's diagnostics;
//! * `checkpoint.json`: configuration, hyper-parameters, epoch and step counters, and the sha256
//!   of each of the three files above.
//!
//! Why the history lives here: a history kept in a separate file can disagree with the weights
//! (a crash between the two writes lost an epoch from it, silently). Here it is verified by the
//! same checksum chain as the tensors, so a loaded checkpoint has exactly the epochs it claims.
//!
//! How checkpoints are committed atomically, how many are kept and which one is current is the
//! business of the run directory ([`crate::train::rundir`]). [`load`] accepts a run directory
//! (its newest checkpoint that passes every check), one checkpoint directory
//! (`checkpoints/epoch-…`), or the flat layout of earlier versions (`checkpoint.json` and
//! `checkpoint.safetensors` directly in the run directory, history in its `metrics.json`).

use crate::train::config::TrainConfig;
use crate::train::diagnostics::Diagnostics;
use crate::train::run::Metrics;
use crate::train::rundir;
use crate::train::TrainHyper;
use anyhow::{bail, Context, Result};
use eigenformer_model::{ViT, ViTConfig};
use eigenformer_tensor::optim::OptimizerState;
use ndarray::{ArrayD, IxDyn};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// File name of the tensors.
pub const WEIGHTS_FILE: &str = "checkpoint.safetensors";
/// File name of the metadata.
pub const META_FILE: &str = "checkpoint.json";
/// File name of the metrics history (in a checkpoint and, as a copy, in the run directory).
pub const METRICS_FILE: &str = "metrics.json";
/// File name of the diagnostics (in a checkpoint and, as a copy, in the run directory).
pub const DIAGNOSTICS_FILE: &str = "diagnostics.json";
/// Prefix of the optimiser buffers in the tensor file.
pub const OPTIM_PREFIX: &str = "optim.";
/// Version of the checkpoint layout. The sha256 fields of the history and diagnostics are
/// optional additions, so checkpoints of version 1 without them still load.
pub const FORMAT_VERSION: u32 = 1;

/// `checkpoint.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// [`FORMAT_VERSION`].
    pub format: u32,
    /// The model's configuration.
    pub model_config: ViTConfig,
    /// The optimisation hyper-parameters (steps resolved).
    pub hyper: TrainHyper,
    /// The run's settings.
    pub run: TrainConfig,
    /// Epochs completed (the next epoch to train has this 0-based index).
    pub epoch: usize,
    /// Optimisation steps taken.
    pub global_step: usize,
    /// The optimiser's own step counter.
    pub optimizer_step: u64,
    /// sha256 (hex) of `checkpoint.safetensors`.
    pub weights_sha256: String,
    /// sha256 (hex) of the checkpoint's `metrics.json` (absent in the flat layout of earlier
    /// versions, whose history was a separate, unverified file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_sha256: Option<String>,
    /// sha256 (hex) of the checkpoint's `diagnostics.json` (absent in the flat layout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics_sha256: Option<String>,
}

/// A loaded checkpoint.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The metadata.
    pub meta: CheckpointMeta,
    /// The model's tensors by name.
    pub model: Vec<(String, ArrayD<f32>)>,
    /// The optimiser's state.
    pub optimizer: OptimizerState,
    /// The metrics history, verified and complete (epochs 1..=`meta.epoch`); `None` for the flat
    /// layout of earlier versions (see [`Checkpoint::history`]).
    pub metrics: Option<Metrics>,
    /// The diagnostics of the checkpoint's epoch, verified; `None` for the flat layout.
    pub diagnostics: Option<Diagnostics>,
    /// The directory the checkpoint was read from.
    pub dir: PathBuf,
}

/// What one checkpoint consists of, for writing ([`crate::train::rundir::RunDir::commit`]).
#[derive(Clone, Copy)]
pub struct CheckpointRecord<'a> {
    /// The model.
    pub model: &'a ViT,
    /// The optimiser's state.
    pub optimizer: &'a OptimizerState,
    /// The metadata; `format`, `optimizer_step` and the sha256 fields are filled in on writing.
    pub meta: &'a CheckpointMeta,
    /// The metrics history, epochs 1..=`meta.epoch`.
    pub metrics: &'a Metrics,
    /// The diagnostics of epoch `meta.epoch`.
    pub diagnostics: &'a Diagnostics,
}

fn f32_bytes(a: &ArrayD<f32>) -> Vec<u8> {
    a.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The JSON of a metrics history, as every copy of it is written (so copies are byte-identical).
pub fn metrics_json(metrics: &Metrics) -> Result<Vec<u8>> {
    Ok(serde_json::to_string_pretty(metrics)?.into_bytes())
}

/// The JSON of diagnostics, as every copy of it is written.
pub fn diagnostics_json(diagnostics: &Diagnostics) -> Result<Vec<u8>> {
    Ok(serde_json::to_string_pretty(diagnostics)?.into_bytes())
}

/// The safetensors bytes of `model` and `optimizer`.
fn tensor_bytes(model: &ViT, optimizer: &OptimizerState) -> Result<Vec<u8>> {
    let mut named: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, a) in model.state_dict() {
        if name.starts_with(OPTIM_PREFIX) {
            bail!("model tensor name {name:?} collides with the optimiser prefix");
        }
        named.push((name, a.shape().to_vec(), f32_bytes(&a)));
    }
    for (name, a) in &optimizer.buffers {
        named.push((
            format!("{OPTIM_PREFIX}{name}"),
            a.shape().to_vec(),
            f32_bytes(a),
        ));
    }
    let views = named
        .iter()
        .map(|(n, shape, bytes)| {
            Ok((
                n.clone(),
                TensorView::new(Dtype::F32, shape.clone(), bytes)?,
            ))
        })
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()
        .context("building the checkpoint tensors")?;
    safetensors::serialize(views, None).context("serialising the checkpoint")
}

/// Create `path` (which must not exist), write `bytes` and fsync it, so that a rename of the
/// directory holding it publishes complete contents.
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    file.sync_all()
        .with_context(|| format!("syncing {}", path.display()))
}

/// fsync the directory `dir`, so that the entries created or renamed in it are durable. File
/// systems that cannot sync a directory (they answer EINVAL) lose durability, not atomicity, so
/// that is not an error, as in [`eigenformer_io::write_atomic`].
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    let d = std::fs::File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    match d.sync_all() {
        Err(e) if e.kind() != std::io::ErrorKind::InvalidInput => {
            Err(e).with_context(|| format!("syncing the directory {}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// Write the checkpoint `record` into the empty directory `dir`: the tensors, the history and the
/// diagnostics, then `checkpoint.json` naming their sha256; each file fsynced (the directory
/// itself is synced by the caller before it renames it into place). Returns the bytes of
/// `checkpoint.json`, whose sha256 names the checkpoint.
pub(crate) fn write_dir(dir: &Path, record: &CheckpointRecord<'_>) -> Result<Vec<u8>> {
    let tensors = tensor_bytes(record.model, record.optimizer)?;
    let metrics = metrics_json(record.metrics)?;
    let diagnostics = diagnostics_json(record.diagnostics)?;
    let mut meta = record.meta.clone();
    meta.format = FORMAT_VERSION;
    meta.optimizer_step = record.optimizer.step;
    meta.weights_sha256 = eigenformer_io::sha256_hex(&tensors);
    meta.metrics_sha256 = Some(eigenformer_io::sha256_hex(&metrics));
    meta.diagnostics_sha256 = Some(eigenformer_io::sha256_hex(&diagnostics));
    let meta_bytes = serde_json::to_string_pretty(&meta)?.into_bytes();
    write_synced(&dir.join(WEIGHTS_FILE), &tensors)?;
    write_synced(&dir.join(METRICS_FILE), &metrics)?;
    write_synced(&dir.join(DIAGNOSTICS_FILE), &diagnostics)?;
    write_synced(&dir.join(META_FILE), &meta_bytes)?;
    Ok(meta_bytes)
}

/// Parse `checkpoint.json` from `bytes` (read from `path`, named in errors).
pub(crate) fn parse_meta(bytes: &[u8], path: &Path) -> Result<CheckpointMeta> {
    let meta: CheckpointMeta = serde_json::from_slice(bytes).with_context(|| {
        format!(
            "{}: not a valid checkpoint metadata file (truncated or edited?)",
            path.display()
        )
    })?;
    if meta.format != FORMAT_VERSION {
        bail!(
            "{}: checkpoint format {} is not supported (expected {FORMAT_VERSION})",
            path.display(),
            meta.format
        );
    }
    Ok(meta)
}

/// Read and parse the `checkpoint.json` of the checkpoint directory `dir`.
fn read_meta(dir: &Path) -> Result<CheckpointMeta> {
    let path = dir.join(META_FILE);
    let bytes = std::fs::read(&path)
        .with_context(|| format!("reading the checkpoint metadata {}", path.display()))?;
    parse_meta(&bytes, &path)
}

/// Read `dir/name` and check it against `expected` (the sha256 that `checkpoint.json` names).
fn read_verified(dir: &Path, name: &str, expected: &str) -> Result<Vec<u8>> {
    let path = dir.join(name);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let sha = eigenformer_io::sha256_hex(&bytes);
    if sha != expected {
        bail!(
            "{}: the file does not match {META_FILE} (sha256 {sha}, expected {expected}); it is \
             truncated, corrupted or from another run",
            path.display()
        );
    }
    Ok(bytes)
}

/// Check that `metrics` holds exactly the epochs 1..=`epoch`, in order: a history with a gap
/// or a surplus epoch does not belong to the weights beside it.
pub(crate) fn check_history(metrics: &Metrics, epoch: usize, path: &Path) -> Result<()> {
    let got: Vec<usize> = metrics.epochs.iter().map(|e| e.epoch).collect();
    if !got.iter().copied().eq(1..=epoch) {
        bail!(
            "{}: the metrics history has epochs {got:?}, but the checkpoint is at epoch {epoch} \
             (expected epochs 1 to {epoch})",
            path.display()
        );
    }
    Ok(())
}

/// Load the checkpoint directory `dir` (or a run directory in the flat layout of earlier
/// versions), verifying every file against the sha256 in its `checkpoint.json`.
pub fn load_dir(dir: &Path) -> Result<Checkpoint> {
    let meta = read_meta(dir)?;
    load_dir_with(dir, meta)
}

/// [`load_dir`] with `checkpoint.json` already read (and checked by the caller).
pub(crate) fn load_dir_with(dir: &Path, meta: CheckpointMeta) -> Result<Checkpoint> {
    let bytes = read_verified(dir, WEIGHTS_FILE, &meta.weights_sha256)?;
    let path = dir.join(WEIGHTS_FILE);
    let st = SafeTensors::deserialize(&bytes)
        .with_context(|| format!("{}: not a valid safetensors file", path.display()))?;
    let mut model = Vec::new();
    let mut buffers = Vec::new();
    let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
    names.sort();
    for name in names {
        let view = st
            .tensor(&name)
            .with_context(|| format!("{}: tensor {name}", path.display()))?;
        if view.dtype() != Dtype::F32 {
            bail!(
                "{}: tensor {name} has dtype {:?}, expected F32",
                path.display(),
                view.dtype()
            );
        }
        let data: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let array = ArrayD::from_shape_vec(IxDyn(view.shape()), data)
            .with_context(|| format!("{}: tensor {name} has a bad shape", path.display()))?;
        match name.strip_prefix(OPTIM_PREFIX) {
            Some(rest) => buffers.push((rest.to_string(), array)),
            None => model.push((name, array)),
        }
    }
    let metrics = match &meta.metrics_sha256 {
        Some(sha) => {
            let bytes = read_verified(dir, METRICS_FILE, sha)?;
            let path = dir.join(METRICS_FILE);
            let m: Metrics = serde_json::from_slice(&bytes)
                .with_context(|| format!("{}: not a valid metrics history", path.display()))?;
            check_history(&m, meta.epoch, &path)?;
            Some(m)
        }
        None => None,
    };
    let diagnostics = match &meta.diagnostics_sha256 {
        Some(sha) => {
            let bytes = read_verified(dir, DIAGNOSTICS_FILE, sha)?;
            let path = dir.join(DIAGNOSTICS_FILE);
            let d: Diagnostics = serde_json::from_slice(&bytes)
                .with_context(|| format!("{}: not valid diagnostics", path.display()))?;
            Some(d)
        }
        None => None,
    };
    Ok(Checkpoint {
        optimizer: OptimizerState {
            step: meta.optimizer_step,
            buffers,
        },
        meta,
        model,
        metrics,
        diagnostics,
        dir: dir.to_path_buf(),
    })
}

impl Checkpoint {
    /// The metrics history of epochs 1..=`meta.epoch`. A checkpoint holds it, verified; the flat
    /// layout of earlier versions kept it in the run directory's `metrics.json`, which is read
    /// here and must hold every one of those epochs (a history that lost one is an error, not a
    /// silently shorter history).
    pub fn history(&self) -> Result<Metrics> {
        if let Some(m) = &self.metrics {
            return Ok(m.clone());
        }
        let path = self.dir.join(METRICS_FILE);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading the metrics history {} of the checkpoint (epoch {}); without it the \
                 resumed run would lose the earlier epochs' metrics",
                path.display(),
                self.meta.epoch
            )
        })?;
        let mut m: Metrics = serde_json::from_str(&text).with_context(|| {
            format!(
                "{}: not a valid metrics history; without it the resumed run would lose the \
                 earlier epochs' metrics",
                path.display()
            )
        })?;
        m.epochs.retain(|e| e.epoch <= self.meta.epoch);
        check_history(&m, self.meta.epoch, &path)?;
        Ok(m)
    }
}

/// Whether `dir` holds a checkpoint: a run directory with a manifest, or a checkpoint directory
/// (or flat run directory) with a `checkpoint.json`.
pub fn exists(dir: &Path) -> bool {
    dir.join(rundir::MANIFEST_FILE).is_file() || dir.join(META_FILE).is_file()
}

/// Load the checkpoint of `dir` (see the module documentation), printing a warning for every
/// newer checkpoint that failed its checks and was passed over.
pub fn load(dir: &Path) -> Result<Checkpoint> {
    let (ck, warnings) = rundir::load_latest(dir)?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    Ok(ck)
}

/// The metadata of the checkpoint [`load`] would use.
pub fn load_meta(dir: &Path) -> Result<CheckpointMeta> {
    Ok(rundir::load_latest(dir)?.0.meta)
}

/// The directory holding the checkpoint [`load`] would use (the run's current
/// `checkpoints/epoch-…` directory, or `dir` itself for a checkpoint directory).
pub fn current_dir(dir: &Path) -> Result<PathBuf> {
    Ok(rundir::load_latest(dir)?.0.dir)
}

//! Training checkpoints: `checkpoint.safetensors` (the model's `state_dict()` and the optimiser's
//! buffers, prefixed `optim.`) and `checkpoint.json` (configuration, hyper-parameters, epoch and
//! step counters, and the sha256 of the tensor file).
//!
//! Both files are written atomically (temporary file, then rename), tensors first. The JSON names
//! the sha256 of the tensor file it belongs to, so a torn pair (a crash between the two renames)
//! or a truncated/corrupted tensor file is detected on load with a clear error instead of loading
//! mismatched weights.

use crate::train::config::TrainConfig;
use crate::train::TrainHyper;
use anyhow::{bail, Context, Result};
use eigenformer_io::write_atomic;
use eigenformer_model::{ViT, ViTConfig};
use eigenformer_tensor::optim::OptimizerState;
use ndarray::{ArrayD, IxDyn};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// File name of the tensors.
pub const WEIGHTS_FILE: &str = "checkpoint.safetensors";
/// File name of the metadata.
pub const META_FILE: &str = "checkpoint.json";
/// Prefix of the optimiser buffers in the tensor file.
pub const OPTIM_PREFIX: &str = "optim.";
/// Version of the checkpoint layout.
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
}

fn f32_bytes(a: &ArrayD<f32>) -> Vec<u8> {
    a.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Whether `dir` holds a checkpoint metadata file.
pub fn exists(dir: &Path) -> bool {
    dir.join(META_FILE).is_file()
}

/// Write the checkpoint of `model` and `optimizer` into `dir` (atomically, tensors first).
/// `meta.optimizer_step` and `meta.weights_sha256` are filled in here.
pub fn save(
    dir: &Path,
    model: &ViT,
    optimizer: &OptimizerState,
    mut meta: CheckpointMeta,
) -> Result<()> {
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
    let bytes = safetensors::serialize(views, None).context("serialising the checkpoint")?;
    meta.format = FORMAT_VERSION;
    meta.optimizer_step = optimizer.step;
    meta.weights_sha256 = eigenformer_io::sha256_hex(&bytes);
    write_atomic(&dir.join(WEIGHTS_FILE), &bytes)?;
    write_atomic(
        &dir.join(META_FILE),
        serde_json::to_string_pretty(&meta)?.as_bytes(),
    )?;
    Ok(())
}

/// Read only `checkpoint.json` from `dir`.
pub fn load_meta(dir: &Path) -> Result<CheckpointMeta> {
    let path = dir.join(META_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the checkpoint metadata {}", path.display()))?;
    let meta: CheckpointMeta = serde_json::from_str(&text).with_context(|| {
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

/// Load the checkpoint in `dir`, verifying the tensor file against the metadata.
pub fn load(dir: &Path) -> Result<Checkpoint> {
    let meta = load_meta(dir)?;
    let path: PathBuf = dir.join(WEIGHTS_FILE);
    let bytes = std::fs::read(&path)
        .with_context(|| format!("reading the checkpoint tensors {}", path.display()))?;
    let sha = eigenformer_io::sha256_hex(&bytes);
    if sha != meta.weights_sha256 {
        bail!(
            "{}: the file does not match {META_FILE} (sha256 {sha}, expected {}); it is \
             truncated, corrupted or from another run",
            path.display(),
            meta.weights_sha256
        );
    }
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
    Ok(Checkpoint {
        optimizer: OptimizerState {
            step: meta.optimizer_step,
            buffers,
        },
        meta,
        model,
    })
}

//! Test-set evaluation: accuracy and (unsmoothed) cross-entropy, in evaluation mode without
//! gradients.

use anyhow::{Context, Result};
use eigenformer_data::{Dataset, DatasetKind, Loader};
use eigenformer_model::{Mode, ViT};
use eigenformer_tensor::{no_grad, Tensor};
use ndarray::{Axis, Ix2};
use serde::{Deserialize, Serialize};

/// What an evaluation measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EvalResult {
    /// Fraction of correctly classified images, in [0, 1].
    pub test_accuracy: f64,
    /// Mean cross-entropy (no label smoothing).
    pub test_loss: f64,
    /// Images evaluated.
    pub images: usize,
}

/// Evaluate `model` on `dataset` (normalised as `kind` prescribes) in batches of `batch_size`.
pub fn evaluate(
    model: &ViT,
    kind: DatasetKind,
    dataset: &Dataset,
    batch_size: usize,
) -> Result<EvalResult> {
    let loader = Loader::eval(dataset, kind, batch_size)?;
    let (mut correct, mut loss_sum, mut images) = (0usize, 0f64, 0usize);
    for (batch, labels) in loader.epoch(0) {
        let n = labels.len();
        let (loss, logits) = no_grad(|| -> Result<(f32, ndarray::ArrayD<f32>)> {
            let x = Tensor::from_array(batch.into_dyn());
            let logits = model.forward(&x, Mode::Eval)?;
            let loss = logits.cross_entropy(&labels, 0.0)?.item()?;
            Ok((loss, logits.to_array()))
        })
        .context("evaluation forward pass")?;
        let logits = logits
            .into_dimensionality::<Ix2>()
            .context("logits are not [B, classes]")?;
        for (row, &label) in logits.axis_iter(Axis(0)).zip(&labels) {
            let mut best = 0;
            for (j, v) in row.iter().enumerate() {
                if *v > row[best] {
                    best = j;
                }
            }
            correct += usize::from(best == label);
        }
        loss_sum += f64::from(loss) * n as f64;
        images += n;
    }
    let denom = images.max(1) as f64;
    Ok(EvalResult {
        test_accuracy: correct as f64 / denom,
        test_loss: loss_sum / denom,
        images,
    })
}

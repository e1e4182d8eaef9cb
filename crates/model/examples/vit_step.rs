//! Time forward + backward + AdamW steps of a ViT for each attention variant.
//!
//! `cargo run --release -p eigenformer-model --example vit_step -- [preset] [batch] [steps]`
//! (defaults: vit-cifar 32 3). Prints milliseconds per step for plain, featscale, attnscale and
//! spectral- in each form.

use eigenformer_model::{AttentionKind, Mode, SpectralForm, ViT, ViTConfig};
use eigenformer_tensor::optim::{decay_groups, AdamW, AdamWConfig, Optimizer};
use eigenformer_tensor::Tensor;
use ndarray::{ArrayD, IxDyn};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let preset = args.first().map(String::as_str).unwrap_or("vit-cifar");
    let batch: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(32);
    let steps: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(3);
    let base = ViTConfig::preset(preset)?;
    let variants = [
        (AttentionKind::Plain, SpectralForm::Lowrank),
        (AttentionKind::FeatScale, SpectralForm::Lowrank),
        (AttentionKind::AttnScale, SpectralForm::Lowrank),
        (AttentionKind::SpectralMinus, SpectralForm::Lowrank),
        (AttentionKind::SpectralMinus, SpectralForm::Symmetric),
        (AttentionKind::SpectralMinus, SpectralForm::General),
    ];
    let shape = [batch, base.channels, base.image_size, base.image_size];
    let images = Tensor::from_array(ArrayD::from_shape_fn(IxDyn(&shape), |i| {
        ((i[1] + 3 * i[2] + 7 * i[3] + 11 * i[0]) % 17) as f32 / 17.0 - 0.5
    }));
    let targets: Vec<usize> = (0..batch).map(|i| i % base.classes).collect();
    println!("{preset}, batch {batch}, {steps} steps (after one warm-up step)");
    for (kind, form) in variants {
        let mut config = base.clone();
        config.attention = kind;
        config.spectral.form = form;
        let model = ViT::new(config, 0)?;
        let mut opt = AdamW::new(
            decay_groups(&model.named_parameters(), 0.05),
            AdamWConfig::default(),
        )?;
        let mut step = |seed: u64| -> Result<f32, Box<dyn std::error::Error>> {
            opt.zero_grad();
            let loss = model
                .forward(&images, Mode::Train { seed })?
                .cross_entropy(&targets, 0.0)?;
            loss.backward()?;
            opt.step()?;
            Ok(loss.item()?)
        };
        step(0)?;
        let start = Instant::now();
        let mut loss = 0.0;
        for s in 0..steps {
            loss = step(s as u64 + 1)?;
        }
        let ms = start.elapsed().as_secs_f64() * 1e3 / steps as f64;
        println!(
            "{:>10} {:>9}: {ms:8.1} ms/step  (loss {loss:.3}, {} parameters)",
            kind.name(),
            if kind.is_spectral() { form.name() } else { "" },
            model.num_parameters()
        );
    }
    Ok(())
}

//! Data-parallel training through the gradient all-reduce (docs/scale-out.md): two workers, each
//! stepping on its half of every batch and averaging gradients with the in-process
//! `LocalAllReduce`, end with the weights of one worker trained on the whole batches.

use eigenformer_experiments::train::{TrainHyper, Trainer};
use eigenformer_model::{AttentionKind, ViT, ViTConfig};
use eigenformer_tensor::optim::{GradientAllReduce, LocalAllReduce};
use ndarray::{s, Array4};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const STEPS: usize = 4;

/// Every parameter's name and values.
type Weights = Vec<(String, Vec<f32>)>;
const BATCH: usize = 8;

mod train_support;

fn config(attention: AttentionKind) -> ViTConfig {
    train_support::tiny_vit(12, 2, 3, attention)
}

fn trainer(attention: AttentionKind) -> Trainer {
    let hyper = TrainHyper {
        lr: 1e-2,
        warmup_steps: 1,
        total_steps: STEPS,
        ..TrainHyper::default()
    };
    Trainer::new(ViT::new(config(attention), 5).unwrap(), hyper, 9).unwrap()
}

/// The batches of every step: images and labels.
fn batches() -> Vec<(Array4<f32>, Vec<usize>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    (0..STEPS)
        .map(|_| {
            let images =
                Array4::from_shape_simple_fn((BATCH, 1, 8, 8), || rng.gen_range(-1.0f32..1.0));
            let labels = (0..BATCH).map(|_| rng.gen_range(0..3)).collect();
            (images, labels)
        })
        .collect()
}

fn weights(t: &Trainer) -> Weights {
    t.model
        .named_parameters()
        .into_iter()
        .map(|(n, p)| (n, p.to_array().iter().copied().collect()))
        .collect()
}

/// Gradients below this are round-off (a key bias, to which softmax is invariant, has an exact
/// gradient of 0): AdamW divides each gradient by its own running magnitude, so such an entry
/// moves by about ±lr whatever its sign, and the sign of round-off depends on the summation
/// order. Those entries are left out of the comparison (and counted).
const ROUND_OFF_GRADIENT: f32 = 1e-5;

/// The largest difference over entries that `compared` keeps, and where.
fn max_difference(a: &Weights, b: &Weights, compared: &[Vec<bool>]) -> (f32, String) {
    let mut worst = (0.0f32, String::new());
    for (((name, x), (other, y)), keep) in a.iter().zip(b).zip(compared) {
        assert_eq!(name, other);
        for ((u, v), &k) in x.iter().zip(y).zip(keep) {
            let d = (u - v).abs();
            if k && d > worst.0 {
                worst = (d, name.clone());
            }
        }
    }
    worst
}

/// One worker on the whole batches: its weights, and per entry whether its gradient rose above
/// round-off at some step.
fn single(attention: AttentionKind) -> (Weights, Vec<Vec<bool>>) {
    let mut t = trainer(attention);
    let mut compared: Vec<Vec<bool>> = t
        .model
        .named_parameters()
        .iter()
        .map(|(_, p)| vec![false; p.to_array().len()])
        .collect();
    for (images, labels) in batches() {
        t.train_step(&images, &labels).unwrap();
        for ((_, p), keep) in t.model.named_parameters().iter().zip(&mut compared) {
            if let Some(g) = p.grad() {
                for (k, v) in keep.iter_mut().zip(g.iter()) {
                    *k |= v.abs() > ROUND_OFF_GRADIENT;
                }
            }
        }
    }
    (weights(&t), compared)
}

/// Two workers on the halves of each batch; `reduce = false` skips the all-reduce (the control
/// that shows the comparison can fail). Returns each worker's weights.
fn two_workers(attention: AttentionKind, reduce: bool) -> Vec<Weights> {
    let handles = LocalAllReduce::group(2);
    std::thread::scope(|scope| {
        let joins: Vec<_> = handles
            .into_iter()
            .map(|mut h| {
                scope.spawn(move || {
                    let rank = h.rank();
                    let half = BATCH / h.world_size();
                    let mut t = trainer(attention);
                    for (images, labels) in batches() {
                        let lo = rank * half;
                        let mine = images.slice(s![lo..lo + half, .., .., ..]).to_owned();
                        let reducer: Option<&mut dyn GradientAllReduce> =
                            if reduce { Some(&mut h) } else { None };
                        t.train_step_with(&mine, &labels[lo..lo + half], reducer)
                            .unwrap();
                    }
                    weights(&t)
                })
            })
            .collect();
        joins.into_iter().map(|j| j.join().unwrap()).collect()
    })
}

#[test]
fn two_workers_with_the_all_reduce_match_one_worker_on_the_union() {
    for attention in [AttentionKind::Plain, AttentionKind::SpectralMinus] {
        let (one, compared) = single(attention);
        let total: usize = compared.iter().map(Vec::len).sum();
        let kept: usize = compared.iter().flatten().filter(|&&k| k).count();
        assert!(
            kept * 5 >= total * 4,
            "{attention:?}: only {kept} of {total} entries have gradients above round-off"
        );
        let two = two_workers(attention, true);
        // The replicas agree bit for bit: the mean is summed in rank order on every rank.
        assert_eq!(two[0], two[1], "{attention:?}: the replicas diverged");
        let (d, name) = max_difference(&one, &two[0], &compared);
        assert!(
            d < 1e-5,
            "{attention:?}: {name} differs by {d} from one worker on the whole batch"
        );
    }
}

#[test]
fn without_the_all_reduce_the_workers_differ_from_one_worker() {
    let (one, compared) = single(AttentionKind::Plain);
    let two = two_workers(AttentionKind::Plain, false);
    let (d, _) = max_difference(&one, &two[0], &compared);
    assert!(d > 1e-4, "halves without averaging should not match ({d})");
}

//! Positions that are not a learned table: MPNet's absolute position ids counted from the
//! padding id and its T5-style relative position bias, the Llama family's rotary embedding
//! (RoPE), and the decoders' causal mask.
//!
//! MPNet follows transformers' `modeling_mpnet.py`: `compute_position_bias` is evaluated once per
//! input (from the encoder-level table `relative_attention_bias` `[buckets, heads]`) and the same
//! `[heads, n, n]` bias is added to the scores of every layer, before the softmax. RoPE follows
//! `modeling_llama.py` / `modeling_rope_utils.py` (the "rotate half" layout: channel i of a head
//! pairs with channel i + d_h/2).

use crate::hf::config::{RopeConfig, RopeScaling};
use crate::hf::error::HfError;
use eigenformer_tensor::Tensor;
use ndarray::{Array2, Array3, ArrayD, Ix2};

/// transformers calls `compute_position_bias` with its default `num_buckets=32`, whatever the
/// configuration says, so the table must have at least this many rows.
pub const MPNET_BUCKETS: usize = 32;

/// Relative distances at or above this share the last logarithmic bucket.
const MAX_DISTANCE: f32 = 128.0;

/// MPNet's hard-coded padding index: positions start at `PADDING_IDX + 1`.
pub const MPNET_PADDING_IDX: u32 = 1;

/// Position ids of `ids`: `cumsum(id ≠ pad)·(id ≠ pad) + pad`, so the first real token is at
/// `pad + 1` and padding tokens sit at `pad` without advancing the count.
pub fn mpnet_position_ids(ids: &[u32]) -> Vec<usize> {
    let pad = MPNET_PADDING_IDX as usize;
    let mut count = 0usize;
    ids.iter()
        .map(|&id| {
            if id == MPNET_PADDING_IDX {
                pad
            } else {
                count += 1;
                count + pad
            }
        })
        .collect()
}

/// The bucket of the relative position `memory − context` (T5's bidirectional scheme with 32
/// buckets, max distance 128): 16 buckets per direction, the first 8 exact, the next 8
/// logarithmic. Computed in f32 like PyTorch so the boundaries agree.
pub fn relative_bucket(relative: i64) -> usize {
    let half = MPNET_BUCKETS / 2;
    let n = -relative;
    let mut bucket = if n < 0 { half } else { 0 };
    let n = n.unsigned_abs() as usize;
    let max_exact = half / 2;
    if n < max_exact {
        bucket += n;
    } else {
        let scaled = (n as f32 / max_exact as f32).ln() / (MAX_DISTANCE / max_exact as f32).ln()
            * (half - max_exact) as f32;
        // `as` truncates toward zero like PyTorch's `.to(torch.long)`; the value is ≥ 0 here.
        let large = max_exact + scaled as usize;
        bucket += large.min(half - 1);
    }
    bucket
}

/// The `[heads, n, n]` bias for `n` tokens from `table` `[buckets, heads]`: entry `(h, i, j)` is
/// `table[bucket(j − i), h]` (query i, key j).
pub fn mpnet_position_bias(table: &Array2<f32>, n: usize) -> Array3<f32> {
    let heads = table.ncols();
    Array3::from_shape_fn((heads, n, n), |(h, i, j)| {
        table[[relative_bucket(j as i64 - i as i64), h]]
    })
}

/// The additive causal mask `[n, n]`: 0 where key j ≤ query i, −∞ above the diagonal. Added to
/// the scores before the softmax it gives exact zeros there (exp(−∞) = 0), so the attention is
/// exactly lower triangular, which the causal spectrum (read off the diagonal) relies on.
pub fn causal_mask(n: usize) -> Array2<f32> {
    Array2::from_shape_fn((n, n), |(i, j)| if j > i { f32::NEG_INFINITY } else { 0.0 })
}

/// RoPE's inverse frequencies `θ^(−2i/d_h)`, `i < d_h/2`, with the configured rescaling.
///
/// Computed as transformers does, in f32 (`base ** (arange(0, d, 2) / d)`), so the angles of our
/// f32 forward agree with the reference to the last bit where possible.
pub fn rope_inverse_frequencies(rope: &RopeConfig, head_dim: usize) -> Vec<f32> {
    let half = head_dim / 2;
    let base = rope.theta as f32;
    let default: Vec<f32> = (0..half)
        .map(|i| 1.0 / base.powf((2 * i) as f32 / head_dim as f32))
        .collect();
    match rope.scaling {
        RopeScaling::None => default,
        RopeScaling::Linear { factor } => default.iter().map(|f| f / factor as f32).collect(),
        RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max,
        } => {
            let low_wavelen = original_max / low_freq_factor;
            let high_wavelen = original_max / high_freq_factor;
            default
                .iter()
                .map(|&f| {
                    let inv = f64::from(f);
                    let wavelen = 2.0 * std::f64::consts::PI / inv;
                    let scaled = if wavelen > low_wavelen {
                        inv / factor
                    } else {
                        inv
                    };
                    // Wavelengths are finite (inv > 0), so the negations of `<` and `>` are `>=` and `<=`.
                    let medium = wavelen >= high_wavelen && wavelen <= low_wavelen;
                    if medium {
                        let smooth = (original_max / wavelen - low_freq_factor)
                            / (high_freq_factor - low_freq_factor);
                        ((1.0 - smooth) * scaled / factor + smooth * scaled) as f32
                    } else {
                        scaled as f32
                    }
                })
                .collect()
        }
    }
}

/// RoPE's cos/sin for positions `0..n`, `[n, d_h/2]` each.
#[derive(Debug, Clone)]
pub struct RopeTables {
    cos: Array2<f32>,
    sin: Array2<f32>,
    head_dim: usize,
}

impl RopeTables {
    /// The tables of `rope` for heads of width `head_dim` (even) and `n` positions.
    pub fn new(rope: &RopeConfig, head_dim: usize, n: usize) -> RopeTables {
        let inv = rope_inverse_frequencies(rope, head_dim);
        // The angle is rounded to f32 like transformers' f32 `inv_freq @ position_ids`.
        let angle = Array2::from_shape_fn((n, inv.len()), |(p, i)| f64::from(p as f32 * inv[i]));
        RopeTables {
            cos: angle.mapv(|a| a.cos() as f32),
            sin: angle.mapv(|a| a.sin() as f32),
            head_dim,
        }
    }

    /// Rotate `x` `[n, heads·d_h]` (queries or keys, heads concatenated): in every head,
    /// channel pair (i, i + d_h/2) of token p turns by the angle `p·inv_freq_i`:
    /// `(x₁, x₂) ↦ (x₁ cos − x₂ sin, x₂ cos + x₁ sin)`, i.e. `x·cos + rotate_half(x)·sin`.
    pub fn apply(&self, x: &Tensor, heads: usize) -> Result<Tensor, HfError> {
        let (dh, half) = (self.head_dim, self.head_dim / 2);
        let a = x
            .to_array()
            .into_dimensionality::<Ix2>()
            .map_err(|e| HfError::Input(format!("internal: RoPE input is not a matrix: {e}")))?;
        if a.ncols() != heads * dh || a.nrows() > self.cos.nrows() {
            return Err(HfError::Input(format!(
                "internal: RoPE input {:?} does not fit {heads} heads of {dh} and {} positions",
                a.shape(),
                self.cos.nrows()
            )));
        }
        let mut out = a.clone();
        for (p, (row, mut orow)) in a.outer_iter().zip(out.outer_iter_mut()).enumerate() {
            for h in 0..heads {
                for i in 0..half {
                    let (c, s) = (self.cos[[p, i]], self.sin[[p, i]]);
                    let (x1, x2) = (row[h * dh + i], row[h * dh + half + i]);
                    orow[h * dh + i] = x1 * c - x2 * s;
                    orow[h * dh + half + i] = x2 * c + x1 * s;
                }
            }
        }
        Ok(Tensor::from_array(ArrayD::from(out.into_dyn())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causal_mask_is_lower_triangular() {
        let m = causal_mask(3);
        assert_eq!(m[[0, 0]], 0.0);
        assert_eq!(m[[2, 1]], 0.0);
        assert!(m[[0, 1]].is_infinite() && m[[1, 2]] < 0.0);
    }

    #[test]
    fn rope_rotates_pairs_and_keeps_norms() {
        let rope = RopeConfig {
            theta: 10_000.0,
            scaling: RopeScaling::None,
        };
        let t = RopeTables::new(&rope, 4, 3);
        // inv_freq = [1, 1/100]: position 1 turns the first pair by 1 rad.
        let x = Tensor::from_array(
            Array2::from_shape_vec(
                (3, 4),
                vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0],
            )
            .unwrap()
            .into_dyn(),
        );
        let y = t.apply(&x, 1).unwrap().to_array();
        assert_eq!(y[[0, 0]], 1.0, "position 0 is not rotated");
        assert!((y[[1, 0]] - 1f32.cos()).abs() < 1e-6);
        assert!((y[[1, 2]] - 1f32.sin()).abs() < 1e-6);
        let norm = |r: usize| (0..4).map(|j| y[[r, j]] * y[[r, j]]).sum::<f32>();
        assert!((norm(2) - 30.0).abs() < 1e-4);
    }

    #[test]
    fn llama3_scaling_keeps_high_and_divides_low_frequencies() {
        let plain = RopeConfig {
            theta: 500_000.0,
            scaling: RopeScaling::None,
        };
        let scaled = RopeConfig {
            scaling: RopeScaling::Llama3 {
                factor: 8.0,
                low_freq_factor: 1.0,
                high_freq_factor: 4.0,
                original_max: 8192.0,
            },
            ..plain
        };
        let (a, b) = (
            rope_inverse_frequencies(&plain, 64),
            rope_inverse_frequencies(&scaled, 64),
        );
        assert_eq!(a[0], b[0], "the highest frequency is kept");
        assert!(
            (a[31] / b[31] - 8.0).abs() < 1e-4,
            "the lowest is divided by the factor"
        );
        assert!(b.windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn buckets_match_t5_scheme() {
        // Keys after the query (memory > context) get n < 0: the upper half.
        assert_eq!(relative_bucket(0), 0);
        assert_eq!(relative_bucket(-1), 1);
        assert_eq!(relative_bucket(1), 17);
        assert_eq!(relative_bucket(-7), 7);
        assert_eq!(relative_bucket(-8), 8);
        assert_eq!(relative_bucket(-16), 10);
        assert_eq!(relative_bucket(-127), 15);
        assert_eq!(relative_bucket(-100_000), 15);
        assert_eq!(relative_bucket(100_000), 31);
    }

    #[test]
    fn positions_skip_padding() {
        assert_eq!(mpnet_position_ids(&[0, 5, 1, 7]), vec![2, 3, 1, 4]);
    }
}

//! MPNet's positions: absolute position ids counted from the padding id, and the T5-style
//! relative position bias added to every layer's attention scores.
//!
//! Follows transformers' `modeling_mpnet.py`: `compute_position_bias` is evaluated once per
//! input (from the encoder-level table `relative_attention_bias` `[buckets, heads]`) and the same
//! `[heads, n, n]` bias is added to the scores of every layer, before the softmax.

use ndarray::{Array2, Array3};

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

#[cfg(test)]
mod tests {
    use super::*;

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

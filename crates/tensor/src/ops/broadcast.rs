//! NumPy-style broadcasting: the shape two operands broadcast to, and the reduction of a gradient
//! back to the shape of an operand that was broadcast.

use crate::error::{Result, TensorError};
use ndarray::{Array1, ArrayD, ArrayViewD, Axis, IxDyn};
use rayon::prelude::*;

/// The broadcast shape of `a` and `b` (trailing dimensions aligned; 1 stretches).
pub fn broadcast_shape(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(TensorError::ShapeMismatch {
                    op,
                    lhs: a.to_vec(),
                    rhs: b.to_vec(),
                    reason: format!("dimension {i} differs ({da} vs {db}) and neither is 1"),
                })
            }
        };
    }
    Ok(out)
}

/// Sum `grad` (of the broadcast shape) down to `shape`: over leading axes that `shape` lacks and
/// over axes where `shape` has 1.
pub fn sum_to_shape(grad: &ArrayD<f32>, shape: &[usize]) -> ArrayD<f32> {
    if grad.shape() == shape {
        return grad.clone();
    }
    let extra = grad.ndim() - shape.len();
    if grad.shape()[extra..] == *shape && grad.is_standard_layout() {
        return sum_leading_rows(grad.view(), shape);
    }
    let mut g = grad.clone();
    for _ in 0..extra {
        g = g.sum_axis(Axis(0));
    }
    for (axis, &d) in shape.iter().enumerate() {
        if d == 1 && g.shape()[axis] != 1 {
            g = g.sum_axis(Axis(axis)).insert_axis(Axis(axis));
        }
    }
    g.into_shape_with_order(IxDyn(shape))
        .expect("sum_to_shape keeps the element count")
}

/// The common case of a bias broadcast over rows (`[.., d]` summed to `[d]`): the gradient viewed
/// as `[rows, d]`, row blocks summed in parallel and the partial sums added.
pub(crate) fn sum_leading_rows(grad: ArrayViewD<'_, f32>, shape: &[usize]) -> ArrayD<f32> {
    let cols: usize = shape.iter().product();
    let rows = grad.len().checked_div(cols).unwrap_or(0);
    let g2 = grad
        .into_shape_with_order((rows, cols))
        .expect("standard layout");
    let block = rows.div_ceil(4 * rayon::current_num_threads()).max(64);
    let total = g2
        .axis_chunks_iter(Axis(0), block)
        .into_par_iter()
        .map(|chunk| chunk.sum_axis(Axis(0)))
        .reduce_with(|a, b| a + b)
        .unwrap_or_else(|| Array1::zeros(cols));
    total
        .into_shape_with_order(IxDyn(shape))
        .expect("element count")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_broadcast_like_numpy() {
        assert_eq!(broadcast_shape("t", &[2, 3], &[3]).unwrap(), vec![2, 3]);
        assert_eq!(
            broadcast_shape("t", &[4, 1, 3], &[5, 1]).unwrap(),
            vec![4, 5, 3]
        );
        assert!(broadcast_shape("t", &[2, 3], &[2]).is_err());
    }

    #[test]
    fn gradient_sums_over_broadcast_axes() {
        let g = ArrayD::from_elem(IxDyn(&[2, 3, 4]), 1.0f32);
        let s = sum_to_shape(&g, &[3, 1]);
        assert_eq!(s.shape(), &[3, 1]);
        assert!(s.iter().all(|&v| v == 8.0));
    }
}

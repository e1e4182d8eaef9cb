//! Shape ops: reshape, permute, transpose, concat, slice, gather (embedding lookup) and patchify.

use crate::error::{Result, TensorError};
use crate::tensor::{SharedArray, Tensor};
use ndarray::{ArrayD, Axis, IxDyn, Slice};

fn standard(a: ArrayD<f32>) -> ArrayD<f32> {
    if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned()
    }
}

impl Tensor {
    /// The same elements in row-major order with a new shape.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        let old = self.shape();
        let n: usize = shape.iter().product();
        if n != self.len() {
            return Err(TensorError::ShapeMismatch {
                op: "reshape",
                lhs: old,
                rhs: shape.to_vec(),
                reason: "element counts differ".into(),
            });
        }
        // Shares the buffer when the data is in standard layout (always, for op results).
        let out = self
            .shared_standard()
            .into_shape_with_order(IxDyn(shape))
            .map_err(|e| TensorError::InvalidShape {
                op: "reshape",
                shape: shape.to_vec(),
                reason: e.to_string(),
            })?;
        Ok(Tensor::from_op(
            out,
            "reshape",
            vec![self.clone()],
            move |g, _| {
                let g = standard(g.clone())
                    .into_shape_with_order(IxDyn(&old))
                    .map_err(|e| TensorError::Autodiff(format!("reshape backward: {e}")))?;
                Ok(vec![Some(g)])
            },
        ))
    }

    /// Reorder the axes: output axis i is input axis `perm[i]`.
    pub fn permute(&self, perm: &[usize]) -> Result<Tensor> {
        let shape = self.shape();
        let mut seen = perm.to_vec();
        seen.sort_unstable();
        if perm.len() != shape.len() || seen.iter().enumerate().any(|(i, &p)| i != p) {
            return Err(TensorError::InvalidArgument {
                op: "permute",
                reason: format!("{perm:?} is not a permutation of the axes of shape {shape:?}"),
            });
        }
        let out = self.read().view().permuted_axes(IxDyn(perm)).to_owned();
        let mut inverse = vec![0; perm.len()];
        for (i, &p) in perm.iter().enumerate() {
            inverse[p] = i;
        }
        Ok(Tensor::from_op(
            out,
            "permute",
            vec![self.clone()],
            move |g, _| {
                Ok(vec![Some(standard(
                    g.clone().permuted_axes(IxDyn(&inverse)),
                ))])
            },
        ))
    }

    /// Swap two axes.
    pub fn transpose(&self, a: usize, b: usize) -> Result<Tensor> {
        let n = self.ndim();
        if a >= n || b >= n {
            return Err(TensorError::InvalidArgument {
                op: "transpose",
                reason: format!("axes ({a}, {b}) out of range for rank {n}"),
            });
        }
        let mut perm: Vec<usize> = (0..n).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Concatenate along `axis`; all other dimensions must agree.
    pub fn concat(tensors: &[Tensor], axis: usize) -> Result<Tensor> {
        let first = tensors
            .first()
            .ok_or_else(|| TensorError::InvalidArgument {
                op: "concat",
                reason: "no tensors given".into(),
            })?;
        let shape0 = first.shape();
        if axis >= shape0.len() {
            return Err(TensorError::InvalidShape {
                op: "concat",
                shape: shape0,
                reason: format!("axis {axis} out of range"),
            });
        }
        let mut sizes = Vec::with_capacity(tensors.len());
        for t in tensors {
            let s = t.shape();
            let compatible = s.len() == shape0.len()
                && s.iter()
                    .zip(&shape0)
                    .enumerate()
                    .all(|(i, (x, y))| i == axis || x == y);
            if !compatible {
                return Err(TensorError::ShapeMismatch {
                    op: "concat",
                    lhs: shape0,
                    rhs: s,
                    reason: format!("all dimensions but axis {axis} must agree"),
                });
            }
            sizes.push(s[axis]);
        }
        let arrays: Vec<SharedArray> = tensors.iter().map(|t| t.shared()).collect();
        let views: Vec<_> = arrays.iter().map(|a| a.view()).collect();
        let out =
            ndarray::concatenate(Axis(axis), &views).map_err(|e| TensorError::InvalidArgument {
                op: "concat",
                reason: e.to_string(),
            })?;
        Ok(Tensor::from_op(
            standard(out),
            "concat",
            tensors.to_vec(),
            move |g, needs| {
                let mut start = 0;
                let mut grads = Vec::with_capacity(sizes.len());
                for (&size, &need) in sizes.iter().zip(needs) {
                    let part = need.then(|| {
                        g.slice_axis(Axis(axis), Slice::from(start..start + size))
                            .to_owned()
                    });
                    grads.push(part);
                    start += size;
                }
                Ok(grads)
            },
        ))
    }

    /// The elements `start..end` along `axis`.
    pub fn slice(&self, axis: usize, start: usize, end: usize) -> Result<Tensor> {
        let shape = self.shape();
        if axis >= shape.len() || start > end || end > shape[axis] {
            return Err(TensorError::InvalidShape {
                op: "slice",
                shape,
                reason: format!("cannot take {start}..{end} along axis {axis}"),
            });
        }
        let out = self
            .read()
            .slice_axis(Axis(axis), Slice::from(start..end))
            .as_standard_layout()
            .into_owned();
        Ok(Tensor::from_op(
            out,
            "slice",
            vec![self.clone()],
            move |g, _| {
                let mut grad = ArrayD::<f32>::zeros(IxDyn(&shape));
                grad.slice_axis_mut(Axis(axis), Slice::from(start..end))
                    .assign(g);
                Ok(vec![Some(grad)])
            },
        ))
    }

    /// Embedding lookup: rows of this `[vocab, dim]` table at `ids`, shaped `[ids.len(), dim]`
    /// (reshape afterwards for batches). The gradient scatters back into the table.
    pub fn gather_rows(&self, ids: &[usize]) -> Result<Tensor> {
        let shape = self.shape();
        if shape.len() != 2 {
            return Err(TensorError::InvalidShape {
                op: "gather_rows",
                shape,
                reason: "the table must be 2-D [vocab, dim]".into(),
            });
        }
        let (vocab, dim) = (shape[0], shape[1]);
        if let Some(&bad) = ids.iter().find(|&&i| i >= vocab) {
            return Err(TensorError::InvalidArgument {
                op: "gather_rows",
                reason: format!("index {bad} is out of range for a table of {vocab} rows"),
            });
        }
        let table = self.read();
        let mut out = ArrayD::<f32>::zeros(IxDyn(&[ids.len(), dim]));
        for (row, &id) in ids.iter().enumerate() {
            out.index_axis_mut(Axis(0), row)
                .assign(&table.index_axis(Axis(0), id));
        }
        drop(table);
        let ids = ids.to_vec();
        Ok(Tensor::from_op(
            out,
            "gather_rows",
            vec![self.clone()],
            move |g, _| {
                let mut grad = ArrayD::<f32>::zeros(IxDyn(&[vocab, dim]));
                for (row, &id) in ids.iter().enumerate() {
                    let mut dst = grad.index_axis_mut(Axis(0), id);
                    dst += &g.index_axis(Axis(0), row);
                }
                Ok(vec![Some(grad)])
            },
        ))
    }

    /// Image batch `[B, C, H, W]` to patch rows `[B, (H/p)·(W/p), C·p·p]`, patches in row-major
    /// order and each row ordered (channel, dy, dx) like a stride-p convolution's weight.
    pub fn patchify(&self, patch: usize) -> Result<Tensor> {
        let shape = self.shape();
        if shape.len() != 4
            || patch == 0
            || !shape[2].is_multiple_of(patch)
            || !shape[3].is_multiple_of(patch)
        {
            return Err(TensorError::InvalidShape {
                op: "patchify",
                shape,
                reason: format!(
                    "need [B, C, H, W] with H and W divisible by the patch size {patch}"
                ),
            });
        }
        let (b, c, h, w) = (shape[0], shape[1], shape[2], shape[3]);
        let (gh, gw) = (h / patch, w / patch);
        // [B, C, gh, p, gw, p] -> [B, gh, gw, C, p, p]
        let x = self
            .shared_standard()
            .into_shape_with_order(IxDyn(&[b, c, gh, patch, gw, patch]))
            .map_err(|e| TensorError::Autodiff(e.to_string()))?;
        let out = x
            .permuted_axes(IxDyn(&[0, 2, 4, 1, 3, 5]))
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order(IxDyn(&[b, gh * gw, c * patch * patch]))
            .map_err(|e| TensorError::Autodiff(e.to_string()))?;
        Ok(Tensor::from_op(
            out,
            "patchify",
            vec![self.clone()],
            move |g, _| {
                let g6 = standard(g.clone())
                    .into_shape_with_order(IxDyn(&[b, gh, gw, c, patch, patch]))
                    .map_err(|e| TensorError::Autodiff(e.to_string()))?;
                // inverse of (0, 2, 4, 1, 3, 5) is (0, 3, 1, 4, 2, 5)
                let back = standard(g6.permuted_axes(IxDyn(&[0, 3, 1, 4, 2, 5])))
                    .into_shape_with_order(IxDyn(&[b, c, h, w]))
                    .map_err(|e| TensorError::Autodiff(e.to_string()))?;
                Ok(vec![Some(back)])
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patchify_orders_patches_row_major() {
        // One 1-channel 4x4 image with values 0..16 and patch 2.
        let x = Tensor::from_vec((0..16).map(|v| v as f32).collect(), &[1, 1, 4, 4]).unwrap();
        let p = x.patchify(2).unwrap();
        assert_eq!(p.shape(), vec![1, 4, 4]);
        assert_eq!(p.to_vec()[..8], [0.0, 1.0, 4.0, 5.0, 2.0, 3.0, 6.0, 7.0]);
        assert!(x.patchify(3).is_err());
    }

    #[test]
    fn gather_rejects_out_of_range_ids() {
        let table = Tensor::zeros(&[3, 2]);
        assert!(table.gather_rows(&[0, 3]).is_err());
        assert_eq!(table.gather_rows(&[2, 0, 2]).unwrap().shape(), vec![3, 2]);
    }
}

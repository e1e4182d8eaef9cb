//! Reductions: sum, mean and max over axes or over everything.

use crate::error::{Result, TensorError};
use crate::tensor::Tensor;
use ndarray::{ArrayD, Axis, Dimension, IxDyn};

fn check_axes(op: &'static str, shape: &[usize], axes: &[usize]) -> Result<Vec<usize>> {
    let mut sorted = axes.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != axes.len() || sorted.iter().any(|&a| a >= shape.len()) {
        return Err(TensorError::InvalidShape {
            op,
            shape: shape.to_vec(),
            reason: format!(
                "axes {axes:?} must be distinct and below the rank {}",
                shape.len()
            ),
        });
    }
    Ok(sorted)
}

/// The shape with the reduced axes set to 1.
fn kept_shape(shape: &[usize], axes: &[usize]) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
        .collect()
}

fn reduced_shape(shape: &[usize], axes: &[usize]) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .filter(|(i, _)| !axes.contains(i))
        .map(|(_, &d)| d)
        .collect()
}

impl Tensor {
    /// Sum of all elements (rank 0).
    pub fn sum_all(&self) -> Tensor {
        let shape = self.shape();
        let total = self.read().sum();
        let out = ArrayD::from_elem(IxDyn(&[]), total);
        Tensor::from_op(out, "sum_all", vec![self.clone()], move |g, _| {
            let v = g.iter().copied().next().unwrap_or(0.0);
            Ok(vec![Some(ArrayD::from_elem(IxDyn(&shape), v))])
        })
    }

    /// Mean of all elements (rank 0).
    pub fn mean_all(&self) -> Tensor {
        let n = self.len().max(1) as f32;
        self.sum_all().mul_scalar(1.0 / n)
    }

    /// Sum over `axes`; `keepdim` keeps them as size 1.
    pub fn sum_axes(&self, axes: &[usize], keepdim: bool) -> Result<Tensor> {
        let shape = self.shape();
        let axes = check_axes("sum_axes", &shape, axes)?;
        let x = self.shared();
        let mut out: Option<ArrayD<f32>> = None;
        for &a in axes.iter().rev() {
            out = Some(match out {
                None => x.sum_axis(Axis(a)),
                Some(o) => o.sum_axis(Axis(a)),
            });
        }
        let out = out.unwrap_or_else(|| x.to_owned());
        let kept = kept_shape(&shape, &axes);
        let final_shape = if keepdim {
            kept.clone()
        } else {
            reduced_shape(&shape, &axes)
        };
        let out = out
            .into_shape_with_order(IxDyn(&final_shape))
            .expect("element count is preserved");
        Ok(Tensor::from_op(
            out,
            "sum_axes",
            vec![self.clone()],
            move |g, _| {
                let g = g
                    .view()
                    .into_shape_with_order(IxDyn(&kept))
                    .map_err(|e| TensorError::Autodiff(format!("sum_axes backward: {e}")))?;
                let full = g
                    .broadcast(IxDyn(&shape))
                    .ok_or_else(|| TensorError::Autodiff("sum_axes backward broadcast".into()))?
                    .to_owned();
                Ok(vec![Some(full)])
            },
        ))
    }

    /// Mean over `axes`; `keepdim` keeps them as size 1.
    pub fn mean_axes(&self, axes: &[usize], keepdim: bool) -> Result<Tensor> {
        let shape = self.shape();
        let count: usize = axes.iter().filter_map(|&a| shape.get(a)).product();
        Ok(self
            .sum_axes(axes, keepdim)?
            .mul_scalar(1.0 / count.max(1) as f32))
    }

    /// Maximum over one axis; the gradient flows to the (first) arg-max.
    pub fn max_axis(&self, axis: usize, keepdim: bool) -> Result<Tensor> {
        let shape = self.shape();
        check_axes("max_axis", &shape, &[axis])?;
        if shape[axis] == 0 {
            return Err(TensorError::InvalidShape {
                op: "max_axis",
                shape,
                reason: format!("axis {axis} is empty"),
            });
        }
        let x = self.shared();
        let argmax: ArrayD<usize> = x.map_axis(Axis(axis), |lane| {
            let mut best = 0;
            for (i, &v) in lane.iter().enumerate() {
                if v > lane[best] || (lane[best].is_nan() && !v.is_nan()) {
                    best = i;
                }
            }
            best
        });
        let mut out = x.map_axis(Axis(axis), |lane| {
            lane.fold(f32::NEG_INFINITY, |m, &v| m.max(v))
        });
        if keepdim {
            out = out.insert_axis(Axis(axis));
        }
        Ok(Tensor::from_op(
            out,
            "max_axis",
            vec![self.clone()],
            move |g, _| {
                let mut grad = ArrayD::<f32>::zeros(IxDyn(&shape));
                let g = if keepdim {
                    g.index_axis(Axis(axis), 0).to_owned()
                } else {
                    g.clone()
                };
                for (idx, &am) in argmax.indexed_iter() {
                    let mut full: Vec<usize> = idx.slice().to_vec();
                    full.insert(axis, am);
                    grad[IxDyn(&full)] = g[&idx];
                }
                Ok(vec![Some(grad)])
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn sums_and_means() {
        let a = Tensor::from_array(array![[1.0f32, 2.0], [3.0, 4.0]].into_dyn());
        assert_eq!(a.sum_all().item().unwrap(), 10.0);
        assert_eq!(a.sum_axes(&[0], false).unwrap().to_vec(), vec![4.0, 6.0]);
        assert_eq!(a.mean_axes(&[1], true).unwrap().shape(), vec![2, 1]);
        assert_eq!(a.max_axis(1, false).unwrap().to_vec(), vec![2.0, 4.0]);
        assert!(a.sum_axes(&[2], false).is_err());
    }
}

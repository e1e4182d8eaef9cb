//! Matrix products through faer (see `kernels::gemm`): 2-D, "linear layer" N-D·2-D, and batched
//! N-D·N-D with equal batch dimensions; either operand may be transposed (its last two axes).

use crate::error::{Result, TensorError};
use crate::kernels::gemm;
use crate::tensor::Tensor;
use ndarray::{ArrayD, ArrayView2, ArrayView3, ArrayViewD, Ix2, IxDyn};

/// How the operands' leading (batch) dimensions combine.
#[derive(Clone, Copy)]
enum Layout {
    /// `[.., m, k] · [k, n]`: the left batch dims flatten into rows (a linear layer).
    Rows,
    /// `[b.., m, k] · [b.., k, n]`: one product per batch item.
    Batched,
}

fn view3<'a>(a: &'a ArrayViewD<'_, f32>) -> ArrayView3<'a, f32> {
    let s = a.shape();
    let (r, c) = (s[s.len() - 2], s[s.len() - 1]);
    let batch = a.len() / (r * c).max(1);
    let batch = if r * c == 0 {
        s[..s.len() - 2].iter().product()
    } else {
        batch
    };
    a.view()
        .into_shape_with_order((batch, r, c))
        .expect("standard layout reshapes")
}

fn view2_rows<'a>(a: &'a ArrayViewD<'_, f32>, trans: bool) -> ArrayView2<'a, f32> {
    if trans || a.ndim() == 2 {
        return a.view().into_dimensionality::<Ix2>().expect("2-D operand");
    }
    let k = a.shape()[a.ndim() - 1];
    let rows = a.shape()[..a.ndim() - 1].iter().product();
    a.view()
        .into_shape_with_order((rows, k))
        .expect("standard layout reshapes")
}

/// `op(a)·op(b)` for the given layout and flags; shapes already validated.
fn product(
    layout: Layout,
    a: &ArrayViewD<'_, f32>,
    b: &ArrayViewD<'_, f32>,
    ta: bool,
    tb: bool,
    out_shape: &[usize],
) -> ArrayD<f32> {
    match layout {
        Layout::Rows => {
            let c = gemm::matmul(
                view2_rows(a, ta),
                b.view().into_dimensionality::<Ix2>().expect("2-D"),
                ta,
                tb,
            );
            c.into_dyn()
                .into_shape_with_order(IxDyn(out_shape))
                .expect("element count")
        }
        Layout::Batched => {
            let c = gemm::batched_matmul(view3(a), view3(b), ta, tb);
            c.into_dyn()
                .into_shape_with_order(IxDyn(out_shape))
                .expect("element count")
        }
    }
}

impl Tensor {
    /// `self · other` (no transposes). See [`Tensor::matmul_t`].
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        self.matmul_t(other, false, false)
    }

    /// `op(self) · op(other)` where `op` transposes the last two axes when its flag is set.
    ///
    /// Accepted shapes: `[m, k]·[k, n]`; `[.., m, k]·[k, n]` (a linear layer: the leading axes of the
    /// left operand are rows; `trans_a` must be false); `[b.., m, k]·[b.., k, n]` with equal batch
    /// axes (one product per batch item).
    pub fn matmul_t(&self, other: &Tensor, trans_a: bool, trans_b: bool) -> Result<Tensor> {
        let (sa, sb) = (self.shape(), other.shape());
        let mismatch = |reason: String| TensorError::ShapeMismatch {
            op: "matmul",
            lhs: sa.clone(),
            rhs: sb.clone(),
            reason,
        };
        if sa.len() < 2 || sb.len() < 2 {
            return Err(mismatch("both operands need at least 2 dimensions".into()));
        }
        let layout = if sb.len() == 2 && (sa.len() == 2 || !trans_a) {
            Layout::Rows
        } else if sa.len() == sb.len() && sa[..sa.len() - 2] == sb[..sb.len() - 2] {
            Layout::Batched
        } else {
            return Err(mismatch(
                "batch dimensions must be equal, or the right operand 2-D".into(),
            ));
        };
        let (ra, ca) = (sa[sa.len() - 2], sa[sa.len() - 1]);
        let (rb, cb) = (sb[sb.len() - 2], sb[sb.len() - 1]);
        let (m, k) = if trans_a { (ca, ra) } else { (ra, ca) };
        let (k2, n) = if trans_b { (cb, rb) } else { (rb, cb) };
        if k != k2 {
            return Err(mismatch(format!(
                "inner dimensions differ: {m}×{k} · {k2}×{n} (trans_a={trans_a}, trans_b={trans_b})"
            )));
        }
        let mut out_shape = sa[..sa.len() - 2].to_vec();
        out_shape.extend([m, n]);
        let a = self.shared_standard();
        let b = other.shared_standard();
        let out = product(layout, &a.view(), &b.view(), trans_a, trans_b, &out_shape);
        let backward = move |g: &ArrayD<f32>, needs: &[bool]| {
            let g = g.as_standard_layout();
            let g = g.view();
            let (a, b) = (a.view(), b.view());
            // d op(A) = dC·op(B)ᵀ and d op(B) = op(A)ᵀ·dC, then undo each op.
            let ga = needs[0].then(|| {
                if trans_a {
                    product(layout, &b, &g, trans_b, true, &sa)
                } else {
                    product(layout, &g, &b, false, !trans_b, &sa)
                }
            });
            let gb = needs[1].then(|| match layout {
                Layout::Rows => {
                    let a2 = view2_rows(&a, trans_a);
                    let g2 = view2_rows(&g, false);
                    let r = if trans_b {
                        gemm::matmul(g2, a2, true, trans_a)
                    } else {
                        gemm::matmul(a2, g2, !trans_a, false)
                    };
                    r.into_dyn()
                }
                Layout::Batched => {
                    let r = if trans_b {
                        gemm::batched_matmul(view3(&g), view3(&a), true, trans_a)
                    } else {
                        gemm::batched_matmul(view3(&a), view3(&g), !trans_a, false)
                    };
                    r.into_dyn()
                        .into_shape_with_order(IxDyn(&sb))
                        .expect("element count")
                }
            });
            Ok(vec![ga, gb])
        };
        Ok(Tensor::from_op(
            out,
            "matmul",
            vec![self.clone(), other.clone()],
            backward,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn small_products_are_exact() {
        let a = Tensor::from_array(array![[1.0f32, 2.0], [3.0, 4.0]].into_dyn());
        let b = Tensor::from_array(array![[5.0f32, 6.0], [7.0, 8.0]].into_dyn());
        assert_eq!(a.matmul(&b).unwrap().to_vec(), vec![19.0, 22.0, 43.0, 50.0]);
        assert_eq!(
            a.matmul_t(&b, true, false).unwrap().to_vec(),
            vec![26.0, 30.0, 38.0, 44.0]
        );
        assert_eq!(
            a.matmul_t(&b, false, true).unwrap().to_vec(),
            vec![17.0, 23.0, 39.0, 53.0]
        );
    }

    #[test]
    fn mismatched_inner_dimensions_name_the_shapes() {
        let a = Tensor::zeros(&[2, 3]);
        let b = Tensor::zeros(&[2, 3]);
        let err = a.matmul(&b).unwrap_err().to_string();
        assert!(err.contains("matmul") && err.contains("[2, 3]"), "{err}");
    }
}

//! Elementwise ops: binary arithmetic with broadcasting, scalar arithmetic and unary functions.
//! Large arrays are processed in parallel with rayon through ndarray's `Zip`.

use super::broadcast::{broadcast_shape, sum_to_shape};
use crate::error::Result;
use crate::tensor::Tensor;
use ndarray::{ArrayD, ArrayViewD, IxDyn, Zip};
use rayon::prelude::*;

/// Below this many elements the rayon fork/join costs more than it saves.
const PARALLEL_THRESHOLD: usize = 1 << 15;

/// Elements per rayon task on the contiguous paths.
const CHUNK: usize = 1 << 14;

/// `f` applied to every element.
pub(crate) fn map(a: ArrayViewD<'_, f32>, f: impl Fn(f32) -> f32 + Sync + Send) -> ArrayD<f32> {
    if let (Some(xs), true) = (a.as_slice(), a.len() >= PARALLEL_THRESHOLD) {
        // Contiguous: loops over slices, which LLVM vectorises (ndarray's `Zip` closures do not).
        let mut out = ArrayD::<f32>::uninit(a.raw_dim());
        let os = out.as_slice_mut().expect("fresh array is contiguous");
        os.par_chunks_mut(CHUNK)
            .zip(xs.par_chunks(CHUNK))
            .for_each(|(o, i)| {
                o.iter_mut().zip(i).for_each(|(o, &x)| {
                    o.write(f(x));
                })
            });
        // SAFETY: the chunks cover the whole output and every element was written.
        return unsafe { out.assume_init() };
    }
    if a.len() >= PARALLEL_THRESHOLD {
        Zip::from(a).par_map_collect(|&x| f(x))
    } else {
        a.mapv(f)
    }
}

/// `f` applied elementwise to `a` and `b` broadcast to `shape`.
pub(crate) fn zip_map(
    a: ArrayViewD<'_, f32>,
    b: ArrayViewD<'_, f32>,
    shape: &[usize],
    f: impl Fn(f32, f32) -> f32 + Sync + Send,
) -> ArrayD<f32> {
    if a.shape() == shape && b.shape() == shape && a.len() >= PARALLEL_THRESHOLD {
        if let (Some(xs), Some(ys)) = (a.as_slice(), b.as_slice()) {
            let mut out = ArrayD::<f32>::uninit(IxDyn(shape));
            let os = out.as_slice_mut().expect("fresh array is contiguous");
            os.par_chunks_mut(CHUNK)
                .zip(xs.par_chunks(CHUNK).zip(ys.par_chunks(CHUNK)))
                .for_each(|(o, (xc, yc))| {
                    o.iter_mut()
                        .zip(xc.iter().zip(yc))
                        .for_each(|(o, (&x, &y))| {
                            o.write(f(x, y));
                        })
                });
            // SAFETY: the chunks cover the whole output and every element was written.
            return unsafe { out.assume_init() };
        }
    }
    let dim = IxDyn(shape);
    let av = a.broadcast(dim.clone()).expect("shape was checked");
    let bv = b.broadcast(dim).expect("shape was checked");
    let z = Zip::from(&av).and(&bv);
    if av.len() >= PARALLEL_THRESHOLD {
        z.par_map_collect(|&x, &y| f(x, y))
    } else {
        z.map_collect(|&x, &y| f(x, y))
    }
}

/// `a ± b` with broadcasting. Its gradients do not depend on the operands, so none are kept for the
/// backward pass (less memory held by the graph, no copies).
fn additive(op: &'static str, a: &Tensor, b: &Tensor, sign: f32) -> Result<Tensor> {
    let (ad, bd) = (a.shared(), b.shared());
    let shape = broadcast_shape(op, ad.shape(), bd.shape())?;
    let out = zip_map(ad.view(), bd.view(), &shape, move |x, y| x + sign * y);
    let (a_shape, b_shape) = (ad.shape().to_vec(), bd.shape().to_vec());
    drop((ad, bd));
    let backward = move |g: &ArrayD<f32>, needs: &[bool]| {
        let ga = needs[0].then(|| sum_to_shape(g, &a_shape));
        let gb = needs[1].then(|| {
            let gb = sum_to_shape(g, &b_shape);
            if sign == 1.0 {
                gb
            } else {
                map(gb.view(), move |v| sign * v)
            }
        });
        Ok(vec![ga, gb])
    };
    Ok(Tensor::from_op(
        out,
        op,
        vec![a.clone(), b.clone()],
        backward,
    ))
}

fn binary(
    op: &'static str,
    a: &Tensor,
    b: &Tensor,
    forward: impl Fn(f32, f32) -> f32 + Sync + Send,
    // d out / d a and d out / d b at (a, b), multiplied by the incoming gradient g: (g, a, b) -> ...
    grad_a: impl Fn(f32, f32, f32) -> f32 + Sync + Send + 'static,
    grad_b: impl Fn(f32, f32, f32) -> f32 + Sync + Send + 'static,
) -> Result<Tensor> {
    let (ad, bd) = (a.shared(), b.shared());
    let shape = broadcast_shape(op, ad.shape(), bd.shape())?;
    let out = zip_map(ad.view(), bd.view(), &shape, forward);
    let backward = move |g: &ArrayD<f32>, needs: &[bool]| {
        let ga = needs[0].then(|| {
            let full = zip3(g, ad.view(), bd.view(), &shape, &grad_a);
            sum_to_shape(&full, ad.shape())
        });
        let gb = needs[1].then(|| {
            let full = zip3(g, ad.view(), bd.view(), &shape, &grad_b);
            sum_to_shape(&full, bd.shape())
        });
        Ok(vec![ga, gb])
    };
    Ok(Tensor::from_op(
        out,
        op,
        vec![a.clone(), b.clone()],
        backward,
    ))
}

fn zip3(
    g: &ArrayD<f32>,
    a: ArrayViewD<'_, f32>,
    b: ArrayViewD<'_, f32>,
    shape: &[usize],
    f: &(impl Fn(f32, f32, f32) -> f32 + Sync + Send),
) -> ArrayD<f32> {
    let dim = IxDyn(shape);
    let av = a.broadcast(dim.clone()).expect("shape was checked");
    let bv = b.broadcast(dim).expect("shape was checked");
    let z = Zip::from(g).and(&av).and(&bv);
    if g.len() >= PARALLEL_THRESHOLD {
        z.par_map_collect(|&g, &x, &y| f(g, x, y))
    } else {
        z.map_collect(|&g, &x, &y| f(g, x, y))
    }
}

/// A unary op whose derivative is a function of the input x and the output y.
fn unary(
    op: &'static str,
    a: &Tensor,
    forward: impl Fn(f32) -> f32 + Sync + Send,
    derivative: impl Fn(f32, f32) -> f32 + Sync + Send + 'static,
) -> Tensor {
    let x = a.shared();
    let y = map(x.view(), forward).into_shared();
    let saved_y = y.clone();
    let backward = move |g: &ArrayD<f32>, _needs: &[bool]| {
        let z = Zip::from(g).and(&x).and(&saved_y);
        let grad = if g.len() >= PARALLEL_THRESHOLD {
            z.par_map_collect(|&g, &x, &y| g * derivative(x, y))
        } else {
            z.map_collect(|&g, &x, &y| g * derivative(x, y))
        };
        Ok(vec![Some(grad)])
    };
    Tensor::from_op(y, op, vec![a.clone()], backward)
}

impl Tensor {
    /// `self + other` with broadcasting.
    pub fn add(&self, other: &Tensor) -> Result<Tensor> {
        additive("add", self, other, 1.0)
    }

    /// `self - other` with broadcasting.
    pub fn sub(&self, other: &Tensor) -> Result<Tensor> {
        additive("sub", self, other, -1.0)
    }

    /// `self * other` (elementwise) with broadcasting.
    pub fn mul(&self, other: &Tensor) -> Result<Tensor> {
        binary(
            "mul",
            self,
            other,
            |x, y| x * y,
            |g, _, y| g * y,
            |g, x, _| g * x,
        )
    }

    /// `self / other` (elementwise) with broadcasting.
    pub fn div(&self, other: &Tensor) -> Result<Tensor> {
        binary(
            "div",
            self,
            other,
            |x, y| x / y,
            |g, _, y| g / y,
            |g, x, y| -g * x / (y * y),
        )
    }

    /// `self + c`.
    pub fn add_scalar(&self, c: f32) -> Tensor {
        unary("add_scalar", self, move |x| x + c, |_, _| 1.0)
    }

    /// `self * c`.
    pub fn mul_scalar(&self, c: f32) -> Tensor {
        unary("mul_scalar", self, move |x| x * c, move |_, _| c)
    }

    /// `-self`.
    pub fn neg(&self) -> Tensor {
        self.mul_scalar(-1.0)
    }

    /// `exp(self)`.
    pub fn exp(&self) -> Tensor {
        unary("exp", self, f32::exp, |_, y| y)
    }

    /// Natural logarithm.
    pub fn ln(&self) -> Tensor {
        unary("ln", self, f32::ln, |x, _| 1.0 / x)
    }

    /// Square root.
    pub fn sqrt(&self) -> Tensor {
        unary("sqrt", self, f32::sqrt, |_, y| 0.5 / y)
    }

    /// `self²`.
    pub fn square(&self) -> Tensor {
        unary("square", self, |x| x * x, |x, _| 2.0 * x)
    }

    /// `self^p` for a constant exponent.
    pub fn powf(&self, p: f32) -> Tensor {
        unary(
            "powf",
            self,
            move |x| x.powf(p),
            move |x, _| p * x.powf(p - 1.0),
        )
    }

    /// Hyperbolic tangent.
    pub fn tanh(&self) -> Tensor {
        unary("tanh", self, f32::tanh, |_, y| 1.0 - y * y)
    }

    /// Logistic sigmoid.
    pub fn sigmoid(&self) -> Tensor {
        unary(
            "sigmoid",
            self,
            |x| 1.0 / (1.0 + (-x).exp()),
            |_, y| y * (1.0 - y),
        )
    }

    /// `max(self, 0)`.
    pub fn relu(&self) -> Tensor {
        unary(
            "relu",
            self,
            |x| x.max(0.0),
            |x, _| if x > 0.0 { 1.0 } else { 0.0 },
        )
    }

    /// Absolute value (subgradient 0 at 0).
    pub fn abs(&self) -> Tensor {
        unary("abs", self, f32::abs, |x, _| {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        })
    }

    /// Clamp into `[lo, hi]`; the gradient is zero where the value was clipped, as for
    /// `λ = −clip(ψ², ε, 1)` in the spectral reparameterisation.
    pub fn clamp(&self, lo: f32, hi: f32) -> Tensor {
        unary(
            "clamp",
            self,
            move |x| x.clamp(lo, hi),
            move |x, _| {
                if x >= lo && x <= hi {
                    1.0
                } else {
                    0.0
                }
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn broadcast_add_and_its_gradient() {
        let a = Tensor::parameter(array![[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]].into_dyn());
        let b = Tensor::parameter(array![10.0f32, 20.0, 30.0].into_dyn());
        let c = a.add(&b).unwrap();
        assert_eq!(c.to_vec(), vec![11.0, 22.0, 33.0, 14.0, 25.0, 36.0]);
        c.sum_all().backward().unwrap();
        assert_eq!(
            b.grad().unwrap().iter().copied().collect::<Vec<_>>(),
            vec![2.0; 3]
        );
        assert_eq!(
            a.grad().unwrap().iter().copied().collect::<Vec<_>>(),
            vec![1.0; 6]
        );
    }

    #[test]
    fn incompatible_shapes_are_a_typed_error() {
        let a = Tensor::zeros(&[2, 3]);
        let b = Tensor::zeros(&[2]);
        let err = a.mul(&b).unwrap_err();
        assert!(err.to_string().contains("mul"), "{err}");
        assert!(err.to_string().contains("[2, 3]"), "{err}");
    }
}

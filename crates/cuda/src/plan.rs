//! Shape checks and launch geometry of the GPU ops, as pure functions of shapes.
//!
//! Why apart from the launches: a kernel trusts its lengths (a wrong one reads or writes out of
//! bounds, or silently computes garbage), so every check must happen on the host before the
//! launch; keeping them free of CUDA lets the unit tests below run on any machine, including the
//! row-major GEMM trick, checked against a column-major GEMM written out in the tests.

use crate::CudaError;

/// Threads per block of the elementwise (grid-stride) kernels.
pub(crate) const THREADS: u32 = 256;

/// The most blocks an elementwise launch uses; the grid-stride loop covers the rest. 4096 blocks
/// of 256 threads fill the largest current GPUs several times over.
const MAX_BLOCKS: usize = 4096;

/// Rows per block of `col_sums_f32` (see [`crate::kernels::REDUCE`]).
pub(crate) const COL_SUM_CHUNK: usize = 1024;

pub(crate) fn invalid(op: &'static str, reason: impl Into<String>) -> CudaError {
    CudaError::Invalid {
        op,
        reason: reason.into(),
    }
}

/// `v` as a kernel's `int` argument: the kernels index with `int`, so every count must fit.
pub(crate) fn int(op: &'static str, what: &str, v: usize) -> Result<i32, CudaError> {
    i32::try_from(v).map_err(|_| invalid(op, format!("{what} = {v} does not fit a 32-bit int")))
}

/// Several sizes as `int`s at once.
pub(crate) fn ints<const N: usize>(
    op: &'static str,
    sizes: [usize; N],
) -> Result<[i32; N], CudaError> {
    let mut out = [0; N];
    for (o, s) in out.iter_mut().zip(sizes) {
        *o = int(op, "a size", s)?;
    }
    Ok(out)
}

/// The element count of `shape`, which must fit the kernels' `int`.
pub(crate) fn count(op: &'static str, shape: &[usize]) -> Result<usize, CudaError> {
    let n = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| invalid(op, format!("shape {shape:?} overflows")))?;
    int(op, "the element count", n)?;
    Ok(n)
}

pub(crate) fn same_shape(op: &'static str, a: &[usize], b: &[usize]) -> Result<(), CudaError> {
    if a == b {
        Ok(())
    } else {
        Err(invalid(op, format!("shapes {a:?} and {b:?} differ")))
    }
}

/// The tensor as `[rows, cols]` with `cols` its last axis (what the CPU's row kernels do).
pub(crate) fn rows_cols(op: &'static str, shape: &[usize]) -> Result<(usize, usize), CudaError> {
    let Some(&cols) = shape.last() else {
        return Err(invalid(op, "needs at least one axis"));
    };
    let n = count(op, shape)?;
    Ok((n.checked_div(cols).unwrap_or(0), cols))
}

/// The tensor as `[rows, cols]` with `rows` its first axis (per-sample ops: drop-path).
pub(crate) fn batch_rows(op: &'static str, shape: &[usize]) -> Result<(usize, usize), CudaError> {
    let Some(&rows) = shape.first() else {
        return Err(invalid(op, "needs at least one axis"));
    };
    let n = count(op, shape)?;
    Ok((rows, n.checked_div(rows).unwrap_or(0)))
}

/// Blocks of an elementwise launch over `n > 0` elements.
pub(crate) fn elementwise_blocks(n: usize) -> u32 {
    // MAX_BLOCKS fits u32.
    n.div_ceil(THREADS as usize).clamp(1, MAX_BLOCKS) as u32
}

/// Threads of a row kernel (one block per row): a power of two in 32..=1024, the smallest that
/// covers the row in one pass, since a block's threads stride over the row.
pub(crate) fn row_threads(cols: usize) -> u32 {
    cols.next_power_of_two().clamp(32, 1024) as u32
}

/// `ids`, each below `bound`, as the kernels' `int` indices.
pub(crate) fn indices(
    op: &'static str,
    what: &str,
    ids: &[usize],
    bound: usize,
) -> Result<Vec<i32>, CudaError> {
    ids.iter()
        .map(|&i| {
            if i < bound {
                int(op, what, i)
            } else {
                Err(invalid(
                    op,
                    format!("{what} {i} is out of range (must be below {bound})"),
                ))
            }
        })
        .collect()
}

/// Geometry of `patchify`: `[B, C, H, W]` with `H`, `W` multiples of the patch size `p`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Patchify {
    pub b: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub p: usize,
    /// `[B, (H/p)·(W/p), C·p·p]`.
    pub out_shape: Vec<usize>,
}

pub(crate) fn patchify(op: &'static str, image: &[usize], p: usize) -> Result<Patchify, CudaError> {
    let &[b, c, h, w] = image else {
        return Err(invalid(
            op,
            format!("needs a [B, C, H, W] image batch, got {image:?}"),
        ));
    };
    if p == 0 || h % p != 0 || w % p != 0 {
        return Err(invalid(
            op,
            format!("H and W of {image:?} must be multiples of the patch size {p} (> 0)"),
        ));
    }
    count(op, image)?;
    Ok(Patchify {
        b,
        c,
        h,
        w,
        p,
        out_shape: vec![b, (h / p) * (w / p), c * p * p],
    })
}

/// A row-major (batched) product `C = op(A)·op(B)` as the column-major cuBLAS call that computes
/// it. A row-major `[r, c]` buffer is the column-major `[c, r]` matrix of its transpose, so
/// cuBLAS computes `Cᵀ = op(B)ᵀ·op(A)ᵀ`: the first operand is B, the second A, and the sizes
/// swap (`m ↔ n`). Each operand is transposed in the call exactly when it is in the product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Gemm {
    /// Products in the batch (1 for a plain GEMM).
    pub batch: usize,
    /// `op(A)` is `[m, k]`, `op(B)` `[k, n]`, `C` `[m, n]` (row-major sizes).
    pub m: usize,
    pub n: usize,
    pub k: usize,
    /// `[m, n]`, or `[batch, m, n]` for a batched product.
    pub out_shape: Vec<usize>,
    /// Whether cuBLAS transposes its first operand (B) and its second (A).
    pub trans_first: bool,
    pub trans_second: bool,
    /// The leading dimensions of B, A and C in the column-major call.
    pub ld_first: i32,
    pub ld_second: i32,
    pub ldc: i32,
    /// Element strides between the products of a batch (0: one matrix shared by all).
    pub stride_first: i64,
    pub stride_second: i64,
    pub stride_c: i64,
}

/// Plan `op(A)·op(B)`. Without `batched` both operands are matrices. With it, each is `[batch,
/// r, c]` or a matrix `[r, c]` shared by every product of the batch, and at least one has the
/// batch axis.
pub(crate) fn gemm(
    op: &'static str,
    a: &[usize],
    b: &[usize],
    trans_a: bool,
    trans_b: bool,
    batched: bool,
) -> Result<Gemm, CudaError> {
    let split = |name: &str, s: &[usize]| -> Result<(Option<usize>, usize, usize), CudaError> {
        match *s {
            [r, c] => Ok((None, r, c)),
            [bt, r, c] if batched => Ok((Some(bt), r, c)),
            _ => Err(invalid(
                op,
                format!(
                    "{name} must be {}, got {s:?}",
                    if batched {
                        "[batch, rows, cols] or [rows, cols]"
                    } else {
                        "a matrix [rows, cols]"
                    }
                ),
            )),
        }
    };
    let (ba, ar, ac) = split("A", a)?;
    let (bb, br, bc) = split("B", b)?;
    let (m, k) = if trans_a { (ac, ar) } else { (ar, ac) };
    let (kb, n) = if trans_b { (bc, br) } else { (br, bc) };
    if k != kb {
        return Err(invalid(
            op,
            format!(
                "inner sizes differ: op(A) of {a:?} is [{m}, {k}], op(B) of {b:?} is [{kb}, {n}]"
            ),
        ));
    }
    let batch = match (ba, bb) {
        (Some(x), Some(y)) if x != y => {
            return Err(invalid(op, format!("batch sizes differ: {a:?} and {b:?}")))
        }
        (Some(x), _) | (None, Some(x)) => x,
        (None, None) if batched => {
            return Err(invalid(
                op,
                "a batched product needs a batch axis on A or B",
            ))
        }
        (None, None) => 1,
    };
    let out_shape = if batched {
        vec![batch, m, n]
    } else {
        vec![m, n]
    };
    count(op, a)?;
    count(op, b)?;
    count(op, &out_shape)?;
    // Every size and leading dimension fits i32 once the element counts do (each is at most
    // a count, or 1).
    let i = |what: &str, v: usize| int(op, what, v.max(1));
    let stride = |has_batch: Option<usize>, len: usize| -> i64 {
        if has_batch.is_some() {
            len as i64
        } else {
            0
        }
    };
    Ok(Gemm {
        batch,
        m,
        n,
        k,
        out_shape,
        trans_first: trans_b,
        trans_second: trans_a,
        ld_first: i("ldb", if trans_b { k } else { n })?,
        ld_second: i("lda", if trans_a { m } else { k })?,
        ldc: i("ldc", n)?,
        stride_first: stride(bb, k * n),
        stride_second: stride(ba, m * k),
        stride_c: (m * n) as i64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BLAS `sgemm` semantics, column-major: `C = op(A)·op(B)` with `op(A)` `[m, k]`, element
    /// `(i, j)` of a column-major matrix with leading dimension `ld` at `i + j·ld`.
    #[allow(clippy::too_many_arguments)]
    fn col_major_gemm(
        ta: bool,
        tb: bool,
        m: usize,
        n: usize,
        k: usize,
        a: &[f64],
        lda: usize,
        b: &[f64],
        ldb: usize,
        c: &mut [f64],
        ldc: usize,
    ) {
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0;
                for l in 0..k {
                    let av = if ta { a[l + i * lda] } else { a[i + l * lda] };
                    let bv = if tb { b[j + l * ldb] } else { b[l + j * ldb] };
                    s += av * bv;
                }
                c[i + j * ldc] = s;
            }
        }
    }

    /// Row-major `op(A)·op(B)` straight from the definition.
    fn row_major(
        a: &[f64],
        a_shape: [usize; 2],
        ta: bool,
        b: &[f64],
        b_shape: [usize; 2],
        tb: bool,
    ) -> Vec<f64> {
        let at = |i: usize, l: usize| {
            if ta {
                a[l * a_shape[1] + i]
            } else {
                a[i * a_shape[1] + l]
            }
        };
        let bt = |l: usize, j: usize| {
            if tb {
                b[j * b_shape[1] + l]
            } else {
                b[l * b_shape[1] + j]
            }
        };
        let (m, k) = if ta {
            (a_shape[1], a_shape[0])
        } else {
            (a_shape[0], a_shape[1])
        };
        let n = if tb { b_shape[0] } else { b_shape[1] };
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|l| at(i, l) * bt(l, j)).sum();
            }
        }
        c
    }

    fn values(n: usize, seed: usize) -> Vec<f64> {
        (0..n)
            .map(|i| ((i * 7 + seed * 13) % 11) as f64 - 5.0)
            .collect()
    }

    /// Run the planned column-major call the way cuBLAS would, product by product.
    fn run_plan(g: &Gemm, a: &[f64], b: &[f64]) -> Vec<f64> {
        let mut c = vec![0.0; g.out_shape.iter().product()];
        for p in 0..g.batch {
            let first = &b[p * g.stride_first as usize..];
            let second = &a[p * g.stride_second as usize..];
            let out = &mut c[p * g.stride_c as usize..];
            col_major_gemm(
                g.trans_first,
                g.trans_second,
                g.n,
                g.m,
                g.k,
                first,
                g.ld_first as usize,
                second,
                g.ld_second as usize,
                out,
                g.ldc as usize,
            );
        }
        c
    }

    #[test]
    fn the_row_major_trick_computes_the_row_major_product() {
        let (m, n, k) = (2, 3, 4);
        for ta in [false, true] {
            for tb in [false, true] {
                let a_shape = if ta { [k, m] } else { [m, k] };
                let b_shape = if tb { [n, k] } else { [k, n] };
                let (a, b) = (values(m * k, 1), values(k * n, 2));
                let g = gemm("test", &a_shape, &b_shape, ta, tb, false).unwrap();
                assert_eq!(g.out_shape, vec![m, n]);
                assert_eq!(
                    run_plan(&g, &a, &b),
                    row_major(&a, a_shape, ta, &b, b_shape, tb),
                    "ta {ta} tb {tb}"
                );
            }
        }
    }

    #[test]
    fn the_batched_plan_strides_over_products_and_shares_a_matrix() {
        let (bt, m, n, k) = (3, 2, 5, 4);
        for ta in [false, true] {
            for tb in [false, true] {
                for share_b in [false, true] {
                    let a_shape = if ta { [k, m] } else { [m, k] };
                    let b_shape = if tb { [n, k] } else { [k, n] };
                    let a = values(bt * m * k, 3);
                    let b = values(if share_b { k * n } else { bt * k * n }, 4);
                    let b_full: Vec<usize> = if share_b {
                        b_shape.to_vec()
                    } else {
                        vec![bt, b_shape[0], b_shape[1]]
                    };
                    let g =
                        gemm("test", &[bt, a_shape[0], a_shape[1]], &b_full, ta, tb, true).unwrap();
                    assert_eq!(g.out_shape, vec![bt, m, n]);
                    let c = run_plan(&g, &a, &b);
                    for p in 0..bt {
                        let bp = if share_b {
                            &b[..]
                        } else {
                            &b[p * k * n..(p + 1) * k * n]
                        };
                        let want =
                            row_major(&a[p * m * k..(p + 1) * m * k], a_shape, ta, bp, b_shape, tb);
                        assert_eq!(&c[p * m * n..(p + 1) * m * n], &want[..]);
                    }
                }
            }
        }
    }

    #[test]
    fn gemm_shapes_are_checked() {
        assert!(gemm("t", &[2, 3], &[4, 5], false, false, false).is_err());
        assert!(gemm("t", &[2, 3], &[4, 3], false, true, false).is_ok());
        assert!(gemm("t", &[2, 2, 3], &[3, 5], false, false, false).is_err());
        assert!(gemm("t", &[2, 3], &[3, 5], false, false, true).is_err());
        assert!(gemm("t", &[2, 2, 3], &[3, 3, 5], false, false, true).is_err());
        assert!(gemm("t", &[2, 2, 3], &[2, 3, 5], false, false, true).is_ok());
    }

    #[test]
    fn shapes_and_indices_are_checked() {
        assert_eq!(rows_cols("t", &[2, 3, 4]).unwrap(), (6, 4));
        assert_eq!(batch_rows("t", &[2, 3, 4]).unwrap(), (2, 12));
        assert!(rows_cols("t", &[]).is_err());
        assert!(count("t", &[1 << 20, 1 << 20]).is_err());
        assert!(indices("t", "id", &[0, 2], 3).is_ok());
        assert!(indices("t", "id", &[3], 3).is_err());
        let p = patchify("t", &[2, 3, 8, 4], 4).unwrap();
        assert_eq!(p.out_shape, vec![2, 2, 48]);
        assert!(patchify("t", &[2, 3, 8, 6], 4).is_err());
        assert!(patchify("t", &[3, 8, 8], 4).is_err());
        assert!(patchify("t", &[1, 1, 8, 8], 0).is_err());
        assert_eq!(row_threads(1), 32);
        assert_eq!(row_threads(192), 256);
        assert_eq!(row_threads(5000), 1024);
        assert_eq!(elementwise_blocks(1), 1);
        assert_eq!(elementwise_blocks(1 << 30), 4096);
    }
}

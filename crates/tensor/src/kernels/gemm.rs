//! f32 GEMM on ndarray views through faer's matmul (`faer::linalg::matmul::matmul`), except products
//! whose right operand is row-major, which go to `matrixmultiply` (see [`seq_gemm`] for why).
//!
//! * [`matmul`]: `op(a)·op(b)` into a fresh array.
//! * [`matmul_into`]: `c = beta·c + alpha·op(a)·op(b)` in place (autodiff accumulates gradients with
//!   it, without temporaries).
//! * [`batched_matmul`]: the same over a leading batch axis of equal length in `a` and `b`.
//!
//! `op(x)` is `xᵀ` when the matching `trans_*` flag is set. Transposing costs nothing: the view's
//! strides are swapped before being handed to faer. Views with arbitrary positive strides go to faer
//! as they are; a view with a negative stride, or with no unit stride at all (e.g. `s![..;2, ..;2]`),
//! is copied to standard layout first (rare; faer's packing would handle it, but slowly).
//!
//! **Batch × shared matrix.** For `a: [batch, m, k]` times one `b: [k, n]` shared by the batch, do
//! not call [`batched_matmul`]: reshape `a` to `[batch·m, k]` (free for a standard-layout array),
//! call [`matmul`] once (one large GEMM is much faster than `batch` small ones) and reshape the
//! result back to `[batch, m, n]`. With `trans_a` the batch cannot be folded this way; a
//! `[batch, k, m]ᵀ·[k, n]` product is rare enough to broadcast `b` (a stride-0 view) and call
//! [`batched_matmul`].
//!
//! Preconditions (inner dimensions agree, output shape matches) are `debug_assert!`s only: the ops
//! layer validates shapes and reports typed errors before calling in here.

use std::mem::MaybeUninit;

use faer::linalg::matmul::matmul as faer_matmul;
use faer::prelude::ReborrowMut;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use ndarray::{
    Array2, Array3, ArrayView2, ArrayView3, ArrayViewMut2, Axis, CowArray, Ix2, ShapeBuilder, Zip,
};
use rayon::prelude::*;

/// Below this many multiply-adds per matrix, [`batched_matmul`] runs the batch items in parallel
/// (each one sequential); above it, it runs them one after another, each with faer's own rayon
/// parallelism. Chosen by measurement on the attention shapes of a ViT (65×64×65 ≈ 2.7·10⁵).
const BATCH_PAR_MAX_MNK: usize = 96 * 96 * 96;

/// Shape of `op(x)`.
#[inline]
fn op_dims(x: &ArrayView2<'_, f32>, trans: bool) -> (usize, usize) {
    let (r, c) = x.dim();
    if trans {
        (c, r)
    } else {
        (r, c)
    }
}

/// Whether faer can take this view directly: no negative stride, and a unit stride on at least one
/// axis. Axes of length ≤ 1 have meaningless strides and are ignored.
#[inline]
fn gemm_friendly(dim: (usize, usize), strides: &[isize]) -> bool {
    let (r, c) = dim;
    let (rs, cs) = (strides[0], strides[1]);
    if (r > 1 && rs < 0) || (c > 1 && cs < 0) {
        return false;
    }
    r <= 1 || c <= 1 || rs == 1 || cs == 1
}

/// Strides to give faer: a length-≤1 axis gets a harmless stride that keeps the other axis' layout
/// recognisable (row- or column-major) for faer's fast paths.
#[inline]
fn faer_strides(dim: (usize, usize), strides: &[isize]) -> (isize, isize) {
    let (r, c) = dim;
    let (mut rs, mut cs) = (strides[0], strides[1]);
    if r <= 1 {
        rs = if cs == 1 { c.max(1) as isize } else { 1 };
    }
    if c <= 1 {
        cs = if rs == 1 { r.max(1) as isize } else { 1 };
    }
    (rs, cs)
}

/// Copy `x` to standard layout when faer should not read it as it is.
#[inline]
fn friendly(x: ArrayView2<'_, f32>) -> CowArray<'_, f32, Ix2> {
    if gemm_friendly(x.dim(), x.strides()) {
        CowArray::from(x)
    } else {
        CowArray::from(x.as_standard_layout().into_owned())
    }
}

/// A faer view of `op(x)`. `x` must be [`gemm_friendly`].
#[inline]
fn faer_ref<'a>(x: &'a ArrayView2<'_, f32>, trans: bool) -> MatRef<'a, f32> {
    let dim = x.dim();
    let (rs, cs) = faer_strides(dim, x.strides());
    // SAFETY: the pointer, dimensions and strides describe exactly the elements of the view `x`,
    // which outlives the returned reference.
    let m = unsafe { MatRef::from_raw_parts(x.as_ptr(), dim.0, dim.1, rs, cs) };
    if trans {
        m.transpose()
    } else {
        m
    }
}

/// `c ← [c +] alpha·op(a)·op(b)` with `c` given by raw parts (it may be uninitialised when `accum` is
/// `Replace`: neither kernel reads it then); sequential or split over rayon by `par`.
///
/// # Safety
/// `c_ptr` with `dim`/`strides` must describe a writable matrix region with no other live
/// references, and `a`/`b` must be [`gemm_friendly`].
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_raw_parts(
    c_ptr: *mut f32,
    c_dim: (usize, usize),
    c_strides: &[isize],
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    trans_a: bool,
    trans_b: bool,
    alpha: f32,
    accum: Accum,
    par: Par,
    then: Option<Epilogue<'_>>,
) {
    let (rs, cs) = faer_strides(c_dim, c_strides);
    // SAFETY: the caller guarantees that `c_ptr` with these dimensions and strides is a writable
    // region that nothing else references (this function's contract).
    let mut c = unsafe { MatMut::from_raw_parts_mut(c_ptr, c_dim.0, c_dim.1, rs, cs) };
    let (a, b) = (faer_ref(a, trans_a), faer_ref(b, trans_b));
    match par {
        Par::Seq => {
            seq_gemm(c.rb_mut(), accum, a, b, alpha);
            if let Some(then) = then {
                apply(then, 0, c);
            }
        }
        _ => par_gemm(c, accum, a, b, alpha, then),
    }
}

/// Work done on row blocks of a product's output right after they are computed, while they are
/// still in cache (a linear layer adds its bias): called once per disjoint block with the block's
/// first row.
pub type Epilogue<'a> = &'a (dyn Fn(usize, ArrayViewMut2<'_, f32>) + Sync);

/// Run `then` on the block `c` whose first row is `row0`.
fn apply(then: Epilogue<'_>, row0: usize, c: MatMut<'_, f32>) {
    let (rows, cols) = (c.nrows(), c.ncols());
    let (rs, cs) = (c.row_stride(), c.col_stride());
    debug_assert!(rs >= 0 && cs >= 0, "epilogues run on fresh outputs");
    // SAFETY: the view describes exactly the region of the exclusively borrowed `c`, whose
    // elements the product has just written.
    let view = unsafe {
        ArrayViewMut2::from_shape_ptr(
            (rows, cols).strides((rs as usize, cs as usize)),
            c.as_ptr_mut(),
        )
    };
    then(row0, view);
}

/// Run `then` over row blocks of the whole of `c` in parallel (products not split by rows).
fn apply_par(then: Epilogue<'_>, c: MatMut<'_, f32>) {
    split_rows(c, gemm_tasks(rayon::current_num_threads()))
        .into_par_iter()
        .for_each(|(r0, cb)| apply(then, r0, cb));
}

/// One GEMM on the calling thread.
///
/// faer's x86 kernel does not pack its right-hand side, and it falls behind when that operand is
/// row-major (`op(b)` with unit column stride):
///
/// * column-major `op(a)` (a row-major array used transposed) times row-major `op(b)`, the weight
///   gradient `xᵀ·dy` of every linear layer: faer 50–65 GFLOP/s per core against 71–80 for
///   `matrixmultiply` (ndarray's GEMM crate, which packs both operands);
/// * row-major times row-major, the forward `x·W`: `matrixmultiply` 3–13 % ahead on the ViT shapes
///   in interleaved (paired) timings at 2 threads.
///
/// Both go to `matrixmultiply`; a column-major `op(b)` (`dy·Wᵀ`, the input gradient) stays with
/// faer, which was up to 17 % ahead there (docs/benchmarks.md has the measurements).
fn seq_gemm(c: MatMut<'_, f32>, accum: Accum, a: MatRef<'_, f32>, b: MatRef<'_, f32>, alpha: f32) {
    let (m, n, k) = (c.nrows(), c.ncols(), a.ncols());
    // `a` has a unit stride on one axis already (callers pass `gemm_friendly` views).
    let rhs_row_major = n > 1 && b.col_stride() == 1;
    if !rhs_row_major || m.saturating_mul(n).saturating_mul(k) < PACKED_MIN_MNK {
        return faer_matmul(c, accum, a, b, alpha, Par::Seq);
    }
    let beta = match accum {
        Accum::Replace => 0.0,
        Accum::Add => 1.0,
    };
    let (c_rs, c_cs) = (c.row_stride(), c.col_stride());
    // SAFETY: the pointers and strides come from faer views that describe exactly `op(a)`
    // (m×k), `op(b)` (k×n) and `c` (m×n), and `c` is borrowed mutably for the call. With
    // `beta = 0`, matrixmultiply writes every element of `c` without reading it.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a.as_ptr(),
            a.row_stride(),
            a.col_stride(),
            b.as_ptr(),
            b.row_stride(),
            b.col_stride(),
            beta,
            c.as_ptr_mut(),
            c_rs,
            c_cs,
        );
    }
}

/// Below this many multiply-adds [`seq_gemm`] keeps faer for every layout: on the per-head
/// attention products (≤ 65×65×64) faer's small-matrix kernels measured as fast or faster, and the
/// two were level at 128³.
const PACKED_MIN_MNK: usize = 128 * 128 * 128;

/// Below this many multiply-adds a GEMM runs on one thread.
const PAR_MIN_MNK: usize = 64 * 64 * 64;

/// Multi-threaded GEMM: we split the work into independent sequential GEMMs ([`seq_gemm`]) over
/// rayon rather than use faer's own parallel mode, which measured much slower on the backward shapes
/// (e.g. `192×8320 · 8320×576`: ~4× slower than sequential, and ~20% behind on the
/// `8320×576 · 576×192` transposed-B product on 2 cores).
///
/// * Small output, long inner dimension (`k ≥ 4·max(m, n)`, weight gradients): split `k`; each task
///   computes a partial product into its own buffer (the first one straight into `c`), then the
///   partials are added into `c`.
/// * Otherwise: split the longer of `m` / `n` into blocks of `c`.
fn par_gemm(
    mut c: MatMut<'_, f32>,
    accum: Accum,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    alpha: f32,
    then: Option<Epilogue<'_>>,
) {
    let (m, n, k) = (c.nrows(), c.ncols(), a.ncols());
    let threads = rayon::current_num_threads();
    let mnk = m.saturating_mul(n).saturating_mul(k);
    if threads <= 1 || mnk < PAR_MIN_MNK {
        seq_gemm(c.rb_mut(), accum, a, b, alpha);
        if let Some(then) = then {
            apply_par(then, c);
        }
        return;
    }
    let tasks = gemm_tasks(threads);
    if k >= 4 * m.max(n) {
        // Split k.
        // One part per thread: the partials cost an allocation and a pass each, and a long k
        // keeps the packed kernel efficient.
        let parts = threads.min(k / 128).max(1);
        let ch = k.div_ceil(parts);
        let parts = k.div_ceil(ch);
        let mut partials: Vec<Mat<f32>> = (1..parts).map(|_| Mat::zeros(m, n)).collect();
        let mut c = c;
        rayon::scope(|sc| {
            let c0 = c.rb_mut();
            sc.spawn(move |_| seq_gemm(c0, accum, a.subcols(0, ch), b.subrows(0, ch), alpha));
            for (i, p) in partials.iter_mut().enumerate() {
                let lo = (i + 1) * ch;
                let len = ch.min(k - lo);
                sc.spawn(move |_| {
                    seq_gemm(
                        p.as_mut(),
                        Accum::Replace,
                        a.subcols(lo, len),
                        b.subrows(lo, len),
                        alpha,
                    )
                });
            }
        });
        for p in &partials {
            faer::zip!(c.rb_mut(), p.as_ref()).for_each(|faer::unzip!(c, p)| *c += *p);
        }
        if let Some(then) = then {
            apply_par(then, c);
        }
    } else if m >= n {
        let blocks = split_rows(c, tasks);
        blocks.into_par_iter().for_each(|(r0, mut cb)| {
            let len = cb.nrows();
            seq_gemm(cb.rb_mut(), accum, a.subrows(r0, len), b, alpha);
            if let Some(then) = then {
                apply(then, r0, cb);
            }
        });
    } else {
        let blocks = split_rows(c.rb_mut().transpose_mut(), tasks);
        blocks.into_par_iter().for_each(|(j0, cbt)| {
            let len = cbt.nrows();
            seq_gemm(cbt.transpose_mut(), accum, a, b.subcols(j0, len), alpha)
        });
        if let Some(then) = then {
            apply_par(then, c);
        }
    }
}

/// Independent tasks per GEMM: a few per thread so that a thread slowed down by other work on a
/// shared machine does not hold up the whole product.
#[inline]
fn gemm_tasks(threads: usize) -> usize {
    4 * threads
}

/// Split `c` into about `parts` row blocks (multiples of 16 rows), returning `(first row, block)`.
fn split_rows(c: MatMut<'_, f32>, parts: usize) -> Vec<(usize, MatMut<'_, f32>)> {
    let m = c.nrows();
    let rows = m.div_ceil(parts).next_multiple_of(16).max(16);
    let mut out = Vec::with_capacity(parts);
    let mut rest = c;
    let mut r0 = 0;
    while rest.nrows() > rows {
        let (top, bottom) = rest.split_at_row_mut(rows);
        out.push((r0, top));
        r0 += rows;
        rest = bottom;
    }
    out.push((r0, rest));
    out
}

/// faer's parallelism for a top-level (not nested in rayon) call: all rayon threads.
#[inline]
fn top_par() -> Par {
    if rayon::current_num_threads() > 1 {
        Par::rayon(0)
    } else {
        Par::Seq
    }
}

/// `op(a)·op(b)` where `op(x) = xᵀ` when the matching flag is set.
///
/// Shapes: `op(a)` is `m×k`, `op(b)` is `k×n`, the result `m×n` in standard layout. Any of `m`, `n`,
/// `k` may be 0 (`k = 0` gives zeros).
pub fn matmul(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    trans_a: bool,
    trans_b: bool,
) -> Array2<f32> {
    product(a, b, trans_a, trans_b, None)
}

/// [`matmul`], then `then(first_row, block)` on disjoint row blocks that together cover the result,
/// each right after it is computed where the product is split by rows (see [`Epilogue`]).
pub fn matmul_then(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    trans_a: bool,
    trans_b: bool,
    then: Epilogue<'_>,
) -> Array2<f32> {
    product(a, b, trans_a, trans_b, Some(then))
}

fn product(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    trans_a: bool,
    trans_b: bool,
    then: Option<Epilogue<'_>>,
) -> Array2<f32> {
    let (m, k) = op_dims(&a, trans_a);
    let (k2, n) = op_dims(&b, trans_b);
    debug_assert_eq!(
        k, k2,
        "matmul: inner dimensions differ ({m}×{k} · {k2}×{n})"
    );
    let a = friendly(a);
    let b = friendly(b);
    let mut c = Array2::<f32>::uninit((m, n));
    // SAFETY: `c` is a fresh standard-layout array; with `Accum::Replace` faer writes every element
    // (fills zeros when k = 0) and never reads the uninitialised ones.
    unsafe {
        let strides = c.strides().to_vec();
        gemm_raw_parts(
            c.as_mut_ptr() as *mut f32,
            (m, n),
            &strides,
            &a.view(),
            &b.view(),
            trans_a,
            trans_b,
            1.0,
            Accum::Replace,
            top_par(),
            then,
        );
        c.assume_init()
    }
}

/// `c ← beta·c + alpha·op(a)·op(b)`, in place.
///
/// `beta = 0` overwrites `c` without reading it (NaNs in `c` do not propagate, as in BLAS);
/// `beta = 1` accumulates (the autodiff gradient case) with no temporary. `c` may have any strides;
/// a negative or fully non-unit-strided `c` goes through a temporary.
pub fn matmul_into(
    c: ArrayViewMut2<'_, f32>,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    trans_a: bool,
    trans_b: bool,
    alpha: f32,
    beta: f32,
) {
    gemm_into(c, a, b, trans_a, trans_b, alpha, beta, top_par());
}

/// [`matmul_into`] on the calling thread only: for many small products that the caller already
/// runs in parallel (one attention head of one image per task).
pub fn matmul_into_seq(
    c: ArrayViewMut2<'_, f32>,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    trans_a: bool,
    trans_b: bool,
    alpha: f32,
    beta: f32,
) {
    gemm_into(c, a, b, trans_a, trans_b, alpha, beta, Par::Seq);
}

/// `c = alpha·op(a)·op(b)` on the calling thread into an *uninitialised* output view (every element
/// is written; none is read), so a fresh output needs no zeroing first. Used per (image, head) by
/// the attention products, whose outputs are sliced from one uninitialised array.
pub fn matmul_into_uninit_seq(
    c: ArrayViewMut2<'_, MaybeUninit<f32>>,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    trans_a: bool,
    trans_b: bool,
    alpha: f32,
) {
    gemm_uninit(c, a, b, trans_a, trans_b, alpha, Par::Seq);
}

/// `c = alpha·op(a)·op(b)` into an uninitialised view with the given parallelism (see
/// [`matmul_into_uninit_seq`]); the batched product uses it per batch item.
fn gemm_uninit(
    mut c: ArrayViewMut2<'_, MaybeUninit<f32>>,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    trans_a: bool,
    trans_b: bool,
    alpha: f32,
    par: Par,
) {
    let dim = c.dim();
    debug_assert_eq!(op_dims(&a, trans_a).0, dim.0, "gemm_uninit: rows");
    debug_assert_eq!(op_dims(&b, trans_b).1, dim.1, "gemm_uninit: columns");
    if !gemm_friendly(dim, c.strides()) {
        let mut t = matmul(a, b, trans_a, trans_b);
        if alpha != 1.0 {
            t.mapv_inplace(|v| alpha * v);
        }
        Zip::from(&mut c).and(&t).for_each(|ci, &ti| {
            ci.write(ti);
        });
        return;
    }
    let a = friendly(a);
    let b = friendly(b);
    let strides = c.strides().to_vec();
    // SAFETY: `c` is an exclusive view whose pointer, shape and strides we pass unchanged; with
    // `Accum::Replace` faer writes every element (zeros when k = 0) and never reads them.
    unsafe {
        gemm_raw_parts(
            c.as_mut_ptr() as *mut f32,
            dim,
            &strides,
            &a.view(),
            &b.view(),
            trans_a,
            trans_b,
            alpha,
            Accum::Replace,
            par,
            None,
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn gemm_into(
    mut c: ArrayViewMut2<'_, f32>,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    trans_a: bool,
    trans_b: bool,
    alpha: f32,
    beta: f32,
    par: Par,
) {
    let (m, k) = op_dims(&a, trans_a);
    let (k2, n) = op_dims(&b, trans_b);
    debug_assert_eq!(
        k, k2,
        "matmul_into: inner dimensions differ ({m}×{k} · {k2}×{n})"
    );
    debug_assert_eq!(c.dim(), (m, n), "matmul_into: output shape");
    if !gemm_friendly(c.dim(), c.strides()) {
        let mut t = matmul(a, b, trans_a, trans_b);
        if alpha != 1.0 {
            t.mapv_inplace(|v| alpha * v);
        }
        if beta == 0.0 {
            c.assign(&t);
        } else {
            c.zip_mut_with(&t, |ci, &ti| *ci = beta * *ci + ti);
        }
        return;
    }
    let accum = if beta == 0.0 {
        Accum::Replace
    } else {
        if beta != 1.0 {
            c.mapv_inplace(|v| beta * v);
        }
        Accum::Add
    };
    let a = friendly(a);
    let b = friendly(b);
    let dim = c.dim();
    let strides = c.strides().to_vec();
    // SAFETY: `c` is an exclusive view whose pointer, shape and strides we pass unchanged.
    unsafe {
        gemm_raw_parts(
            c.as_mut_ptr(),
            dim,
            &strides,
            &a.view(),
            &b.view(),
            trans_a,
            trans_b,
            alpha,
            accum,
            par,
            None,
        );
    }
}

/// Batched `op(a[i])·op(b[i])` for every `i` of the leading axis (equal lengths in `a` and `b`).
///
/// Small matrices (the attention products of a ViT, e.g. 384 × 65×64·64×65) run the batch items in
/// parallel over rayon, each product sequential; large ones run one after another with faer's own
/// parallelism. For one `b` shared by the whole batch, see the module docs (reshape and call
/// [`matmul`]).
pub fn batched_matmul(
    a: ArrayView3<'_, f32>,
    b: ArrayView3<'_, f32>,
    trans_a: bool,
    trans_b: bool,
) -> Array3<f32> {
    let batch = a.len_of(Axis(0));
    debug_assert_eq!(
        batch,
        b.len_of(Axis(0)),
        "batched_matmul: batch sizes differ"
    );
    let (_, ar, ac) = a.dim();
    let (m, k) = if trans_a { (ac, ar) } else { (ar, ac) };
    let (_, br, bc) = b.dim();
    let (k2, n) = if trans_b { (bc, br) } else { (br, bc) };
    debug_assert_eq!(
        k, k2,
        "batched_matmul: inner dimensions differ ({m}×{k} · {k2}×{n})"
    );

    let mut c = Array3::<f32>::uninit((batch, m, n));
    let one = |ci: ndarray::ArrayViewMut2<'_, MaybeUninit<f32>>,
               ai: ArrayView2<'_, f32>,
               bi: ArrayView2<'_, f32>,
               par: Par| gemm_uninit(ci, ai, bi, trans_a, trans_b, 1.0, par);
    let mnk = m.saturating_mul(n).saturating_mul(k);
    if mnk <= BATCH_PAR_MAX_MNK && rayon::current_num_threads() > 1 && batch > 1 {
        c.axis_iter_mut(Axis(0))
            .into_par_iter()
            .zip(a.axis_iter(Axis(0)).into_par_iter())
            .zip(b.axis_iter(Axis(0)).into_par_iter())
            .with_min_len(batch_min_len(mnk))
            .for_each(|((ci, ai), bi)| one(ci, ai, bi, Par::Seq));
    } else {
        let par = top_par();
        for ((ci, ai), bi) in c
            .axis_iter_mut(Axis(0))
            .zip(a.axis_iter(Axis(0)))
            .zip(b.axis_iter(Axis(0)))
        {
            one(ci, ai, bi, par);
        }
    }
    // SAFETY: every batch item was fully written above (faer `Replace` writes zeros when k = 0).
    unsafe { c.assume_init() }
}

/// Batch items per rayon task so that a task does at least ~2·10⁵ multiply-adds.
#[inline]
fn batch_min_len(mnk: usize) -> usize {
    (200_000 / mnk.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array2, Array3};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn rand2(rng: &mut ChaCha8Rng, r: usize, c: usize) -> Array2<f32> {
        Array2::from_shape_fn((r, c), |_| rng.gen_range(-1.0f32..1.0))
    }

    /// f64 reference of `beta·c + alpha·op(a)·op(b)`.
    fn reference(
        c: Option<&Array2<f32>>,
        a: ArrayView2<'_, f32>,
        b: ArrayView2<'_, f32>,
        ta: bool,
        tb: bool,
        alpha: f64,
        beta: f64,
    ) -> Array2<f64> {
        let a = if ta { a.t() } else { a.view() };
        let b = if tb { b.t() } else { b.view() };
        let (m, k) = a.dim();
        let n = b.ncols();
        Array2::from_shape_fn((m, n), |(i, j)| {
            let mut s = 0.0f64;
            for p in 0..k {
                s += a[(i, p)] as f64 * b[(p, j)] as f64;
            }
            let base = c.map_or(0.0, |c| beta * c[(i, j)] as f64);
            base + alpha * s
        })
    }

    fn assert_close(got: &Array2<f32>, want: &Array2<f64>, k: usize) {
        assert_eq!(got.dim(), want.dim());
        let tol = 1e-5 * (k as f64).sqrt().max(1.0) + 1e-6;
        for (g, w) in got.iter().zip(want.iter()) {
            assert!(
                (*g as f64 - w).abs() <= tol * (1.0 + w.abs()),
                "got {g}, want {w} (k = {k})"
            );
        }
    }

    #[test]
    fn matmul_random_shapes_and_transposes() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let dims = [0usize, 1, 2, 3, 7, 16, 17, 33, 64, 100];
        for _ in 0..120 {
            let m = dims[rng.gen_range(0..dims.len())];
            let n = dims[rng.gen_range(0..dims.len())];
            let k = dims[rng.gen_range(0..dims.len())];
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let a = if ta {
                    rand2(&mut rng, k, m)
                } else {
                    rand2(&mut rng, m, k)
                };
                let b = if tb {
                    rand2(&mut rng, n, k)
                } else {
                    rand2(&mut rng, k, n)
                };
                let got = matmul(a.view(), b.view(), ta, tb);
                assert_close(
                    &got,
                    &reference(None, a.view(), b.view(), ta, tb, 1.0, 0.0),
                    k,
                );
            }
        }
    }

    #[test]
    fn matmul_large_parallel_paths() {
        // Row split (m ≥ n), column split (m < n) and k split (k ≥ 4·max(m, n)), with and
        // without accumulation.
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for (m, k, n) in [
            (300, 257, 190),
            (70, 100, 300),
            (20, 3000, 30),
            (64, 1100, 9),
        ] {
            for (ta, tb) in [(false, false), (true, false), (false, true)] {
                let a = if ta {
                    rand2(&mut rng, k, m)
                } else {
                    rand2(&mut rng, m, k)
                };
                let b = if tb {
                    rand2(&mut rng, n, k)
                } else {
                    rand2(&mut rng, k, n)
                };
                let got = matmul(a.view(), b.view(), ta, tb);
                assert_close(
                    &got,
                    &reference(None, a.view(), b.view(), ta, tb, 1.0, 0.0),
                    k,
                );
                let c0 = rand2(&mut rng, m, n);
                let mut c = c0.clone();
                matmul_into(c.view_mut(), a.view(), b.view(), ta, tb, 0.5, 1.0);
                assert_close(
                    &c,
                    &reference(Some(&c0), a.view(), b.view(), ta, tb, 0.5, 1.0),
                    k,
                );
            }
        }
    }

    #[test]
    fn row_major_rhs_layouts_use_packed_path_correctly() {
        // xᵀ·dy (weight gradient) and x·W (forward): the layouts `seq_gemm` sends to
        // matrixmultiply. Checked on the calling thread (so the whole product takes that path),
        // overwriting an output full of NaN, accumulating, and into a stepped output view.
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let (m, k, n) = (130, 700, 150);
        assert!(m * n * k >= PACKED_MIN_MNK);
        for ta in [true, false] {
            let x = if ta {
                rand2(&mut rng, k, m)
            } else {
                rand2(&mut rng, m, k)
            };
            let w = rand2(&mut rng, k, n);
            let mut c = Array2::from_elem((m, n), f32::NAN);
            matmul_into_seq(c.view_mut(), x.view(), w.view(), ta, false, 1.0, 0.0);
            assert_close(
                &c,
                &reference(None, x.view(), w.view(), ta, false, 1.0, 0.0),
                k,
            );
            let c0 = rand2(&mut rng, m, n);
            let want = reference(Some(&c0), x.view(), w.view(), ta, false, -0.5, 1.0);
            let mut c = c0.clone();
            matmul_into_seq(c.view_mut(), x.view(), w.view(), ta, false, -0.5, 1.0);
            assert_close(&c, &want, k);
            let mut big = Array2::<f32>::zeros((m, 2 * n));
            big.slice_mut(s![.., ..;2]).assign(&c0);
            matmul_into_seq(
                big.slice_mut(s![.., ..;2]),
                x.view(),
                w.view(),
                ta,
                false,
                -0.5,
                1.0,
            );
            assert_close(&big.slice(s![.., ..;2]).to_owned(), &want, k);
            assert!(big.slice(s![.., 1..;2]).iter().all(|&v| v == 0.0));
        }
    }

    #[test]
    fn matmul_vectors_and_empty() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        // 1×k · k×1, k×1 · 1×k (outer product), 1×k · k×n, m×k · k×1.
        for (m, k, n) in [
            (1, 50, 1),
            (40, 1, 30),
            (1, 64, 70),
            (70, 64, 1),
            (0, 5, 3),
            (3, 0, 4),
            (3, 5, 0),
        ] {
            let a = rand2(&mut rng, m, k);
            let b = rand2(&mut rng, k, n);
            let got = matmul(a.view(), b.view(), false, false);
            assert_close(
                &got,
                &reference(None, a.view(), b.view(), false, false, 1.0, 0.0),
                k,
            );
            if k == 0 {
                assert!(got.iter().all(|&v| v == 0.0));
            }
        }
    }

    #[test]
    fn matmul_non_contiguous_and_negative_strides() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let big_a = rand2(&mut rng, 60, 80);
        let big_b = rand2(&mut rng, 90, 70);
        let views_a = [
            big_a.slice(s![..30, ..40]),     // sub-block, row stride ≠ ncols
            big_a.slice(s![..;2, ..40]),     // stepped rows
            big_a.slice(s![..30;-1, ..40]),  // negative row stride
            big_a.slice(s![..60;2, ..80;2]), // no unit stride at all
            big_a.slice(s![..30, ..40;-1]),  // negative column stride
        ];
        let views_b = [
            big_b.slice(s![..40, ..33]),
            big_b.slice(s![..80;2, ..33]),
            big_b.slice(s![..40;-1, ..33;-1]),
            big_b.slice(s![..40, ..66;2]),
        ];
        for a in &views_a {
            for b in &views_b {
                let k = a.ncols();
                let b = b.slice(s![..k, ..]);
                let got = matmul(a.view(), b.view(), false, false);
                assert_close(
                    &got,
                    &reference(None, a.view(), b.view(), false, false, 1.0, 0.0),
                    k,
                );
                // Same data, transposed views: op(aᵀ)ᵀ.
                let at = a.t();
                let bt = b.t();
                let got_t = matmul(at.view(), bt.view(), true, true);
                assert_close(
                    &got_t,
                    &reference(None, a.view(), b.view(), false, false, 1.0, 0.0),
                    k,
                );
            }
        }
    }

    /// The epilogue sees disjoint row blocks that cover the product exactly once, with their true
    /// first rows, on every path: one thread (small), split by rows, by columns and along k.
    #[test]
    fn epilogue_covers_every_row_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let mut rng = ChaCha8Rng::seed_from_u64(31);
        for (m, k, n, ta) in [
            (5, 3, 4, false),
            (700, 64, 96, false),
            (40, 96, 900, false),
            (48, 2000, 40, true),
        ] {
            let a = if ta {
                rand2(&mut rng, k, m)
            } else {
                rand2(&mut rng, m, k)
            };
            let b = rand2(&mut rng, k, n);
            let calls = AtomicUsize::new(0);
            let got = matmul_then(a.view(), b.view(), ta, false, &|row0, mut block| {
                calls.fetch_add(1, Ordering::Relaxed);
                for (i, mut row) in block.rows_mut().into_iter().enumerate() {
                    row += 1000.0 * (row0 + i) as f32;
                }
            });
            let mut want = reference(None, a.view(), b.view(), ta, false, 1.0, 0.0);
            for (i, mut row) in want.rows_mut().into_iter().enumerate() {
                row += 1000.0 * i as f64;
            }
            assert_close(&got, &want, k);
            assert!(calls.load(Ordering::Relaxed) >= 1);
        }
    }

    #[test]
    fn matmul_into_alpha_beta() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for (alpha, beta) in [
            (1.0f32, 0.0f32),
            (1.0, 1.0),
            (0.5, -2.0),
            (-1.5, 1.0),
            (2.0, 0.25),
        ] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let (m, k, n) = (37, 53, 29);
                let a = if ta {
                    rand2(&mut rng, k, m)
                } else {
                    rand2(&mut rng, m, k)
                };
                let b = if tb {
                    rand2(&mut rng, n, k)
                } else {
                    rand2(&mut rng, k, n)
                };
                let c0 = rand2(&mut rng, m, n);
                let want = reference(
                    Some(&c0),
                    a.view(),
                    b.view(),
                    ta,
                    tb,
                    alpha as f64,
                    beta as f64,
                );
                let mut c = c0.clone();
                matmul_into(c.view_mut(), a.view(), b.view(), ta, tb, alpha, beta);
                assert_close(&c, &want, k);
                // Into a non-contiguous (stepped) and a negatively strided output view.
                let mut big = Array2::<f32>::zeros((2 * m, 2 * n));
                big.slice_mut(s![..;2, ..;2]).assign(&c0);
                matmul_into(
                    big.slice_mut(s![..;2, ..;2]),
                    a.view(),
                    b.view(),
                    ta,
                    tb,
                    alpha,
                    beta,
                );
                assert_close(&big.slice(s![..;2, ..;2]).to_owned(), &want, k);
                assert!(big.slice(s![1..;2, ..]).iter().all(|&v| v == 0.0));
                let mut rev = c0.slice(s![..;-1, ..]).to_owned();
                matmul_into(
                    rev.slice_mut(s![..;-1, ..]),
                    a.view(),
                    b.view(),
                    ta,
                    tb,
                    alpha,
                    beta,
                );
                assert_close(&rev.slice(s![..;-1, ..]).to_owned(), &want, k);
            }
        }
        // beta = 0 ignores NaNs already in c.
        let a = rand2(&mut rng, 4, 3);
        let b = rand2(&mut rng, 3, 5);
        let mut c = Array2::from_elem((4, 5), f32::NAN);
        matmul_into(c.view_mut(), a.view(), b.view(), false, false, 1.0, 0.0);
        assert!(c.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn batched_matches_per_item() {
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        for (batch, m, k, n) in [
            (7, 65, 64, 65),
            (3, 150, 120, 130),
            (0, 4, 4, 4),
            (5, 1, 9, 1),
            (4, 3, 0, 2),
        ] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let ad = if ta { (batch, k, m) } else { (batch, m, k) };
                let bd = if tb { (batch, n, k) } else { (batch, k, n) };
                let a = Array3::from_shape_fn(ad, |_| rng.gen_range(-1.0f32..1.0));
                let b = Array3::from_shape_fn(bd, |_| rng.gen_range(-1.0f32..1.0));
                let got = batched_matmul(a.view(), b.view(), ta, tb);
                assert_eq!(got.dim(), (batch, m, n));
                for i in 0..batch {
                    let want = reference(
                        None,
                        a.index_axis(Axis(0), i),
                        b.index_axis(Axis(0), i),
                        ta,
                        tb,
                        1.0,
                        0.0,
                    );
                    assert_close(&got.index_axis(Axis(0), i).to_owned(), &want, k);
                }
            }
        }
        // A non-contiguous batch (every other item, permuted axes) and a broadcast (stride-0) b.
        let a = Array3::from_shape_fn((8, 20, 30), |_| rng.gen_range(-1.0f32..1.0));
        let b2 = rand2(&mut rng, 20, 11);
        let av = a.slice(s![..;2, .., ..]);
        let bb = b2.broadcast((4, 20, 11)).unwrap();
        let got = batched_matmul(av, bb, true, false);
        for i in 0..4 {
            let want = reference(
                None,
                av.index_axis(Axis(0), i),
                b2.view(),
                true,
                false,
                1.0,
                0.0,
            );
            assert_close(&got.index_axis(Axis(0), i).to_owned(), &want, 20);
        }
    }
}

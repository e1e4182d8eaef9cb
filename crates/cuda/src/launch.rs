//! One checked launch per kernel entry point of [`crate::kernels`].
//!
//! Each wrapper checks shapes, lengths, index ranges and hyper-parameters on the host (through
//! [`crate::plan`]) and returns [`CudaError::Invalid`] before anything reaches the device,
//! because a kernel trusts what it is given. Outputs are fresh tensors, except for the in-place
//! updates (`axpby`, `scatter_add_rows`, `adamw_step`), which take `&mut`. The semantics are
//! the CPU ops' of `eigenformer_tensor`, and `tests/parity.rs` compares each against an f64
//! reference.
//!
//! Launches are asynchronous: a fault inside a kernel is reported by the next
//! [`Gpu::synchronize`] or download, as CUDA does.

use crate::gpu::{
    AdamW, CrossEntropyOutput, Gpu, GpuMask, GpuTensor, LayerNormGrads, LayerNormOutput,
};
use crate::plan::{self, int, invalid};
use crate::CudaError;
use cudarc::driver::{LaunchArgs, LaunchConfig, PushKernelArg};

/// A grid-stride launch over `n > 0` elements.
fn elementwise(n: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (plan::elementwise_blocks(n), 1, 1),
        block_dim: (plan::THREADS, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// One block per row, with `blockDim.x` floats of shared memory for the block reduction.
/// `rows` fits a grid (it fits an `int`, checked by the caller).
fn per_row(rows: usize, cols: usize) -> LaunchConfig {
    let threads = plan::row_threads(cols);
    LaunchConfig {
        grid_dim: (rows as u32, 1, 1),
        block_dim: (threads, 1, 1),
        shared_mem_bytes: threads * 4,
    }
}

impl Gpu {
    /// Submit a built launch, mapping the driver's error.
    fn submit(&self, mut launch: LaunchArgs<'_>, cfg: LaunchConfig) -> Result<(), CudaError> {
        // SAFETY: every wrapper below checked that the argument list matches the kernel's
        // signature and that each buffer holds the elements the kernel indexes, for this grid.
        unsafe { launch.launch(cfg) }
            .map(|_| ())
            .map_err(|e| self.driver(e))
    }

    fn binary(
        &self,
        op: &'static str,
        kernel: &'static str,
        a: &GpuTensor,
        b: &GpuTensor,
    ) -> Result<GpuTensor, CudaError> {
        plan::same_shape(op, &a.shape, &b.shape)?;
        let mut out = self.output(&a.shape)?;
        let n = a.len();
        if n > 0 {
            let n_i = int(op, "n", n)?;
            let mut l = self.stream.launch_builder(self.function(kernel)?);
            l.arg(&a.data).arg(&b.data).arg(&mut out.data).arg(&n_i);
            self.submit(l, elementwise(n))?;
        }
        Ok(out)
    }

    /// `a + b`, elementwise (same shapes).
    pub fn add(&self, a: &GpuTensor, b: &GpuTensor) -> Result<GpuTensor, CudaError> {
        self.binary("add", "add_f32", a, b)
    }

    /// `a ⊙ b`, elementwise (same shapes).
    pub fn mul(&self, a: &GpuTensor, b: &GpuTensor) -> Result<GpuTensor, CudaError> {
        self.binary("mul", "mul_f32", a, b)
    }

    /// `out ← alpha·x + beta·out` in place: gradient accumulation and scaling.
    pub fn axpby(
        &self,
        alpha: f32,
        x: &GpuTensor,
        beta: f32,
        out: &mut GpuTensor,
    ) -> Result<(), CudaError> {
        plan::same_shape("axpby", &x.shape, &out.shape)?;
        let n = x.len();
        if n > 0 {
            let n_i = int("axpby", "n", n)?;
            let mut l = self.stream.launch_builder(self.function("axpby_f32")?);
            l.arg(&alpha)
                .arg(&x.data)
                .arg(&beta)
                .arg(&mut out.data)
                .arg(&n_i);
            self.submit(l, elementwise(n))?;
        }
        Ok(())
    }

    /// Exact GELU, `x·Φ(x)`.
    pub fn gelu(&self, x: &GpuTensor) -> Result<GpuTensor, CudaError> {
        let mut out = self.output(&x.shape)?;
        let n = x.len();
        if n > 0 {
            let n_i = int("gelu", "n", n)?;
            let mut l = self
                .stream
                .launch_builder(self.function("gelu_forward_f32")?);
            l.arg(&x.data).arg(&mut out.data).arg(&n_i);
            self.submit(l, elementwise(n))?;
        }
        Ok(out)
    }

    /// GELU's backward pass: `dy · (Φ(x) + x·φ(x))`.
    pub fn gelu_backward(&self, x: &GpuTensor, dy: &GpuTensor) -> Result<GpuTensor, CudaError> {
        self.binary("gelu_backward", "gelu_backward_f32", x, dy)
    }

    /// Row `r` (first axis) of `x` times `scale[r]`; `scale` has `x.shape[0]` values.
    pub fn scale_rows(&self, x: &GpuTensor, scale: &GpuTensor) -> Result<GpuTensor, CudaError> {
        let (rows, cols) = plan::batch_rows("scale_rows", &x.shape)?;
        if scale.len() != rows {
            return Err(invalid(
                "scale_rows",
                format!("{} scales for {rows} rows of {:?}", scale.len(), x.shape),
            ));
        }
        let mut out = self.output(&x.shape)?;
        if !x.is_empty() {
            let (r, c) = (
                int("scale_rows", "rows", rows)?,
                int("scale_rows", "cols", cols)?,
            );
            let mut l = self.stream.launch_builder(self.function("scale_rows_f32")?);
            l.arg(&x.data)
                .arg(&scale.data)
                .arg(&mut out.data)
                .arg(&r)
                .arg(&c);
            self.submit(l, elementwise(x.len()))?;
        }
        Ok(out)
    }

    /// `x + bias`, the bias (`[d]`, `d` the last axis) broadcast over every row.
    pub fn add_bias_rows(&self, x: &GpuTensor, bias: &GpuTensor) -> Result<GpuTensor, CudaError> {
        let (rows, cols) = plan::rows_cols("add_bias_rows", &x.shape)?;
        if bias.shape != [cols] {
            return Err(invalid(
                "add_bias_rows",
                format!("bias {:?} must be [{cols}] for {:?}", bias.shape, x.shape),
            ));
        }
        let mut out = self.output(&x.shape)?;
        if !x.is_empty() {
            let (r, c) = (
                int("add_bias_rows", "rows", rows)?,
                int("add_bias_rows", "cols", cols)?,
            );
            let mut l = self
                .stream
                .launch_builder(self.function("add_bias_rows_f32")?);
            l.arg(&x.data)
                .arg(&bias.data)
                .arg(&mut out.data)
                .arg(&r)
                .arg(&c);
            self.submit(l, elementwise(x.len()))?;
        }
        Ok(out)
    }

    /// Inverted dropout with a host mask of one entry per element: `x · (keep ? scale : 0)`,
    /// `scale = 1/(1 − p)`. The backward pass is the same call on the gradient.
    pub fn dropout_mask(
        &self,
        x: &GpuTensor,
        keep: &GpuMask,
        scale: f32,
    ) -> Result<GpuTensor, CudaError> {
        if keep.len() != x.len() {
            return Err(invalid(
                "dropout_mask",
                format!("a mask of {} entries for {:?}", keep.len(), x.shape),
            ));
        }
        let mut out = self.output(&x.shape)?;
        let n = x.len();
        if n > 0 {
            let n_i = int("dropout_mask", "n", n)?;
            let mut l = self
                .stream
                .launch_builder(self.function("dropout_mask_f32")?);
            l.arg(&x.data)
                .arg(&keep.data)
                .arg(&scale)
                .arg(&mut out.data)
                .arg(&n_i);
            self.submit(l, elementwise(n))?;
        }
        Ok(out)
    }

    /// Drop-path with a host mask of one entry per sample (first axis): whole samples kept
    /// (times `scale`) or zeroed. Forward and backward alike.
    pub fn drop_path_mask(
        &self,
        x: &GpuTensor,
        keep: &GpuMask,
        scale: f32,
    ) -> Result<GpuTensor, CudaError> {
        let (rows, cols) = plan::batch_rows("drop_path_mask", &x.shape)?;
        if keep.len() != rows {
            return Err(invalid(
                "drop_path_mask",
                format!("a mask of {} entries for {rows} samples", keep.len()),
            ));
        }
        let mut out = self.output(&x.shape)?;
        if !x.is_empty() {
            let (r, c) = (
                int("drop_path_mask", "rows", rows)?,
                int("drop_path_mask", "cols", cols)?,
            );
            let mut l = self
                .stream
                .launch_builder(self.function("drop_path_mask_f32")?);
            l.arg(&x.data)
                .arg(&keep.data)
                .arg(&scale)
                .arg(&mut out.data)
                .arg(&r)
                .arg(&c);
            self.submit(l, elementwise(x.len()))?;
        }
        Ok(out)
    }

    /// Softmax over the last axis.
    pub fn softmax(&self, x: &GpuTensor) -> Result<GpuTensor, CudaError> {
        let (rows, cols) = plan::rows_cols("softmax", &x.shape)?;
        let mut y = self.output(&x.shape)?;
        if !x.is_empty() {
            let (r, c) = (int("softmax", "rows", rows)?, int("softmax", "cols", cols)?);
            let mut l = self
                .stream
                .launch_builder(self.function("softmax_forward_f32")?);
            l.arg(&x.data).arg(&mut y.data).arg(&r).arg(&c);
            self.submit(l, per_row(rows, cols))?;
        }
        Ok(y)
    }

    /// Softmax's backward pass from its output `y`: `y ⊙ (dy − Σ dy ⊙ y)` per row.
    pub fn softmax_backward(&self, y: &GpuTensor, dy: &GpuTensor) -> Result<GpuTensor, CudaError> {
        plan::same_shape("softmax_backward", &y.shape, &dy.shape)?;
        let (rows, cols) = plan::rows_cols("softmax_backward", &y.shape)?;
        let mut dx = self.output(&y.shape)?;
        if !y.is_empty() {
            let (r, c) = (
                int("softmax_backward", "rows", rows)?,
                int("softmax_backward", "cols", cols)?,
            );
            let mut l = self
                .stream
                .launch_builder(self.function("softmax_backward_f32")?);
            l.arg(&y.data)
                .arg(&dy.data)
                .arg(&mut dx.data)
                .arg(&r)
                .arg(&c);
            self.submit(l, per_row(rows, cols))?;
        }
        Ok(dx)
    }

    fn check_row_param(
        op: &'static str,
        name: &str,
        p: &GpuTensor,
        cols: usize,
    ) -> Result<(), CudaError> {
        if p.shape != [cols] {
            return Err(invalid(
                op,
                format!("{name} {:?} must be [{cols}]", p.shape),
            ));
        }
        Ok(())
    }

    /// LayerNorm over the last axis, `(x − μ)/√(σ² + eps)·γ + β` with the biased variance.
    pub fn layer_norm(
        &self,
        x: &GpuTensor,
        gamma: &GpuTensor,
        beta: &GpuTensor,
        eps: f32,
    ) -> Result<LayerNormOutput, CudaError> {
        let op = "layer_norm";
        let (rows, cols) = plan::rows_cols(op, &x.shape)?;
        Self::check_row_param(op, "gamma", gamma, cols)?;
        Self::check_row_param(op, "beta", beta, cols)?;
        if eps.is_nan() || eps <= 0.0 {
            return Err(invalid(op, format!("eps {eps} must be > 0")));
        }
        let mut out = LayerNormOutput {
            y: self.output(&x.shape)?,
            mean: self.output(&[rows])?,
            rstd: self.output(&[rows])?,
        };
        if !x.is_empty() {
            let (r, c) = (int(op, "rows", rows)?, int(op, "cols", cols)?);
            let mut l = self
                .stream
                .launch_builder(self.function("layernorm_forward_f32")?);
            l.arg(&x.data)
                .arg(&gamma.data)
                .arg(&beta.data)
                .arg(&mut out.y.data)
                .arg(&mut out.mean.data)
                .arg(&mut out.rstd.data)
                .arg(&r)
                .arg(&c)
                .arg(&eps);
            self.submit(l, per_row(rows, cols))?;
        }
        Ok(out)
    }

    /// LayerNorm's backward pass from the forward's saved `mean` and `rstd`.
    pub fn layer_norm_backward(
        &self,
        x: &GpuTensor,
        gamma: &GpuTensor,
        mean: &GpuTensor,
        rstd: &GpuTensor,
        dy: &GpuTensor,
    ) -> Result<LayerNormGrads, CudaError> {
        let op = "layer_norm_backward";
        plan::same_shape(op, &x.shape, &dy.shape)?;
        let (rows, cols) = plan::rows_cols(op, &x.shape)?;
        Self::check_row_param(op, "gamma", gamma, cols)?;
        for (name, s) in [("mean", mean), ("rstd", rstd)] {
            if s.shape != [rows] {
                return Err(invalid(
                    op,
                    format!("{name} {:?} must be [{rows}]", s.shape),
                ));
            }
        }
        // dgamma and dbeta are accumulated with atomics: they must start at zero.
        let mut g = LayerNormGrads {
            dx: self.output(&x.shape)?,
            dgamma: self.zeros(&[cols])?,
            dbeta: self.zeros(&[cols])?,
        };
        if !x.is_empty() {
            let (r, c) = (int(op, "rows", rows)?, int(op, "cols", cols)?);
            let mut l = self
                .stream
                .launch_builder(self.function("layernorm_backward_f32")?);
            l.arg(&x.data)
                .arg(&gamma.data)
                .arg(&mean.data)
                .arg(&rstd.data)
                .arg(&dy.data)
                .arg(&mut g.dx.data)
                .arg(&mut g.dgamma.data)
                .arg(&mut g.dbeta.data)
                .arg(&r)
                .arg(&c);
            self.submit(l, per_row(rows, cols))?;
        }
        Ok(g)
    }

    /// The checks of the CPU's `cross_entropy`: `[N, C]` logits, `N = labels.len() > 0`,
    /// labels below `C`, smoothing in `[0, 1)`.
    fn check_cross_entropy(
        &self,
        op: &'static str,
        logits: &GpuTensor,
        labels: &[usize],
        smoothing: f32,
    ) -> Result<(usize, usize, cudarc::driver::CudaSlice<i32>), CudaError> {
        let &[rows, classes] = logits.shape.as_slice() else {
            return Err(invalid(
                op,
                format!("logits must be [N, C], got {:?}", logits.shape),
            ));
        };
        if rows != labels.len() || rows == 0 {
            return Err(invalid(
                op,
                format!(
                    "{} labels for logits {:?} (N must equal the number of labels, N > 0)",
                    labels.len(),
                    logits.shape
                ),
            ));
        }
        if !(0.0..1.0).contains(&smoothing) {
            return Err(invalid(
                op,
                format!("label smoothing {smoothing} must be in [0, 1)"),
            ));
        }
        let ids = plan::indices(op, "label", labels, classes)?;
        Ok((rows, classes, self.upload_indices(&ids)?))
    }

    /// Label-smoothed cross-entropy of `[N, C]` logits: each row's loss (their mean is the
    /// CPU's `cross_entropy`) and the gradient of the mean.
    pub fn cross_entropy(
        &self,
        logits: &GpuTensor,
        labels: &[usize],
        smoothing: f32,
    ) -> Result<CrossEntropyOutput, CudaError> {
        let op = "cross_entropy";
        let (rows, classes, ids) = self.check_cross_entropy(op, logits, labels, smoothing)?;
        let mut out = CrossEntropyOutput {
            row_losses: self.output(&[rows])?,
            grad: self.output(&logits.shape)?,
        };
        let (r, c) = (int(op, "rows", rows)?, int(op, "classes", classes)?);
        let mut l = self
            .stream
            .launch_builder(self.function("cross_entropy_forward_f32")?);
        l.arg(&logits.data)
            .arg(&ids)
            .arg(&mut out.row_losses.data)
            .arg(&mut out.grad.data)
            .arg(&r)
            .arg(&c)
            .arg(&smoothing);
        self.submit(l, per_row(rows, classes))?;
        Ok(out)
    }

    /// The backward pass of the mean label-smoothed cross-entropy for an upstream gradient
    /// `dloss` (one value, on the device): `dloss·(softmax − target)/N`.
    pub fn cross_entropy_backward(
        &self,
        logits: &GpuTensor,
        labels: &[usize],
        dloss: &GpuTensor,
        smoothing: f32,
    ) -> Result<GpuTensor, CudaError> {
        let op = "cross_entropy_backward";
        if dloss.len() != 1 {
            return Err(invalid(
                op,
                format!(
                    "the upstream gradient must be one value, got {:?}",
                    dloss.shape
                ),
            ));
        }
        let (rows, classes, ids) = self.check_cross_entropy(op, logits, labels, smoothing)?;
        let mut grad = self.output(&logits.shape)?;
        let (r, c) = (int(op, "rows", rows)?, int(op, "classes", classes)?);
        let mut l = self
            .stream
            .launch_builder(self.function("cross_entropy_backward_f32")?);
        l.arg(&logits.data)
            .arg(&ids)
            .arg(&dloss.data)
            .arg(&mut grad.data)
            .arg(&r)
            .arg(&c)
            .arg(&smoothing);
        self.submit(l, per_row(rows, classes))?;
        Ok(grad)
    }

    /// Sums over every axis but the last: `[.., d]` to `[d]`, the gradient of a bias broadcast
    /// over rows. Deterministic (fixed order of additions, no atomics).
    pub fn col_sums(&self, x: &GpuTensor) -> Result<GpuTensor, CudaError> {
        let op = "col_sums";
        let (mut rows, cols) = plan::rows_cols(op, &x.shape)?;
        if rows == 0 || cols == 0 {
            return self.zeros(&[cols]);
        }
        let c = int(op, "cols", cols)?;
        let mut partial: Option<GpuTensor> = None;
        loop {
            // gridDim.y is at most 65535: larger inputs take longer chunks.
            let chunk = plan::COL_SUM_CHUNK.max(rows.div_ceil(65535));
            let chunks = rows.div_ceil(chunk);
            let mut out = self.output(&[chunks, cols])?;
            let (r, ch) = (int(op, "rows", rows)?, int(op, "chunk", chunk)?);
            let src = partial.as_ref().unwrap_or(x);
            let mut l = self.stream.launch_builder(self.function("col_sums_f32")?);
            l.arg(&src.data).arg(&mut out.data).arg(&r).arg(&c).arg(&ch);
            let cfg = LaunchConfig {
                // cols fits an int, so cols / 32 fits a grid; chunks ≤ 65535.
                grid_dim: (cols.div_ceil(32) as u32, chunks as u32, 1),
                block_dim: (32, 32, 1),
                shared_mem_bytes: 0,
            };
            self.submit(l, cfg)?;
            rows = chunks;
            let done = chunks == 1;
            partial = Some(out);
            if done {
                break;
            }
        }
        match partial {
            Some(sums) => sums.reshape(&[cols]),
            None => self.zeros(&[cols]),
        }
    }

    /// `[B, C, H, W]` images to `[B, (H/p)·(W/p), C·p·p]` patch rows: patches in row-major
    /// order, each row ordered (channel, dy, dx), as the CPU's `patchify`.
    pub fn patchify(&self, x: &GpuTensor, patch: usize) -> Result<GpuTensor, CudaError> {
        let op = "patchify";
        let g = plan::patchify(op, &x.shape, patch)?;
        let mut out = self.output(&g.out_shape)?;
        if !x.is_empty() {
            let [b, c, h, w, p] = plan::ints(op, [g.b, g.c, g.h, g.w, g.p])?;
            let mut l = self.stream.launch_builder(self.function("patchify_f32")?);
            l.arg(&x.data)
                .arg(&mut out.data)
                .arg(&b)
                .arg(&c)
                .arg(&h)
                .arg(&w)
                .arg(&p);
            self.submit(l, elementwise(x.len()))?;
        }
        Ok(out)
    }

    /// Patchify's backward pass: the patch-row gradient `g` back to the `[B, C, H, W]` image
    /// gradient (`image` is the forward input's shape).
    pub fn patchify_backward(
        &self,
        g: &GpuTensor,
        image: &[usize],
        patch: usize,
    ) -> Result<GpuTensor, CudaError> {
        let op = "patchify_backward";
        let geo = plan::patchify(op, image, patch)?;
        if g.shape != geo.out_shape {
            return Err(invalid(
                op,
                format!(
                    "gradient {:?} must be {:?} for images {image:?}",
                    g.shape, geo.out_shape
                ),
            ));
        }
        let mut dx = self.output(image)?;
        let len = dx.len();
        if len > 0 {
            let [b, c, h, w, p] = plan::ints(op, [geo.b, geo.c, geo.h, geo.w, geo.p])?;
            let mut l = self
                .stream
                .launch_builder(self.function("patchify_backward_f32")?);
            l.arg(&g.data)
                .arg(&mut dx.data)
                .arg(&b)
                .arg(&c)
                .arg(&h)
                .arg(&w)
                .arg(&p);
            self.submit(l, elementwise(len))?;
        }
        Ok(dx)
    }

    fn table_dims(op: &'static str, table: &GpuTensor) -> Result<(usize, usize), CudaError> {
        match *table.shape.as_slice() {
            [vocab, dim] => Ok((vocab, dim)),
            _ => Err(invalid(
                op,
                format!("the table must be [vocab, dim], got {:?}", table.shape),
            )),
        }
    }

    /// Embedding lookup: rows `ids` of a `[vocab, dim]` table, `[ids.len(), dim]`.
    pub fn gather_rows(&self, table: &GpuTensor, ids: &[usize]) -> Result<GpuTensor, CudaError> {
        let op = "gather_rows";
        let (vocab, dim) = Self::table_dims(op, table)?;
        let idx = plan::indices(op, "index", ids, vocab)?;
        let mut out = self.output(&[ids.len(), dim])?;
        let len = out.len();
        if len > 0 {
            let dev_ids = self.upload_indices(&idx)?;
            let (n, d) = (int(op, "rows", ids.len())?, int(op, "dim", dim)?);
            let mut l = self
                .stream
                .launch_builder(self.function("gather_rows_f32")?);
            l.arg(&table.data)
                .arg(&dev_ids)
                .arg(&mut out.data)
                .arg(&n)
                .arg(&d);
            self.submit(l, elementwise(len))?;
        }
        Ok(out)
    }

    /// The gather's backward pass: `table_grad[ids[r]] += g[r]` for every row `r` of the
    /// `[ids.len(), dim]` gradient, accumulating into `table_grad` (`[vocab, dim]`; pass zeros
    /// for a fresh gradient). Repeated ids add up.
    pub fn scatter_add_rows(
        &self,
        g: &GpuTensor,
        ids: &[usize],
        table_grad: &mut GpuTensor,
    ) -> Result<(), CudaError> {
        let op = "scatter_add_rows";
        let (vocab, dim) = Self::table_dims(op, table_grad)?;
        if g.shape != [ids.len(), dim] {
            return Err(invalid(
                op,
                format!("gradient {:?} must be [{}, {dim}]", g.shape, ids.len()),
            ));
        }
        let idx = plan::indices(op, "index", ids, vocab)?;
        if !g.is_empty() {
            let dev_ids = self.upload_indices(&idx)?;
            let (n, d) = (int(op, "rows", ids.len())?, int(op, "dim", dim)?);
            let mut l = self
                .stream
                .launch_builder(self.function("scatter_add_rows_f32")?);
            l.arg(&g.data)
                .arg(&dev_ids)
                .arg(&mut table_grad.data)
                .arg(&n)
                .arg(&d);
            self.submit(l, elementwise(g.len()))?;
        }
        Ok(())
    }

    /// One AdamW step (`step` ≥ 1, counting from 1) on a parameter `p` in place, with its
    /// gradient `g` and moments `m`, `v` (zeros before the first step): the CPU optimiser's
    /// update, `p ← p·(1 − lr·wd) − lr·m̂/(√v̂ + eps)`.
    pub fn adamw_step(
        &self,
        p: &mut GpuTensor,
        g: &GpuTensor,
        m: &mut GpuTensor,
        v: &mut GpuTensor,
        hp: AdamW,
        step: u32,
    ) -> Result<(), CudaError> {
        let op = "adamw_step";
        for (name, t) in [("gradient", g), ("m", &*m), ("v", &*v)] {
            if t.shape != p.shape {
                return Err(invalid(
                    op,
                    format!(
                        "{name} {:?} differs from the parameter {:?}",
                        t.shape, p.shape
                    ),
                ));
            }
        }
        let valid = hp.lr >= 0.0
            && (0.0..1.0).contains(&hp.beta1)
            && (0.0..1.0).contains(&hp.beta2)
            && hp.eps > 0.0
            && hp.weight_decay >= 0.0;
        if !valid {
            return Err(invalid(op, format!("invalid hyper-parameters {hp:?} (lr ≥ 0, betas in [0, 1), eps > 0, weight decay ≥ 0)")));
        }
        let t = i32::try_from(step)
            .ok()
            .filter(|&t| t >= 1)
            .ok_or_else(|| invalid(op, format!("step {step} must be in 1..=i32::MAX")))?;
        // The CPU's bias corrections and decay, computed the same way in f32.
        let bc1 = 1.0 - hp.beta1.powi(t);
        let bc2 = 1.0 - hp.beta2.powi(t);
        let decay = hp.lr * hp.weight_decay;
        let n = p.len();
        if n > 0 {
            let n_i = int(op, "n", n)?;
            let mut l = self.stream.launch_builder(self.function("adamw_step_f32")?);
            l.arg(&mut p.data)
                .arg(&g.data)
                .arg(&mut m.data)
                .arg(&mut v.data)
                .arg(&n_i)
                .arg(&hp.lr)
                .arg(&hp.beta1)
                .arg(&hp.beta2)
                .arg(&hp.eps)
                .arg(&bc1)
                .arg(&bc2)
                .arg(&decay);
            self.submit(l, elementwise(n))?;
        }
        Ok(())
    }
}

//! CUDA C sources of the kernels of a ViT training step that are not GEMMs (those go to
//! cuBLAS), compiled at run time by NVRTC ([`crate::compile_kernels`]).
//!
//! Conventions shared by every kernel: f32 data, contiguous row-major arrays, `n` elements or
//! `rows × cols` matrices passed as `int`; elementwise kernels use a grid-stride loop so any
//! launch size covers the array; row kernels take one block per row (`blockDim.x` a power of
//! two ≤ 1024) and reduce in shared memory of `blockDim.x` floats (the launch passes it as
//! dynamic shared memory). They mirror the CPU kernels of `eigenformer_tensor` (exact-erf GELU,
//! LayerNorm with biased variance, label-smoothed cross-entropy, decoupled AdamW), so that the
//! CPU-parity tests compare like with like.

/// One NVRTC module: a name and its CUDA C source, with the `extern "C"` entry points it defines.
#[derive(Debug, Clone, Copy)]
pub struct Module {
    /// The module's name.
    pub name: &'static str,
    /// The kernel entry points (`extern "C" __global__`).
    pub entries: &'static [&'static str],
    /// The CUDA C source.
    pub source: &'static str,
}

/// Elementwise arithmetic, GELU, bias broadcast over rows, and the application of dropout and
/// drop-path masks drawn on the host.
pub const ELEMENTWISE: Module = Module {
    name: "elementwise",
    entries: &[
        "add_f32",
        "mul_f32",
        "axpby_f32",
        "gelu_forward_f32",
        "gelu_backward_f32",
        "scale_rows_f32",
        "add_bias_rows_f32",
        "dropout_mask_f32",
        "drop_path_mask_f32",
    ],
    source: r#"
#define GRID_STRIDE(i, n) for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += blockDim.x * gridDim.x)

extern "C" __global__ void add_f32(const float* a, const float* b, float* out, int n) {
    GRID_STRIDE(i, n) { out[i] = a[i] + b[i]; }
}

extern "C" __global__ void mul_f32(const float* a, const float* b, float* out, int n) {
    GRID_STRIDE(i, n) { out[i] = a[i] * b[i]; }
}

// out = alpha * x + beta * out (gradient accumulation, scaling).
extern "C" __global__ void axpby_f32(float alpha, const float* x, float beta, float* out, int n) {
    GRID_STRIDE(i, n) { out[i] = alpha * x[i] + beta * out[i]; }
}

// Exact GELU: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)).
extern "C" __global__ void gelu_forward_f32(const float* x, float* out, int n) {
    GRID_STRIDE(i, n) {
        float v = x[i];
        out[i] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    }
}

// d/dx [x Phi(x)] = Phi(x) + x phi(x).
extern "C" __global__ void gelu_backward_f32(const float* x, const float* dy, float* dx, int n) {
    GRID_STRIDE(i, n) {
        float v = x[i];
        float cdf = 0.5f * (1.0f + erff(v * 0.70710678118654752f));
        float pdf = 0.39894228040143268f * expf(-0.5f * v * v);
        dx[i] = dy[i] * (cdf + v * pdf);
    }
}

// Drop-path: row r of a [rows, cols] tensor times scale[r] (0 or 1 / keep).
extern "C" __global__ void scale_rows_f32(const float* x, const float* scale, float* out, int rows, int cols) {
    GRID_STRIDE(i, rows * cols) { out[i] = x[i] * scale[i / cols]; }
}

// A bias of `cols` values broadcast over the rows of a [rows, cols] tensor (`x + b` on the CPU).
extern "C" __global__ void add_bias_rows_f32(const float* x, const float* bias, float* out, int rows, int cols) {
    GRID_STRIDE(i, rows * cols) { out[i] = x[i] + bias[i % cols]; }
}

// Inverted dropout with a mask drawn on the host (one byte per element, 1 = kept). The CPU
// multiplies by a mask of 0 or scale = 1 / (1 - p); so does this, so that even inf and NaN
// agree. The backward pass is the same call on the upstream gradient.
extern "C" __global__ void dropout_mask_f32(const float* x, const unsigned char* keep, float scale,
                                            float* out, int n) {
    GRID_STRIDE(i, n) { out[i] = x[i] * (keep[i] ? scale : 0.0f); }
}

// Drop-path: whole rows (samples) of a [rows, cols] tensor kept (times scale) or zeroed, by a
// host mask of one byte per row. Forward and backward alike.
extern "C" __global__ void drop_path_mask_f32(const float* x, const unsigned char* keep, float scale,
                                              float* out, int rows, int cols) {
    GRID_STRIDE(i, rows * cols) { out[i] = x[i] * (keep[i / cols] ? scale : 0.0f); }
}
"#,
};

/// Row-wise reductions: softmax, LayerNorm and label-smoothed cross-entropy, forward and
/// backward.
pub const ROWS: Module = Module {
    name: "rows",
    entries: &[
        "softmax_forward_f32",
        "softmax_backward_f32",
        "layernorm_forward_f32",
        "layernorm_backward_f32",
        "cross_entropy_forward_f32",
        "cross_entropy_backward_f32",
    ],
    source: r#"
// Reduce `v` over the block into buf[0] (sum or max); every thread gets the result.
__device__ float block_reduce(float v, float* buf, bool is_max) {
    buf[threadIdx.x] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            float o = buf[threadIdx.x + s];
            buf[threadIdx.x] = is_max ? fmaxf(buf[threadIdx.x], o) : buf[threadIdx.x] + o;
        }
        __syncthreads();
    }
    float r = buf[0];
    __syncthreads();
    return r;
}

extern "C" __global__ void softmax_forward_f32(const float* x, float* y, int rows, int cols) {
    extern __shared__ float buf[];
    int r = blockIdx.x;
    if (r >= rows) return;
    const float* xr = x + (long long)r * cols;
    float* yr = y + (long long)r * cols;
    float m = -__int_as_float(0x7f800000);
    for (int j = threadIdx.x; j < cols; j += blockDim.x) m = fmaxf(m, xr[j]);
    m = block_reduce(m, buf, true);
    float s = 0.0f;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) { float e = expf(xr[j] - m); yr[j] = e; s += e; }
    s = block_reduce(s, buf, false);
    for (int j = threadIdx.x; j < cols; j += blockDim.x) yr[j] /= s;
}

// dx = y * (dy - sum_j dy_j y_j).
extern "C" __global__ void softmax_backward_f32(const float* y, const float* dy, float* dx, int rows, int cols) {
    extern __shared__ float buf[];
    int r = blockIdx.x;
    if (r >= rows) return;
    long long o = (long long)r * cols;
    float d = 0.0f;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) d += dy[o + j] * y[o + j];
    d = block_reduce(d, buf, false);
    for (int j = threadIdx.x; j < cols; j += blockDim.x) dx[o + j] = y[o + j] * (dy[o + j] - d);
}

// y = (x - mean) * rstd * gamma + beta, the biased variance; saves mean and rstd per row.
extern "C" __global__ void layernorm_forward_f32(const float* x, const float* gamma, const float* beta,
                                                 float* y, float* mean, float* rstd, int rows, int cols, float eps) {
    extern __shared__ float buf[];
    int r = blockIdx.x;
    if (r >= rows) return;
    long long o = (long long)r * cols;
    float s = 0.0f;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) s += x[o + j];
    float mu = block_reduce(s, buf, false) / cols;
    float q = 0.0f;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) { float c = x[o + j] - mu; q += c * c; }
    float rs = rsqrtf(block_reduce(q, buf, false) / cols + eps);
    for (int j = threadIdx.x; j < cols; j += blockDim.x) y[o + j] = (x[o + j] - mu) * rs * gamma[j] + beta[j];
    if (threadIdx.x == 0) { mean[r] = mu; rstd[r] = rs; }
}

// dx per row: rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * gamma. The parameter
// gradients (sums over rows of dy * xhat and dy) are accumulated with atomics.
extern "C" __global__ void layernorm_backward_f32(const float* x, const float* gamma, const float* mean,
                                                  const float* rstd, const float* dy, float* dx,
                                                  float* dgamma, float* dbeta, int rows, int cols) {
    extern __shared__ float buf[];
    int r = blockIdx.x;
    if (r >= rows) return;
    long long o = (long long)r * cols;
    float mu = mean[r], rs = rstd[r];
    float sg = 0.0f, sgx = 0.0f;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        float xhat = (x[o + j] - mu) * rs;
        float g = dy[o + j] * gamma[j];
        sg += g;
        sgx += g * xhat;
        atomicAdd(&dgamma[j], dy[o + j] * xhat);
        atomicAdd(&dbeta[j], dy[o + j]);
    }
    sg = block_reduce(sg, buf, false) / cols;
    sgx = block_reduce(sgx, buf, false) / cols;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        float xhat = (x[o + j] - mu) * rs;
        dx[o + j] = rs * (dy[o + j] * gamma[j] - sg - xhat * sgx);
    }
}

// log Σ_j exp(row[j]) over one row, by the block (max-shifted); every thread gets the result.
// Shared by the cross-entropy forward and backward, which must agree on it.
__device__ float row_logsumexp(const float* row, int cols, float* buf) {
    float m = -__int_as_float(0x7f800000);
    for (int j = threadIdx.x; j < cols; j += blockDim.x) m = fmaxf(m, row[j]);
    m = block_reduce(m, buf, true);
    float s = 0.0f;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) s += expf(row[j] - m);
    return logf(block_reduce(s, buf, false)) + m;
}

// Label-smoothed cross-entropy of logits [rows, classes]: the target distribution puts
// 1 - s + s/C on the label and s/C elsewhere. Writes each row's loss and the gradient of the
// mean loss, (softmax - target) / rows.
extern "C" __global__ void cross_entropy_forward_f32(const float* logits, const int* labels, float* loss,
                                                     float* grad, int rows, int classes, float smoothing) {
    extern __shared__ float buf[];
    int r = blockIdx.x;
    if (r >= rows) return;
    long long o = (long long)r * classes;
    float lse = row_logsumexp(logits + o, classes, buf);
    float off = smoothing / classes, on = 1.0f - smoothing + off;
    float l = 0.0f;
    for (int j = threadIdx.x; j < classes; j += blockDim.x) {
        float t = (j == labels[r]) ? on : off;
        l += t * (lse - logits[o + j]);
        grad[o + j] = (expf(logits[o + j] - lse) - t) / rows;
    }
    l = block_reduce(l, buf, false);
    if (threadIdx.x == 0) loss[r] = l;
}

// The backward pass of the mean label-smoothed cross-entropy: dlogits = dloss * (softmax - target)
// / rows, with dloss the upstream gradient of the (scalar) mean loss, read from device memory so
// that the graph never waits on the host.
extern "C" __global__ void cross_entropy_backward_f32(const float* logits, const int* labels, const float* dloss,
                                                      float* grad, int rows, int classes, float smoothing) {
    extern __shared__ float buf[];
    int r = blockIdx.x;
    if (r >= rows) return;
    long long o = (long long)r * classes;
    float lse = row_logsumexp(logits + o, classes, buf);
    float off = smoothing / classes, on = 1.0f - smoothing + off;
    float g = dloss[0] / rows;
    for (int j = threadIdx.x; j < classes; j += blockDim.x) {
        float t = (j == labels[r]) ? on : off;
        grad[o + j] = g * (expf(logits[o + j] - lse) - t);
    }
}
"#,
};

/// Column sums of a `[rows, cols]` matrix: the gradient of a bias broadcast over rows.
///
/// Launch: `blockDim = (32, 32)`, `gridDim = (ceil(cols / 32), ceil(rows / chunk))`; each block
/// sums `chunk` rows of 32 columns and writes one row of partial sums `out[blockIdx.y, :]`. With
/// more than one chunk the host sums the partials by launching again on them, so the order of
/// the additions is fixed (no atomics): the same input gives the same bits on every run.
pub const REDUCE: Module = Module {
    name: "reduce",
    entries: &["col_sums_f32"],
    source: r#"
extern "C" __global__ void col_sums_f32(const float* x, float* out, int rows, int cols, int chunk) {
    __shared__ float buf[32][33];
    int j = blockIdx.x * 32 + threadIdx.x;
    int r0 = blockIdx.y * chunk;
    int r1 = min(r0 + chunk, rows);
    float s = 0.0f;
    if (j < cols) {
        for (int r = r0 + threadIdx.y; r < r1; r += 32) s += x[(long long)r * cols + j];
    }
    buf[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    for (int h = 16; h > 0; h >>= 1) {
        if (threadIdx.y < h) buf[threadIdx.y][threadIdx.x] += buf[threadIdx.y + h][threadIdx.x];
        __syncthreads();
    }
    if (threadIdx.y == 0 && j < cols) out[(long long)blockIdx.y * cols + j] = buf[0][threadIdx.x];
}
"#,
};

/// Moving rows around: patchify (and its backward, the inverse permutation), and the row
/// gather of an embedding lookup (and its backward, a scatter-add). Elementwise launches with a
/// grid-stride loop over the output, like [`ELEMENTWISE`].
pub const LAYOUT: Module = Module {
    name: "layout",
    entries: &[
        "patchify_f32",
        "patchify_backward_f32",
        "gather_rows_f32",
        "scatter_add_rows_f32",
    ],
    source: r#"
#define GRID_STRIDE(i, n) for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += blockDim.x * gridDim.x)

// [B, C, H, W] images to [B, (H/p)(W/p), C p p] patch rows, patches in row-major order and each
// row ordered (channel, dy, dx), as eigenformer_tensor's `patchify`: one thread per output value.
extern "C" __global__ void patchify_f32(const float* x, float* out, int b, int c, int h, int w, int p) {
    int gw = w / p, gh = h / p;
    int row = c * p * p;
    GRID_STRIDE(i, b * gh * gw * row) {
        int e = i % row, t = i / row;
        int patch = t % (gh * gw), n = t / (gh * gw);
        int ch = e / (p * p), dy = (e / p) % p, dx = e % p;
        int y = (patch / gw) * p + dy, xx = (patch % gw) * p + dx;
        out[i] = x[(((long long)n * c + ch) * h + y) * w + xx];
    }
}

// The backward pass: patchify is a permutation, so the image gradient gathers each value back
// from its patch row (one thread per image value, no atomics).
extern "C" __global__ void patchify_backward_f32(const float* g, float* dx, int b, int c, int h, int w, int p) {
    int gw = w / p, gh = h / p;
    int row = c * p * p;
    GRID_STRIDE(i, b * c * h * w) {
        int xx = i % w, y = (i / w) % h, ch = (i / (w * h)) % c, n = i / (w * h * c);
        int patch = (y / p) * gw + xx / p;
        int e = (ch * p + y % p) * p + xx % p;
        dx[i] = g[((long long)n * gh * gw + patch) * row + e];
    }
}

// Embedding lookup: out[r, :] = table[ids[r], :] for r < n rows of `dim` values.
extern "C" __global__ void gather_rows_f32(const float* table, const int* ids, float* out, int n, int dim) {
    GRID_STRIDE(i, n * dim) { out[i] = table[(long long)ids[i / dim] * dim + i % dim]; }
}

// Its backward pass: dtable[ids[r], :] += g[r, :]; ids may repeat, hence the atomics (dtable
// must be zeroed, or hold the gradient to accumulate into).
extern "C" __global__ void scatter_add_rows_f32(const float* g, const int* ids, float* dtable, int n, int dim) {
    GRID_STRIDE(i, n * dim) { atomicAdd(&dtable[(long long)ids[i / dim] * dim + i % dim], g[i]); }
}
"#,
};

/// The decoupled AdamW update.
pub const OPTIM: Module = Module {
    name: "optim",
    entries: &["adamw_step_f32"],
    source: r#"
// One AdamW step on n parameters: m, v the moments; bc1 = 1 - beta1^t, bc2 = 1 - beta2^t;
// decay is lr * weight_decay for this parameter group (0 for the exempt ones).
extern "C" __global__ void adamw_step_f32(float* p, const float* g, float* m, float* v, int n,
                                          float lr, float beta1, float beta2, float eps,
                                          float bc1, float bc2, float decay) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        float gi = g[i];
        float mi = beta1 * m[i] + (1.0f - beta1) * gi;
        float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] -= decay * p[i];
        p[i] -= lr * (mi / bc1) / (sqrtf(vi / bc2) + eps);
    }
}
"#,
};

/// Every module, in compilation order.
pub const MODULES: &[Module] = &[ELEMENTWISE, ROWS, REDUCE, LAYOUT, OPTIM];

//! Multi-head self-attention with the five attention-output variants of [`AttentionKind`].
//!
//! Shapes: the input is the normalised token matrix `[B, N, d]` (tokens are rows), heads `h`,
//! `d_h = d / h`. Scores are `Q_h K_hᵀ / √d_h`, `A_h = softmax(scores)` row-wise.
//!
//! - **plain / featscale / attnscale**: one fused `qkv` linear `[d, 3d]` (columns: q | k | v, head
//!   h at `h·d_h..(h+1)·d_h` inside each) and an output projection `proj` `[d, d]`; the output is
//!   `Σ_h A_h X W_V^h W_O^h + b` with `W_V^h = qkv.weight[:, 2d + h·d_h ..]` (d×d_h) and
//!   `W_O^h = proj.weight[h·d_h.., :]` (d_h×d). AttnScale replaces `A_h` by
//!   `A_h + ω_h (A_h − 11ᵀ/N)`.
//! - **spectral± (theory.md §5)**: q and k come from a fused `qk` linear `[d, 2d]`; the value·output
//!   path of head h is `H_h` whose eigenvalues are `λ_h = ±clip(ψ_h², ε, upper)`, and the output is
//!   `Σ_h A_h X H_h + out_bias`:
//!   - `lowrank` (default): `H_h = U_h diag(λ_h) U_hᵀ`, `U_h = Q(Θ_h)` with Θ_h d×d_h. Computed as
//!     plain attention with `W_V = [U_1 diag λ_1 | …]` (fused with q, k into one `[d, 3d]`
//!     product) and `W_O = [U_1 | …]ᵀ`: the same FLOPs as plain attention.
//!   - `symmetric`: `H_h = Q(Θ_h) diag(λ_h) Q(Θ_h)ᵀ`, Θ_h d×d.
//!   - `general`: `H_h = V_h diag(λ_h) V_h⁻¹`, V_h a free d×d matrix, `V_h⁻¹ = solve(V_h, I)`.
//!
//!   For the two full forms every head has its own d×d `H_h`, formed explicitly each forward
//!   (h·d³ flops, negligible) and applied as `V = X [H_1 | … | H_h]` (`[B, N, h·d]`), then
//!   `Σ_h A_h V_h`: the value path costs h times plain attention's (FLOPs and activation memory).

use crate::config::{AttentionKind, SpectralForm, ViTConfig};
use crate::error::{ModelError, Result};
use crate::init::{standard_normal, trunc_normal, uniform, WEIGHT_STD};
use crate::layers::Linear;
use eigenformer_tensor::{no_grad, Tensor, TensorError};
use ndarray::{s, Array1, Array2, ArrayD, Axis, Ix2, IxDyn};
use rand::Rng;

/// Parameters of the spectral value·output path.
#[derive(Debug, Clone)]
pub struct SpectralParams {
    /// The form of each head's H.
    pub form: SpectralForm,
    /// +1 (`spectral+`) or −1 (`spectral-`).
    pub sign: f32,
    /// Lower clip of ψ².
    pub eps: f32,
    /// Upper clip of ψ².
    pub upper: f32,
    /// Θ `[h, d, d_h]` (lowrank), Θ `[h, d, d]` (symmetric) or V `[h, d, d]` (general).
    pub basis: Tensor,
    /// ψ, flattened `[h·k]` (k = d_h for lowrank, d otherwise; head-major). 1-D, so weight decay
    /// grouping (`decay_groups`) exempts it.
    pub psi: Tensor,
    /// Bias added to the attention output `[d]` (a DC term only).
    pub out_bias: Tensor,
}

impl SpectralParams {
    /// Number of controlled eigenvalues per head.
    pub fn per_head(&self) -> usize {
        self.basis.shape()[2]
    }

    /// `λ = sign · clamp(ψ², ε, upper)`, `[h·k]`, differentiable.
    pub fn lambda(&self) -> Tensor {
        let clipped = self.psi.square().clamp(self.eps, self.upper);
        if self.sign < 0.0 {
            clipped.neg()
        } else {
            clipped
        }
    }

    /// The eigenvector matrix of head `head`: `U_h` (d×d_h), `Q(Θ_h)` (d×d) or `V_h` (d×d).
    pub fn head_basis(&self, head: usize) -> Result<Tensor> {
        let shape = self.basis.shape();
        let theta = self
            .basis
            .slice(0, head, head + 1)?
            .reshape(&[shape[1], shape[2]])?;
        match self.form {
            SpectralForm::Lowrank | SpectralForm::Symmetric => Ok(theta.qr()?.0),
            SpectralForm::General => Ok(theta),
        }
    }

    /// The realised `H_h` (d×d) as a differentiable tensor, given `λ` from [`SpectralParams::lambda`].
    pub fn head_matrix(&self, head: usize, lambda: &Tensor) -> Result<Tensor> {
        let k = self.per_head();
        let lam = lambda.slice(0, head * k, (head + 1) * k)?;
        let v = self.head_basis(head)?;
        let scaled = v.mul(&lam)?;
        match self.form {
            SpectralForm::Lowrank | SpectralForm::Symmetric => {
                Ok(scaled.matmul_t(&v, false, true)?)
            }
            SpectralForm::General => {
                let d = v.shape()[0];
                let eye = Tensor::from_array(ArrayD::from_shape_fn(IxDyn(&[d, d]), |i| {
                    if i[0] == i[1] {
                        1.0
                    } else {
                        0.0
                    }
                }));
                let inv = v.solve(&eye)?;
                Ok(scaled.matmul(&inv)?)
            }
        }
    }
}

/// One block's multi-head self-attention (see the module documentation for the variants).
#[derive(Debug, Clone)]
pub struct Attention {
    /// The variant.
    pub kind: AttentionKind,
    /// Token width d.
    pub width: usize,
    /// Number of heads.
    pub heads: usize,
    /// Fused input projection: `[d, 3d]` (q | k | v) for the plain kinds, `[d, 2d]` (q | k) for
    /// the spectral kinds.
    pub qkv: Linear,
    /// Output projection `[d, d]` (plain kinds only).
    pub proj: Option<Linear>,
    /// The spectral value·output path (spectral kinds only).
    pub spectral: Option<SpectralParams>,
    /// AttnScale's per-head ω `[h]`, init 0 (attnscale only).
    pub omega: Option<Tensor>,
}

/// The per-head value·output matrices of one attention layer, as reported by
/// [`crate::ViT::head_h_matrices`]. Convention: tokens are rows, `y = x W`, so `H = W_V W_O` acts
/// on the right of the token matrix (`X + Σ_h A_h X H_h`).
#[derive(Debug, Clone, PartialEq)]
pub struct HeadH {
    /// Layer index.
    pub layer: usize,
    /// Head index.
    pub head: usize,
    /// The realised d×d `H_h` (computed in f64 from the f32 parameters).
    pub h: Array2<f64>,
    /// `W_V^h` (d×d_h) when a small factor form exists (plain kinds, lowrank: `U_h diag(λ_h)`).
    pub w_v: Option<Array2<f64>>,
    /// `W_O^h` (d_h×d) when a small factor form exists (plain kinds, lowrank: `U_hᵀ`).
    pub w_o: Option<Array2<f64>>,
    /// Spectral kinds: the eigenvector matrix of the construction (`U_h` d×d_h, `Q(Θ_h)` or `V_h`
    /// d×d), so `h · eigvecs = eigvecs · diag(eigvals)`.
    pub eigvecs: Option<Array2<f64>>,
    /// Spectral kinds: the constructed eigenvalues `λ_h` (the remaining d − d_h of lowrank are 0).
    pub eigvals: Option<Array1<f64>>,
    /// The LayerNorm weight γ that feeds this attention, as used in the forward (|γ| when
    /// `nonneg_ln_gamma` is on): the effective matrix is `diag(γ) H` (theory.md C8).
    pub ln_gamma: Array1<f64>,
}

fn to_f64_2d(t: &Tensor) -> Array2<f64> {
    t.read()
        .view()
        .into_dimensionality::<Ix2>()
        .expect("2-D matrix")
        .mapv(f64::from)
}

/// Inverse of a square matrix by Gauss–Jordan elimination with partial pivoting (f64).
pub(crate) fn inverse_f64(m: &Array2<f64>) -> Option<Array2<f64>> {
    let n = m.nrows();
    let mut a = m.clone();
    let mut inv = Array2::<f64>::eye(n);
    let scale = m.iter().fold(0.0f64, |s, v| s.max(v.abs()));
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[[i, col]].abs().total_cmp(&a[[j, col]].abs()))?;
        if a[[pivot, col]].abs() <= 1e-12 * scale.max(f64::MIN_POSITIVE) {
            return None;
        }
        if pivot != col {
            for c in 0..n {
                a.swap([pivot, c], [col, c]);
                inv.swap([pivot, c], [col, c]);
            }
        }
        let p = a[[col, col]];
        a.row_mut(col).mapv_inplace(|v| v / p);
        inv.row_mut(col).mapv_inplace(|v| v / p);
        for r in 0..n {
            if r != col {
                let f = a[[r, col]];
                if f != 0.0 {
                    let (arow, irow) = (a.row(col).to_owned(), inv.row(col).to_owned());
                    a.row_mut(r).scaled_add(-f, &arow);
                    inv.row_mut(r).scaled_add(-f, &irow);
                }
            }
        }
    }
    Some(inv)
}

impl Attention {
    /// Seeded attention for `config` (see [`crate::init`] for the initialisation).
    pub fn new(config: &ViTConfig, rng: &mut impl Rng) -> Result<Attention> {
        let (d, heads) = (config.width, config.heads);
        let dh = d / heads;
        let kind = config.attention;
        if let Some(sign) = kind.spectral_sign() {
            let opts = config.spectral;
            let qkv = Linear::new(d, 2 * d, rng);
            let k = match opts.form {
                SpectralForm::Lowrank => dh,
                SpectralForm::Symmetric | SpectralForm::General => d,
            };
            let basis = match opts.form {
                SpectralForm::Lowrank | SpectralForm::Symmetric => {
                    trunc_normal(&[heads, d, k], WEIGHT_STD, rng)
                }
                SpectralForm::General => {
                    // An orthogonal start scaled to entries ~ 0.02: well conditioned, H symmetric.
                    let mut v = ArrayD::<f32>::zeros(IxDyn(&[heads, d, d]));
                    for head in 0..heads {
                        let g =
                            ArrayD::from_shape_simple_fn(IxDyn(&[d, d]), || standard_normal(rng));
                        let q = no_grad(|| Tensor::from_array(g).qr())?.0.to_array();
                        let scale = WEIGHT_STD * (d as f32).sqrt();
                        v.index_axis_mut(Axis(0), head)
                            .assign(&q.mapv(|x| x * scale));
                    }
                    v
                }
            };
            let psi = match opts.init_radius {
                Some(r) => uniform(&[heads * k], 0.5, 1.0, rng)
                    .mapv(|u| (u * r).clamp(opts.eps, opts.upper).sqrt()),
                None => uniform(&[heads * k], 0.3, 0.95, rng).mapv(|x| x * opts.upper.sqrt()),
            };
            return Ok(Attention {
                kind,
                width: d,
                heads,
                qkv,
                proj: None,
                spectral: Some(SpectralParams {
                    form: opts.form,
                    sign,
                    eps: opts.eps,
                    upper: opts.upper,
                    basis: Tensor::parameter(basis),
                    psi: Tensor::parameter(psi),
                    out_bias: Tensor::parameter(ArrayD::zeros(IxDyn(&[d]))),
                }),
                omega: None,
            });
        }
        let qkv = Linear::new(d, 3 * d, rng);
        let proj = Linear::new(d, d, rng);
        let omega = (kind == AttentionKind::AttnScale)
            .then(|| Tensor::parameter(ArrayD::zeros(IxDyn(&[heads]))));
        Ok(Attention {
            kind,
            width: d,
            heads,
            qkv,
            proj: Some(proj),
            spectral: None,
            omega,
        })
    }

    /// Per-head width d_h.
    pub fn head_dim(&self) -> usize {
        self.width / self.heads
    }

    /// Named parameters under `prefix` (e.g. `blocks.3.attn`).
    pub fn named(&self, prefix: &str, out: &mut Vec<(String, Tensor)>) {
        match &self.spectral {
            None => self.qkv.named(&format!("{prefix}.qkv"), out),
            Some(_) => self.qkv.named(&format!("{prefix}.qk"), out),
        }
        if let Some(proj) = &self.proj {
            proj.named(&format!("{prefix}.proj"), out);
        }
        if let Some(sp) = &self.spectral {
            let basis = match sp.form {
                SpectralForm::General => "v",
                SpectralForm::Lowrank | SpectralForm::Symmetric => "theta",
            };
            out.push((format!("{prefix}.{basis}"), sp.basis.clone()));
            out.push((format!("{prefix}.psi"), sp.psi.clone()));
            out.push((format!("{prefix}.out_bias"), sp.out_bias.clone()));
        }
        if let Some(omega) = &self.omega {
            out.push((format!("{prefix}.omega"), omega.clone()));
        }
    }

    /// `1/√d_h`, the factor of the attention scores `Q_h K_hᵀ` (both attention routes use it).
    fn score_scale(&self) -> f32 {
        1.0 / (self.head_dim() as f32).sqrt()
    }

    /// `A_h = softmax(Q_h K_hᵀ / √d_h)` `[B, h, N, N]` from the fused projection `[B, N, W]`
    /// (q = part 0, k = part 1; see `eigenformer_tensor`'s `head_scores`), with AttnScale's
    /// rescale when present.
    fn attention_probs(&self, fused: &Tensor) -> Result<Tensor> {
        let a = fused
            .head_scores(self.heads, self.head_dim(), 0, 1, self.score_scale())?
            .softmax()?;
        match &self.omega {
            None => Ok(a),
            Some(omega) => {
                let n = a.shape()[3] as f32;
                let w = omega.reshape(&[self.heads, 1, 1])?;
                Ok(a.add_scalar(-1.0 / n).mul(&w)?.add(&a)?)
            }
        }
    }

    /// The heads' outputs `A_h V_h` merged into `[B, N, h·d_h]` (v = part 2 of the fused projection)
    /// and the attention `A` applied. Without AttnScale this is one fused op, which skips
    /// materialising the scores and the separate gradients of three ops; AttnScale rescales `A`
    /// between the softmax and the mix, so it composes the separate ops.
    fn attend(&self, fused: &Tensor) -> Result<(Tensor, Tensor)> {
        let dh = self.head_dim();
        if self.omega.is_none() {
            return Ok(fused.head_attention(self.heads, dh, self.score_scale())?);
        }
        let a = self.attention_probs(fused)?;
        let o = a.head_mix(fused, dh, 2)?;
        Ok((o, a))
    }

    /// Attention output `[B, N, d]` for normalised tokens `x` `[B, N, d]`; with `trace` also the
    /// attention matrices `[B, h, N, N]` actually applied (AttnScale: the rescaled `A'`), detached.
    pub fn forward(&self, x: &Tensor, trace: bool) -> Result<(Tensor, Option<ArrayD<f32>>)> {
        let s = x.shape();
        if s.len() != 3 || s[2] != self.width {
            return Err(ModelError::InputShape {
                found: s,
                expected: format!("[B, N, {}] tokens", self.width),
            });
        }
        let (b, n, d) = (s[0], s[1], s[2]);
        let keep = |a: &Tensor| trace.then(|| a.to_array());
        match &self.spectral {
            None => {
                let fused = self.qkv.forward(x)?;
                let (o, a) = self.attend(&fused)?;
                let proj = self.proj.as_ref().ok_or_else(|| {
                    TensorError::Autodiff("plain attention without projection".into())
                })?;
                Ok((proj.forward(&o)?, keep(&a)))
            }
            Some(sp) => {
                let lambda = sp.lambda();
                match sp.form {
                    SpectralForm::Lowrank => {
                        let bases = (0..self.heads)
                            .map(|h| sp.head_basis(h))
                            .collect::<Result<Vec<_>>>()?;
                        let u = Tensor::concat(&bases, 1)?; // [d, h·d_h]
                        let wv = u.mul(&lambda)?;
                        let w = Tensor::concat(&[self.qkv.weight.clone(), wv], 1)?;
                        let bias =
                            Tensor::concat(&[self.qkv.bias.clone(), Tensor::zeros(&[d])], 0)?;
                        let fused = x.linear(&w, Some(&bias))?;
                        let (o, a) = self.attend(&fused)?;
                        let y = o.matmul_t(&u, false, true)?.add(&sp.out_bias)?;
                        Ok((y, keep(&a)))
                    }
                    SpectralForm::Symmetric | SpectralForm::General => {
                        let a = self.attention_probs(&self.qkv.forward(x)?)?;
                        let hs = (0..self.heads)
                            .map(|h| sp.head_matrix(h, &lambda))
                            .collect::<Result<Vec<_>>>()?;
                        let h_all = Tensor::concat(&hs, 1)?; // [d, h·d]
                        let v = x
                            .matmul(&h_all)?
                            .reshape(&[b, n, self.heads, d])?
                            .permute(&[0, 2, 1, 3])?; // [B, h, N, d]
                        let y = a.matmul(&v)?.sum_axes(&[1], false)?.add(&sp.out_bias)?;
                        Ok((y, keep(&a)))
                    }
                }
            }
        }
    }

    /// The per-head `H_h` and factors (see [`HeadH`]); `ln_gamma` is the γ of the LayerNorm that
    /// feeds this attention. Runs without recording a graph.
    pub fn head_h_matrices(&self, layer: usize, ln_gamma: &Array1<f64>) -> Result<Vec<HeadH>> {
        no_grad(|| {
            let (d, dh) = (self.width, self.head_dim());
            let mut out = Vec::with_capacity(self.heads);
            match &self.spectral {
                None => {
                    let wqkv = to_f64_2d(&self.qkv.weight);
                    let proj = self.proj.as_ref().ok_or_else(|| {
                        TensorError::Autodiff("plain attention without projection".into())
                    })?;
                    let wo = to_f64_2d(&proj.weight);
                    for head in 0..self.heads {
                        let w_v = wqkv
                            .slice(s![.., 2 * d + head * dh..2 * d + (head + 1) * dh])
                            .to_owned();
                        let w_o = wo.slice(s![head * dh..(head + 1) * dh, ..]).to_owned();
                        out.push(HeadH {
                            layer,
                            head,
                            h: w_v.dot(&w_o),
                            w_v: Some(w_v),
                            w_o: Some(w_o),
                            eigvecs: None,
                            eigvals: None,
                            ln_gamma: ln_gamma.clone(),
                        });
                    }
                }
                Some(sp) => {
                    let lambda = sp.lambda().to_vec();
                    let k = sp.per_head();
                    for head in 0..self.heads {
                        let lam = Array1::from_iter(
                            lambda[head * k..(head + 1) * k].iter().map(|&v| v as f64),
                        );
                        let v = to_f64_2d(&sp.head_basis(head)?);
                        let scaled = &v * &lam;
                        let (h, w_v, w_o) = match sp.form {
                            SpectralForm::Lowrank => {
                                (scaled.dot(&v.t()), Some(scaled), Some(v.t().to_owned()))
                            }
                            SpectralForm::Symmetric => (scaled.dot(&v.t()), None, None),
                            SpectralForm::General => {
                                let inv =
                                    inverse_f64(&v).ok_or_else(|| TensorError::Numerical {
                                        op: "head_h_matrices",
                                        reason: format!(
                                            "V of layer {layer} head {head} is singular"
                                        ),
                                    })?;
                                (scaled.dot(&inv), None, None)
                            }
                        };
                        out.push(HeadH {
                            layer,
                            head,
                            h,
                            w_v,
                            w_o,
                            eigvecs: Some(v),
                            eigvals: Some(lam),
                            ln_gamma: ln_gamma.clone(),
                        });
                    }
                }
            }
            Ok(out)
        })
    }
}

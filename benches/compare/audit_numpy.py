#!/usr/bin/env python3
"""`eigenformer audit` written the way a Python user would: transformers (PyTorch) for the forward
pass, NumPy for the analysis. The reference that `cargo xtask bench --audit` times against ours.

It does the work of `eigenformer audit --model M --sentences N` on the same inputs, ported from the
Rust (crates/experiments/src/audit/*.rs, crates/spectral/src/{metrics,spectrum}.rs):

* inputs: the first N sentences of the built-in Brown sample in catalog order (tags stripped as
  `untag_brown_line` does), or `--text FILE` (non-blank lines), tokenised with the checkpoint's
  `tokenizer.json` through `tokenizers` (the library the CLI uses), its own padding and truncation
  off; a sentence longer than the model's position table is cut to its first max − 1 tokens plus
  the closing special token (or to its first max tokens when it ends with no special token); inputs
  of fewer than two tokens are left out. Or `--token-ids FILE` (a JSON list of id lists, special =
  the ids config.json and tokenizer.json call special);
* forward: `AutoModel` in float32 with eager attention, `output_hidden_states` and
  `output_attentions`, like our forward (f32, analysed in f64). Sentences run in batches padded to
  the longest of the batch (with the attention mask; the real tokens' states and attention rows
  are those of an unpadded pass up to rounding), sorted by length to pad little. Decoders (GPT-2,
  the Llama family): the last state is the last block's raw output (a forward hook), the residual
  stream before the final norm, as the CLI reports;
* per head and layer (weights only): the eigenvalues of the d_h×d_h factor W_O^h W_V^h (the nonzero
  spectrum of H_h = W_V^h W_O^h), of W_O^h diag(γ) W_V^h, and for pre-LN models of
  W_O^h P_d diag(γ) W_V^h (RMSNorm: no P_d), divided by the measured σ_l for H_eff;
* per sentence and hidden state: the mean pairwise token cosine with and without the special
  tokens, ‖HC‖_F/‖DC‖_F, σ₂/σ₁, the effective rank and (second pass) the centred cosine with the
  corpus-mean token subtracted;
* per sentence and head: numpy.linalg.eig of the measured attention A (row-stochastic within
  1e-4), its DC mode (eigenvalue within 1e-6 of 1 with the most constant eigenvector; causal A:
  the diagonal, DC = A_11), and the update spectrum μ = 1 + a·h with H_h, diag(γ) H_h and (pre-LN)
  H_eff: the dominating pair, the regime, the best DC and best non-DC pair and their log gap;
* folded per layer and head as audit.json does (finite means over sentences, regime counts, the
  most often dominating h, the DC fraction).

Prints one JSON line: timings (import, load, tokenize, forward, analysis, total seconds), the input
counts and per-layer metrics (`mean_cosine` is the list `cargo xtask bench --audit` checks against
audit.json). `--out FILE` also writes the per-head results. Per-layer mean_cosine goes to stderr.

Threads: torch's default intra-op threads (`--threads N` to set them) with OMP_WAIT_POLICY=PASSIVE,
and NumPy/OpenBLAS on one thread (OPENBLAS_NUM_THREADS=1), unless the environment says otherwise:
the settings measured fastest for this work (see the comments at the imports).

Usage: python3 benches/compare/audit_numpy.py --model-dir DIR [--brown-dir DIR | --text FILE |
       --token-ids FILE] [--sentences 500] [--batch-size 16] [--threads 0] [--out FILE]
"""

import time

_T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tomllib  # noqa: E402
from pathlib import Path  # noqa: E402

# NumPy's work here is thousands of small problems (30×384 SVDs, 30×30 eigendecompositions), for
# which OpenBLAS's threads only cost (measured: a 7×30×384 SVD 2–20× slower with 2 threads beside
# torch's OpenMP pool). The forward pass runs in torch's own MKL/OpenMP threads, unaffected.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# torch's OpenMP threads spin between parallel regions by default, taking the core the NumPy
# analysis runs on between two batches; on the shared 2-core machine (load about 1 besides) the
# default made MPNet's forward 3× and the analysis 1.6× slower than PASSIVE (50 sentences:
# 10.8 s and 3.5 s against 3.7 s and 2.2 s). Both settings can be overridden from the environment.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import tokenizers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

_T_IMPORTED = time.perf_counter()

REPO = Path(__file__).resolve().parents[2]
# crates/experiments/src/audit/measure.rs MEASURED_STOCHASTIC_TOL: the f32 forward's row sums.
STOCHASTIC_TOL = 1e-4
# crates/spectral/src/spectrum.rs: SpectrumOptions::default().tie_rtol, DC_CANDIDATE_TOL.
TIE_RTOL = 1e-9
DC_CANDIDATE_TOL = 1e-6
# Regime codes, in the order of `Regime`'s variants.
REGIMES = ("smoothing", "alternating-smoothing", "sharpening", "balanced")
ENCODERS = ("bert", "mpnet")
LLAMA_FAMILY = ("llama", "mistral", "qwen2")


# ----------------------------------------------------------------------------------------- inputs

def default_brown_dir():
    """The asset cache's `brown` directory (crates/assets Resolver::default_cache_root)."""
    if os.environ.get("EIGENFORMER_CACHE"):
        return Path(os.environ["EIGENFORMER_CACHE"]) / "brown"
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "eigenformer" / "brown"
    return Path.home() / ".cache" / "eigenformer" / "brown"


def brown_file_names():
    """The Brown files in catalog order (`eigenformer_assets::file_names("brown")`)."""
    catalog = tomllib.loads((REPO / "crates/assets/catalog.toml").read_text())
    return [f["path"] for f in catalog["brown"]["files"]]


def untag_brown_line(line):
    """text.rs `untag_brown_line`: drop each token's `/tag`, TeX quotes become `"`."""
    words = []
    for tok in line.split():
        i = tok.rfind("/")
        w = tok[:i] if i > 0 else tok
        words.append('"' if w in ("``", "''") else w)
    return " ".join(words) if words else None


def read_brown(directory, limit):
    out = []
    for name in brown_file_names():
        text = (Path(directory) / name).read_bytes().decode("utf-8", errors="replace")
        for line in text.split("\n"):
            if len(out) >= limit:
                return out
            s = untag_brown_line(line.removesuffix("\r"))
            if s is not None:
                out.append(s)
    return out


def read_text_file(path, limit):
    out = []
    for raw in Path(path).read_bytes().split(b"\n"):
        if len(out) >= limit:
            break
        line = raw.decode("utf-8", errors="replace").strip()
        if line:
            out.append(line)
    return out


def tokenize(tokenizer_path, sentences, max_tokens):
    """tokenize.rs `TextTokenizer::encode` on every sentence: (ids, special positions, truncated)."""
    tok = tokenizers.Tokenizer.from_file(str(tokenizer_path))
    tok.no_padding()
    tok.no_truncation()
    out = []
    maximum = max(max_tokens, 2)
    for index, enc in enumerate(tok.encode_batch(sentences, add_special_tokens=True)):
        ids, mask = list(enc.ids), list(enc.special_tokens_mask)
        if not ids:
            sys.exit(f"sentence {index} has no tokens (the tokenizer produced an empty sequence)")
        truncated = len(ids) > maximum
        if truncated:
            if mask[-1] != 0:
                ids = ids[: maximum - 1] + [ids[-1]]
                mask = mask[: maximum - 1] + [mask[-1]]
            else:
                ids, mask = ids[:maximum], mask[:maximum]
        out.append((ids, [i for i, m in enumerate(mask) if m != 0], truncated))
    return out


def config_special_ids(raw_config, tokenizer_path):
    """HfConfig::special_token_ids: pad/bos/eos of config.json and tokenizer.json's specials."""
    ids = set()
    for key in ("pad_token_id", "bos_token_id", "eos_token_id"):
        v = raw_config.get(key)
        if isinstance(v, list):
            ids.update(int(x) for x in v)
        elif isinstance(v, int):
            ids.add(v)
    if tokenizer_path is not None and Path(tokenizer_path).is_file():
        try:
            for t in json.loads(Path(tokenizer_path).read_text()).get("added_tokens", []):
                if t.get("special") is True and isinstance(t.get("id"), int):
                    ids.add(t["id"])
        except (OSError, ValueError):
            pass
    return ids


def read_token_ids(path, limit, special_ids, vocab, max_tokens):
    lists = json.loads(Path(path).read_text())[:limit]
    out = []
    for k, ids in enumerate(lists):
        if not ids:
            sys.exit(f"{path}: list {k} is empty")
        if max(ids) >= vocab or len(ids) > max_tokens:
            sys.exit(f"{path}: list {k} does not fit the model (vocabulary {vocab}, {max_tokens} tokens)")
        out.append((list(ids), [i for i, t in enumerate(ids) if t in special_ids], False))
    return out


# ------------------------------------------------------------------------------------ the model

class Model:
    """The loaded checkpoint and where each family keeps the weights the audit reads."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.raw_config = json.loads((self.dir / "config.json").read_text())
        self.family = self.raw_config["model_type"]
        kwargs = {"attn_implementation": "eager", "dtype": torch.float32}
        if self.family in ENCODERS:
            kwargs["add_pooling_layer"] = False
        elif self.family != "gpt2" and self.family not in LLAMA_FAMILY:
            sys.exit(f"model_type {self.family!r}: this script audits bert, mpnet, gpt2, "
                     f"{', '.join(LLAMA_FAMILY)}")
        self.net = transformers.AutoModel.from_pretrained(self.dir, **kwargs).eval()
        c = self.net.config
        self.layers = c.num_hidden_layers
        self.heads = c.num_attention_heads
        self.width = c.hidden_size
        self.head_dim = getattr(c, "head_dim", None) or self.width // self.heads
        self.kv_heads = getattr(c, "num_key_value_heads", None) or self.heads
        self.post_ln = self.family in ENCODERS
        self.causal = not self.post_ln
        self.rms = self.family in LLAMA_FAMILY
        if self.family == "gpt2":
            self.eps = c.layer_norm_epsilon
        elif self.rms:
            self.eps = c.rms_norm_eps
        else:
            self.eps = c.layer_norm_eps
        positions = c.max_position_embeddings
        # config.rs max_tokens: MPNet's positions run from padding id + 1.
        self.max_tokens = positions - 2 if self.family == "mpnet" else positions
        # decoder_config.rs: a sliding window (Mistral; Qwen2 when enabled) caps the length.
        window = self.raw_config.get("sliding_window")
        window_on = self.family == "mistral" or (
            self.family == "qwen2" and self.raw_config.get("use_sliding_window", False))
        if window_on and isinstance(window, int) and window > 0:
            self.max_tokens = min(self.max_tokens, window)
        self.vocab = c.vocab_size
        pad = self.raw_config.get("pad_token_id")
        self.pad_id = pad if isinstance(pad, int) else 0
        self.blocks = self.net.h if self.family == "gpt2" else (
            self.net.layers if self.rms else self.net.encoder.layer)

    def kv_group(self, head):
        return head // max(self.heads // max(self.kv_heads, 1), 1)

    @staticmethod
    def f64(t):
        return t.detach().to(torch.float64).numpy()

    def head_factors(self, layer, head):
        """encoder.rs head_value_output: W_V^h (d×d_h) and W_O^h (d_h×d), tokens as rows."""
        dh, d = self.head_dim, self.width
        blk = self.blocks[layer]
        g = self.kv_group(head)
        if self.family == "gpt2":  # Conv1D weights are [in, out]
            w_v = self.f64(blk.attn.c_attn.weight)[:, 2 * d + g * dh: 2 * d + (g + 1) * dh]
            w_o = self.f64(blk.attn.c_proj.weight)[head * dh:(head + 1) * dh, :]
            return w_v, w_o
        if self.rms:
            v, o = blk.self_attn.v_proj.weight, blk.self_attn.o_proj.weight
        elif self.family == "mpnet":
            v, o = blk.attention.attn.v.weight, blk.attention.attn.o.weight
        else:
            v, o = blk.attention.self.value.weight, blk.attention.output.dense.weight
        return (self.f64(v)[g * dh:(g + 1) * dh, :].T,
                self.f64(o)[:, head * dh:(head + 1) * dh].T)

    def attention_input_gamma(self, layer):
        """γ of the norm whose output feeds layer `layer`'s attention."""
        if self.family == "gpt2":
            return self.f64(self.blocks[layer].ln_1.weight)
        if self.rms:
            return self.f64(self.blocks[layer].input_layernorm.weight)
        if layer == 0:
            return self.f64(self.net.embeddings.LayerNorm.weight)
        return self.f64(self.blocks[layer - 1].output.LayerNorm.weight)

    def forward(self, batch):
        """Hidden states (L+1, n, d) and attentions (L, h, n, n), f32, of each id list."""
        longest = max(len(ids) for ids in batch)
        input_ids = torch.full((len(batch), longest), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), longest), dtype=torch.long)
        for b, ids in enumerate(batch):
            input_ids[b, :len(ids)] = torch.tensor(ids, dtype=torch.long)
            mask[b, :len(ids)] = 1
        last = {}
        hook = None
        if self.causal:
            hook = self.blocks[-1].register_forward_hook(
                lambda _m, _i, out: last.__setitem__("out", out[0] if isinstance(out, tuple) else out))
        try:
            kwargs = {"use_cache": False} if self.causal else {}
            with torch.inference_mode():
                out = self.net(input_ids=input_ids, attention_mask=mask, output_hidden_states=True,
                               output_attentions=True, **kwargs)
        finally:
            if hook is not None:
                hook.remove()
        states = list(out.hidden_states)
        if self.causal:
            states = states[:-1] + [last["out"]]
        hidden = torch.stack(states, dim=1).numpy()        # (B, L+1, N, d)
        attn = torch.stack(list(out.attentions), dim=1).numpy()  # (B, L, h, N, N)
        return [(hidden[b, :, :len(ids), :], attn[b, :, :, :len(ids), :len(ids)])
                for b, ids in enumerate(batch)]


# -------------------------------------------------------------------------------- the analysis

def spectral_sort(z):
    """Sort the last axis by linalg.rs `spectral_order` (|z| down, then re down, then im down;
    stable); returns the sorted values and the permutation."""
    order = np.lexsort((-z.imag, -z.real, -np.abs(z)), axis=-1)
    return np.take_along_axis(z, order, axis=-1), order


def head_spectrum(w_v, w_o):
    """spectrum.rs head_eigenvalues: the d_h eigenvalues of W_O W_V, sorted."""
    return spectral_sort(np.linalg.eigvals(w_o @ w_v).astype(np.complex128))[0]


def negative_real_fraction(values):
    tol = 1e-12 * max(spectral_radius(values), sys.float_info.min)
    return float(np.count_nonzero(values.real < -tol)) / len(values)


def spectral_radius(values):
    return float(np.abs(values).max()) if len(values) else 0.0


def analysis_values(small, width):
    """spectra.rs analysis_eigenvalues: the d_h nonzero values and one zero for the d − d_h."""
    return np.append(small, 0j) if width > len(small) else small


def weight_spectra(model):
    """run.rs weight_spectra: per layer and head the spectra of H, diag(γ) H, and (pre-LN) of
    P_d diag(γ) H (RMSNorm: diag(γ) H) before the division by σ_l."""
    out = []
    gamma_negative = []
    for layer in range(model.layers):
        gamma = model.attention_input_gamma(layer)
        gamma_negative.append(int(np.count_nonzero(gamma < 0)))
        heads = []
        for head in range(model.heads):
            w_v, w_o = model.head_factors(layer, head)
            scaled = w_v * gamma[:, None]
            s = {"h": head_spectrum(w_v, w_o), "h_eff": head_spectrum(scaled, w_o), "h_norm": None}
            if not model.post_ln:
                centred = scaled - scaled.mean(axis=0, keepdims=True) if not model.rms else scaled
                s["h_norm"] = head_spectrum(centred, w_o)
            heads.append(s)
        out.append(heads)
    return out, gamma_negative


def mean_pairwise_cosine(x, keep=None):
    """metrics.rs mean_pairwise_cosine over the rows of each x[s] (x: (S, n, d)) kept by `keep`
    (a bool mask over n; all rows when None): (‖Σ y_i‖² − #{y_i ≠ 0}) / (k (k − 1))."""
    if keep is not None:
        x = x[:, keep, :]
    k = x.shape[1]
    norms = np.sqrt(np.einsum("snd,snd->sn", x, x))
    nonzero = norms > 0
    unit = np.divide(x, norms[:, :, None], out=np.zeros_like(x), where=nonzero[:, :, None])
    total = unit.sum(axis=1)
    return (np.einsum("sd,sd->s", total, total) - nonzero.sum(axis=1)) / (k * (k - 1))


def state_metrics(x, special):
    """measure.rs state_metrics for every hidden state of one sentence (x: (S, n, d) f64)."""
    n = x.shape[1]
    mean = x.sum(axis=1) / n
    dc = math.sqrt(n) * np.sqrt(np.einsum("sd,sd->s", mean, mean))
    dev = x - mean[:, None, :]
    hc = np.sqrt(np.einsum("snd,snd->s", dev, dev))
    # The singular values of the n×d states, from the d×n transpose (LAPACK's faster layout).
    s = np.linalg.svd(x.transpose(0, 2, 1), compute_uv=False)
    total = (s * s).sum(axis=1)
    p = (s * s) / total[:, None]
    entropy = -np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0).sum(axis=1)
    keep = np.ones(n, dtype=bool)
    keep[[i for i in special if i < n]] = False
    with np.errstate(divide="ignore", invalid="ignore"):
        metrics = {
            "mean_cosine": mean_pairwise_cosine(x),
            "mean_cosine_no_special": mean_pairwise_cosine(x, keep) if keep.sum() >= 2 else None,
            "hc_dc": hc / dc,
            "sigma_ratio": s[:, 1] / s[:, 0],
            "effective_rank": np.where(total > 0, np.exp(entropy), np.nan),
        }
    return metrics, keep


def attention_spectra(a, causal):
    """spectrum.rs attention_spectrum (or causal_attention_spectrum) of each a[k] (K, n, n):
    sorted eigenvalues (K, n) and the DC index (K,)."""
    dev = np.abs(a.sum(axis=2) - 1.0).max(axis=1)
    low = a.min(axis=(1, 2))
    bad = np.flatnonzero((dev > STOCHASTIC_TOL) | (low < -STOCHASTIC_TOL))
    if bad.size:
        k = bad[0]
        sys.exit(f"attention {k} is not row-stochastic within {STOCHASTIC_TOL}: row sums off by "
                 f"{dev[k]:.3g}, smallest entry {low[k]:.3g}")
    n = a.shape[1]
    if causal:
        if np.any(np.triu(a, k=1) != 0):
            sys.exit("causal attention with nonzero entries above the diagonal")
        values, order = spectral_sort(np.diagonal(a, axis1=1, axis2=2).astype(np.complex128))
        return values, np.argmax(order == 0, axis=1)
    w, v = np.linalg.eig(a)
    w = w.astype(np.complex128)
    values, order = spectral_sort(w)
    vectors = np.take_along_axis(v.astype(np.complex128), order[:, None, :], axis=2)
    norm = np.sqrt((np.abs(vectors) ** 2).sum(axis=1))
    constancy = np.abs(vectors.sum(axis=1)) / (math.sqrt(n) * np.where(norm > 0, norm, 1.0))
    constancy = np.where(norm > 0, constancy, 0.0)
    near = np.abs(values - 1.0)
    candidate = near <= DC_CANDIDATE_TOL
    best = np.argmax(np.where(candidate, constancy, -np.inf), axis=1)
    dc = np.where(candidate.any(axis=1), best, np.argmin(near, axis=1))
    return values, dc


def update_spectra(a, dc, h):
    """UpdateSpectrum::from_eigenvalues for K (A, H) pairs at once: a (K, n) and h (K, m), both
    sorted, dc (K,). Returns per pair the regime code, the dominating |μ|, whether the first
    dominating pair is DC, its h index, and log|μ_DC| − log max|μ_non-DC| (measure.rs dc_log_gap)."""
    k, n = a.shape
    mu = 1.0 + a[:, :, None] * h[:, None, :]
    mod = np.abs(mu)
    flat = mod.reshape(k, -1)
    first = flat.argmax(axis=1)
    top = flat[np.arange(k), first]
    dominating = mod >= (top * (1.0 - TIE_RTOL))[:, None, None]
    dc_row = (np.arange(n)[None, :] == dc[:, None])[:, :, None]
    has_dc = (dominating & dc_row).any(axis=(1, 2))
    has_non_dc = (dominating & ~dc_row).any(axis=(1, 2))
    real_negative = (mu.real < 0) & (np.abs(mu.imag) <= max(TIE_RTOL, 1e-12) * mod)
    all_real_negative = (real_negative | ~dominating).all(axis=(1, 2))
    regime = np.where(has_dc & has_non_dc, 3,
                      np.where(~has_dc, 2, np.where(all_real_negative, 1, 0)))
    first_a, first_h = np.divmod(first, h.shape[1])
    best_dc = mod[np.arange(k), dc, :].max(axis=1)
    if n > 1:
        best_non_dc = np.where(dc_row, -np.inf, mod).reshape(k, -1).max(axis=1)
        ok = (best_dc > 0) & (best_non_dc > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            gap = np.where(ok, np.log(np.where(ok, best_dc, 1.0)) - np.log(np.where(ok, best_non_dc, 1.0)),
                           np.nan)
    else:
        gap = np.full(k, np.nan)
    return regime, top, first_a == dc, first_h, gap


def finite_mean(values):
    v = [x for x in values if x is not None and math.isfinite(x)]
    return sum(v) / len(v) if v else float("nan")


def clean(v):
    """JSON without NaN/∞ (serde_json refuses them): null instead, as audit.json writes."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [clean(x) for x in v]
    if isinstance(v, np.generic):
        return clean(v.item())
    return v


def complex_pair(z):
    return [float(z.real), float(z.imag)]


# ---------------------------------------------------------------------------------------- main

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model-dir", required=True,
                   help="checkpoint directory (`eigenformer fetch minilm` prints it)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--brown-dir", help="the Brown files (default: the asset cache's brown/)")
    src.add_argument("--text", help="one sentence a line instead of Brown")
    src.add_argument("--token-ids", help="a JSON list of token-id lists instead of text")
    p.add_argument("--sentences", type=int, default=500)
    p.add_argument("--batch-size", type=int, default=16,
                   help="sentences per padded forward pass (1: no padding)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--out", help="also write the per-layer and per-head results here (JSON)")
    a = p.parse_args()
    if a.sentences < 1:
        sys.exit("--sentences must be at least 1")
    if a.threads > 0:
        torch.set_num_threads(a.threads)

    t_load = time.perf_counter()
    model = Model(a.model_dir)
    tokenizer_path = model.dir / "tokenizer.json"
    if a.token_ids:
        raw = None
    elif a.text:
        raw = read_text_file(a.text, a.sentences)
    else:
        raw = read_brown(a.brown_dir or default_brown_dir(), a.sentences)
    load_s = time.perf_counter() - t_load

    t_tok = time.perf_counter()
    if raw is None:
        special_ids = config_special_ids(model.raw_config, tokenizer_path)
        inputs = read_token_ids(a.token_ids, a.sentences, special_ids, model.vocab, model.max_tokens)
    else:
        inputs = tokenize(tokenizer_path, raw, model.max_tokens)
    given = len(inputs)
    inputs = [t for t in inputs if len(t[0]) >= 2]
    skipped = given - len(inputs)
    if not inputs:
        sys.exit("no input with two or more tokens")
    tokenize_s = time.perf_counter() - t_tok

    forward_s = 0.0
    t_an = time.perf_counter()
    spectra, gamma_negative = weight_spectra(model)
    analysis_s = time.perf_counter() - t_an

    L, H, d = model.layers, model.heads, model.width
    h_plain = [np.stack([analysis_values(s["h"], d) for s in layer]) for layer in spectra]
    h_eff = [np.stack([analysis_values(s["h_eff"], d) for s in layer]) for layer in spectra]
    h_plain, h_eff = np.concatenate(h_plain), np.concatenate(h_eff)  # (L·H, m)
    h_plain, h_eff = spectral_sort(h_plain)[0], spectral_sort(h_eff)[0]

    # First pass: forward in length-sorted batches, then the per-sentence measurements.
    records = [None] * len(inputs)
    order = sorted(range(len(inputs)), key=lambda i: len(inputs[i][0]))
    batch_size = max(a.batch_size, 1)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        t = time.perf_counter()
        traces = model.forward([inputs[i][0] for i in chunk])
        forward_s += time.perf_counter() - t
        t = time.perf_counter()
        for i, (hidden, attn) in zip(chunk, traces):
            x = hidden.astype(np.float64)
            metrics, keep = state_metrics(x, inputs[i][1])
            aa = attn.astype(np.float64).reshape(L * H, *attn.shape[2:])
            values, dc = attention_spectra(aa, model.causal)
            plain = update_spectra(values, dc, h_plain)
            eff = update_spectra(values, dc, h_eff)
            scale = None
            if not model.post_ln:
                xs = x[:L]
                mean_sq = (xs * xs).mean(axis=2)
                second = mean_sq if model.rms else np.maximum(mean_sq - xs.mean(axis=2) ** 2, 0.0)
                scale = np.sqrt(second + model.eps).sum(axis=1)
            records[i] = {
                "tokens": x.shape[1], "truncated": inputs[i][2], "metrics": metrics, "keep": keep,
                "token_sums": x.sum(axis=1), "scale_sums": scale, "hidden": hidden,
                "attention": (values, dc) if not model.post_ln else None,
                "plain": plain, "eff": eff, "sigma": None,
            }
        analysis_s += time.perf_counter() - t

    # Corpus statistics, then the second pass (centred cosines, H_eff regimes).
    t = time.perf_counter()
    count = max(sum(r["tokens"] for r in records), 1)
    mean_token = sum(r["token_sums"] for r in records) / count  # (L+1, d)
    sigma = None
    h_sigma = None
    if not model.post_ln:
        sigma = sum(r["scale_sums"] for r in records) / count  # (L,)
        rows = []
        for layer in range(L):
            sg = sigma[layer]
            if not (math.isfinite(sg) and sg > 0):
                sys.exit(f"layer {layer}: sigma {sg} is not a positive number (all-zero inputs?)")
            for s in spectra[layer]:
                s["h_sigma"] = s["h_norm"] / sg
                rows.append(analysis_values(s["h_sigma"], d))
        h_sigma = spectral_sort(np.stack(rows))[0]
    for r in records:
        centred = r.pop("hidden").astype(np.float64) - mean_token[:, None, :]
        r["metrics"]["mean_cosine_centred"] = mean_pairwise_cosine(centred)
        r["metrics"]["mean_cosine_centred_no_special"] = (
            mean_pairwise_cosine(centred, r["keep"])
            if r["metrics"]["mean_cosine_no_special"] is not None else None)
        if h_sigma is not None:
            values, dc = r.pop("attention")
            r["sigma"] = update_spectra(values, dc, h_sigma)

    # Fold into the per-layer report (report.rs build_layers / head_report).
    def per_state(key, i):
        return finite_mean(float(r["metrics"][key][i]) for r in records
                           if r["metrics"][key] is not None)

    def has(key):
        return any(r["metrics"][key] is not None for r in records)

    layers = []
    for i in range(L + 1):
        layer = {
            "index": i,
            "mean_cosine": per_state("mean_cosine", i),
            "mean_cosine_no_special": (per_state("mean_cosine_no_special", i)
                                       if has("mean_cosine_no_special") else None),
            "mean_cosine_centred": per_state("mean_cosine_centred", i),
            "mean_cosine_centred_no_special": (per_state("mean_cosine_centred_no_special", i)
                                               if has("mean_cosine_centred_no_special") else None),
            "hc_dc": per_state("hc_dc", i),
            "sigma2_over_sigma1": per_state("sigma_ratio", i),
            "effective_rank": per_state("effective_rank", i),
            "sigma": float(sigma[i - 1]) if sigma is not None and i > 0 else None,
            "gamma_negative": gamma_negative[i - 1] if i > 0 else None,
            "heads": [],
        }
        for head in range(H if i > 0 else 0):
            k = (i - 1) * H + head
            s = spectra[i - 1][head]

            def counts(which):
                c = dict.fromkeys(sorted(REGIMES), 0)
                for r in records:
                    c[REGIMES[r[which][0][k]]] += 1
                return c

            h_index = {}
            for r in records:
                j = int(r["plain"][3][k])
                h_index[j] = h_index.get(j, 0) + 1
            # report.rs: max_by_key over the h indices in order keeps the last of equal counts.
            best_j = max(sorted(h_index), key=lambda j: (h_index[j], j))
            pre = s.get("h_sigma") is not None
            gap = finite_mean(float(r["plain"][4][k]) for r in records)
            gap_sigma = finite_mean(float(r["sigma"][4][k]) for r in records) if pre else float("nan")
            layer["heads"].append({
                "head": head,
                "kv_head": model.kv_group(head),
                "eigenvalues_h": [complex_pair(z) for z in s["h"]],
                "eigenvalues_h_eff": [complex_pair(z) for z in s["h_eff"]],
                "zero_eigenvalues": max(d - len(s["h"]), 0),
                "negative_real_fraction": negative_real_fraction(s["h"]),
                "negative_real_fraction_eff": negative_real_fraction(s["h_eff"]),
                "spectral_radius": spectral_radius(s["h"]),
                "spectral_radius_eff": spectral_radius(s["h_eff"]),
                "regime_counts": counts("plain"),
                "regime_counts_eff": counts("eff"),
                "mean_dominant_modulus": finite_mean(float(r["plain"][1][k]) for r in records),
                "mean_dominant_modulus_eff": finite_mean(float(r["eff"][1][k]) for r in records),
                "dominating_h": complex_pair(h_plain[k][best_j]),
                "dominating_h_sentences": h_index[best_j],
                "dc_dominates_fraction": sum(bool(r["plain"][2][k]) for r in records) / len(records),
                "eigenvalues_h_sigma": [complex_pair(z) for z in s["h_sigma"]] if pre else None,
                "negative_real_fraction_sigma": negative_real_fraction(s["h_sigma"]) if pre else None,
                "spectral_radius_sigma": spectral_radius(s["h_sigma"]) if pre else None,
                "regime_counts_sigma": counts("sigma") if pre else None,
                "mean_dominant_modulus_sigma": (finite_mean(float(r["sigma"][1][k]) for r in records)
                                                if pre else None),
                "mean_dc_log_gap": gap if math.isfinite(gap) else None,
                "mean_dc_log_gap_sigma": gap_sigma if math.isfinite(gap_sigma) else None,
            })
        layers.append(layer)
    text = {
        "sentences": len(records),
        "truncated": sum(bool(r["truncated"]) for r in records),
        "skipped": skipped,
        "mean_tokens": sum(r["tokens"] for r in records) / len(records),
        "max_tokens": max(r["tokens"] for r in records),
    }
    analysis_s += time.perf_counter() - t

    if a.out:
        t = time.perf_counter()
        Path(a.out).write_text(json.dumps(clean({"model": {
            "dir": str(model.dir), "model_type": model.family, "layers": L, "heads": H, "width": d,
            "head_dim": model.head_dim, "post_ln": model.post_ln, "causal": model.causal,
            "kv_heads": model.kv_heads, "max_tokens": model.max_tokens}, "text": text,
            "layers": layers}), indent=1))
        analysis_s += time.perf_counter() - t

    for layer in layers:
        print(f"layer {layer['index']:2d}: mean_cosine {layer['mean_cosine']:.8f}", file=sys.stderr)
    end = time.perf_counter()
    print(json.dumps(clean({
        "framework": f"transformers {transformers.__version__}, torch {torch.__version__}, "
                     f"numpy {np.__version__}, tokenizers {tokenizers.__version__}",
        "model_type": model.family,
        "model_dir": str(model.dir),
        "threads": torch.get_num_threads(),
        "batch_size": batch_size,
        "dtype": "float32 forward, float64 analysis",
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        **text,
        "import_seconds": _T_IMPORTED - _T0,
        "load_seconds": load_s,
        "tokenize_seconds": tokenize_s,
        "forward_seconds": forward_s,
        "analysis_seconds": analysis_s,
        "total_seconds": end - _T0,
        "mean_cosine": [layer["mean_cosine"] for layer in layers],
        "layers": [{k: v for k, v in layer.items() if k != "heads"} for layer in layers],
    })))


if __name__ == "__main__":
    main()

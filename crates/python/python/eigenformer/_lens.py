"""The audit of a TransformerLens `HookedTransformer` (`eigenformer.from_transformer_lens`).

Read through TransformerLens's documented names: `model.cfg` (`n_layers`, `d_model`, `n_heads`,
`d_head`, `n_key_value_heads`, `n_ctx`, `d_vocab`, `eps`, `normalization_type`,
`attention_dir`, `model_name`, `original_architecture`), each block's `attn.W_V`
([heads or key/value heads, d_model, d_head]) and `attn.W_O` ([heads, d_head, d_model]) and
`ln1.w`, and the activations `blocks.{l}.hook_resid_pre`, `blocks.{L-1}.hook_resid_post` and
`blocks.{l}.attn.hook_pattern` from `run_with_cache`. TransformerLens already uses the row
convention of the CLI (`v = x W_V`, `out = z W_O`), so `H_h = W_V[h] W_O[h]` as they are.

**`fold_ln`.** `HookedTransformer.from_pretrained` folds each LayerNorm's γ into the weights that
read it by default (`fold_ln=True`, with `center_weights`: W_V becomes `P_d diag(γ) W_V`) and
leaves a weightless `LNPre`. The model then no longer holds γ: the audit uses γ = 1, so
`eigenvalues_h` and `eigenvalues_h_eff` are both the spectrum of the folded `P_d diag(γ) H`,
not of H, and a warning says so. `eigenvalues_h_sigma` (`H_eff = P_d diag(γ) H / σ_l`, C8) is
the same either way, because `P_d` is idempotent. `center_writing_weights` (also on by default)
removes the mean over d_model of every write to the residual stream, so the measured cosines
are those of the processed model's stream. For the spectra of the original H and the original
stream, load with `HookedTransformer.from_pretrained_no_processing(...)`.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from . import _native
from ._torch import _cut, _np


def _norm(cfg: Any) -> tuple[str, bool]:
    """(norm kind, whether the weights hold γ) from `cfg.normalization_type`."""
    kind = getattr(cfg, "normalization_type", None)
    table = {"LN": ("layernorm", True), "LNPre": ("layernorm", False),
             "RMS": ("rmsnorm", True), "RMSPre": ("rmsnorm", False)}
    if kind not in table:
        raise ValueError(
            f"normalization_type {kind!r} is not supported: the audit needs a pre-LN block "
            f"(LN, LNPre, RMS or RMSPre)"
        )
    return table[kind]


def from_transformer_lens(
    model: Any,
    texts: Sequence[str] | None = None,
    *,
    tokens: Sequence[Sequence[int]] | None = None,
    name: str | None = None,
) -> "_native.AuditResult":
    """See `eigenformer.from_transformer_lens`."""
    import torch

    cfg = getattr(model, "cfg", None)
    if cfg is None or not hasattr(model, "run_with_cache") or not hasattr(model, "blocks"):
        raise TypeError(
            f"expected a TransformerLens HookedTransformer, got {type(model).__name__}"
        )
    if (texts is None) == (tokens is None):
        raise ValueError("give exactly one of texts= or tokens=")
    norm, has_gamma = _norm(cfg)
    layers, d, heads, dh = int(cfg.n_layers), int(cfg.d_model), int(cfg.n_heads), int(cfg.d_head)
    kv_heads = int(getattr(cfg, "n_key_value_heads", None) or heads)
    rep = max(heads // kv_heads, 1)
    kv_group = [h // rep for h in range(heads)]
    gamma = np.ones((layers, d))
    w_v = np.zeros((layers, heads, d, dh))
    w_o = np.zeros((layers, heads, dh, d))
    for l, block in enumerate(model.blocks):
        v = _np(block.attn.W_V)
        o = _np(block.attn.W_O)
        for h in range(heads):
            # W_V may list only the key/value heads (grouped-query attention).
            w_v[l, h] = v[kv_group[h] if v.shape[0] == kv_heads else h]
            w_o[l, h] = o[h]
        if has_gamma:
            gamma[l] = _np(block.ln1.w)
    warnings = []
    if not has_gamma:
        warnings.append(
            "the model's LayerNorm weights are folded into W_V (fold_ln): eigenvalues_h and "
            "eigenvalues_h_eff are those of the folded P_d diag(γ) H; load the model with "
            "HookedTransformer.from_pretrained_no_processing for the spectrum of H itself"
        )
    causal = getattr(cfg, "attention_dir", "causal") == "causal"
    max_tokens = int(cfg.n_ctx)
    special_ids: set[int] = set()
    tok = getattr(model, "tokenizer", None)
    if tok is not None:
        special_ids |= set(getattr(tok, "all_special_ids", []) or [])
    inputs = []
    if texts is not None:
        if isinstance(texts, str):
            raise TypeError("texts must be a list of strings, not one string")
        if tok is None:
            raise ValueError("the model has no tokenizer: pass tokens= instead of texts=")
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] is a {type(text).__name__}, not a string")
            ids = [int(t) for t in model.to_tokens(text)[0].tolist()]
            mask = [int(t in special_ids) for t in ids]
            ids, mask, truncated = _cut(ids, mask, max_tokens)
            inputs.append((ids, [p for p, m in enumerate(mask) if m], truncated))
        source = f"{len(inputs)} texts given in Python"
        selection = f"all {len(inputs)} in order, tokenized by model.to_tokens"
    else:
        lists = tokens.tolist() if isinstance(tokens, np.ndarray) else list(tokens)
        if not lists:
            raise ValueError("tokens is empty: no inputs to audit")
        vocab = int(cfg.d_vocab)
        for i, ids in enumerate(lists):
            ids = [int(t) for t in (ids.tolist() if isinstance(ids, np.ndarray) else ids)]
            if not ids:
                raise ValueError(f"tokens[{i}] is empty")
            bad = [t for t in ids if t < 0 or t >= vocab]
            if bad:
                raise ValueError(
                    f"tokens[{i}]: token id {bad[0]} is outside the model's vocabulary of {vocab}"
                )
            if len(ids) > max_tokens:
                raise ValueError(
                    f"tokens[{i}] has {len(ids)} ids, but the model takes at most {max_tokens}"
                )
            inputs.append((ids, [p for p, t in enumerate(ids) if t in special_ids], False))
        source = f"{len(inputs)} token-id lists given in Python"
        selection = f"all {len(inputs)} in order, no tokenizer"
    model_name = str(getattr(cfg, "model_name", "") or "")
    builder = _native.AuditBuilder(
        name=name or model_name or type(model).__name__,
        dir=model_name,
        model_type=str(getattr(cfg, "original_architecture", None) or "hooked_transformer"),
        post_ln=False,
        causal=causal,
        norm=norm,
        layer_norm_eps=float(cfg.eps),
        max_tokens=max_tokens,
        kv_heads=kv_heads,
        kv_group=kv_group,
        gamma=gamma,
        w_v=w_v,
        w_o=w_o,
    )
    wanted = {f"blocks.{l}.hook_resid_pre" for l in range(layers)}
    wanted |= {f"blocks.{layers - 1}.hook_resid_post"}
    wanted |= {f"blocks.{l}.attn.hook_pattern" for l in range(layers)}
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for ids, special, truncated in inputs:
                n = len(ids)
                if n < 2:
                    builder.add(np.zeros((layers + 1, n, d)), np.zeros((layers, heads, n, n)),
                                special, truncated)
                    continue
                t = torch.tensor([ids], dtype=torch.long, device=device)
                _, cache = model.run_with_cache(t, names_filter=lambda k: k in wanted)
                states = [cache[f"blocks.{l}.hook_resid_pre"][0] for l in range(layers)]
                states.append(cache[f"blocks.{layers - 1}.hook_resid_post"][0])
                atts = [cache[f"blocks.{l}.attn.hook_pattern"][0] for l in range(layers)]
                builder.add(np.stack([_np(s) for s in states]),
                            np.stack([_np(a) for a in atts]), special, truncated)
    finally:
        model.train(was_training)
    return builder.finish(source, selection, warnings)

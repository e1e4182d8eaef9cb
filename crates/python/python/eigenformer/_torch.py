"""The in-memory audit of a `transformers` PyTorch model (`eigenformer.audit`).

Python's part: run the model with eager attention, read its hidden states and attention
probabilities, and extract each layer's value/output weights and the γ feeding its attention as
float64 NumPy arrays, in the conventions of the `eigenformer audit` CLI
(crates/model/src/hf/encoder.rs, `head_value_output` and `attention_input_ln_gamma`):

- tokens are rows, so W_V^h = V[h·d_h:(h+1)·d_h, :]ᵀ (d×d_h) and W_O^h = O[:, h·d_h:(h+1)·d_h]ᵀ
  (d_h×d), with V and O the PyTorch [out, in] weights of the value and attention-output linears
  (GPT-2's Conv1D weights are stored [in, out]); with grouped-query attention W_V is the
  key/value group's; DINOv2's LayerScale λ₁ scales the columns of W_O^h;
- γ is the weight of the norm whose output is the attention's input: the layer's own
  pre-attention norm for pre-LN models, the previous layer's output LayerNorm (the embedding
  LayerNorm for layer 0) for post-LN BERT/MPNet;
- hidden state 0 is the embedding output and hidden state l the output of layer l, the
  residual stream *before* any final norm (transformers' last `hidden_states` entry of a
  decoder is after `ln_f`/`norm`, so that one is read from the last block instead).

The report is then built in Rust by the same code as the CLI's (`_native.AuditBuilder`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from . import _native

#: model_type → family, as the CLI's loader (crates/model/src/hf/config.rs, `Family`).
FAMILIES = {
    "bert": "bert",
    "mpnet": "mpnet",
    "vit": "vit",
    "deit": "deit",
    "dinov2": "dinov2",
    "dinov2_with_registers": "dinov2",
    "gpt2": "gpt2",
    "llama": "llama",
    "mistral": "llama",
    "qwen2": "llama",
}
VISION = {"vit", "deit", "dinov2"}
DECODERS = {"gpt2", "llama"}


def _np(t: Any) -> np.ndarray:
    """A tensor (any float dtype, any device) as a float64 NumPy array."""
    import torch

    return t.detach().to(device="cpu", dtype=torch.float64).numpy()


@dataclass
class Extracted:
    """A model's description and weights in the CLI's conventions."""

    family: str
    model_type: str
    layers: int
    heads: int
    width: int
    head_dim: int
    kv_heads: int
    post_ln: bool
    causal: bool
    norm: str
    eps: float
    max_tokens: int
    leading_tokens: int
    vocab: int | None
    special_ids: set[int] = field(default_factory=set)
    blocks: list[Any] = field(default_factory=list)
    gamma: np.ndarray | None = None
    w_v: np.ndarray | None = None
    w_o: np.ndarray | None = None

    @property
    def kv_group(self) -> list[int]:
        rep = max(self.heads // max(self.kv_heads, 1), 1)
        return [h // rep for h in range(self.heads)]


def _config_int(config: Any, *names: str, default: int | None = None) -> int:
    for n in names:
        v = getattr(config, n, None)
        if v is not None:
            return int(v)
    if default is None:
        raise ValueError(f"the model's configuration has none of {', '.join(names)}")
    return default


def family_of(model: Any) -> str:
    """The CLI family of a `transformers` model, or a ValueError naming the supported ones."""
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", None)
    if config is None or model_type is None:
        raise TypeError(
            f"expected a transformers PreTrainedModel (with a .config), got {type(model).__name__}"
        )
    if model_type not in FAMILIES:
        raise ValueError(
            f"unsupported model family {model_type!r} ({type(model).__name__}): the audit "
            f"supports {', '.join(FAMILIES)}"
        )
    return FAMILIES[model_type]


def extract(model: Any) -> Extracted:
    """Read the description and the per-layer weights of `model` (see the module docstring)."""
    family = family_of(model)
    config = model.config
    base = getattr(model, "base_model", model)
    d = _config_int(config, "hidden_size", "n_embd")
    heads = _config_int(config, "num_attention_heads", "n_head")
    layers_n = _config_int(config, "num_hidden_layers", "n_layer")
    head_dim = d // heads
    kv_heads = heads
    leading = 0
    vocab = getattr(config, "vocab_size", None)
    blocks = list(_find(base, BLOCKS, "list of blocks"))
    if family in ("bert", "mpnet"):
        post_ln, causal, norm = True, False, "layernorm"
        eps = float(config.layer_norm_eps)
        max_tokens = int(config.max_position_embeddings) - (2 if family == "mpnet" else 0)
    elif family in VISION:
        post_ln, causal, norm = False, False, "layernorm"
        eps = float(config.layer_norm_eps)
        registers = int(getattr(config, "num_register_tokens", 0) or 0)
        leading = {"vit": 1, "deit": 2}.get(family, 1 + registers)
        side = int(config.image_size) // int(config.patch_size)
        # As the CLI reports it: every token, DINOv2's registers included.
        max_tokens = side * side + leading
        vocab = None
    elif family == "gpt2":
        post_ln, causal, norm = False, True, "layernorm"
        eps = float(config.layer_norm_epsilon)
        max_tokens = _config_int(config, "n_positions", "max_position_embeddings")
    else:  # the Llama family
        post_ln, causal, norm = False, True, "rmsnorm"
        eps = float(config.rms_norm_eps)
        head_dim = _config_int(config, "head_dim", default=d // heads)
        kv_heads = _config_int(config, "num_key_value_heads", default=heads)
        max_tokens = int(config.max_position_embeddings)
        # The CLI caps the length at a sliding window (Mistral; Qwen2 when it is switched on)
        # instead of implementing the band mask.
        window = getattr(config, "sliding_window", None)
        on = config.model_type != "qwen2" or bool(getattr(config, "use_sliding_window", False))
        if on and isinstance(window, int) and window > 0:
            max_tokens = min(max_tokens, window)
    if len(blocks) != layers_n:
        raise ValueError(f"the model has {len(blocks)} blocks but its configuration says {layers_n}")
    special: set[int] = set()
    for key in ("pad_token_id", "bos_token_id", "eos_token_id"):
        v = getattr(config, key, None)
        for i in v if isinstance(v, (list, tuple)) else [v]:
            if isinstance(i, int) and i >= 0:
                special.add(i)
    e = Extracted(
        family=family,
        model_type=config.model_type,
        layers=layers_n,
        heads=heads,
        width=d,
        head_dim=head_dim,
        kv_heads=kv_heads,
        post_ln=post_ln,
        causal=causal,
        norm=norm,
        eps=eps,
        max_tokens=max_tokens,
        leading_tokens=leading,
        vocab=int(vocab) if vocab is not None else None,
        special_ids=special,
        blocks=blocks,
    )
    gamma = np.zeros((layers_n, d))
    w_v = np.zeros((layers_n, heads, d, head_dim))
    w_o = np.zeros((layers_n, heads, head_dim, d))
    for l, block in enumerate(blocks):
        v, o = _value_output(family, block, d)
        scale = None
        if family == "dinov2":
            scale = _np(_find(block, ("layer_scale1.lambda1",), "LayerScale λ₁"))
        for h in range(heads):
            g = e.kv_group[h]
            w_v[l, h] = v[g * head_dim : (g + 1) * head_dim, :].T
            w_o[l, h] = o[:, h * head_dim : (h + 1) * head_dim].T
            if scale is not None:
                w_o[l, h] *= scale[None, :]
        gamma[l] = _gamma(family, base, blocks, l)
    e.gamma, e.w_v, e.w_o = gamma, w_v, w_o
    return e


def _find(module: Any, paths: Sequence[str], what: str) -> Any:
    """The first of the dotted `paths` that exists under `module` (transformers has renamed
    submodules over its versions: ViT's `attention.attention.value` became `attention.v_proj`)."""
    for path in paths:
        m = module
        for part in path.split("."):
            m = getattr(m, part, None)
            if m is None:
                break
        if m is not None:
            return m
    raise ValueError(
        f"cannot find the {what} of {type(module).__name__} (looked for {', '.join(paths)}): "
        "this transformers version lays the model out in a way the audit does not know"
    )


#: Where each family keeps its blocks, its value and output linears and the norms.
BLOCKS = ("encoder.layer", "encoder.layers", "layers", "h")
VALUE = {
    "bert": ("attention.self.value", "attention.v_proj", "attention.self.v_proj"),
    "mpnet": ("attention.attn.v", "attention.v_proj"),
    "vision": ("attention.attention.value", "attention.v_proj", "attention.attention.v_proj"),
    "llama": ("self_attn.v_proj",),
}
OUTPUT = {
    "bert": ("attention.output.dense", "attention.o_proj", "attention.output.o_proj"),
    "mpnet": ("attention.attn.o", "attention.o_proj"),
    "vision": ("attention.output.dense", "attention.o_proj"),
    "llama": ("self_attn.o_proj",),
}
NORM = {
    "bert": ("output.LayerNorm", "output.layer_norm", "output_layernorm"),
    "mpnet": ("output.LayerNorm", "output.layer_norm"),
    "vit": ("layernorm_before",),
    "deit": ("layernorm_before",),
    "dinov2": ("norm1",),
    "gpt2": ("ln_1",),
    "llama": ("input_layernorm",),
}


def _value_output(family: str, block: Any, d: int) -> tuple[np.ndarray, np.ndarray]:
    """V and O in PyTorch's [out, in] layout."""
    if family == "gpt2":
        attn = block.attn
        c_attn = getattr(attn, "c_attn", None)
        if c_attn is not None:
            # Conv1D stores [in, out]; c_attn's outputs are q, k, v in turn.
            w = _np(c_attn.weight)
            proj = _np(attn.c_proj.weight)
            if type(c_attn).__name__ == "Conv1D" or w.shape == (d, 3 * d):
                return w[:, 2 * d : 3 * d].T, proj.T
            return w[2 * d : 3 * d, :], proj
        return _np(_find(attn, ("v_proj",), "value").weight), _np(
            _find(attn, ("o_proj", "c_proj"), "output").weight
        )
    key = "vision" if family in VISION else family
    v = _find(block, VALUE[key], "value projection")
    o = _find(block, OUTPUT[key], "attention output projection")
    return _np(v.weight), _np(o.weight)


def _gamma(family: str, base: Any, blocks: list[Any], layer: int) -> np.ndarray:
    if family in ("bert", "mpnet"):
        if layer == 0:
            return _np(_find(base, ("embeddings.LayerNorm", "embeddings.layer_norm"),
                             "embedding LayerNorm").weight)
        return _np(_find(blocks[layer - 1], NORM[family], "output LayerNorm").weight)
    return _np(_find(blocks[layer], NORM[family], "pre-attention norm").weight)


class _Runner:
    """Runs the model with eager attention in eval mode (both restored afterwards) and returns
    per input its hidden states [layers + 1, n, d] and attentions [layers, heads, n, n]."""

    def __init__(self, model: Any, e: Extracted):
        self.model, self.e = model, e

    def __enter__(self) -> "_Runner":
        import torch

        m = self.model
        self.was_training = m.training
        self.previous = getattr(m.config, "_attn_implementation", None)
        if self.previous != "eager":
            setter = getattr(m, "set_attn_implementation", None)
            if setter is None:
                raise ValueError(
                    "the model does not run with eager attention (needed for its attention "
                    "probabilities); load it with attn_implementation=\"eager\""
                )
            setter("eager")
        m.eval()
        self.last: list[Any] = []
        self.hook = None
        if self.e.family in DECODERS:
            # transformers' last hidden state of a decoder has the final norm applied.
            def grab(_module: Any, _inputs: Any, output: Any) -> None:
                self.last.append(output[0] if isinstance(output, tuple) else output)

            self.hook = self.e.blocks[-1].register_forward_hook(grab)
        self.grad = torch.no_grad()
        self.grad.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.grad.__exit__(*exc)
        if self.hook is not None:
            self.hook.remove()
        if self.previous not in (None, "eager"):
            try:
                self.model.set_attn_implementation(self.previous)
            except Exception:  # pragma: no cover - restoring is best effort
                pass
        self.model.train(self.was_training)

    def run(self, **inputs: Any) -> list[tuple[np.ndarray, np.ndarray]]:
        """Forward one batch; one (hidden_states, attentions) pair per batch element."""
        self.last.clear()
        out = self.model(**inputs, output_hidden_states=True, output_attentions=True)
        hidden = getattr(out, "hidden_states", None)
        atts = getattr(out, "attentions", None)
        e = self.e
        if hidden is None or len(hidden) != e.layers + 1:
            raise ValueError(
                f"the model returned {0 if hidden is None else len(hidden)} hidden states, "
                f"expected {e.layers + 1}"
            )
        if atts is None or len(atts) != e.layers or any(a is None for a in atts):
            raise ValueError(
                "the model returned no attention probabilities for every layer; load it with "
                "attn_implementation=\"eager\""
            )
        hidden = list(hidden)
        if e.family in DECODERS:
            if len(self.last) != 1:
                raise ValueError("could not read the last block's output")
            hidden[-1] = self.last[0]
        states = np.stack([_np(h) for h in hidden], axis=1)  # [B, L+1, n, d]
        probs = np.stack([_np(a) for a in atts], axis=1)  # [B, L, H, n, n]
        return [(states[b], probs[b]) for b in range(states.shape[0])]


def _cut(ids: list[int], mask: list[int], max_tokens: int) -> tuple[list[int], list[int], bool]:
    """The CLI's truncation (crates/experiments/src/audit/tokenize.rs): the first max − 1 tokens
    and the closing special token, or the first max tokens when the last one is not special."""
    m = max(max_tokens, 2)
    if len(ids) <= m:
        return ids, mask, False
    if mask[-1]:
        return ids[: m - 1] + ids[-1:], mask[: m - 1] + mask[-1:], True
    return ids[:m], mask[:m], True


def _model_name(model: Any, name: str | None) -> tuple[str, str]:
    path = str(getattr(model.config, "name_or_path", "") or "")
    if name is None:
        name = path or type(model).__name__
    return name, path


def _builder(e: Extracted, name: str, path: str) -> Any:
    return _native.AuditBuilder(
        name=name,
        dir=path,
        model_type=e.model_type,
        post_ln=e.post_ln,
        causal=e.causal,
        norm=e.norm,
        layer_norm_eps=e.eps,
        max_tokens=e.max_tokens,
        kv_heads=e.kv_heads,
        kv_group=e.kv_group,
        gamma=e.gamma,
        w_v=e.w_v,
        w_o=e.w_o,
    )


def _device(model: Any) -> Any:
    try:
        return next(model.parameters()).device
    except StopIteration:  # pragma: no cover
        return "cpu"


def audit(
    model: Any,
    tokenizer: Any = None,
    texts: Sequence[str] | None = None,
    *,
    input_ids: Sequence[Sequence[int]] | None = None,
    images: Any = None,
    name: str | None = None,
    batch_size: int = 16,
) -> "_native.AuditResult":
    """See `eigenformer.audit`."""
    e = extract(model)
    given = [x is not None for x in (texts, input_ids, images)]
    if sum(given) != 1:
        raise ValueError("give exactly one of texts= (with tokenizer=), input_ids= or images=")
    vision = e.family in VISION
    if vision and images is None:
        raise ValueError(f"{e.model_type} is a vision model: pass images=pixel_values")
    if not vision and images is not None:
        raise ValueError(f"{e.model_type} is a text model: pass texts= with tokenizer=, or input_ids=")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    name, path = _model_name(model, name)
    builder = _builder(e, name, path)
    if images is not None:
        source, selection = _audit_images(model, e, builder, images, batch_size)
    else:
        if texts is not None:
            if tokenizer is None:
                raise ValueError("texts= needs tokenizer= (the model's tokenizer)")
            if isinstance(texts, str):
                raise TypeError("texts must be a list of strings, not one string")
            inputs = list(_tokenize(tokenizer, texts, e.max_tokens))
            source = f"{len(inputs)} texts given in Python"
            selection = (
                f"all {len(inputs)} in order, tokenized by {type(tokenizer).__name__}"
            )
        else:
            specials = set(e.special_ids)
            if tokenizer is not None:
                specials |= set(getattr(tokenizer, "all_special_ids", []) or [])
            inputs = list(_check_ids(input_ids, e, specials))
            source = f"{len(inputs)} token-id lists given in Python"
            selection = f"all {len(inputs)} in order, no tokenizer"
        device = _device(model)
        import torch

        with _Runner(model, e) as runner:
            for ids, special, truncated in inputs:
                if len(ids) < 2:
                    # Left out and counted by the builder, as the CLI does.
                    builder.add(
                        np.zeros((e.layers + 1, len(ids), e.width)),
                        np.zeros((e.layers, e.heads, len(ids), len(ids))),
                        special,
                        truncated,
                    )
                    continue
                t = torch.tensor([ids], dtype=torch.long, device=device)
                [(states, atts)] = runner.run(input_ids=t)
                builder.add(states, atts, special, truncated)
    return builder.finish(source, selection)


def _tokenize(tokenizer: Any, texts: Iterable[str], max_tokens: int):
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] is a {type(text).__name__}, not a string")
        enc = tokenizer(text, add_special_tokens=True, return_special_tokens_mask=True)
        ids = list(enc["input_ids"])
        mask = list(enc.get("special_tokens_mask") or [0] * len(ids))
        if not ids:
            raise ValueError(f"texts[{i}] has no tokens (the tokenizer produced an empty sequence)")
        ids, mask, truncated = _cut(ids, mask, max_tokens)
        yield ids, [p for p, m in enumerate(mask) if m], truncated


def _check_ids(lists: Any, e: Extracted, specials: set[int]):
    if isinstance(lists, np.ndarray):
        lists = lists.tolist()
    lists = list(lists)
    if not lists:
        raise ValueError("input_ids is empty: no inputs to audit")
    for i, ids in enumerate(lists):
        if isinstance(ids, np.ndarray):
            ids = ids.tolist()
        ids = list(ids)
        if not ids:
            raise ValueError(f"input_ids[{i}] is empty")
        for p, t in enumerate(ids):
            if isinstance(t, bool) or not isinstance(t, (int, np.integer)):
                raise TypeError(f"input_ids[{i}][{p}] is {t!r}, not an integer token id")
            if t < 0 or (e.vocab is not None and t >= e.vocab):
                raise ValueError(
                    f"input_ids[{i}][{p}]: token id {t} is outside the model's vocabulary of "
                    f"{e.vocab} (ids 0..{e.vocab})"
                )
        if len(ids) > e.max_tokens:
            raise ValueError(
                f"input_ids[{i}] has {len(ids)} ids, but the model takes at most {e.max_tokens}"
            )
        ids = [int(t) for t in ids]
        yield ids, [p for p, t in enumerate(ids) if t in specials], False


def _audit_images(model: Any, e: Extracted, builder: Any, images: Any, batch_size: int):
    import torch

    if isinstance(images, np.ndarray):
        if images.dtype.kind != "f":
            raise TypeError(
                f"images must be float pixel values (the processor's output), got dtype {images.dtype}"
            )
        images = torch.from_numpy(images)
    if not isinstance(images, torch.Tensor):
        raise TypeError(
            f"images must be a torch.Tensor or NumPy array [batch, channels, height, width], "
            f"got {type(images).__name__}"
        )
    if not images.is_floating_point():
        raise TypeError(f"images must be float pixel values, got dtype {images.dtype}")
    if images.ndim != 4:
        raise ValueError(
            f"images must be 4-D [batch, channels, height, width], got shape {tuple(images.shape)}"
        )
    if images.shape[0] == 0:
        raise ValueError("images is empty: no inputs to audit")
    if not torch.isfinite(images).all():
        raise ValueError("images contain NaN or infinite values")
    dtype = next(model.parameters()).dtype
    device = _device(model)
    n = images.shape[0]
    with _Runner(model, e) as runner:
        for start in range(0, n, batch_size):
            chunk = images[start : start + batch_size].to(device=device, dtype=dtype)
            for states, atts in runner.run(pixel_values=chunk):
                builder.add(states, atts, list(range(e.leading_tokens)), False)
    return f"{n} images given in Python (pixel_values)", f"all {n} in order"

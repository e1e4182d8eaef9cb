"""Eigenformer: measure and predict oversmoothing in Transformers from Python.

The computations are the Rust toolkit's (the ``eigenformer`` command-line tool), so the numbers
are the CLI's on the same inputs:

- :func:`spectrum` — spectra of A and H, the dominating pair of ``X + A X H`` and the predicted
  regime (``eigenformer spectrum --json``);
- :func:`simulate` — a deep stack of attention layers simulated, its smoothing per layer
  (``eigenformer simulate``);
- :func:`metrics` — the smoothing metrics of one token matrix;
- :func:`audit` — the per-layer spectra and smoothing of a ``transformers`` PyTorch model in
  memory, on texts or images (``eigenformer audit``);
- :func:`from_transformer_lens` — the same audit of a TransformerLens ``HookedTransformer``.

Every function raises ``TypeError`` (wrong type or dtype) or ``ValueError`` (wrong shape, NaN,
an unsupported model, …) with the toolkit's message. The computation runs without the GIL.
"""

from __future__ import annotations

from typing import Any, Sequence

from ._native import (
    AuditResult,
    SimulateResult,
    SpectrumResult,
    __version__,
    metrics,
    simulate,
    spectrum,
)

__all__ = [
    "AuditResult",
    "SimulateResult",
    "SpectrumResult",
    "__version__",
    "audit",
    "from_transformer_lens",
    "metrics",
    "simulate",
    "spectrum",
]


def audit(
    model: Any,
    tokenizer: Any = None,
    texts: Sequence[str] | None = None,
    *,
    input_ids: Sequence[Sequence[int]] | None = None,
    images: Any = None,
    name: str | None = None,
    batch_size: int = 16,
) -> AuditResult:
    """Audit a ``transformers`` PyTorch model in memory, as ``eigenformer audit`` does.

    Text models (BERT/MiniLM, MPNet, GPT-2, Llama, Mistral, Qwen2): ``audit(model,
    tokenizer=tok, texts=[...])`` tokenizes each text with special tokens (cut to the model's
    length as the CLI does), or ``audit(model, input_ids=[[...], ...])`` takes token ids as
    they are (special positions: the configuration's pad/bos/eos ids, and the tokenizer's
    special ids if one is given). Vision models (ViT, DeiT, DINOv2): ``audit(model,
    images=pixel_values)``, the processor's output ``[batch, channels, height, width]``, run
    ``batch_size`` at a time.

    The model runs once per input with eager attention, in eval mode and without gradients
    (its attention implementation and training mode are restored afterwards); its hidden
    states, attention probabilities and weights are read, and the report is built by the
    CLI's code. Returns an :class:`AuditResult`: ``.layers`` (dicts with the keys of a layer of
    ``audit.json``), ``.to_json()`` (``audit.json``), ``.write_report(dir)`` (the CLI's report
    files) and ``.warnings``.
    """
    from ._torch import audit as _audit

    return _audit(
        model,
        tokenizer,
        texts,
        input_ids=input_ids,
        images=images,
        name=name,
        batch_size=batch_size,
    )


def from_transformer_lens(
    model: Any,
    texts: Sequence[str] | None = None,
    *,
    tokens: Sequence[Sequence[int]] | None = None,
    name: str | None = None,
) -> AuditResult:
    """Audit a TransformerLens ``HookedTransformer`` on ``texts`` (tokenized by
    ``model.to_tokens``) or ``tokens`` (lists of token ids), like :func:`audit`.

    TransformerLens's ``from_pretrained`` folds each LayerNorm's γ into ``W_V`` by default
    (``fold_ln``): then ``eigenvalues_h`` is the spectrum of the folded ``P_d diag(γ) H`` (a
    warning says so), while ``eigenvalues_h_sigma`` (``H_eff``) is unaffected. Load with
    ``HookedTransformer.from_pretrained_no_processing`` for the spectrum of ``H`` itself.
    """
    from ._lens import from_transformer_lens as _from_lens

    return _from_lens(model, texts, tokens=tokens, name=name)

"""Type stubs of the extension module ``eigenformer._native`` (crates/python/src/lib.rs)."""

from os import PathLike
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import numpy.typing as npt

__version__: str

ArrayLike = npt.ArrayLike

class SpectrumResult:
    """The fields of ``eigenformer spectrum --json``; eigenvalues as complex128 arrays."""

    n: int
    d: int
    h_used: str
    eigenvalues_a: npt.NDArray[np.complex128]
    eigenvalues_h: npt.NDArray[np.complex128]
    eigenvalues_h_raw: npt.NDArray[np.complex128] | None
    dc_index: int
    dominant: dict[str, Any]
    dominating: list[dict[str, Any]]
    runner_up_mu_abs: float | None
    regime: str
    limit: dict[str, bool]
    warnings: list[str]
    def to_json(self) -> str:
        """The JSON document ``eigenformer spectrum --json`` prints (without its newline)."""
    def to_dict(self) -> dict[str, Any]:
        """``json.loads(self.to_json())``."""

class SimulateResult:
    """The per-layer metrics of ``eigenformer simulate`` and the predicted regime."""

    layers: list[dict[str, Any]]
    predicted_regime: list[str]
    prediction_exact: bool
    stopped_at: int | None
    n: int
    d: int
    final_state: npt.NDArray[np.float64]
    warnings: list[str]
    def to_csv(self) -> str:
        """The CSV ``eigenformer simulate --out FILE`` writes."""

class AuditResult:
    """An audit: ``audit.json`` of ``eigenformer audit`` and its report files."""

    warnings: list[str]
    @property
    def layers(self) -> list[dict[str, Any]]:
        """One dict per hidden state, with the keys of a layer of audit.json."""
    @property
    def model(self) -> dict[str, Any]:
        """The model part of audit.json."""
    @property
    def text(self) -> dict[str, Any]:
        """The inputs part of audit.json."""
    @property
    def seconds(self) -> float:
        """Seconds spent on the Rust side."""
    def to_json(self) -> str:
        """audit.json as the CLI writes it."""
    def to_dict(self) -> dict[str, Any]:
        """``json.loads(self.to_json())``."""
    def write_report(self, dir: str | PathLike[str]) -> list[Path]:
        """Write audit.json, report.md, layers.csv, heads.csv, similarity.svg and
        eigenvalues.svg into ``dir``; returns their paths."""

class AuditBuilder:
    """The Rust side of ``eigenformer.audit`` (used by ``eigenformer._torch``)."""

    def __init__(
        self,
        *,
        name: str,
        dir: str,
        model_type: str,
        post_ln: bool,
        causal: bool,
        norm: str,
        layer_norm_eps: float,
        max_tokens: int,
        kv_heads: int,
        kv_group: Sequence[int],
        gamma: ArrayLike,
        w_v: ArrayLike,
        w_o: ArrayLike,
    ) -> None: ...
    @property
    def inputs(self) -> int:
        """Inputs measured so far."""
    def add(
        self,
        hidden_states: ArrayLike,
        attentions: ArrayLike,
        special: Sequence[int],
        truncated: bool = False,
    ) -> bool:
        """Measure one input; False when it was left out (fewer than 2 tokens)."""
    def finish(
        self, text_source: str, text_selection: str, warnings: Sequence[str] = ...
    ) -> AuditResult:
        """The second pass and the report."""

def spectrum(
    a: ArrayLike,
    h: ArrayLike,
    gamma: ArrayLike | None = None,
    *,
    allow_nonstochastic: bool = False,
    tie_rtol: float = 1e-9,
) -> SpectrumResult:
    """Spectra of A and H, the dominating pair of X + A X H and the predicted regime."""

def simulate(
    attention: ArrayLike | Sequence[ArrayLike],
    h: ArrayLike | Sequence[ArrayLike],
    layers: int,
    *,
    normalize: bool = False,
    x0: ArrayLike | None = None,
    seed: int = 0,
    gamma: ArrayLike | None = None,
    beta: ArrayLike | None = None,
    exclude_tokens: Sequence[int] = ...,
    allow_nonstochastic: bool = False,
) -> SimulateResult:
    """Simulate X ← X + Σ_h A_h X H_h for ``layers`` layers and measure each layer."""

def metrics(x: ArrayLike, exclude_tokens: Sequence[int] = ...) -> dict[str, float | None]:
    """The smoothing metrics of a token matrix X (tokens are rows)."""

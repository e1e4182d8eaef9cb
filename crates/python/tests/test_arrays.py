"""spectrum, simulate and metrics: the CLI's outputs byte for byte on the same arrays, the
metrics against a NumPy reference, clear errors for bad input, and the GIL released."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

import eigenformer
from conftest import run_cli


def attention(n: int, rng: np.random.Generator, temperature: float = 1.0) -> np.ndarray:
    x = np.exp(rng.normal(size=(n, n)) / temperature)
    return x / x.sum(axis=1, keepdims=True)


@pytest.fixture
def inputs(tmp_path):
    rng = np.random.default_rng(7)
    arrays = {
        "a": attention(6, rng),
        "a2": attention(6, rng, 0.5),
        "h": rng.normal(size=(5, 5)),
        "h2": -0.3 * np.eye(5) + 0.1 * rng.normal(size=(5, 5)),
        "g": rng.normal(size=5),
        "b": rng.normal(size=5),
        "x0": rng.normal(size=(6, 5)),
    }
    for k, v in arrays.items():
        np.save(tmp_path / f"{k}.npy", v)
    return tmp_path, arrays


def test_spectrum_equals_the_cli_json(cli, inputs):
    d, x = inputs
    r = eigenformer.spectrum(x["a"], x["h"])
    assert r.to_json() + "\n" == run_cli(cli, "spectrum", "--attention", d / "a.npy",
                                         "--h", d / "h.npy", "--json")
    g = eigenformer.spectrum(x["a"], x["h"], gamma=x["g"], tie_rtol=1e-6)
    want = run_cli(cli, "spectrum", "--attention", d / "a.npy", "--h", d / "h.npy",
                   "--gamma", d / "g.npy", "--tie-rtol", "1e-6", "--json")
    assert g.to_json() + "\n" == want
    # The attributes are the JSON's fields, eigenvalues as complex arrays.
    doc = json.loads(want)
    assert g.to_dict() == doc
    assert list(doc) == ["n", "d", "h_used", "eigenvalues_a", "eigenvalues_h",
                         "eigenvalues_h_raw", "dc_index", "dominant", "dominating",
                         "runner_up_mu_abs", "regime", "limit", "warnings"]
    assert (g.n, g.d, g.h_used, g.dc_index, g.regime) == (
        doc["n"], doc["d"], doc["h_used"], doc["dc_index"], doc["regime"])
    np.testing.assert_array_equal(g.eigenvalues_a.real, [z[0] for z in doc["eigenvalues_a"]])
    np.testing.assert_array_equal(g.eigenvalues_h.imag, [z[1] for z in doc["eigenvalues_h"]])
    assert g.eigenvalues_h_raw is not None and r.eigenvalues_h_raw is None
    assert g.dominant["mu_abs"] == doc["dominant"]["mu_abs"]
    assert g.dominant["a"] == complex(*doc["dominant"]["a"])
    assert g.limit == doc["limit"]
    assert g.runner_up_mu_abs == doc["runner_up_mu_abs"]


def test_spectrum_float32_and_lists(cli, inputs, tmp_path):
    d, x = inputs
    h32 = x["h"].astype(np.float32)
    np.save(tmp_path / "h32.npy", h32)
    want = run_cli(cli, "spectrum", "--attention", d / "a.npy", "--h", tmp_path / "h32.npy",
                   "--json")
    assert eigenformer.spectrum(x["a"], h32).to_json() + "\n" == want
    assert eigenformer.spectrum(x["a"].tolist(), h32).to_json() + "\n" == want


def test_non_stochastic_attention(inputs):
    _, x = inputs
    bad = x["a"].copy()
    bad[0, 0] += 0.2
    with pytest.raises(ValueError, match="not a valid attention matrix.*row-stochastic"):
        eigenformer.spectrum(bad, x["h"])
    r = eigenformer.spectrum(bad, x["h"], allow_nonstochastic=True)
    assert len(r.warnings) == 1 and "used anyway" in r.warnings[0]


def test_simulate_equals_the_cli_csv(cli, inputs, tmp_path):
    d, x = inputs
    out = tmp_path / "m.csv"
    # The default X0 is the CLI's seeded draw.
    summary = json.loads(run_cli(cli, "simulate", "--attention", d / "a.npy", "--h", d / "h.npy",
                                 "--layers", "12", "--seed", "3", "--out", out, "--json"))
    s = eigenformer.simulate(x["a"], x["h"], 12, seed=3)
    assert s.to_csv() == out.read_text()
    assert s.predicted_regime == summary["predicted_regime"]
    assert s.prediction_exact == summary["prediction_exact"]
    assert s.layers[-1]["mean_cosine"] == summary["final_mean_cosine"]
    assert s.stopped_at == summary["stopped_at"]
    assert [r["layer"] for r in s.layers] == list(range(13))
    # metrics(X) and a simulate row name the same quantities alike.
    metric_keys = set(eigenformer.metrics(s.final_state))
    assert metric_keys <= set(s.layers[-1]), metric_keys - set(s.layers[-1])
    # Two heads, pre-LN, a given X0, an excluded token, renormalised.
    run_cli(cli, "simulate", "--attention", d / "a.npy", "--attention", d / "a2.npy",
            "--h", d / "h.npy", "--h", d / "h2.npy", "--layers", "9", "--normalize",
            "--gamma", d / "g.npy", "--beta", d / "b.npy", "--x0", d / "x0.npy",
            "--exclude-token", "0", "--out", out)
    s = eigenformer.simulate([x["a"], x["a2"]], np.stack([x["h"], x["h2"]]), 9, normalize=True,
                             gamma=x["g"], beta=x["b"], x0=x["x0"], exclude_tokens=[0])
    assert s.to_csv() == out.read_text()
    assert s.final_state.shape == (6, 5)
    assert abs(np.linalg.norm(s.final_state) - 1.0) < 1e-12
    assert s.layers[3]["mean_cosine_excluding"] is not None


def reference_metrics(x: np.ndarray) -> dict:
    """theory.md §4, written directly in NumPy."""
    n = x.shape[0]
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    c = u @ u.T
    mean_cos = (c.sum() - np.trace(c)) / (n * (n - 1))
    dc = np.repeat(x.mean(axis=0, keepdims=True), n, axis=0)
    hc = x - dc
    s = np.linalg.svd(x, compute_uv=False)
    p = s**2 / (s**2).sum()
    p = p[p > 0]
    return {
        "mean_cosine": mean_cos,
        "hc_dc_ratio": np.linalg.norm(hc) / np.linalg.norm(dc),
        "hc_norm": np.linalg.norm(hc),
        "frobenius_norm": np.linalg.norm(x),
        "sigma2_over_sigma1": s[1] / s[0],
        "effective_rank": np.exp(-(p * np.log(p)).sum()),
        "relative_residual": np.linalg.norm(hc) / np.linalg.norm(x),
    }


def test_metrics_match_a_numpy_reference():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(9, 4)) + np.array([2.0, 0.0, -1.0, 0.5])
    m = eigenformer.metrics(x)
    for k, v in reference_metrics(x).items():
        assert abs(m[k] - v) <= 1e-12 * max(1.0, abs(v)), (k, m[k], v)
    assert m["mean_cosine_excluding"] is None
    ex = eigenformer.metrics(x, exclude_tokens=[0, 8])
    assert abs(ex["mean_cosine_excluding"] - reference_metrics(x[1:8])["mean_cosine"]) < 1e-12
    # Identical tokens: cosine 1, no high-frequency part, rank one.
    same = eigenformer.metrics(np.tile([1.0, 2.0, 3.0], (5, 1)))
    assert abs(same["mean_cosine"] - 1.0) < 1e-12 and same["hc_norm"] < 1e-12


@pytest.mark.parametrize(
    "bad, error, message",
    [
        (np.eye(3, dtype=np.int64), TypeError, "dtype float32 or float64, got int64"),
        (np.eye(3, dtype=np.complex128), TypeError, "dtype float32 or float64"),
        (np.eye(3, dtype=np.float16), TypeError, "dtype float32 or float64"),
        ("not an array", TypeError, "dtype float32 or float64"),
        (np.ones((2, 3, 3)) / 3, ValueError, "must be a 2-D array"),
        (np.array([[np.nan, 1.0], [0.0, 1.0]]), ValueError, r"entry \[0, 0\] is NaN"),
        (np.array([[np.inf, 1.0], [0.0, 1.0]]), ValueError, "non-finite"),
        (np.ones((2, 3)) / 3, ValueError, "A"),
    ],
)
def test_bad_arrays_are_refused_clearly(bad, error, message):
    h = np.eye(3)
    with pytest.raises(error, match=message):
        eigenformer.spectrum(bad, h)


def test_bad_arguments_of_each_function():
    a, h = np.full((3, 3), 1 / 3), np.eye(4)
    with pytest.raises(ValueError, match="analysing A and H"):
        eigenformer.spectrum(a, np.ones((4, 3)))
    with pytest.raises(ValueError, match="combining gamma with H"):
        eigenformer.spectrum(np.full((4, 4), 0.25), h, gamma=np.ones(3))
    with pytest.raises(ValueError, match="1-D"):
        eigenformer.spectrum(np.full((4, 4), 0.25), h, gamma=np.ones((4, 1)))
    with pytest.raises(ValueError, match="layers must be at least 1"):
        eigenformer.simulate(a, np.eye(3), 0)
    with pytest.raises(ValueError, match="one h per attention"):
        eigenformer.simulate([a, a], np.eye(3), 3)
    with pytest.raises(ValueError, match="exclude_tokens"):
        eigenformer.simulate(a, np.eye(3), 3, exclude_tokens=[-1])
    with pytest.raises(ValueError, match="x0"):
        eigenformer.simulate(a, np.eye(3), 3, x0=np.ones((2, 3)))
    with pytest.raises(ValueError, match="beta needs gamma"):
        eigenformer.simulate(a, np.eye(3), 3, beta=np.zeros(3))
    with pytest.raises(ValueError, match="outside X's 3 tokens"):
        eigenformer.metrics(np.ones((3, 2)), exclude_tokens=[3])
    with pytest.raises(TypeError):
        eigenformer.metrics(np.ones((3, 2), dtype=bool))


def test_the_gil_is_released_during_computation():
    """Python code keeps running in another thread while a long computation is in Rust."""
    x = np.random.default_rng(0).normal(size=(1500, 300))
    t0 = time.perf_counter()
    eigenformer.metrics(x)
    if time.perf_counter() - t0 < 0.05:
        x = np.random.default_rng(0).normal(size=(4000, 600))
    span = {}

    def work():
        span["start"] = time.perf_counter()
        eigenformer.metrics(x)
        span["end"] = time.perf_counter()

    ticks = []
    t = threading.Thread(target=work)
    t.start()
    while t.is_alive():
        ticks.append(time.perf_counter())
    t.join()
    inside = [s for s in ticks if span["start"] < s < span["end"]]
    # With the GIL held for the whole call this thread could not run at all in between.
    assert len(inside) > 100, f"{len(inside)} ticks during {span['end'] - span['start']:.3f} s"

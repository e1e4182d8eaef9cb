//! `eigenformer._native`: the Rust half of the `eigenformer` Python package (PyO3, abi3).
//!
//! Every function here converts its arguments to owned `f64` ndarrays while it holds the
//! interpreter, then releases it (`Python::detach`) for the computation, which is the same
//! library code the `eigenformer` binary runs: `eigenformer_spectral::analyse_spectrum`
//! (`spectrum --json`), `simulate_stack` (`simulate`), `smoothing_metrics`, and
//! `eigenformer_experiments::audit::arrays` (the audit's report from arrays measured by PyTorch,
//! written with the CLI's `audit::render`). Bad input (a dtype that is not float32/float64, a
//! wrong number of dimensions, NaN or ∞, shapes that do not fit) raises `TypeError` or
//! `ValueError` with the Rust message; nothing reachable from Python panics on purpose, and a
//! panic would surface as PyO3's `PanicException`, not a crash.
//!
//! The pure-Python half (`python/eigenformer/`) runs PyTorch models and calls [`AuditBuilder`].

use eigenformer_experiments::audit::arrays::{ArrayAudit, ArrayModelSpec};
use eigenformer_experiments::audit::render::write_outputs;
use eigenformer_experiments::audit::AuditReport;
use eigenformer_experiments::trajectory::trajectory_csv;
use eigenformer_model::hf::NormKind;
use eigenformer_spectral::{
    analyse_spectrum, check_row_stochastic, random_initial_state, simulate_stack,
    smoothing_metrics, Complex64, DynamicsConfig, LayerNormParams, SmoothingMetrics, SpectralError,
    SpectrumOptions, SpectrumReport, StackSimulation,
};
use ndarray::{Array1, Array2, Array3, Array4, ArrayD, Axis, Dimension, Ix1, Ix2, Ix3, Ix4};
use numpy::{
    IntoPyArray, PyArray1, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use std::path::PathBuf;

fn value_error(msg: impl Into<String>) -> PyErr {
    PyValueError::new_err(msg.into())
}

/// `obj` as an owned `f64` array with one of the numbers of dimensions `ndims`; `name` and
/// `what` (the expected shape in words) go into the error messages. NumPy arrays of float32 or
/// float64 are taken as they are; anything else is passed through `numpy.asarray` first (lists,
/// CPU tensors), so a list of integers is refused for its dtype like an integer array.
fn float_array(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
    name: &str,
    ndims: &[usize],
    what: &str,
) -> PyResult<ArrayD<f64>> {
    let arr = if obj.is_instance_of::<PyUntypedArray>() {
        obj.clone()
    } else {
        py.import("numpy")?
            .call_method1("asarray", (obj,))
            .map_err(|e| {
                PyTypeError::new_err(format!(
                    "{name} must be a NumPy array of float32 or float64 ({what}); {e}"
                ))
            })?
    };
    let arr = arr
        .cast_into::<PyUntypedArray>()
        .map_err(|_| PyTypeError::new_err(format!("{name} must be a NumPy array ({what})")))?;
    let dtype = arr.dtype();
    let size = dtype.itemsize();
    if dtype.kind() != b'f' || !(size == 4 || size == 8) {
        return Err(PyTypeError::new_err(format!(
            "{name} must have dtype float32 or float64, got {dtype} ({what})"
        )));
    }
    if !ndims.contains(&arr.ndim()) {
        let dims: Vec<String> = ndims.iter().map(|n| format!("{n}-D")).collect();
        return Err(value_error(format!(
            "{name} must be a {} array ({what}), got an array of shape {:?}",
            dims.join(" or "),
            arr.shape()
        )));
    }
    let byte_order = || {
        PyTypeError::new_err(format!(
            "{name}: dtype {dtype} is not in the machine's byte order; convert it with \
             numpy.asarray({name}, dtype=float)"
        ))
    };
    let out: ArrayD<f64> = if size == 8 {
        let typed = arr.cast::<PyArrayDyn<f64>>().map_err(|_| byte_order())?;
        typed.readonly().as_array().to_owned()
    } else {
        let typed = arr.cast::<PyArrayDyn<f32>>().map_err(|_| byte_order())?;
        typed.readonly().as_array().mapv(f64::from)
    };
    if let Some((index, v)) = out.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(value_error(format!(
            "{name}: entry {:?} is {v}, a non-finite value; the array must hold finite numbers",
            index.slice()
        )));
    }
    Ok(out)
}

fn into_dim<D: Dimension>(a: ArrayD<f64>, name: &str) -> PyResult<ndarray::Array<f64, D>> {
    a.into_dimensionality::<D>()
        .map_err(|e| value_error(format!("{name}: {e}")))
}

fn matrix(py: Python<'_>, obj: &Bound<'_, PyAny>, name: &str, what: &str) -> PyResult<Array2<f64>> {
    into_dim::<Ix2>(float_array(py, obj, name, &[2], what)?, name)
}

fn vector(py: Python<'_>, obj: &Bound<'_, PyAny>, name: &str, what: &str) -> PyResult<Array1<f64>> {
    into_dim::<Ix1>(float_array(py, obj, name, &[1], what)?, name)
}

/// One matrix (2-D), a stack of them (3-D, first axis the head) or a list/tuple of matrices.
fn matrices(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
    name: &str,
    what: &str,
) -> PyResult<Vec<Array2<f64>>> {
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut out = Vec::new();
        for (i, item) in obj.try_iter()?.enumerate() {
            out.push(matrix(py, &item?, &format!("{name}[{i}]"), what)?);
        }
        if out.is_empty() {
            return Err(value_error(format!(
                "{name} is empty: give at least one matrix"
            )));
        }
        return Ok(out);
    }
    let a = float_array(py, obj, name, &[2, 3], what)?;
    if a.ndim() == 2 {
        return Ok(vec![into_dim::<Ix2>(a, name)?]);
    }
    let a = into_dim::<Ix3>(a, name)?;
    if a.len_of(Axis(0)) == 0 {
        return Err(value_error(format!(
            "{name} is empty: give at least one matrix"
        )));
    }
    Ok(a.outer_iter().map(|m| m.to_owned()).collect())
}

/// Token indices given from Python (negative ones are refused as values, not as overflow).
fn indices(values: &[i64], name: &str) -> PyResult<Vec<usize>> {
    values
        .iter()
        .map(|&v| {
            usize::try_from(v)
                .map_err(|_| value_error(format!("{name}: {v} is not a token index (≥ 0)")))
        })
        .collect()
}

/// The row-stochastic check of `eigenformer spectrum`/`simulate` (`--allow-nonstochastic`):
/// returns the tolerance the analysis should use.
fn accept_attention(
    a: &Array2<f64>,
    name: &str,
    tol: f64,
    allow: bool,
    warnings: &mut Vec<String>,
) -> PyResult<f64> {
    match check_row_stochastic(a.view(), tol) {
        Ok(()) => Ok(tol),
        Err(e @ SpectralError::NotRowStochastic { .. }) if allow => {
            warnings.push(format!(
                "{name}: {e}; used anyway (allow_nonstochastic=True)"
            ));
            Ok(f64::MAX)
        }
        Err(e @ SpectralError::NotRowStochastic { .. }) => Err(value_error(format!(
            "{name} is not a valid attention matrix (pass allow_nonstochastic=True to use it \
             anyway): {e}"
        ))),
        Err(e) => Err(value_error(format!("{name}: {e}"))),
    }
}

fn complex_array(py: Python<'_>, values: &[[f64; 2]]) -> Py<PyArray1<Complex64>> {
    values
        .iter()
        .map(|z| Complex64::new(z[0], z[1]))
        .collect::<Vec<_>>()
        .into_pyarray(py)
        .unbind()
}

fn json_loads(py: Python<'_>, text: &str) -> PyResult<Py<PyAny>> {
    Ok(py.import("json")?.call_method1("loads", (text,))?.unbind())
}

/// The result of [`spectrum`]: the fields of `eigenformer spectrum --json`, with the
/// eigenvalues as complex NumPy arrays (`to_dict()` / `to_json()` give the JSON itself).
#[pyclass(frozen, module = "eigenformer", name = "SpectrumResult")]
struct SpectrumResult {
    json: String,
    /// Number of tokens.
    #[pyo3(get)]
    n: usize,
    /// Width.
    #[pyo3(get)]
    d: usize,
    /// Which matrix the H-spectrum is of: "H" or "diag(gamma) H".
    #[pyo3(get)]
    h_used: String,
    /// Eigenvalues of A (complex128), by descending modulus.
    #[pyo3(get)]
    eigenvalues_a: Py<PyArray1<Complex64>>,
    /// Eigenvalues of the analysed H (diag(γ) H when gamma was given).
    #[pyo3(get)]
    eigenvalues_h: Py<PyArray1<Complex64>>,
    /// Eigenvalues of H itself when gamma was given, else None.
    #[pyo3(get)]
    eigenvalues_h_raw: Option<Py<PyArray1<Complex64>>>,
    /// Index of the DC mode in eigenvalues_a.
    #[pyo3(get)]
    dc_index: usize,
    /// The first dominating pair: {"a", "h" (complex), "mu_abs", "is_dc"}.
    #[pyo3(get)]
    dominant: Py<PyAny>,
    /// Every pair within the tie tolerance of the maximal |μ| (dicts as `dominant`).
    #[pyo3(get)]
    dominating: Py<PyAny>,
    /// The largest |μ| outside the dominating set (None when every pair dominates).
    #[pyo3(get)]
    runner_up_mu_abs: Option<f64>,
    /// "smoothing", "alternating-smoothing", "sharpening" or "balanced".
    #[pyo3(get)]
    regime: String,
    /// {"rank_collapse", "angle_convergence", "input_convergence"}: which limits hold.
    #[pyo3(get)]
    limit: Py<PyAny>,
    /// Warnings (a non-stochastic A accepted with allow_nonstochastic=True).
    #[pyo3(get)]
    warnings: Vec<String>,
}

fn pair_dict<'py>(
    py: Python<'py>,
    p: &eigenformer_spectral::DominantPair,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("a", Complex64::new(p.a[0], p.a[1]))?;
    d.set_item("h", Complex64::new(p.h[0], p.h[1]))?;
    d.set_item("mu_abs", p.mu_abs)?;
    d.set_item("is_dc", p.is_dc)?;
    Ok(d)
}

impl SpectrumResult {
    fn new(py: Python<'_>, r: &SpectrumReport) -> PyResult<Self> {
        let json = serde_json::to_string_pretty(r).map_err(|e| value_error(e.to_string()))?;
        let dominating = PyList::empty(py);
        for p in &r.dominating {
            dominating.append(pair_dict(py, p)?)?;
        }
        let limit = PyDict::new(py);
        limit.set_item("rank_collapse", r.limit.rank_collapse)?;
        limit.set_item("angle_convergence", r.limit.angle_convergence)?;
        limit.set_item("input_convergence", r.limit.input_convergence)?;
        Ok(SpectrumResult {
            json,
            n: r.n,
            d: r.d,
            h_used: r.h_used.to_string(),
            eigenvalues_a: complex_array(py, &r.eigenvalues_a),
            eigenvalues_h: complex_array(py, &r.eigenvalues_h),
            eigenvalues_h_raw: r.eigenvalues_h_raw.as_ref().map(|v| complex_array(py, v)),
            dc_index: r.dc_index,
            dominant: pair_dict(py, &r.dominant)?.into_any().unbind(),
            dominating: dominating.into_any().unbind(),
            runner_up_mu_abs: r.runner_up_mu_abs,
            regime: r.regime.name().to_string(),
            limit: limit.into_any().unbind(),
            warnings: r.warnings.clone(),
        })
    }
}

#[pymethods]
impl SpectrumResult {
    /// The JSON document `eigenformer spectrum --json` prints for the same inputs (without
    /// its final newline): complex numbers as [re, im].
    fn to_json(&self) -> String {
        self.json.clone()
    }

    /// `json.loads(self.to_json())`.
    fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json_loads(py, &self.json)
    }

    fn __repr__(&self) -> String {
        format!(
            "SpectrumResult(n={}, d={}, h_used={:?}, regime={:?})",
            self.n, self.d, self.h_used, self.regime
        )
    }
}

/// Spectra of A and H, the dominating pair of the update X + A X H and the regime it
/// predicts (theory.md §1–§2): what `eigenformer spectrum --json` prints.
///
/// A is the n×n attention matrix (row-stochastic within 1e-5 unless allow_nonstochastic),
/// H = W_V W_O the d×d value-output matrix, gamma the LayerNorm weight (length d) of a pre-LN
/// block: then diag(gamma) H is analysed (C8). Arrays must be float32 or float64 and finite;
/// tie_rtol is the relative tolerance under which two |μ| count as tied.
#[pyfunction]
#[pyo3(signature = (a, h, gamma=None, *, allow_nonstochastic=false, tie_rtol=1e-9))]
fn spectrum(
    py: Python<'_>,
    a: &Bound<'_, PyAny>,
    h: &Bound<'_, PyAny>,
    gamma: Option<&Bound<'_, PyAny>>,
    allow_nonstochastic: bool,
    tie_rtol: f64,
) -> PyResult<SpectrumResult> {
    let a = matrix(py, a, "A", "the n×n attention matrix")?;
    let h = matrix(py, h, "H", "the d×d matrix W_V W_O")?;
    let gamma = gamma
        .map(|g| vector(py, g, "gamma", "the LayerNorm weight, length d"))
        .transpose()?;
    let mut warnings = Vec::new();
    let mut opts = SpectrumOptions {
        tie_rtol,
        ..SpectrumOptions::default()
    };
    opts.stochastic_tol = accept_attention(
        &a,
        "A",
        opts.stochastic_tol,
        allow_nonstochastic,
        &mut warnings,
    )?;
    let mut report = py
        .detach(|| analyse_spectrum(a.view(), h.view(), gamma.as_ref().map(|g| g.view()), &opts))
        .map_err(|e| value_error(e.to_string()))?;
    report.warnings = warnings;
    SpectrumResult::new(py, &report)
}

/// The result of [`simulate`]: the metrics per layer (the rows of `eigenformer simulate`'s
/// CSV) and the regime the spectra predict.
#[pyclass(frozen, module = "eigenformer", name = "SimulateResult")]
struct SimulateResult {
    csv: String,
    /// One dict per layer 0..=L with the CSV's columns: layer, mean_cosine,
    /// mean_cosine_excluding, hc_dc_ratio, hc_norm, sigma2_over_sigma1, effective_rank,
    /// relative_residual, frobenius_norm, growth, step_alignment (None where a value does
    /// not exist at a layer).
    #[pyo3(get)]
    layers: Py<PyAny>,
    /// Regime predicted from the spectra: one entry (one head, or heads sharing A), or one per
    /// head (a heuristic, prediction_exact False).
    #[pyo3(get)]
    predicted_regime: Vec<String>,
    /// Whether the prediction is exact.
    #[pyo3(get)]
    prediction_exact: bool,
    /// The layer at which the simulation stopped early (overflow or zero state), else None.
    #[pyo3(get)]
    stopped_at: Option<usize>,
    /// Tokens.
    #[pyo3(get)]
    n: usize,
    /// Width.
    #[pyo3(get)]
    d: usize,
    /// The token matrix after the last simulated layer.
    #[pyo3(get)]
    final_state: Py<PyAny>,
    /// Warnings (attention accepted with allow_nonstochastic=True).
    #[pyo3(get)]
    warnings: Vec<String>,
}

#[pymethods]
impl SimulateResult {
    /// The CSV `eigenformer simulate --out FILE` writes for the same inputs.
    fn to_csv(&self) -> String {
        self.csv.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "SimulateResult(n={}, d={}, layers={}, predicted_regime={:?})",
            self.n,
            self.d,
            self.csv.lines().count().saturating_sub(2),
            self.predicted_regime
        )
    }
}

/// Simulate `X ← X + Σ_h A_h X H_h` (pre-LN `X + Σ_h A_h LN(X) H_h` with gamma) for `layers`
/// layers and measure each layer's smoothing (theory.md §4), beside the regime the spectra
/// predict: what `eigenformer simulate` writes.
///
/// attention and h: one matrix each (one head), or equally long lists (or 3-D stacks) of n×n
/// and d×d matrices (several heads). x0 is the n×d initial state (default: standard normal
/// entries drawn with seed, as the CLI). normalize rescales X to unit Frobenius norm after
/// every layer. beta defaults to zeros when gamma is given. exclude_tokens are left out of
/// mean_cosine_excluding.
#[pyfunction]
#[pyo3(signature = (attention, h, layers, *, normalize=false, x0=None, seed=0, gamma=None,
    beta=None, exclude_tokens=Vec::new(), allow_nonstochastic=false))]
#[allow(clippy::too_many_arguments)]
fn simulate(
    py: Python<'_>,
    attention: &Bound<'_, PyAny>,
    h: &Bound<'_, PyAny>,
    layers: usize,
    normalize: bool,
    x0: Option<&Bound<'_, PyAny>>,
    seed: u64,
    gamma: Option<&Bound<'_, PyAny>>,
    beta: Option<&Bound<'_, PyAny>>,
    exclude_tokens: Vec<i64>,
    allow_nonstochastic: bool,
) -> PyResult<SimulateResult> {
    let a_mats = matrices(py, attention, "attention", "n×n attention matrices")?;
    let h_mats = matrices(py, h, "h", "d×d matrices W_V W_O")?;
    if a_mats.len() != h_mats.len() {
        return Err(value_error(format!(
            "give one h per attention matrix (got {} attention matrices and {} h matrices)",
            a_mats.len(),
            h_mats.len()
        )));
    }
    if layers == 0 {
        return Err(value_error("layers must be at least 1"));
    }
    if beta.is_some() && gamma.is_none() {
        return Err(value_error("beta needs gamma (the pre-LN weight)"));
    }
    let mut warnings = Vec::new();
    let mut stochastic_tol = SpectrumOptions::default().stochastic_tol;
    for (i, a) in a_mats.iter().enumerate() {
        stochastic_tol = accept_attention(
            a,
            &format!("attention[{i}]"),
            stochastic_tol,
            allow_nonstochastic,
            &mut warnings,
        )?;
    }
    let (n, d) = (a_mats[0].nrows(), h_mats[0].nrows());
    let x0 = match x0 {
        Some(x) => matrix(py, x, "x0", "the n×d initial token matrix")?,
        None => random_initial_state(n, d, seed),
    };
    let layer_norm = match gamma {
        Some(g) => {
            let gamma = vector(py, g, "gamma", "the pre-LN weight, length d")?;
            let beta = match beta {
                Some(b) => vector(py, b, "beta", "the pre-LN bias, length d")?,
                None => Array1::zeros(gamma.len()),
            };
            Some(LayerNormParams::new(gamma, beta))
        }
        None => None,
    };
    let cfg = DynamicsConfig {
        layers,
        normalise: normalize,
        layer_norm,
        exclude_tokens: indices(&exclude_tokens, "exclude_tokens")?,
        stochastic_tol,
    };
    let sim = py
        .detach(|| {
            let heads: Vec<_> = a_mats
                .iter()
                .zip(&h_mats)
                .map(|(a, h)| (a.view(), h.view()))
                .collect();
            simulate_stack(&heads, x0.view(), &cfg)
        })
        .map_err(|e| value_error(e.to_string()))?;
    let StackSimulation {
        predicted_regime,
        prediction_exact,
        trajectory,
    } = sim;
    let rows = PyList::empty(py);
    for r in &trajectory.records {
        let m = &r.metrics;
        let row = PyDict::new(py);
        row.set_item("layer", r.layer)?;
        set_metrics(&row, m)?;
        row.set_item("growth", r.growth)?;
        row.set_item("step_alignment", r.step_alignment)?;
        rows.append(row)?;
    }
    Ok(SimulateResult {
        csv: trajectory_csv(&trajectory),
        layers: rows.into_any().unbind(),
        predicted_regime: predicted_regime
            .iter()
            .map(|r| r.name().to_string())
            .collect(),
        prediction_exact,
        stopped_at: trajectory.stopped_at,
        n,
        d,
        final_state: trajectory.final_state.into_pyarray(py).into_any().unbind(),
        warnings,
    })
}

/// The smoothing metrics of a token matrix X (n×d, tokens are rows; theory.md §4): a dict with
/// mean_cosine (mean pairwise token cosine), mean_cosine_excluding (the same without
/// exclude_tokens; None when nothing is excluded), hc_dc_ratio (‖HC[X]‖_F / ‖DC[X]‖_F),
/// hc_norm, frobenius_norm, sigma2_over_sigma1 (σ₂/σ₁), effective_rank (exp of the entropy of
/// σ²/Σσ²) and relative_residual (‖HC[X]‖_F / ‖X‖_F).
#[pyfunction]
#[pyo3(signature = (x, exclude_tokens=Vec::new()))]
fn metrics(py: Python<'_>, x: &Bound<'_, PyAny>, exclude_tokens: Vec<i64>) -> PyResult<Py<PyAny>> {
    let x = matrix(py, x, "X", "the n×d token matrix, tokens are rows")?;
    let exclude = indices(&exclude_tokens, "exclude_tokens")?;
    if let Some(&i) = exclude.iter().find(|&&i| i >= x.nrows()) {
        return Err(value_error(format!(
            "exclude_tokens: token {i} is outside X's {} tokens",
            x.nrows()
        )));
    }
    let m = py
        .detach(|| smoothing_metrics(x.view(), &exclude))
        .map_err(|e| value_error(e.to_string()))?;
    let d = PyDict::new(py);
    set_metrics(&d, &m)?;
    Ok(d.into_any().unbind())
}

/// The smoothing metrics under one set of keys, so that `metrics(X)` and every layer row of
/// `simulate` read the same (σ₂/σ₁ is `sigma2_over_sigma1`, as in audit.json).
fn set_metrics(d: &Bound<'_, PyDict>, m: &SmoothingMetrics) -> PyResult<()> {
    d.set_item("mean_cosine", m.mean_cosine)?;
    d.set_item("mean_cosine_excluding", m.mean_cosine_excluding)?;
    d.set_item("hc_dc_ratio", m.hc_dc_ratio)?;
    d.set_item("hc_norm", m.hc_norm)?;
    d.set_item("frobenius_norm", m.frobenius_norm)?;
    d.set_item("sigma2_over_sigma1", m.sigma_ratio)?;
    d.set_item("effective_rank", m.effective_rank)?;
    d.set_item("relative_residual", m.relative_residual)?;
    Ok(())
}

/// An audit's result: `audit.json` of `eigenformer audit` (`to_json()`), its layers as dicts
/// with the same keys, and `write_report(dir)` for the CLI's report files.
#[pyclass(frozen, module = "eigenformer", name = "AuditResult")]
struct AuditResult {
    report: AuditReport,
    json: String,
    /// Warnings for the user (truncated inputs, inputs left out, …).
    #[pyo3(get)]
    warnings: Vec<String>,
}

impl AuditResult {
    fn field(&self, py: Python<'_>, key: &str) -> PyResult<Py<PyAny>> {
        Ok(json_loads(py, &self.json)?.bind(py).get_item(key)?.unbind())
    }
}

#[pymethods]
impl AuditResult {
    /// One dict per hidden state (index 0 the embedding output, i the output of layer i) with
    /// the keys of a layer of the CLI's audit.json (index, mean_cosine, mean_cosine_no_special,
    /// hc_dc, sigma2_over_sigma1, effective_rank, mean_cosine_centred, …, heads).
    #[getter]
    fn layers(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.field(py, "layers")
    }

    /// The model part of audit.json.
    #[getter]
    fn model(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.field(py, "model")
    }

    /// The text (inputs) part of audit.json.
    #[getter]
    fn text(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.field(py, "text")
    }

    /// Wall-clock seconds of the measurement on the Rust side (spectra and metrics).
    #[getter]
    fn seconds(&self) -> f64 {
        self.report.seconds
    }

    /// audit.json as the CLI writes it (same schema, schema_version included).
    fn to_json(&self) -> String {
        self.json.clone()
    }

    /// `json.loads(self.to_json())`.
    fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json_loads(py, &self.json)
    }

    /// Write the CLI's report files into `dir` (created if missing): audit.json, report.md,
    /// layers.csv, heads.csv, similarity.svg, eigenvalues.svg. Returns their paths.
    fn write_report(&self, py: Python<'_>, dir: PathBuf) -> PyResult<Vec<PathBuf>> {
        py.detach(|| write_outputs(&self.report, &dir))
            .map_err(|e| value_error(format!("writing the report to {}: {e:#}", dir.display())))
    }

    fn __repr__(&self) -> String {
        format!(
            "AuditResult(model={:?}, layers={}, inputs={})",
            self.report.model.name,
            self.report.layers.len(),
            self.report.text.sentences
        )
    }
}

/// The Rust side of `eigenformer.audit`: built from a model's weights, fed one input at a time
/// (its hidden states and attention matrices), finished into an [`AuditResult`]. Used by the
/// package's Python code; see `eigenformer._torch`.
#[pyclass(module = "eigenformer._native", name = "AuditBuilder")]
struct AuditBuilder {
    inner: Option<ArrayAudit>,
}

fn audit_error(e: impl std::fmt::Display) -> PyErr {
    value_error(e.to_string())
}

#[pymethods]
impl AuditBuilder {
    /// gamma: [layers, d] (the γ of the norm feeding each layer's attention); w_v:
    /// [layers, heads, d, d_h]; w_o: [layers, heads, d_h, d] (tokens are rows, H_h = W_V^h W_O^h);
    /// norm: "layernorm" or "rmsnorm"; kv_group[h]: the key/value head of query head h.
    #[new]
    #[pyo3(signature = (*, name, dir, model_type, post_ln, causal, norm, layer_norm_eps,
        max_tokens, kv_heads, kv_group, gamma, w_v, w_o))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        name: String,
        dir: String,
        model_type: String,
        post_ln: bool,
        causal: bool,
        norm: &str,
        layer_norm_eps: f64,
        max_tokens: usize,
        kv_heads: usize,
        kv_group: Vec<usize>,
        gamma: &Bound<'_, PyAny>,
        w_v: &Bound<'_, PyAny>,
        w_o: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let norm = match norm {
            "layernorm" => NormKind::LayerNorm,
            "rmsnorm" => NormKind::RmsNorm,
            other => {
                return Err(value_error(format!(
                    "norm must be \"layernorm\" or \"rmsnorm\", got {other:?}"
                )))
            }
        };
        let gamma: Array2<f64> = into_dim::<Ix2>(
            float_array(py, gamma, "gamma", &[2], "[layers, d]")?,
            "gamma",
        )?;
        let w_v: Array4<f64> = into_dim::<Ix4>(
            float_array(py, w_v, "w_v", &[4], "[layers, heads, d, d_h]")?,
            "w_v",
        )?;
        let w_o: Array4<f64> = into_dim::<Ix4>(
            float_array(py, w_o, "w_o", &[4], "[layers, heads, d_h, d]")?,
            "w_o",
        )?;
        let spec = ArrayModelSpec {
            name,
            dir,
            model_type,
            post_ln,
            causal,
            norm,
            layer_norm_eps,
            max_tokens,
            kv_heads,
            kv_group,
        };
        let audit = py
            .detach(|| ArrayAudit::new(spec, gamma.view(), w_v.view(), w_o.view()))
            .map_err(audit_error)?;
        Ok(AuditBuilder { inner: Some(audit) })
    }

    /// Measure one input: hidden_states [layers + 1, n, d] (index 0 the embedding output, the
    /// residual stream before any final norm), attentions [layers, heads, n, n], special the
    /// positions of the special tokens. Returns False when the input was left out (fewer than
    /// 2 tokens).
    #[pyo3(signature = (hidden_states, attentions, special, truncated=false))]
    fn add(
        &mut self,
        py: Python<'_>,
        hidden_states: &Bound<'_, PyAny>,
        attentions: &Bound<'_, PyAny>,
        special: Vec<i64>,
        truncated: bool,
    ) -> PyResult<bool> {
        let states: Array3<f64> = into_dim::<Ix3>(
            float_array(
                py,
                hidden_states,
                "hidden_states",
                &[3],
                "[layers + 1, tokens, d]",
            )?,
            "hidden_states",
        )?;
        let atts: Array4<f64> = into_dim::<Ix4>(
            float_array(
                py,
                attentions,
                "attentions",
                &[4],
                "[layers, heads, tokens, tokens]",
            )?,
            "attentions",
        )?;
        let special = indices(&special, "special")?;
        let audit = self
            .inner
            .as_mut()
            .ok_or_else(|| value_error("this audit is finished; start a new one"))?;
        py.detach(|| audit.add(states.view(), atts.view(), special, truncated))
            .map_err(audit_error)
    }

    /// The number of inputs measured so far.
    #[getter]
    fn inputs(&self) -> usize {
        self.inner.as_ref().map_or(0, ArrayAudit::inputs)
    }

    /// The corpus statistics, the second pass and the report; `warnings` come first in the
    /// result's warnings.
    #[pyo3(signature = (text_source, text_selection, warnings=Vec::new()))]
    fn finish(
        &mut self,
        py: Python<'_>,
        text_source: String,
        text_selection: String,
        mut warnings: Vec<String>,
    ) -> PyResult<AuditResult> {
        let audit = self
            .inner
            .take()
            .ok_or_else(|| value_error("this audit is already finished"))?;
        let (report, more) = py
            .detach(|| audit.finish(text_source, text_selection))
            .map_err(audit_error)?;
        warnings.extend(more);
        let json = serde_json::to_string_pretty(&report).map_err(audit_error)?;
        Ok(AuditResult {
            report,
            json,
            warnings,
        })
    }
}

/// The extension module `eigenformer._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(spectrum, m)?)?;
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    m.add_function(wrap_pyfunction!(metrics, m)?)?;
    m.add_class::<SpectrumResult>()?;
    m.add_class::<SimulateResult>()?;
    m.add_class::<AuditResult>()?;
    m.add_class::<AuditBuilder>()?;
    Ok(())
}

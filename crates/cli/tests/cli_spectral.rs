//! End-to-end tests of `eigenformer spectrum` and `eigenformer simulate` on `.npy` files.

use ndarray::{array, Array1, Array2};
use ndarray_npy::write_npy;
use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_eigenformer"))
}

fn save(dir: &Path, name: &str, a: &Array2<f64>) -> PathBuf {
    let p = dir.join(name);
    write_npy(&p, a).unwrap();
    p
}

fn save_f32(dir: &Path, name: &str, a: &Array2<f64>) -> PathBuf {
    let p = dir.join(name);
    write_npy(&p, &a.mapv(|v| v as f32)).unwrap();
    p
}

fn save1(dir: &Path, name: &str, a: &Array1<f64>) -> PathBuf {
    let p = dir.join(name);
    write_npy(&p, a).unwrap();
    p
}

/// A positive row-stochastic 3×3 attention with real spectrum.
fn attention() -> Array2<f64> {
    array![[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6]]
}

fn spectrum_json(args: &[&std::ffi::OsStr]) -> serde_json::Value {
    let out = bin()
        .arg("spectrum")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn positive_h_predicts_smoothing_and_negative_h_sharpening() {
    let dir = tempfile::tempdir().unwrap();
    let a = save(dir.path(), "a.npy", &attention());
    let pos = save_f32(dir.path(), "hpos.npy", &array![[0.5, 0.1], [0.0, 0.3]]);
    let neg = save(dir.path(), "hneg.npy", &array![[-0.5, 0.0], [0.2, -0.8]]);

    let v = spectrum_json(&[
        "--attention".as_ref(),
        a.as_os_str(),
        "--h".as_ref(),
        pos.as_os_str(),
    ]);
    assert_eq!(v["regime"], "smoothing");
    assert_eq!(v["limit"]["angle_convergence"], true);
    assert_eq!(v["eigenvalues_a"].as_array().unwrap().len(), 3);
    assert_eq!(v["eigenvalues_h"].as_array().unwrap().len(), 2);
    assert!((v["dominant"]["a"][0].as_f64().unwrap() - 1.0).abs() < 1e-9);
    assert!((v["dominant"]["h"][0].as_f64().unwrap() - 0.5).abs() < 1e-6);
    assert!((v["dominant"]["mu_abs"].as_f64().unwrap() - 1.5).abs() < 1e-6);

    let v = spectrum_json(&[
        "--attention".as_ref(),
        a.as_os_str(),
        "--h".as_ref(),
        neg.as_os_str(),
    ]);
    assert_eq!(v["regime"], "sharpening", "{v}");
    assert_eq!(v["limit"]["angle_convergence"], false);
    assert_eq!(v["h_used"], "H");
}

#[test]
fn negative_gamma_flips_the_regime() {
    let dir = tempfile::tempdir().unwrap();
    let a = save(dir.path(), "a.npy", &attention());
    let h = save(dir.path(), "h.npy", &array![[0.5, 0.0], [0.0, 0.3]]);
    let g = save1(dir.path(), "g.npy", &array![-1.0, -1.0]);
    let v = spectrum_json(&[
        "--attention".as_ref(),
        a.as_os_str(),
        "--h".as_ref(),
        h.as_os_str(),
        "--gamma".as_ref(),
        g.as_os_str(),
    ]);
    assert_eq!(v["h_used"], "diag(gamma) H");
    assert_eq!(v["regime"], "sharpening");
    assert!(v["eigenvalues_h_raw"].is_array());
}

#[test]
fn bad_inputs_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bad_a = save(dir.path(), "bad.npy", &array![[0.9, 0.3], [0.5, 0.5]]);
    let h = save(dir.path(), "h.npy", &array![[0.5, 0.0], [0.0, 0.3]]);
    let out = bin()
        .args(["spectrum", "--attention"])
        .arg(&bad_a)
        .arg("--h")
        .arg(&h)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("row-stochastic"), "{err}");
    assert!(err.contains("--allow-nonstochastic"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // Accepted with the flag, with a warning in the JSON.
    let v = spectrum_json(&[
        "--attention".as_ref(),
        bad_a.as_os_str(),
        "--h".as_ref(),
        h.as_os_str(),
        "--allow-nonstochastic".as_ref(),
    ]);
    assert_eq!(v["warnings"].as_array().unwrap().len(), 1);

    // Non-finite values and a non-square H.
    let nan_h = save(dir.path(), "nan.npy", &array![[f64::NAN, 0.0], [0.0, 1.0]]);
    let rect = save(
        dir.path(),
        "rect.npy",
        &array![[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
    );
    let good_a = save(dir.path(), "a.npy", &array![[0.5, 0.5], [0.5, 0.5]]);
    for (h, needle) in [(&nan_h, "non-finite"), (&rect, "shape")] {
        let out = bin()
            .args(["spectrum", "--attention"])
            .arg(&good_a)
            .arg("--h")
            .arg(h)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }

    // A missing or truncated file.
    let truncated = dir.path().join("trunc.npy");
    std::fs::write(&truncated, &std::fs::read(&h).unwrap()[..40]).unwrap();
    let out = bin()
        .args(["spectrum", "--attention"])
        .arg(&good_a)
        .arg("--h")
        .arg(&truncated)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("trunc.npy"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn simulate_writes_metrics_that_follow_the_prediction() {
    let dir = tempfile::tempdir().unwrap();
    let a = save(dir.path(), "a.npy", &attention());
    let h_smooth = save(dir.path(), "hs.npy", &array![[0.5, 0.0], [0.0, 0.3]]);
    let h_sharp = save(dir.path(), "hn.npy", &array![[-0.5, 0.0], [0.0, -0.8]]);
    let run = |h: &Path, name: &str| {
        let csv = dir.path().join(name);
        let out = bin()
            .args([
                "simulate",
                "--layers",
                "60",
                "--normalize",
                "--json",
                "--attention",
            ])
            .arg(&a)
            .arg("--h")
            .arg(h)
            .arg("--out")
            .arg(&csv)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let text = std::fs::read_to_string(&csv).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("layer,mean_cosine"));
        assert_eq!(lines.len(), 62, "header + layers 0..=60");
        summary
    };
    let s = run(&h_smooth, "smooth.csv");
    assert_eq!(s["predicted_regime"][0], "smoothing");
    assert!(s["final_mean_cosine"].as_f64().unwrap() > 0.999);
    let s = run(&h_sharp, "sharp.csv");
    assert_eq!(s["predicted_regime"][0], "sharpening");
    assert!(s["final_mean_cosine"].as_f64().unwrap() < 0.5);
}

/// Files written by NumPy itself (`np.save`): a float32 attention (softmax of normal scores, seed 0)
/// and a Fortran-ordered float64 H = V diag(0.5, 0.2, −0.1) V⁻¹. NumPy's `eigvals` gave
/// A: 1, 0.17403079, −0.12956101 ± 0.19998845i.
#[test]
fn reads_npy_files_written_by_numpy() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let a = fixtures.join("numpy_attention_f32.npy");
    let h = fixtures.join("numpy_h_fortran_f64.npy");
    let v = spectrum_json(&[
        "--attention".as_ref(),
        a.as_os_str(),
        "--h".as_ref(),
        h.as_os_str(),
    ]);
    let eig_a: Vec<(f64, f64)> = v["eigenvalues_a"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| (z[0].as_f64().unwrap(), z[1].as_f64().unwrap()))
        .collect();
    assert!((eig_a[0].0 - 1.0).abs() < 1e-6);
    assert!(eig_a
        .iter()
        .any(|z| (z.0 - 0.17403079).abs() < 1e-5 && z.1.abs() < 1e-9));
    assert!(eig_a
        .iter()
        .any(|z| (z.0 + 0.12956101).abs() < 1e-5 && (z.1.abs() - 0.19998845).abs() < 1e-5));
    let mut eig_h: Vec<f64> = v["eigenvalues_h"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z[0].as_f64().unwrap())
        .collect();
    eig_h.sort_by(|a, b| a.partial_cmp(b).unwrap());
    for (got, want) in eig_h.iter().zip([-0.1, 0.2, 0.5]) {
        assert!((got - want).abs() < 1e-9, "{got} vs {want}");
    }
    // h_max = 0.5 > 0 with the DC mode: smoothing (C6-like, spectrum positive-dominated).
    assert_eq!(v["regime"], "smoothing");
}

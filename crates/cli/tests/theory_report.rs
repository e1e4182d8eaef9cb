//! End-to-end test of `eigenformer theory`: run the binary with a small number of random instances
//! into a temporary directory and check the files, the examples and the agreement rate.

use std::process::Command;

#[test]
fn theory_report_files_examples_and_agreement() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("theory");
    let status = Command::new(env!("CARGO_BIN_EXE_eigenformer"))
        .args([
            "theory",
            "--profile",
            "smoke",
            "--instances",
            "60",
            "--seed",
            "1",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&status.stderr)
    );

    let regimes = [
        "smoothing",
        "alternating-smoothing",
        "sharpening",
        "balanced",
    ];
    let mut files = vec![
        "theory.md".to_string(),
        "theory.json".into(),
        "instances.csv".into(),
    ];
    for r in regimes {
        files.push(format!("{r}.svg"));
        files.push(format!("{r}-spectrum.svg"));
        files.push(format!("{r}.csv"));
    }
    for f in &files {
        let p = out.join(f);
        assert!(p.is_file(), "missing {f}");
        assert!(std::fs::metadata(&p).unwrap().len() > 0, "empty {f}");
    }
    let svg = std::fs::read_to_string(out.join("smoothing.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("layer") && svg.contains("σ₂/σ₁"));
    let csv = std::fs::read_to_string(out.join("sharpening.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 41, "header + layers 0..=40");

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("theory.json")).unwrap()).unwrap();
    let examples = json["examples"].as_array().unwrap();
    assert_eq!(examples.len(), 4);
    for (e, want) in examples.iter().zip(regimes) {
        assert_eq!(e["regime"], want);
        assert_eq!(e["predicted"], want, "example {want}: predicted");
        assert_eq!(e["observed"]["regime"], want, "example {want}: observed");
    }

    let a = &json["agreement"];
    assert_eq!(a["instances"], 60);
    let clear = a["clear"].as_u64().unwrap();
    assert!(clear >= 30, "only {clear} clear-margin instances of 60");
    let clear_rate = a["clear_rate"].as_f64().unwrap();
    assert!(
        clear_rate >= 0.95,
        "clear-margin agreement {clear_rate}: {}",
        a["disagreements"]
    );

    let claims = json["claims"].as_array().unwrap();
    let ids: Vec<&str> = claims
        .iter()
        .map(|c| c["claim"].as_str().unwrap())
        .collect();
    for id in ["C1", "C2", "C5", "C5 (bound)", "C6", "C8", "C10"] {
        assert!(ids.contains(&id), "claim {id} missing from {ids:?}");
    }
    for c in claims {
        assert_eq!(c["verdict"], "holds", "claim check {c}");
    }

    let md = std::fs::read_to_string(out.join("theory.md")).unwrap();
    assert!(md.starts_with("# Theory"));
    for r in regimes {
        assert!(md.contains(&format!("]({r}.svg)")), "no link to {r}.svg");
    }
    assert!(md.contains("## Claim checks") && md.contains("| C10 |"));
}

#[test]
fn theory_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str| {
        let out = dir.path().join(name);
        let st = Command::new(env!("CARGO_BIN_EXE_eigenformer"))
            .args([
                "theory",
                "--instances",
                "12",
                "--layers",
                "100",
                "--seed",
                "7",
                "--out",
            ])
            .arg(&out)
            .status()
            .unwrap();
        assert!(st.success());
        std::fs::read_to_string(out.join("theory.json")).unwrap()
    };
    assert_eq!(run("a"), run("b"));
}

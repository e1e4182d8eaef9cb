//! End-to-end test of `eigenformer reproduce` on its fastest section: the theory section of the
//! smoke profile runs in-process, writes its `section.json`, and the report is assembled from it
//! (REPORT.md with the merged claims, REPORT.html with the figures inlined).

use std::path::Path;
use std::process::Command;

fn experiments_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments")
}

#[test]
fn reproduce_theory_writes_section_json_and_both_reports() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let output = Command::new(env!("CARGO_BIN_EXE_eigenformer"))
        .args([
            "reproduce",
            "--profile",
            "smoke",
            "--only",
            "theory",
            "--out",
        ])
        .arg(&out)
        .arg("--experiments-dir")
        .arg(experiments_dir())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let section: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("theory/section.json")).unwrap())
            .unwrap();
    assert_eq!(section["schema_version"], 1);
    assert_eq!(section["section"], "theory");
    assert_eq!(section["profile"], "smoke");
    let claims = section["claims"].as_array().unwrap();
    assert_eq!(claims[0]["id"], "C1");
    assert!(claims.iter().all(|c| c["verdict"] == "holds"), "{claims:?}");
    assert!(section["figures"]
        .as_array()
        .unwrap()
        .contains(&"smoothing.svg".into()));
    assert!(section["tables"]
        .as_array()
        .unwrap()
        .contains(&"instances.csv".into()));
    // The profile's size reached the theory: 100 random instances in smoke.
    let theory: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("theory/theory.json")).unwrap())
            .unwrap();
    assert_eq!(theory["agreement"]["instances"], 100);

    let md = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
    assert!(md.contains("| theory | done |"));
    assert!(md.contains("| pretrained | not run (excluded by `--only`) |"));
    assert!(md.contains("| C1 | theory |"));
    assert!(md.contains("](theory/smoothing.svg)"));
    assert!(md.contains("## Environment"));
    let html = std::fs::read_to_string(out.join("REPORT.html")).unwrap();
    assert!(html.contains("<em>Clear margin</em>"));
    assert!(html.contains("<table>"));
    assert!(html.contains("<figure><svg"));
}

#[test]
fn reproduce_with_a_broken_profile_file_names_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("profiles.toml"),
        "[smoke.theory]\ninstances = \"x\"\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_eigenformer"))
        .args(["reproduce", "--profile", "smoke", "--out"])
        .arg(dir.path().join("out"))
        .arg("--experiments-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("profiles.toml"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

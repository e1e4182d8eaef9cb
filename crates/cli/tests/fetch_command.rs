//! `eigenformer fetch`: a clear error with instructions when an asset cannot be had.

#[test]
fn fetch_command_fails_with_instructions_when_offline() {
    let cache = tempfile::tempdir().unwrap();
    let user = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_eigenformer"))
        .args(["fetch", "cifar100", "--data-dir"])
        .arg(user.path())
        .env("EIGENFORMER_CACHE", cache.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("missing train.bin, test.bin"), "{stderr}");
    assert!(stderr.contains("cifar-100-binary.tar.gz"), "{stderr}");
    assert!(out.stdout.is_empty());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_eigenformer"))
        .args(["fetch", "no-such-asset"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

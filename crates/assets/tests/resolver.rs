//! The asset resolver on fake assets: user directories, hashes, the cache, sources served by a
//! tiny local HTTP server, and the all-sources-fail message.

use eigenformer_assets::{sha256_file, Asset, AssetError, AssetFile, Resolver, Source};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

fn sha(bytes: &[u8]) -> String {
    eigenformer_io::sha256_hex(bytes)
}

const A: &[u8] = b"first file contents";
const B: &[u8] = b"second file, in a subdirectory";

/// Nothing listens on port 9 (discard) here: connections are refused at once.
const DEAD: &str = "http://127.0.0.1:9/nothing";

fn asset(sources: Vec<Source>) -> Asset {
    Asset {
        name: "toy".into(),
        files: vec![
            AssetFile::new("a.bin", &sha(A)),
            AssetFile::new("sub/b.bin", &sha(B)),
        ],
        sources,
        user_subdirs: vec!["toy-data".into()],
        manual_hint: "ask the toy maker.".into(),
    }
}

fn put(dir: &Path, rel: &str, bytes: &[u8]) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

/// Serve `files` (URL path → body) over HTTP/1.1 on a local port, 404 for anything else.
fn serve(files: HashMap<String, Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let (status, body) = match files.get(&path) {
                Some(b) => ("200 OK", b.clone()),
                None => ("404 Not Found", b"not found".to_vec()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    format!("http://{addr}")
}

#[test]
fn user_dir_with_correct_hashes_is_used_as_is() {
    let cache = tempfile::tempdir().unwrap();
    let user = tempfile::tempdir().unwrap();
    put(user.path(), "a.bin", A);
    put(user.path(), "sub/b.bin", B);
    let r = Resolver::new(cache.path());
    let dir = r
        .resolve(
            &asset(vec![Source::Url {
                base_url: DEAD.into(),
            }]),
            Some(user.path()),
        )
        .unwrap();
    assert_eq!(dir, user.path());
    assert!(
        !cache.path().join("toy").exists(),
        "nothing copied into the cache"
    );
    // Files in a known subdirectory of the user directory are found too.
    let parent = tempfile::tempdir().unwrap();
    put(&parent.path().join("toy-data"), "a.bin", A);
    put(&parent.path().join("toy-data"), "sub/b.bin", B);
    let dir = r.resolve(&asset(vec![]), Some(parent.path())).unwrap();
    assert_eq!(dir, parent.path().join("toy-data"));
}

#[test]
fn wrong_hash_in_user_dir_names_both_hashes() {
    let cache = tempfile::tempdir().unwrap();
    let user = tempfile::tempdir().unwrap();
    put(user.path(), "a.bin", A);
    put(user.path(), "sub/b.bin", b"tampered");
    let err = Resolver::new(cache.path())
        .resolve(&asset(vec![]), Some(user.path()))
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, AssetError::HashMismatch { .. }), "{msg}");
    assert!(msg.contains("b.bin"), "{msg}");
    assert!(msg.contains(&sha(B)), "expected hash in: {msg}");
    assert!(msg.contains(&sha(b"tampered")), "actual hash in: {msg}");
}

#[test]
fn incomplete_user_dir_lists_missing_files() {
    let cache = tempfile::tempdir().unwrap();
    let user = tempfile::tempdir().unwrap();
    put(user.path(), "a.bin", A);
    let msg = Resolver::new(cache.path())
        .resolve(&asset(vec![]), Some(user.path()))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("missing sub/b.bin"), "{msg}");
    assert!(msg.contains("--data-dir"), "{msg}");
}

#[test]
fn cache_hit_skips_the_sources() {
    let cache = tempfile::tempdir().unwrap();
    put(&cache.path().join("toy"), "a.bin", A);
    put(&cache.path().join("toy"), "sub/b.bin", B);
    let t = Instant::now();
    let dir = Resolver::new(cache.path())
        .resolve(
            &asset(vec![Source::Url {
                base_url: DEAD.into(),
            }]),
            None,
        )
        .unwrap();
    assert_eq!(dir, cache.path().join("toy"));
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn all_sources_failing_says_how_to_provide_the_data() {
    let cache = tempfile::tempdir().unwrap();
    // A corrupted cached file is deleted, then refetched (and here that fails).
    put(&cache.path().join("toy"), "a.bin", b"corrupted");
    let t = Instant::now();
    let server = serve(HashMap::new());
    let err = Resolver::new(cache.path())
        .resolve(
            &asset(vec![
                Source::Url {
                    base_url: DEAD.into(),
                },
                Source::UrlArchive {
                    url: format!("{server}/toy.tar.gz"),
                    sha256: None,
                    dir_in_archive: "toy".into(),
                },
            ]),
            None,
        )
        .unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(20), "fails fast");
    let msg = err.to_string();
    let AssetError::AllSourcesFailed { attempts, .. } = &err else {
        panic!("expected AllSourcesFailed, got {msg}")
    };
    assert_eq!(attempts.len(), 2, "{msg}");
    assert!(
        msg.contains("1. official URL http://127.0.0.1:9/nothing"),
        "{msg}"
    );
    assert!(
        msg.contains("2. official archive") && msg.contains("404"),
        "{msg}"
    );
    assert!(msg.contains("--data-dir DIR"), "{msg}");
    assert!(
        msg.contains("a.bin") && msg.contains("sub/b.bin") && msg.contains(&sha(B)),
        "{msg}"
    );
    assert!(
        msg.contains(&cache.path().join("toy").display().to_string()),
        "{msg}"
    );
    assert!(msg.contains("ask the toy maker"), "{msg}");
    assert!(
        !cache.path().join("toy/a.bin").exists(),
        "the corrupted file left the cache"
    );
}

#[test]
fn url_source_downloads_verifies_and_caches() {
    let cache = tempfile::tempdir().unwrap();
    let mut files = HashMap::new();
    files.insert("/d/a.bin".to_string(), A.to_vec());
    files.insert("/d/sub/b.bin".to_string(), B.to_vec());
    let server = serve(files);
    let a = asset(vec![
        Source::Url {
            base_url: DEAD.into(),
        },
        Source::Url {
            base_url: format!("{server}/d/"),
        },
    ]);
    let r = Resolver::new(cache.path());
    let dir = r.resolve(&a, None).unwrap();
    assert_eq!(dir, cache.path().join("toy"));
    assert_eq!(std::fs::read(dir.join("sub/b.bin")).unwrap(), B);
    assert_eq!(sha256_file(&dir.join("a.bin")).unwrap(), sha(A));
    // No staging leftovers in the cache root.
    let names: Vec<String> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["toy".to_string()]);
}

#[test]
fn mismatching_download_is_not_cached() {
    let cache = tempfile::tempdir().unwrap();
    let mut files = HashMap::new();
    files.insert("/a.bin".to_string(), A.to_vec());
    files.insert("/sub/b.bin".to_string(), b"evil".to_vec());
    let server = serve(files);
    let msg = Resolver::new(cache.path())
        .resolve(&asset(vec![Source::Url { base_url: server }]), None)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("sub/b.bin: sha256 mismatch"), "{msg}");
    assert!(
        msg.contains(&sha(B)) && msg.contains(&sha(b"evil")),
        "{msg}"
    );
    assert!(!cache.path().join("toy/sub/b.bin").exists());
    assert!(
        !cache.path().join("toy/a.bin").exists(),
        "a failed source caches nothing"
    );
}

#[test]
fn archive_source_extracts_members() {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (path, bytes) in [
        ("pkg/a.bin", A),
        ("pkg/sub/b.bin", B),
        ("pkg/other", &b"x"[..]),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, path, bytes).unwrap();
    }
    let tgz = tar.into_inner().unwrap().finish().unwrap();
    let mut files = HashMap::new();
    files.insert("/pkg.tgz".to_string(), tgz.clone());
    let server = serve(files);
    let cache = tempfile::tempdir().unwrap();
    let good = Source::UrlArchive {
        url: format!("{server}/pkg.tgz"),
        sha256: Some(sha(&tgz)),
        dir_in_archive: "pkg".into(),
    };
    let dir = Resolver::new(cache.path())
        .resolve(&asset(vec![good]), None)
        .unwrap();
    assert_eq!(std::fs::read(dir.join("a.bin")).unwrap(), A);
    // A wrong archive hash is refused.
    let cache = tempfile::tempdir().unwrap();
    let bad = Source::UrlArchive {
        url: format!("{server}/pkg.tgz"),
        sha256: Some(sha(b"something else")),
        dir_in_archive: "pkg".into(),
    };
    let msg = Resolver::new(cache.path())
        .resolve(&asset(vec![bad]), None)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("sha256 mismatch") && msg.contains(&sha(&tgz)),
        "{msg}"
    );
}

/// A tgz holding `pkg/a.bin` and `pkg/sub/b.bin`.
fn toy_tgz() -> Vec<u8> {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (path, bytes) in [("pkg/a.bin", A), ("pkg/sub/b.bin", B)] {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, path, bytes).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

#[test]
fn the_mirror_is_searched_before_any_source() {
    // Every source of this asset fails at once (nothing listens on the port), so a success can
    // only come from the mirror.
    let unreachable = Source::Url {
        base_url: DEAD.to_string(),
    };
    // 1. The files themselves, in <mirror>/<asset>/: used in place.
    let mirror = tempfile::tempdir().unwrap();
    let held = mirror.path().join("toy");
    std::fs::create_dir_all(held.join("sub")).unwrap();
    std::fs::write(held.join("a.bin"), A).unwrap();
    std::fs::write(held.join("sub/b.bin"), B).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut resolver = Resolver::new(cache.path());
    resolver.mirror = Some(mirror.path().to_path_buf());
    let dir = resolver
        .resolve(&asset(vec![unreachable.clone()]), None)
        .unwrap();
    assert_eq!(dir, held);
    // A mirrored file with a wrong hash is an error, not a silent fallback.
    std::fs::write(held.join("a.bin"), b"evil").unwrap();
    let msg = resolver
        .resolve(&asset(vec![unreachable.clone()]), None)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("sha256 mismatch"), "{msg}");

    // 2. The official archive, in the mirror under its file name: verified, extracted, cached.
    let tgz = toy_tgz();
    let mirror = tempfile::tempdir().unwrap();
    std::fs::write(mirror.path().join("pkg.tgz"), &tgz).unwrap();
    let archive = Source::UrlArchive {
        url: format!("{DEAD}/files/pkg.tgz"),
        sha256: Some(sha(&tgz)),
        dir_in_archive: "pkg".into(),
    };
    let cache = tempfile::tempdir().unwrap();
    let mut resolver = Resolver::new(cache.path());
    resolver.mirror = Some(mirror.path().to_path_buf());
    let dir = resolver
        .resolve(&asset(vec![archive.clone()]), None)
        .unwrap();
    assert_eq!(dir, cache.path().join("toy"));
    assert_eq!(std::fs::read(dir.join("sub/b.bin")).unwrap(), B);
    // A mirrored archive with the wrong hash is reported among the attempts.
    std::fs::write(mirror.path().join("pkg.tgz"), b"not it").unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut resolver = Resolver::new(cache.path());
    resolver.mirror = Some(mirror.path().to_path_buf());
    let msg = resolver
        .resolve(&asset(vec![archive]), None)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("mirrored archive") && msg.contains("sha256 mismatch"),
        "{msg}"
    );
}

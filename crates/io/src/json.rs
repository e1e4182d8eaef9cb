//! JSON files: pretty-printed with a final newline, written atomically; and *sealed* JSON files
//! that carry a checksum of their contents, for caches that must notice bit rot.

use crate::{sha256_hex, write_atomic, IoError, Result};
use serde::{de::DeserializeOwned, Serialize};
use std::path::Path;

/// Write `value` as pretty-printed JSON with a final newline, atomically ([`write_atomic`]).
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(json_err(path))?;
    write_atomic(path, format!("{text}\n").as_bytes())
}

/// Read a JSON file into `T`; errors name the file.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(IoError::io("reading", path))?;
    serde_json::from_str(&text).map_err(json_err(path))
}

fn json_err(path: &Path) -> impl FnOnce(serde_json::Error) -> IoError + '_ {
    move |source| IoError::Json {
        path: path.to_path_buf(),
        source,
    }
}

/// The key under which a sealed JSON object carries its checksum.
pub const CHECKSUM_KEY: &str = "sha256";

/// The checksum of `value`: sha256 of its compact JSON. Why the compact JSON of the typed value
/// and not the file's bytes: the file stays ordinary pretty JSON with the checksum inside it (one
/// file, one atomic write, readable by any JSON tool), and the typed value's serialisation is
/// canonical (fields in declaration order; floats exact thanks to serde_json's
/// `float_roundtrip`), so reading and re-serialising reproduces it bit for bit.
fn checksum<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<String> {
    let compact = serde_json::to_string(value).map_err(json_err(path))?;
    Ok(sha256_hex(compact.as_bytes()))
}

/// Write `value` (which must serialise to a JSON object without a `sha256` field) as pretty JSON
/// with the extra field [`CHECKSUM_KEY`] holding its checksum, atomically. Read it back with
/// [`read_json_sealed`], which notices any change of the values.
pub fn write_json_sealed<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let digest = checksum(path, value)?;
    let mut json = serde_json::to_value(value).map_err(json_err(path))?;
    let Some(object) = json.as_object_mut() else {
        return Err(IoError::Checksum {
            path: path.to_path_buf(),
            reason: "only a JSON object can carry a checksum".into(),
        });
    };
    if object.contains_key(CHECKSUM_KEY) {
        return Err(IoError::Checksum {
            path: path.to_path_buf(),
            reason: format!("the value already has a field {CHECKSUM_KEY:?}"),
        });
    }
    object.insert(CHECKSUM_KEY.into(), digest.into());
    write_json(path, &json)
}

/// Read a file written by [`write_json_sealed`] and check its checksum. A missing checksum (a
/// file written by something else, or before checksums existed) or one that does not match the
/// contents is [`IoError::Checksum`]; unreadable JSON is [`IoError::Json`]. Callers that cache
/// treat every error as "recompute".
pub fn read_json_sealed<T: DeserializeOwned + Serialize>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(IoError::io("reading", path))?;
    let mut json: serde_json::Value = serde_json::from_str(&text).map_err(json_err(path))?;
    let stored = match json.as_object_mut().map(|o| o.remove(CHECKSUM_KEY)) {
        Some(Some(serde_json::Value::String(s))) => s,
        _ => {
            return Err(IoError::Checksum {
                path: path.to_path_buf(),
                reason: format!("no {CHECKSUM_KEY} checksum"),
            })
        }
    };
    let value: T = serde_json::from_value(json).map_err(json_err(path))?;
    let actual = checksum(path, &value)?;
    if actual != stored {
        return Err(IoError::Checksum {
            path: path.to_path_buf(),
            reason: format!(
                "the contents do not match the checksum (stored {stored}, now {actual})"
            ),
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[test]
    fn round_trip_and_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.json");
        write_json(&p, &vec![1, 2, 3]).unwrap();
        assert!(std::fs::read_to_string(&p).unwrap().ends_with("]\n"));
        let v: Vec<i32> = read_json(&p).unwrap();
        assert_eq!(v, [1, 2, 3]);
        std::fs::write(&p, "{").unwrap();
        let err = read_json::<Vec<i32>>(&p).unwrap_err().to_string();
        assert!(err.contains("v.json"), "{err}");
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Metrics {
        epoch: usize,
        loss: f64,
        accuracy: f64,
        history: Vec<f64>,
        name: String,
    }

    /// Floats whose shortest decimal form the default serde_json parser (without
    /// `float_roundtrip`) reads back one ulp off, among others that are merely awkward.
    fn awkward() -> Vec<f64> {
        let mut v = vec![
            0.1 + 0.2,
            1.0 / 3.0,
            2.0f64.sqrt(),
            std::f64::consts::PI * 1e-300,
            f64::MIN_POSITIVE,
            f64::MIN_POSITIVE / 3.0, // subnormal
            f64::MAX,
            -0.0,
            5e-324,
            0.300_000_000_000_000_04,
            9_007_199_254_740_993.0,
            1.7976931348623157e308,
            2.225_073_858_507_201e-308,
            123_456.789_012_345_67,
        ];
        // A deterministic sweep of mantissas and exponents.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let f = f64::from_bits(x);
            if f.is_finite() {
                v.push(f);
            }
        }
        v
    }

    #[test]
    fn floats_round_trip_bit_for_bit_and_the_file_is_byte_identical() {
        // Item 11 of issue 14: without serde_json's float_roundtrip, re-read floats may differ by
        // one ulp, so a file rewritten from what was read differs from the original.
        let dir = tempfile::tempdir().unwrap();
        let history = awkward();
        let m = Metrics {
            epoch: 7,
            loss: history[0],
            accuracy: history[1],
            history: history.clone(),
            name: "run".into(),
        };
        let a = dir.path().join("a.json");
        let b = dir.path().join("b.json");
        write_json(&a, &m).unwrap();
        let back: Metrics = read_json(&a).unwrap();
        for (x, y) in m.history.iter().zip(&back.history) {
            assert_eq!(x.to_bits(), y.to_bits(), "{x:e} read back as {y:e}");
        }
        write_json(&b, &back).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    }

    #[test]
    fn sealed_json_round_trips_and_detects_changes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("result.json");
        let m = Metrics {
            epoch: 3,
            loss: 0.1 + 0.2,
            accuracy: 0.875,
            history: awkward(),
            name: "seed=1".into(),
        };
        write_json_sealed(&p, &m).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("\"sha256\""), "{text}");
        assert_eq!(read_json_sealed::<Metrics>(&p).unwrap(), m);
        // Still plain JSON to a reader that does not check.
        let plain: serde_json::Value = read_json(&p).unwrap();
        assert_eq!(plain["epoch"], 3);

        // One digit changed: still valid JSON, but the checksum no longer matches.
        let edited = text.replacen("\"accuracy\": 0.875", "\"accuracy\": 0.876", 1);
        assert_ne!(edited, text);
        std::fs::write(&p, &edited).unwrap();
        let err = read_json_sealed::<Metrics>(&p).unwrap_err();
        assert!(matches!(err, IoError::Checksum { .. }), "{err}");
        assert!(err.to_string().contains("result.json"), "{err}");

        // Unsealed or garbage files are refused too.
        write_json(&p, &m).unwrap();
        let err = read_json_sealed::<Metrics>(&p).unwrap_err();
        assert!(err.to_string().contains("no sha256 checksum"), "{err}");
        std::fs::write(&p, b"{\"epoch\": 3, \"sha2").unwrap();
        assert!(matches!(
            read_json_sealed::<Metrics>(&p).unwrap_err(),
            IoError::Json { .. }
        ));

        // Only objects without a field of that name can be sealed.
        assert!(write_json_sealed(&p, &[1, 2]).is_err());
        assert!(write_json_sealed(&p, &serde_json::json!({"sha256": 1})).is_err());
    }
}

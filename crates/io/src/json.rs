//! JSON files: pretty-printed with a final newline, written atomically.

use crate::{write_atomic, IoError, Result};
use serde::{de::DeserializeOwned, Serialize};
use std::path::Path;

/// Write `value` as pretty-printed JSON with a final newline, atomically ([`write_atomic`]).
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|source| IoError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    write_atomic(path, format!("{text}\n").as_bytes())
}

/// Read a JSON file into `T`; errors name the file.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(IoError::io("reading", path))?;
    serde_json::from_str(&text).map_err(|source| IoError::Json {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

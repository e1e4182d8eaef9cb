//! Our own check of a safetensors header, run before the `safetensors` crate parses the file.
//!
//! The crate refuses bad files too, but its messages do not always name the tensor, and a
//! checkpoint loader must never trust offsets it has not checked. Here every entry's offsets
//! must lie inside the data section, match the byte length its dtype and shape imply, and not
//! overlap another entry; the file must hold at least the 8-byte length prefix and the header.
//!
//! Layout: `u64` little-endian header length `N`, `N` bytes of JSON
//! `{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}`,
//! then the data section; offsets are relative to the start of the data section.

use crate::hf::error::HfError;
use serde_json::Value;
use std::path::Path;

/// Largest header the loader accepts (the `safetensors` crate's own limit is 100 MB; real
/// headers are a few hundred KB).
const MAX_HEADER: u64 = 100_000_000;

/// One checked entry of the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Tensor name.
    pub name: String,
    /// dtype string as written (`F32`, …).
    pub dtype: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Byte range in the data section.
    pub begin: usize,
    /// End of the byte range (exclusive).
    pub end: usize,
}

/// Bytes per element of the dtypes whose length we can check; `None` for the sub-byte and
/// unknown ones (left to the `safetensors` crate).
fn dtype_size(dtype: &str) -> Option<usize> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "F8_E8M0" => 1,
        "I16" | "U16" | "F16" | "BF16" => 2,
        "I32" | "U32" | "F32" => 4,
        "I64" | "U64" | "F64" | "C64" => 8,
        _ => return None,
    })
}

fn header_err(file: &Path, reason: impl Into<String>) -> HfError {
    HfError::Header {
        file: file.to_path_buf(),
        reason: reason.into(),
    }
}

fn entry_err(file: &Path, tensor: &str, reason: impl Into<String>) -> HfError {
    HfError::TensorEntry {
        file: file.to_path_buf(),
        tensor: tensor.to_string(),
        reason: reason.into(),
    }
}

fn parse_entry(file: &Path, name: &str, value: &Value, data_len: usize) -> Result<Entry, HfError> {
    let obj = value
        .as_object()
        .ok_or_else(|| entry_err(file, name, "the header entry is not a JSON object"))?;
    let dtype = obj
        .get("dtype")
        .and_then(Value::as_str)
        .ok_or_else(|| entry_err(file, name, "no dtype string"))?
        .to_string();
    let shape = obj
        .get("shape")
        .and_then(Value::as_array)
        .ok_or_else(|| entry_err(file, name, "no shape array"))?
        .iter()
        .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| entry_err(file, name, "the shape is not a list of sizes"))?;
    let offsets = obj
        .get("data_offsets")
        .and_then(Value::as_array)
        .ok_or_else(|| entry_err(file, name, "no data_offsets array"))?;
    let [begin, end] = offsets.as_slice() else {
        return Err(entry_err(file, name, "data_offsets must hold two numbers"));
    };
    let to_usize = |v: &Value| v.as_u64().and_then(|v| usize::try_from(v).ok());
    let (Some(begin), Some(end)) = (to_usize(begin), to_usize(end)) else {
        return Err(entry_err(file, name, "data_offsets are not byte offsets"));
    };
    if begin > end {
        return Err(entry_err(
            file,
            name,
            format!("data_offsets [{begin}, {end}] run backwards"),
        ));
    }
    if end > data_len {
        return Err(entry_err(
            file,
            name,
            format!(
                "data_offsets [{begin}, {end}] reach past the data section of {data_len} bytes \
                 (truncated file?)"
            ),
        ));
    }
    if let Some(size) = dtype_size(&dtype) {
        let bytes = shape
            .iter()
            .try_fold(size, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| entry_err(file, name, format!("shape {shape:?} overflows")))?;
        if bytes != end - begin {
            return Err(entry_err(
                file,
                name,
                format!(
                    "{dtype} {shape:?} needs {bytes} bytes but data_offsets [{begin}, {end}] \
                     hold {}",
                    end - begin
                ),
            ));
        }
    }
    Ok(Entry {
        name: name.to_string(),
        dtype,
        shape,
        begin,
        end,
    })
}

/// Check the header of the safetensors file `bytes` (named `file` in errors) and return its
/// entries sorted by offset.
pub fn check_header(bytes: &[u8], file: &Path) -> Result<Vec<Entry>, HfError> {
    let Some((prefix, rest)) = bytes.split_first_chunk::<8>() else {
        return Err(header_err(
            file,
            format!(
                "the file has {} bytes, fewer than the 8-byte header length (truncated?)",
                bytes.len()
            ),
        ));
    };
    let n = u64::from_le_bytes(*prefix);
    if n > MAX_HEADER {
        return Err(header_err(
            file,
            format!("header length {n} is larger than the {MAX_HEADER}-byte limit"),
        ));
    }
    // n ≤ 1e8 fits usize on every supported target.
    let n = n as usize;
    if n > rest.len() {
        return Err(header_err(
            file,
            format!(
                "header length {n} exceeds the {} bytes after the prefix (truncated?)",
                rest.len()
            ),
        ));
    }
    let (json, data) = rest.split_at(n);
    let text = std::str::from_utf8(json)
        .map_err(|e| header_err(file, format!("the header is not UTF-8: {e}")))?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| header_err(file, format!("the header is not valid JSON: {e}")))?;
    let map = value
        .as_object()
        .ok_or_else(|| header_err(file, "the header is not a JSON object"))?;
    let mut entries = map
        .iter()
        .filter(|(name, _)| name.as_str() != "__metadata__")
        .map(|(name, v)| parse_entry(file, name, v, data.len()))
        .collect::<Result<Vec<_>, _>>()?;
    entries.sort_by_key(|e| (e.begin, e.end));
    // Empty ranges hold no bytes and overlap nothing.
    let mut last: Option<&Entry> = None;
    for e in entries.iter().filter(|e| e.begin < e.end) {
        if let Some(prev) = last {
            if e.begin < prev.end {
                return Err(entry_err(
                    file,
                    &e.name,
                    format!(
                        "data_offsets [{}, {}] overlap those of {:?} [{}, {}]",
                        e.begin, e.end, prev.name, prev.begin, prev.end
                    ),
                ));
            }
        }
        last = Some(e);
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, data: usize) -> Vec<u8> {
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.resize(out.len() + data, 0);
        out
    }

    fn check(bytes: &[u8]) -> Result<Vec<Entry>, HfError> {
        check_header(bytes, Path::new("m.safetensors"))
    }

    #[test]
    fn accepts_a_well_formed_header() {
        let h = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[1,2],"data_offsets":[8,12]},"__metadata__":{"format":"pt"}}"#;
        let entries = check(&file(h, 12)).expect("valid");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].name, "b");
    }

    #[test]
    fn refuses_short_and_oversized_prefixes() {
        assert!(matches!(check(&[1, 2, 3]), Err(HfError::Header { .. })));
        let mut bytes = file("{}", 0);
        bytes[0] = 200;
        let msg = check(&bytes).expect_err("too long").to_string();
        assert!(msg.contains("m.safetensors") && msg.contains("header length"));
        let bytes = u64::MAX.to_le_bytes();
        assert!(matches!(check(&bytes), Err(HfError::Header { .. })));
    }

    #[test]
    fn names_the_tensor_with_bad_offsets() {
        let h = r#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#;
        let msg = check(&file(h, 8)).expect_err("past the end").to_string();
        assert!(
            msg.contains("\"w\"") && msg.contains("past the data"),
            "{msg}"
        );
        let h = r#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,12]}}"#;
        let msg = check(&file(h, 16)).expect_err("length").to_string();
        assert!(msg.contains("needs 16 bytes"), "{msg}");
        let h = r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#;
        assert!(check(&file(h, 16)).is_err());
    }

    #[test]
    fn refuses_overlaps() {
        let h = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#;
        let msg = check(&file(h, 12)).expect_err("overlap").to_string();
        assert!(msg.contains("overlap") && msg.contains("\"a\""), "{msg}");
    }

    #[test]
    fn refuses_overflowing_shapes() {
        let h = r#"{"a":{"dtype":"F32","shape":[18446744073709551615,2],"data_offsets":[0,8]}}"#;
        assert!(matches!(
            check(&file(h, 8)),
            Err(HfError::TensorEntry { .. })
        ));
    }
}

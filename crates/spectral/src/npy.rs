//! `.npy` input/output of 1-D and 2-D float arrays.
//!
//! Why: attention matrices, weights and hidden states are exchanged with NumPy/PyTorch tooling as
//! `.npy` files, often in `f32`. Readers accept both `f32` and `f64` files (any byte order, C or
//! Fortran layout) and return `f64`, because all spectral computations run in double precision.
//! Errors name the file and the reason.

use std::path::Path;

use ndarray::{Array, Array1, Array2, ArrayBase, Data, Dimension, Ix1, Ix2};
use ndarray_npy::WritableElement;
use std::io::Read;

use crate::error::{Result, SpectralError};

fn npy_error(path: &Path, reason: impl ToString) -> SpectralError {
    SpectralError::Npy {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Largest array the readers accept (16 GiB of data): a 46 000 × 46 000 `f64` matrix, far beyond
/// what a dense eigendecomposition can handle, so a larger declaration is a corrupt header.
pub const MAX_NPY_DATA_BYTES: u64 = 1 << 34;

/// Largest header the readers accept. NumPy writes headers of a few dozen bytes padded to 64;
/// format 2.0 allows a 4 GiB header, which would otherwise be allocated before it is read.
pub const MAX_NPY_HEADER_BYTES: usize = 1 << 20;

/// The `.npy` magic string.
const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Length of the preamble (magic, version, header length) and of the header that follows it,
/// checked against the bytes present before anything is allocated for it.
fn header_span(path: &Path, bytes: &[u8]) -> Result<(usize, usize)> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(npy_error(
            path,
            "not a .npy file (no \\x93NUMPY magic string at the start)",
        ));
    }
    let (preamble, header_len) = match bytes[6] {
        1 => (10, usize::from(u16::from_le_bytes([bytes[8], bytes[9]]))),
        2 | 3 => {
            let Some(len) = bytes.get(8..12) else {
                return Err(npy_error(path, "the file ends inside the .npy preamble"));
            };
            let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]);
            (12, usize::try_from(len).unwrap_or(usize::MAX))
        }
        v => {
            return Err(npy_error(
                path,
                format!("unsupported .npy format version {v}.{}", bytes[7]),
            ))
        }
    };
    if header_len > MAX_NPY_HEADER_BYTES {
        return Err(npy_error(
            path,
            format!(
                "the header declares {header_len} bytes, more than the {MAX_NPY_HEADER_BYTES} \
                 accepted (corrupt file?)"
            ),
        ));
    }
    if bytes.len() - preamble < header_len {
        return Err(npy_error(
            path,
            format!(
                "the header declares {header_len} bytes but the file ends after {} (truncated?)",
                bytes.len() - preamble
            ),
        ));
    }
    Ok((preamble, header_len))
}

fn shape_text(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    }
}

/// The dictionary of a `.npy` header: `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }`.
#[derive(Debug, PartialEq, Eq)]
struct NpyHeader {
    /// Bytes per element (4 or 8).
    size: usize,
    /// Big-endian data.
    big_endian: bool,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// A parser of exactly the dictionaries NumPy writes for plain arrays: string keys `descr`,
/// `fortran_order` and `shape` (each once, in any order), a quoted descriptor, `True`/`False`, a
/// tuple of integers; whitespace and a trailing comma anywhere NumPy puts them. Why our own and
/// not a general Python-literal parser: one such parser needed over 10 s for a 118-byte header of
/// nested braces (found by the `read_npy` fuzz target); this one reads each byte once, and
/// anything else (structured dtypes, nesting) is refused with the reason.
struct HeaderParser<'a> {
    text: &'a [u8],
    at: usize,
}

impl HeaderParser<'_> {
    fn skip_space(&mut self) {
        while self.text.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    /// Consume `c` (after whitespace) if it is next.
    fn eat(&mut self, c: u8) -> bool {
        self.skip_space();
        if self.text.get(self.at) == Some(&c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8, what: &str) -> std::result::Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected {what} at byte {} of the header", self.at))
        }
    }

    fn string(&mut self) -> std::result::Result<&str, String> {
        self.skip_space();
        let quote = match self.text.get(self.at) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => return Err(format!("expected a quoted string at byte {}", self.at)),
        };
        let start = self.at + 1;
        let len = self.text[start..]
            .iter()
            .position(|&b| b == quote)
            .ok_or("an unterminated string")?;
        self.at = start + len + 1;
        std::str::from_utf8(&self.text[start..start + len])
            .map_err(|_| "a string that is not UTF-8".into())
    }

    fn boolean(&mut self) -> std::result::Result<bool, String> {
        self.skip_space();
        for (word, value) in [(&b"True"[..], true), (&b"False"[..], false)] {
            if self.text[self.at..].starts_with(word) {
                self.at += word.len();
                return Ok(value);
            }
        }
        Err(format!("expected True or False at byte {}", self.at))
    }

    fn integer(&mut self) -> std::result::Result<usize, String> {
        self.skip_space();
        let start = self.at;
        while self.text.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        let digits = std::str::from_utf8(&self.text[start..self.at]).unwrap_or("");
        let n = digits
            .parse::<usize>()
            .map_err(|_| format!("expected a size at byte {start} of the header"))?;
        // Python 2's NumPy wrote long integers as `3L`.
        if self.text.get(self.at) == Some(&b'L') {
            self.at += 1;
        }
        Ok(n)
    }

    fn shape(&mut self) -> std::result::Result<Vec<usize>, String> {
        self.expect(b'(', "a shape tuple")?;
        let mut dims = Vec::new();
        loop {
            if self.eat(b')') {
                return Ok(dims);
            }
            dims.push(self.integer()?);
            if !self.eat(b',') {
                self.expect(b')', "`,` or `)` in the shape")?;
                return Ok(dims);
            }
        }
    }

    fn parse(text: &[u8]) -> std::result::Result<NpyHeader, String> {
        let mut p = HeaderParser { text, at: 0 };
        p.expect(b'{', "`{`")?;
        let (mut descr, mut fortran, mut shape) = (None, None, None);
        loop {
            if p.eat(b'}') {
                break;
            }
            let key = p.string()?.to_string();
            p.expect(b':', "`:`")?;
            let duplicate = match key.as_str() {
                "descr" => descr.replace(p.string()?.to_string()).is_some(),
                "fortran_order" => fortran.replace(p.boolean()?).is_some(),
                "shape" => shape.replace(p.shape()?).is_some(),
                other => return Err(format!("unexpected key {other:?}")),
            };
            if duplicate {
                return Err(format!("the key {key:?} appears twice"));
            }
            if !p.eat(b',') {
                p.expect(b'}', "`,` or `}`")?;
                break;
            }
        }
        p.skip_space();
        if p.at != text.len() {
            return Err(format!(
                "unexpected text after the dictionary at byte {}",
                p.at
            ));
        }
        let (Some(descr), Some(fortran_order), Some(shape)) = (descr, fortran, shape) else {
            return Err("the header lacks descr, fortran_order or shape".into());
        };
        let (big_endian, size) = match descr.as_bytes() {
            [order @ (b'<' | b'>' | b'='), b'f', size @ (b'4' | b'8')] => (
                *order == b'>' || (*order == b'=' && cfg!(target_endian = "big")),
                usize::from(size - b'0'),
            ),
            _ => {
                return Err(format!(
                    "unsupported dtype '{descr}': expected float32 or float64"
                ))
            }
        };
        Ok(NpyHeader {
            size,
            big_endian,
            fortran_order,
            shape,
        })
    }
}

/// Parses the contents of a `float32`/`float64` `.npy` file of dimension `D` into `f64`. The
/// declared shape is checked against the dimension and against the bytes present (with
/// overflow-checked arithmetic) before anything is allocated, so a corrupt header is an error
/// naming `path`, never an allocation failure.
fn parse_float<D: Dimension>(path: &Path, bytes: &[u8]) -> Result<Array<f64, D>> {
    let (preamble, header_len) = header_span(path, bytes)?;
    let text = &bytes[preamble..preamble + header_len];
    if bytes[6] < 3 && !text.is_ascii() {
        return Err(npy_error(path, "bad header: not ASCII"));
    }
    let header =
        HeaderParser::parse(text).map_err(|e| npy_error(path, format!("bad header: {e}")))?;
    let (size, shape) = (header.size, &header.shape);
    if let Some(ndim) = D::NDIM {
        if shape.len() != ndim {
            return Err(npy_error(
                path,
                format!(
                    "expected a {ndim}-D array, the header declares shape {}",
                    shape_text(shape)
                ),
            ));
        }
    }
    let data = &bytes[preamble + header_len..];
    let declared = shape
        .iter()
        .try_fold(size, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n as u64 <= MAX_NPY_DATA_BYTES);
    let Some(declared) = declared else {
        return Err(npy_error(
            path,
            format!(
                "the header declares shape {} of {size}-byte floats, more than the {} GiB \
                 accepted (the file holds {} data bytes)",
                shape_text(shape),
                MAX_NPY_DATA_BYTES >> 30,
                data.len()
            ),
        ));
    };
    if declared != data.len() {
        return Err(npy_error(
            path,
            format!(
                "the header declares shape {} of {size}-byte floats = {declared} bytes, but the \
                 file holds {} data bytes ({})",
                shape_text(shape),
                data.len(),
                if declared > data.len() {
                    "truncated?"
                } else {
                    "trailing bytes"
                }
            ),
        ));
    }
    let values: Vec<f64> = match (size, header.big_endian) {
        (8, false) => data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect(),
        (8, true) => data
            .chunks_exact(8)
            .map(|c| f64::from_be_bytes(c.try_into().unwrap_or_default()))
            .collect(),
        (_, false) => data
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap_or_default())))
            .collect(),
        (_, true) => data
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_be_bytes(c.try_into().unwrap_or_default())))
            .collect(),
    };
    let dim = D::from_dimension(&ndarray::IxDyn(shape))
        .ok_or_else(|| npy_error(path, "internal: dimension mismatch"))?;
    let array = if header.fortran_order {
        Array::from_shape_vec(ndarray::ShapeBuilder::f(dim), values)
    } else {
        Array::from_shape_vec(dim, values)
    };
    array.map_err(|e| npy_error(path, e))
}

/// Reads `path` whole, refusing (before reading) a regular file larger than any acceptable
/// `.npy` file; a pipe is read up to that limit.
fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    let limit = MAX_NPY_DATA_BYTES + MAX_NPY_HEADER_BYTES as u64 + 12;
    let file = std::fs::File::open(path).map_err(|e| npy_error(path, e))?;
    let meta = file.metadata().map_err(|e| npy_error(path, e))?;
    if meta.is_dir() {
        return Err(npy_error(path, "is a directory"));
    }
    if meta.is_file() && meta.len() > limit {
        return Err(npy_error(
            path,
            format!("{} bytes: larger than any accepted .npy file", meta.len()),
        ));
    }
    let mut bytes = Vec::with_capacity(if meta.is_file() {
        meta.len() as usize
    } else {
        0
    });
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| npy_error(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(npy_error(path, "larger than any accepted .npy file"));
    }
    Ok(bytes)
}

/// Reads an `f64` or `f32` array of dimension `D`, converting to `f64`.
fn read_float<D: Dimension>(path: &Path) -> Result<Array<f64, D>> {
    parse_float(path, &read_bounded(path)?)
}

/// Parses the bytes of a 2-D `float32`/`float64` `.npy` file as `f64`; `path` only names the file
/// in errors (the fuzz target and in-memory callers use this).
pub fn parse_npy_2d(path: &Path, bytes: &[u8]) -> Result<Array2<f64>> {
    parse_float::<Ix2>(path, bytes)
}

/// Parses the bytes of a 1-D `float32`/`float64` `.npy` file as `f64`; `path` only names the file
/// in errors.
pub fn parse_npy_1d(path: &Path, bytes: &[u8]) -> Result<Array1<f64>> {
    parse_float::<Ix1>(path, bytes)
}

/// Reads a 2-D `float32`/`float64` `.npy` file as `f64`.
pub fn read_npy_2d(path: impl AsRef<Path>) -> Result<Array2<f64>> {
    read_float::<Ix2>(path.as_ref())
}

/// Reads a 1-D `float32`/`float64` `.npy` file as `f64`.
pub fn read_npy_1d(path: impl AsRef<Path>) -> Result<Array1<f64>> {
    read_float::<Ix1>(path.as_ref())
}

/// Writes an array (any dimension; `f32` or `f64` elements) to a `.npy` file in C order.
pub fn write_npy<T, S, D>(path: impl AsRef<Path>, array: &ArrayBase<S, D>) -> Result<()>
where
    T: WritableElement,
    S: Data<Elem = T>,
    D: Dimension,
{
    let path = path.as_ref();
    ndarray_npy::write_npy(path, array).map_err(|e| npy_error(path, e))
}

/// Writes an `f64` array as `float32` (halving the file size for large hidden-state dumps).
pub fn write_npy_f32<S, D>(path: impl AsRef<Path>, array: &ArrayBase<S, D>) -> Result<()>
where
    S: Data<Elem = f64>,
    D: Dimension,
{
    write_npy(path, &array.mapv(|v| v as f32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn roundtrip_f64_and_f32() {
        let dir = tempfile::tempdir().unwrap();
        let a = array![[1.0, 2.5], [-3.0, 4.0], [0.125, 6.0]];
        let p64 = dir.path().join("a64.npy");
        let p32 = dir.path().join("a32.npy");
        write_npy(&p64, &a).unwrap();
        write_npy_f32(&p32, &a).unwrap();
        assert_eq!(read_npy_2d(&p64).unwrap(), a);
        assert_eq!(read_npy_2d(&p32).unwrap(), a);
        let v = array![1.0f32, -2.0, 3.5];
        let pv = dir.path().join("v.npy");
        write_npy(&pv, &v).unwrap();
        assert_eq!(read_npy_1d(&pv).unwrap(), array![1.0, -2.0, 3.5]);
    }

    #[test]
    fn errors_name_file_and_reason() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.npy");
        match read_npy_2d(&missing) {
            Err(SpectralError::Npy { path, .. }) => assert_eq!(path, missing),
            other => panic!("unexpected {other:?}"),
        }
        let p1 = dir.path().join("one.npy");
        write_npy(&p1, &array![1.0, 2.0]).unwrap();
        match read_npy_2d(&p1) {
            Err(SpectralError::Npy { reason, .. }) => assert!(!reason.is_empty()),
            other => panic!("unexpected {other:?}"),
        }
        let pint = dir.path().join("int.npy");
        ndarray_npy::write_npy(&pint, &array![[1i32, 2]]).unwrap();
        match read_npy_2d(&pint) {
            Err(SpectralError::Npy { reason, .. }) => assert!(reason.contains("dtype"), "{reason}"),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// A version-1.0 `.npy` file with header dictionary `dict` and raw `data`.
    fn npy_bytes(dict: &str, data: &[u8]) -> Vec<u8> {
        let mut header = dict.to_string();
        while !(10 + header.len() + 1).is_multiple_of(64) {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn reason(r: Result<impl std::fmt::Debug>) -> String {
        match r {
            Err(SpectralError::Npy { path, reason }) => {
                assert_eq!(path, Path::new("x.npy"));
                reason
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_huge_declared_shape_is_refused_before_allocating() {
        // Issue 14, item 8: this header over 16 data bytes aborted with "memory allocation of
        // 80000000000000000 bytes failed".
        let bytes = npy_bytes(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (100000000, 100000000), }",
            &[0u8; 16],
        );
        let p = Path::new("x.npy");
        let r = reason(parse_npy_2d(p, &bytes));
        assert!(
            r.contains("(100000000, 100000000)") && r.contains("16 data bytes"),
            "{r}"
        );
        // Through the file reader, too.
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("huge.npy");
        std::fs::write(&f, &bytes).unwrap();
        match read_npy_2d(&f) {
            Err(SpectralError::Npy { path, reason }) => {
                assert_eq!(path, f);
                assert!(reason.contains("declares shape"), "{reason}");
            }
            other => panic!("unexpected {other:?}"),
        }
        // Products that overflow usize, f32 included.
        let r = reason(parse_npy_2d(
            p,
            &npy_bytes(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
                &[],
            ),
        ));
        assert!(r.contains("more than the 16 GiB"), "{r}");
        let r = reason(parse_npy_1d(
            p,
            &npy_bytes(
                "{'descr': '>f8', 'fortran_order': False, 'shape': (18446744073709551615,), }",
                &[],
            ),
        ));
        assert!(r.contains("(18446744073709551615,)"), "{r}");
    }

    #[test]
    fn headers_sizes_and_dimensions_are_checked() {
        let p = Path::new("x.npy");
        let ok = npy_bytes(
            "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 1), }",
            &[0, 0, 128, 63, 0, 0, 0, 64],
        );
        assert_eq!(parse_npy_2d(p, &ok).unwrap(), array![[1.0], [2.0]]);
        // Truncated data, trailing data, wrong dimension, wrong dtype.
        let r = reason(parse_npy_2d(p, &ok[..ok.len() - 1]));
        assert!(r.contains("7 data bytes") && r.contains("truncated"), "{r}");
        let mut long = ok.clone();
        long.push(0);
        assert!(reason(parse_npy_2d(p, &long)).contains("trailing"));
        assert!(reason(parse_npy_1d(p, &ok)).contains("expected a 1-D array"));
        let ints = npy_bytes(
            "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }",
            &[0; 8],
        );
        assert!(reason(parse_npy_1d(p, &ints)).contains("dtype"));
        // A version-2.0 header that declares 4 GiB, and one that runs past the end of the file.
        let mut v2 = b"\x93NUMPY\x02\x00".to_vec();
        v2.extend_from_slice(&u32::MAX.to_le_bytes());
        v2.extend_from_slice(b"{}");
        assert!(reason(parse_npy_1d(p, &v2)).contains("more than the 1048576"));
        let mut short = ok[..10].to_vec();
        short.extend_from_slice(b"{'descr'");
        assert!(reason(parse_npy_1d(p, &short)).contains("truncated"));
        for junk in [
            &b""[..],
            b"\x93NUMPY",
            b"PK\x03\x04 not numpy",
            b"\x93NUMPY\x07\x00\x00\x00",
        ] {
            assert!(!reason(parse_npy_1d(p, junk)).is_empty());
        }
    }

    /// Found by the `read_npy` fuzz target: a 118-byte header of nested braces took the general
    /// Python-literal parser used before more than 10 s. It is refused at once now.
    #[test]
    fn a_header_of_nested_braces_is_refused_at_once() {
        let bytes = b"\x93\x4e\x55\x4d\x50\x59\x01\x00\x76\x00\x7b\x27\x24\x65\x73\x63\x72\x27\x3a\x20\x27\x3c\x66\x34\x27\x2c\x20\x27\x66\x6f\x72\x74\x72\x61\x6e\x5f\x6f\x72\x64\x65\x72\x27\x3a\x20\x7b\x7b\x27\x64\x74\x72\x61\x6e\x5f\x6f\x72\x64\x65\x72\x27\x3a\x20\x7b\x7b\x27\x64\x65\x27\x3a\x20\x7b\x27\x20\x20\x20\x70\x65\x37\x3a\x20\x28\x31\x2b\x20\x31\x7d\x20\x29\x0c\x20\x20\x20\x2c\x20\x20\x20\x20\x65\x72\x27\x3a\x20\x7b\x7b\x7b\x27\x64\x74\x72\x61\x6e\x5f\x6f\x72\x64\x65\x72\x27\x3a\x20\x7b\x7b\x27\x64\x65\x27\x3a\x5b\x0a\x00\x00\x00\x00\x40\x40\x00\x00\xa0\x20";
        let r = reason(parse_npy_2d(Path::new("x.npy"), bytes));
        assert!(r.contains("bad header"), "{r}");
        // Deeper nesting, as long as the header limit allows, is just as quick.
        let mut deep = "{'descr': '<f8', 'shape': ".to_string();
        deep.push_str(&"{(".repeat(20_000));
        let r = reason(parse_npy_2d(Path::new("x.npy"), &npy_bytes(&deep, &[])));
        assert!(r.contains("bad header"), "{r}");
    }

    #[test]
    fn header_dictionaries_as_numpy_writes_them() {
        let p = Path::new("x.npy");
        let eight = 2.5f64.to_be_bytes();
        for dict in [
            "{'descr': '>f8', 'fortran_order': False, 'shape': (1, 1), }",
            "{\"shape\": (1L, 1L), \"fortran_order\": True, \"descr\": \">f8\"}",
            "{ 'descr' : '>f8' , 'shape' : ( 1 , 1 , ) , 'fortran_order' : False }",
        ] {
            assert_eq!(
                parse_npy_2d(p, &npy_bytes(dict, &eight)).unwrap(),
                array![[2.5]],
                "{dict}"
            );
        }
        let bad = [
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'shape': (1,)}",
                "twice",
            ),
            (
                "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,)}",
                "quoted string",
            ),
            ("{'descr': '<f8', 'fortran_order': False}", "lacks"),
            (
                "{'descr': '<f8', 'fortran_order': 0, 'shape': (1,)}",
                "True or False",
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'x': 1}",
                "unexpected key",
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (-1,)}",
                "size",
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (1,)} extra",
                "after the dictionary",
            ),
            (
                "{'descr': '|u1', 'fortran_order': False, 'shape': (1,)}",
                "unsupported dtype",
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999,)}",
                "size",
            ),
        ];
        for (dict, needle) in bad {
            let r = reason(parse_npy_1d(p, &npy_bytes(dict, &eight)));
            assert!(r.contains(needle), "{dict}: {r}");
        }
        // Fortran order of a 2x3 matrix.
        let data: Vec<u8> = (0..6).flat_map(|i| f64::from(i).to_le_bytes()).collect();
        let a = parse_npy_2d(
            p,
            &npy_bytes(
                "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }",
                &data,
            ),
        )
        .unwrap();
        assert_eq!(a, array![[0.0, 2.0, 4.0], [1.0, 3.0, 5.0]]);
    }

    /// The `read_npy` fuzz target's hand-written seeds (fuzz/make_reader_seeds.py) are valid
    /// files, so the fuzzer starts from inputs that reach the data path.
    #[test]
    fn the_fuzz_seeds_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/read_npy");
        let mut parsed = 0;
        for name in ["seed-f64-2x2", "seed-f32-2x3-fortran", "seed-f32-v2-1x1"] {
            let bytes = std::fs::read(dir.join(name)).unwrap();
            parse_npy_2d(Path::new(name), &bytes).unwrap();
            parsed += 1;
        }
        let bytes = std::fs::read(dir.join("seed-f64-big-endian-3")).unwrap();
        assert_eq!(
            parse_npy_1d(Path::new("be"), &bytes).unwrap(),
            array![1.0, -2.0, 3.5]
        );
        assert_eq!(parsed, 3);
    }
}

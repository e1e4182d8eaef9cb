//! Arbitrary bytes through the `.npy` reader of `eigenformer spectrum`/`simulate`
//! (`eigenformer_spectral::npy`): every input must give an array or an error naming the file,
//! never a panic, an abort or an allocation the file's size does not justify.

#![no_main]

use eigenformer_spectral::npy;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.npy");
    if let Ok(a) = npy::parse_npy_2d(path, data) {
        // An accepted array holds exactly the data the file carries.
        assert!(a.len() * 4 <= data.len());
        let _ = a.iter().copied().fold(0.0f64, |s, v| s + v);
    }
    if let Ok(v) = npy::parse_npy_1d(path, data) {
        assert!(v.len() * 4 <= data.len());
    }
});

//! Image datasets in the torchvision `ImageFolder` layout: `<root>/<split>/<class>/<image>`, where
//! the classes are the sorted names of the class directories and the images are JPEG or PNG
//! files, as an extracted directory or as one `.tar` / `.tar.gz` archive of that tree.
//!
//! Why both: a user usually has the extracted folders; the CIFAR-10 JPEG copy kept beside the
//! project is one 19 MB archive of 60,000 small files, which is read in one pass instead of being
//! unpacked into the cache. Either way the images are sorted by (class, file name), so a dataset
//! is the same whatever order the file system or the archive lists them in, and then put in one
//! fixed pseudo-random order ([`ORDER_SEED`]): a folder tree is grouped by class, and "the first N
//! test images" (`--eval-limit`) must be a sample of every class, as in the shuffled binary CIFAR
//! files, not N airplanes. Every image must have the shape the caller expects (a file of another
//! size is an error naming it, never resized silently).

use super::{DataError, Dataset, Split};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The seed of the one fixed order images are put in after sorting (part of the dataset's
/// definition: changing it changes every subset and every `--eval-limit` sample).
pub const ORDER_SEED: u64 = 0x1F01_DE55;

/// What the images must look like: `[C, H, W]` with C = 1 (grey) or 3 (RGB).
pub type ImageShape = [usize; 3];

/// At most this many bytes per image file: a 32×32 JPEG is about 1 KB, so a file larger than
/// this is not an image of such a dataset, and the limit keeps a bad archive from exhausting
/// memory before it is decoded.
pub const MAX_IMAGE_BYTES: u64 = 16 << 20;

fn is_image(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".jpg") || lower.ends_with(".jpeg") || lower.ends_with(".png")
}

/// One undecoded image: its class name, its path (for errors and ordering) and its bytes.
struct Encoded {
    class: String,
    path: PathBuf,
    bytes: Vec<u8>,
}

/// Read split `split` from the extracted tree under `root` (`root/<split>/<class>/*`).
pub fn load_dir(
    name: &str,
    root: &Path,
    split: Split,
    shape: ImageShape,
) -> Result<Dataset, DataError> {
    let split_dir = root.join(split.name());
    let mut images = Vec::new();
    let classes = std::fs::read_dir(&split_dir).map_err(|e| DataError::io(&split_dir, e))?;
    for class in classes {
        let class = class.map_err(|e| DataError::io(&split_dir, e))?;
        if !class.path().is_dir() {
            continue;
        }
        let class_name = class.file_name().to_string_lossy().into_owned();
        let dir = class.path();
        for entry in std::fs::read_dir(&dir).map_err(|e| DataError::io(&dir, e))? {
            let entry = entry.map_err(|e| DataError::io(&dir, e))?;
            let path = entry.path();
            if !is_image(&entry.file_name().to_string_lossy()) {
                continue;
            }
            let len = entry.metadata().map_err(|e| DataError::io(&path, e))?.len();
            if len > MAX_IMAGE_BYTES {
                return Err(too_large(&path, len));
            }
            let bytes = std::fs::read(&path).map_err(|e| DataError::io(&path, e))?;
            images.push(Encoded {
                class: class_name.clone(),
                path,
                bytes,
            });
        }
    }
    assemble(name, &split_dir, images, shape)
}

/// Read split `split` from a `.tar` or `.tar.gz` archive of the tree (members
/// `[<top>/]<split>/<class>/<image>`; one optional top-level directory).
pub fn load_archive(
    name: &str,
    archive: &Path,
    split: Split,
    shape: ImageShape,
) -> Result<Dataset, DataError> {
    let file = std::fs::File::open(archive).map_err(|e| DataError::io(archive, e))?;
    let mut head = [0u8; 2];
    let gz = {
        let mut f = &file;
        f.read_exact(&mut head).is_ok() && head == [0x1f, 0x8b]
    };
    let file = std::fs::File::open(archive).map_err(|e| DataError::io(archive, e))?;
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)))
    } else {
        Box::new(std::io::BufReader::new(file))
    };
    let malformed = |message: String| DataError::Malformed {
        path: archive.to_path_buf(),
        message,
    };
    let mut tar = tar::Archive::new(reader);
    let mut images = Vec::new();
    let entries = tar
        .entries()
        .map_err(|e| malformed(format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| malformed(format!("unreadable member: {e}")))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let member = entry
            .path()
            .map_err(|e| malformed(format!("member with a bad name: {e}")))?
            .into_owned();
        let parts: Vec<String> = member
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        // [top/]split/class/file
        let tail = match parts.len() {
            3 => &parts[..],
            4 => &parts[1..],
            _ => continue,
        };
        if tail[0] != split.name() || !is_image(&tail[2]) {
            continue;
        }
        let size = entry.header().size().unwrap_or(u64::MAX);
        if size > MAX_IMAGE_BYTES {
            return Err(too_large(&archive.join(&member), size));
        }
        let mut bytes = Vec::with_capacity(size as usize);
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| malformed(format!("{}: cut short: {e}", member.display())))?;
        images.push(Encoded {
            class: tail[1].clone(),
            path: archive.join(&member),
            bytes,
        });
    }
    assemble(name, archive, images, shape)
}

fn too_large(path: &Path, len: u64) -> DataError {
    DataError::Malformed {
        path: path.to_path_buf(),
        message: format!(
            "{len} bytes, more than an image of this dataset can be ({MAX_IMAGE_BYTES})"
        ),
    }
}

/// Sort, label and decode the images into a [`Dataset`] of `shape`.
fn assemble(
    name: &str,
    source: &Path,
    mut images: Vec<Encoded>,
    shape: ImageShape,
) -> Result<Dataset, DataError> {
    if images.is_empty() {
        return Err(DataError::Malformed {
            path: source.to_path_buf(),
            message: "no JPEG or PNG images in <split>/<class>/ directories".into(),
        });
    }
    images.sort_by(|a, b| (&a.class, &a.path).cmp(&(&b.class, &b.path)));
    let mut class_index = BTreeMap::new();
    for im in &images {
        let next = class_index.len();
        class_index.entry(im.class.clone()).or_insert(next);
    }
    images.shuffle(&mut ChaCha8Rng::seed_from_u64(ORDER_SEED));
    if class_index.len() > usize::from(u8::MAX) + 1 {
        return Err(DataError::Malformed {
            path: source.to_path_buf(),
            message: format!("{} classes; at most 256 are supported", class_index.len()),
        });
    }
    let [c, h, w] = shape;
    let per_image = c * h * w;
    let decoded: Vec<Vec<u8>> = images
        .par_iter()
        .map(|im| decode(im, shape))
        .collect::<Result<_, _>>()?;
    let mut pixels = Vec::with_capacity(per_image * decoded.len());
    for d in &decoded {
        pixels.extend_from_slice(d);
    }
    let labels = images
        .iter()
        .map(|im| class_index[&im.class] as u8)
        .collect();
    Dataset::new(
        name,
        pixels,
        [images.len(), c, h, w],
        labels,
        class_index.len(),
    )
}

/// Decode one image into `[C, H, W]` bytes.
fn decode(im: &Encoded, [c, h, w]: ImageShape) -> Result<Vec<u8>, DataError> {
    let bad = |message: String| DataError::Malformed {
        path: im.path.clone(),
        message,
    };
    let img = image::load_from_memory(&im.bytes).map_err(|e| bad(format!("cannot decode: {e}")))?;
    if img.width() as usize != w || img.height() as usize != h {
        return Err(bad(format!(
            "{}×{} pixels, expected {w}×{h}",
            img.width(),
            img.height()
        )));
    }
    let planes: Vec<u8> = match c {
        1 => img.to_luma8().into_raw(),
        3 => {
            let rgb = img.to_rgb8().into_raw();
            let mut out = vec![0u8; 3 * h * w];
            for (i, px) in rgb.chunks_exact(3).enumerate() {
                for ch in 0..3 {
                    out[ch * h * w + i] = px[ch];
                }
            }
            out
        }
        other => {
            return Err(bad(format!(
                "{other} channels requested; 1 or 3 are supported"
            )))
        }
    };
    Ok(planes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small ImageFolder tree of solid-colour PNGs and JPEGs: 2 classes × 3 images per split.
    fn write_tree(root: &Path) {
        for split in ["train", "test"] {
            for (k, class) in ["cat", "airplane"].iter().enumerate() {
                let dir = root.join(split).join(class);
                std::fs::create_dir_all(&dir).unwrap();
                for i in 0..3u8 {
                    let value = 40 * k as u8 + 10 * i;
                    let img = image::RgbImage::from_pixel(4, 4, image::Rgb([value, 200, 7]));
                    let ext = if i == 1 { "jpg" } else { "png" };
                    img.save(dir.join(format!("{i:04}.{ext}"))).unwrap();
                }
                std::fs::write(dir.join("notes.txt"), b"not an image").unwrap();
            }
        }
    }

    #[test]
    fn folders_and_archives_give_the_same_sorted_dataset() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("set");
        write_tree(&root);
        let from_dir = load_dir("t", &root, Split::Train, [3, 4, 4]).unwrap();
        assert_eq!(from_dir.shape(), [6, 3, 4, 4]);
        assert_eq!(from_dir.num_classes(), 2);
        // Classes in sorted order: airplane = 0, cat = 1; images in the fixed shuffled order.
        assert_eq!(from_dir.class_counts(), vec![3, 3]);
        assert_ne!(from_dir.labels(), &[0, 0, 0, 1, 1, 1], "grouped by class");
        // Planar layout: red plane, then green, then blue. Airplanes have red 40–60, cats 0–20
        // (JPEG moves values by a few levels).
        for i in 0..from_dir.len() {
            let im = from_dir.image(i);
            let red = f64::from(im[0]);
            match from_dir.label(i) {
                0 => assert!((35.0..=65.0).contains(&red), "{red}"),
                _ => assert!(red <= 25.0, "{red}"),
            }
            assert!(im[16..32].iter().all(|&v| v.abs_diff(200) <= 4));
            assert!(im[32..].iter().all(|&v| v.abs_diff(7) <= 4));
        }

        let archive = dir.path().join("set.tar.gz");
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&archive).unwrap(),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        tar.append_dir_all("set", &root).unwrap();
        tar.into_inner().unwrap().finish().unwrap();
        let from_tar = load_archive("t", &archive, Split::Train, [3, 4, 4]).unwrap();
        assert_eq!(from_tar.images(), from_dir.images());
        assert_eq!(from_tar.labels(), from_dir.labels());
        let test = load_archive("t", &archive, Split::Test, [1, 4, 4]).unwrap();
        assert_eq!(test.shape(), [6, 1, 4, 4]);
    }

    #[test]
    fn bad_images_and_empty_trees_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("set");
        write_tree(&root);
        let err = load_dir("t", &root, Split::Train, [3, 8, 8])
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected 8×8"), "{err}");
        std::fs::write(root.join("train/cat/0009.jpg"), b"garbage").unwrap();
        let err = load_dir("t", &root, Split::Train, [3, 4, 4])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("0009.jpg") && err.contains("cannot decode"),
            "{err}"
        );
        let empty = dir.path().join("empty");
        std::fs::create_dir_all(empty.join("train")).unwrap();
        let err = load_dir("t", &empty, Split::Train, [3, 4, 4])
            .unwrap_err()
            .to_string();
        assert!(err.contains("no JPEG or PNG"), "{err}");
        let not_tar = dir.path().join("x.tar");
        std::fs::write(&not_tar, vec![7u8; 1024]).unwrap();
        assert!(load_archive("t", &not_tar, Split::Train, [3, 4, 4]).is_err());
    }
}

//! Digital: brightness (HSV value), contrast, elastic transform, pixelate and JPEG compression.

use super::filter::{gaussian_blur, Border};
use super::resample::{affine_from_points, bilinear, invert_affine, pil_box_resize, warp_affine};
use super::{CorruptError, Image, Severity};
use image::codecs::jpeg::JpegEncoder;
use image::{ColorType, ImageFormat};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// RGB → HSV as scikit-image's `rgb2hsv`, all in [0, 1]: V = max, S = (max − min)/V (0 for
/// grey), H the hexcone angle / 360° (0 for grey; on ties the later of R, G, B decides).
pub fn rgb_to_hsv(r: f64, g: f64, b: f64) -> (f64, f64, f64) {
    let v = r.max(g).max(b);
    let delta = v - r.min(g).min(b);
    if delta == 0.0 {
        return (0.0, 0.0, v);
    }
    let s = delta / v;
    let mut h = 0.0;
    if r == v {
        h = (g - b) / delta;
    }
    if g == v {
        h = 2.0 + (b - r) / delta;
    }
    if b == v {
        h = 4.0 + (r - g) / delta;
    }
    ((h / 6.0).rem_euclid(1.0), s, v)
}

/// HSV → RGB as scikit-image's `hsv2rgb` (the inverse of [`rgb_to_hsv`]).
pub fn hsv_to_rgb(h: f64, s: f64, v: f64) -> (f64, f64, f64) {
    let h6 = h * 6.0;
    let sector = h6.floor();
    let f = h6 - sector;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - f * s), v * (1.0 - (1.0 - f) * s));
    match (sector as i64).rem_euclid(6) {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    }
}

/// Brightness: the HSV value raised by .05, .1, .15, .2, .3 (clipped at 1), hue and saturation
/// kept. For a grayscale image the value is the pixel itself. Exact.
pub fn brightness(image: &Image, severity: Severity) -> Image {
    let c = severity.pick(&[0.05, 0.1, 0.15, 0.2, 0.3]);
    if image.channels() != 3 {
        return image.map_values(|x| (x + c).clamp(0.0, 1.0));
    }
    let n = image.height() * image.width();
    let (r, g, b) = (image.plane(0), image.plane(1), image.plane(2));
    let mut data = vec![0.0; 3 * n];
    for i in 0..n {
        let (hh, s, v) = rgb_to_hsv(r[i], g[i], b[i]);
        let (r2, g2, b2) = hsv_to_rgb(hh, s, (v + c).clamp(0.0, 1.0));
        data[i] = r2;
        data[n + i] = g2;
        data[2 * n + i] = b2;
    }
    image.with_data(data).clipped()
}

/// Contrast: `(x − mean)·c + mean` per channel (the channel's mean over the image), c = .75, .5,
/// .4, .3, .15, clipped. Exact.
pub fn contrast(image: &Image, severity: Severity) -> Image {
    let c = severity.pick(&[0.75, 0.5, 0.4, 0.3, 0.15]);
    image
        .map_planes(|_, p| {
            let mean = p.iter().sum::<f64>() / p.len() as f64;
            p.iter().map(|&x| (x - mean) * c + mean).collect()
        })
        .clipped()
}

/// Elastic transform with (α, σ, affine jitter) = (0,0,2.56), (1.6,6.4,2.24), (2.56,1.92,1.92),
/// (3.2,1.28,1.6), (3.2,.96,.96) (the reference's fractions of the image size 32):
///
/// 1. a random affine map: the three points `centre + (s, s)`, `centre + (s, −s)`, `centre −
///    (s, s)` (centre `⌊size/2⌋`, `s = ⌊min(H, W)/3⌋`) each moved by `U(−jitter, jitter)` per
///    coordinate, and the image warped by the map through them (OpenCV `warpAffine`: bilinear,
///    source positions rounded to 1/32 pixel, reflect-101 border);
/// 2. two displacement fields `α · G_σ * U(−1, 1)` (scikit-image `gaussian`, SciPy reflect
///    border, truncated at 3σ; σ = 0 leaves the noise unsmoothed, but then α = 0);
/// 3. every pixel read at `(y + dy, x + dx)` bilinearly, with SciPy's half-sample reflection
///    (`map_coordinates(order=1, mode='reflect')`) for neighbours outside the image.
///
/// Exact up to SciPy's treatment of positions less than half a pixel outside the image (it
/// maps the position, we map the interpolation neighbours; both read the edge pixels).
pub fn elastic_transform(image: &Image, severity: Severity, rng: &mut ChaCha8Rng) -> Image {
    let (alpha, sigma, jitter) = severity.pick(&[
        (0.0, 0.0, 2.56),
        (1.6, 6.4, 2.24),
        (2.56, 1.92, 1.92),
        (3.2, 1.28, 1.6),
        (3.2, 0.96, 0.96),
    ]);
    let (h, w) = (image.height(), image.width());
    let (c0, c1) = ((h / 2) as f64, (w / 2) as f64);
    let s = (h.min(w) / 3) as f64;
    let src = [[c0 + s, c1 + s], [c0 + s, c1 - s], [c0 - s, c1 - s]];
    let mut dst = src;
    for p in dst.iter_mut() {
        for v in p.iter_mut() {
            *v += rng.gen_range(-jitter..jitter);
        }
    }
    let warped = match affine_from_points(src, dst).and_then(invert_affine) {
        Some(inverse) => image.map_planes(|_, p| warp_affine(p, h, w, inverse)),
        None => image.clone(),
    };
    let field = |rng: &mut ChaCha8Rng| -> Vec<f64> {
        let noise: Vec<f64> = (0..h * w).map(|_| rng.gen_range(-1.0..1.0)).collect();
        gaussian_blur(&noise, h, w, sigma, 3.0, Border::Reflect)
            .into_iter()
            .map(|v| v * alpha)
            .collect()
    };
    let dx = field(rng);
    let dy = field(rng);
    warped
        .map_planes(|_, p| {
            (0..h * w)
                .map(|i| {
                    let (y, x) = ((i / w) as f64, (i % w) as f64);
                    bilinear(p, h, w, y + dy[i], x + dx[i], Border::Reflect)
                })
                .collect()
        })
        .clipped()
}

/// Pixelate: PIL's `resize` with the `BOX` filter down to `⌊size·c⌋`, c = .95, .9, .85, .75,
/// .65, and back up to the original size with `BOX` again (nearest neighbour when enlarging),
/// each pass rounded to 8 bits as PIL does. Exact up to PIL's fixed-point weights (22-bit; ours
/// are `f64`), which can move a rounding by one grey level.
pub fn pixelate(image: &Image, severity: Severity) -> Image {
    let c = severity.pick(&[0.95, 0.9, 0.85, 0.75, 0.65]);
    let (h, w) = (image.height(), image.width());
    let (sh, sw) = (
        ((h as f64 * c) as usize).max(1),
        ((w as f64 * c) as usize).max(1),
    );
    image.map_planes(|_, p| {
        let levels: Vec<f64> = p
            .iter()
            .map(|&v| (v.clamp(0.0, 1.0) * 255.0).round())
            .collect();
        let small = pil_box_resize(&levels, h, w, sh, sw);
        pil_box_resize(&small, sh, sw, h, w)
            .into_iter()
            .map(|v| v / 255.0)
            .collect()
    })
}

/// Encode 8-bit pixels (`Rgb8` interleaved or `L8`) as JPEG at `quality` and decode them back.
fn jpeg_round_trip(
    pixels: &[u8],
    w: usize,
    h: usize,
    color: ColorType,
    quality: u8,
) -> Result<Vec<u8>, CorruptError> {
    let err = |message: String| CorruptError::Jpeg { quality, message };
    let mut buf = Vec::new();
    JpegEncoder::new_with_quality(&mut buf, quality)
        .encode(pixels, w as u32, h as u32, color)
        .map_err(|e| err(e.to_string()))?;
    let decoded = image::load_from_memory_with_format(&buf, ImageFormat::Jpeg)
        .map_err(|e| err(e.to_string()))?;
    let out = match color {
        ColorType::Rgb8 => decoded.to_rgb8().into_raw(),
        _ => decoded.to_luma8().into_raw(),
    };
    if out.len() != pixels.len() {
        return Err(err(format!(
            "decoded {} bytes for {} pixels",
            out.len(),
            pixels.len()
        )));
    }
    Ok(out)
}

/// JPEG compression at quality 80, 65, 58, 50, 40 (the `image` crate's baseline encoder, with
/// libjpeg's quality scaling of the standard quantisation tables, decoded back); a grayscale image
/// is encoded as a one-component JPEG.
///
/// **Approximation:** the reference saves with PIL (libjpeg), which subsamples chroma 4:2:0; the
/// `image` crate's encoder keeps chroma at full resolution (4:4:4), so colour bleeding is milder
/// than in CIFAR-10-C, and DCT/IDCT rounding differs. For grayscale images (no chroma) only the
/// rounding differs.
pub fn jpeg_compression(image: &Image, severity: Severity) -> Result<Image, CorruptError> {
    let quality: u8 = severity.pick(&[80, 65, 58, 50, 40]);
    let (h, w, ch) = (image.height(), image.width(), image.channels());
    let n = h * w;
    let levels = image.to_u8();
    let mut out = vec![0.0; levels.len()];
    if ch == 3 {
        let interleaved: Vec<u8> = (0..n)
            .flat_map(|i| [levels[i], levels[n + i], levels[2 * n + i]])
            .collect();
        let back = jpeg_round_trip(&interleaved, w, h, ColorType::Rgb8, quality)?;
        for i in 0..n {
            for c in 0..3 {
                out[c * n + i] = f64::from(back[3 * i + c]) / 255.0;
            }
        }
    } else {
        for c in 0..ch {
            let back = jpeg_round_trip(&levels[c * n..(c + 1) * n], w, h, ColorType::L8, quality)?;
            for (o, v) in out[c * n..(c + 1) * n].iter_mut().zip(back) {
                *o = f64::from(v) / 255.0;
            }
        }
    }
    Ok(image.with_data(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsv_round_trips() {
        for &(r, g, b) in &[
            (0.2, 0.4, 0.6),
            (0.9, 0.1, 0.1),
            (0.5, 0.5, 0.5),
            (0.0, 0.0, 0.0),
            (1.0, 0.8, 0.8),
            (0.3, 0.7, 0.7),
        ] {
            let (h, s, v) = rgb_to_hsv(r, g, b);
            let (r2, g2, b2) = hsv_to_rgb(h, s, v);
            assert!((r - r2).abs() < 1e-12 && (g - g2).abs() < 1e-12 && (b - b2).abs() < 1e-12);
        }
        let (h, s, v) = rgb_to_hsv(1.0, 0.0, 0.0);
        assert_eq!((h, s, v), (0.0, 1.0, 1.0));
        let (h, _, _) = rgb_to_hsv(0.0, 0.0, 1.0);
        assert!((h - 2.0 / 3.0).abs() < 1e-12);
    }
}

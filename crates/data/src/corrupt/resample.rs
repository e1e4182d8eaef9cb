//! Resampling one `H·W` plane: bilinear sampling, SciPy's `zoom`, the reference's
//! `clipped_zoom`, PIL's box resize, OpenCV's linear resize and affine warp.

use super::filter::Border;

/// Bilinear interpolation at the real position `(y, x)`, the four neighbours read by `border`
/// (so SciPy's `map_coordinates(order=1, mode=...)` and OpenCV's linear remap).
pub(crate) fn bilinear(plane: &[f64], h: usize, w: usize, y: f64, x: f64, border: Border) -> f64 {
    let (y0, x0) = (y.floor(), x.floor());
    let (fy, fx) = (y - y0, x - x0);
    let (y0, x0) = (y0 as isize, x0 as isize);
    let at = |yy: isize, xx: isize| plane[border.index(yy, h) * w + border.index(xx, w)];
    let top = at(y0, x0) * (1.0 - fx) + at(y0, x0 + 1) * fx;
    let bottom = at(y0 + 1, x0) * (1.0 - fx) + at(y0 + 1, x0 + 1) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// `numpy.arange(start, stop, step)`: `ceil((stop − start)/step)` values `start + i·δ` with
/// `δ = (start + step) − start`, rounding included. (So `arange(1, 1.06, 0.01)` has seven values,
/// 1.00 … 1.06, because `(1.06 − 1)/0.01` is 6.000000000000005 in binary floating point.)
pub(crate) fn numpy_arange(start: f64, stop: f64, step: f64) -> Vec<f64> {
    let n = ((stop - start) / step).ceil().max(0.0) as usize;
    let delta = (start + step) - start;
    (0..n).map(|i| start + i as f64 * delta).collect()
}

/// SciPy's `ndimage.zoom(order=1)` of a plane to `out_h × out_w` (`grid_mode=False`: output
/// index `o` reads input position `o·(in − 1)/(out − 1)`, linearly interpolated).
pub(crate) fn zoom_linear(
    plane: &[f64],
    h: usize,
    w: usize,
    out_h: usize,
    out_w: usize,
) -> Vec<f64> {
    let ratio = |inp: usize, out: usize| {
        if out > 1 {
            (inp as f64 - 1.0) / (out as f64 - 1.0)
        } else {
            1.0
        }
    };
    let (ry, rx) = (ratio(h, out_h), ratio(w, out_w));
    let mut out = Vec::with_capacity(out_h * out_w);
    for oy in 0..out_h {
        for ox in 0..out_w {
            out.push(bilinear(
                plane,
                h,
                w,
                oy as f64 * ry,
                ox as f64 * rx,
                Border::Nearest,
            ));
        }
    }
    out
}

/// The reference's `clipped_zoom`: cut the central `ceil(h/z) × ceil(w/z)` window, zoom it by
/// `z` with [`zoom_linear`] (output size `round(size·z)`, as SciPy), and trim the result to the
/// central `h × w`.
pub(crate) fn clipped_zoom(plane: &[f64], h: usize, w: usize, z: f64) -> Vec<f64> {
    let ch = ((h as f64 / z).ceil() as usize).clamp(1, h);
    let cw = ((w as f64 / z).ceil() as usize).clamp(1, w);
    let (top, left) = ((h - ch) / 2, (w - cw) / 2);
    let mut crop = Vec::with_capacity(ch * cw);
    for y in top..top + ch {
        crop.extend_from_slice(&plane[y * w + left..y * w + left + cw]);
    }
    let zh = ((ch as f64 * z).round_ties_even() as usize).max(h);
    let zw = ((cw as f64 * z).round_ties_even() as usize).max(w);
    let zoomed = zoom_linear(&crop, ch, cw, zh, zw);
    let (ty, tx) = ((zh - h) / 2, (zw - w) / 2);
    let mut out = Vec::with_capacity(h * w);
    for y in ty..ty + h {
        out.extend_from_slice(&zoomed[y * zw + tx..y * zw + tx + w]);
    }
    out
}

/// PIL's `BOX` resampling weights for one axis, `in_len → out_len`: output pixel `o` averages
/// the input pixels whose centres fall in `((o + ½)·s − s/2, (o + ½)·s + s/2]` with `s =
/// in/out` (at least one pixel wide when enlarging, which makes enlargement nearest-neighbour).
fn box_weights(in_len: usize, out_len: usize) -> Vec<(usize, Vec<f64>)> {
    let scale = in_len as f64 / out_len as f64;
    let filterscale = scale.max(1.0);
    let support = 0.5 * filterscale;
    (0..out_len)
        .map(|o| {
            let center = (o as f64 + 0.5) * scale;
            let xmin = ((center - support + 0.5) as isize).max(0) as usize;
            let xmax = ((center + support + 0.5) as isize).min(in_len as isize) as usize;
            let mut w: Vec<f64> = (xmin..xmax)
                .map(|x| {
                    let t = (x as f64 - center + 0.5) / filterscale;
                    if t > -0.5 && t <= 0.5 {
                        1.0
                    } else {
                        0.0
                    }
                })
                .collect();
            let sum: f64 = w.iter().sum();
            if sum != 0.0 {
                w.iter_mut().for_each(|v| *v /= sum);
            }
            (xmin, w)
        })
        .collect()
}

/// PIL's `Image.resize(..., BOX)` of an 8-bit plane given as grey levels `0..=255` (as `f64`):
/// horizontal pass, then vertical, each rounded to an 8-bit level as PIL's two passes are.
pub(crate) fn pil_box_resize(
    levels: &[f64],
    h: usize,
    w: usize,
    out_h: usize,
    out_w: usize,
) -> Vec<f64> {
    let round8 = |v: f64| v.round().clamp(0.0, 255.0);
    let wx = box_weights(w, out_w);
    let mut rows = vec![0.0; h * out_w];
    for y in 0..h {
        for (ox, (start, weights)) in wx.iter().enumerate() {
            let v: f64 = weights
                .iter()
                .enumerate()
                .map(|(k, wt)| wt * levels[y * w + start + k])
                .sum();
            rows[y * out_w + ox] = round8(v);
        }
    }
    let wy = box_weights(h, out_h);
    let mut out = vec![0.0; out_h * out_w];
    for (oy, (start, weights)) in wy.iter().enumerate() {
        for x in 0..out_w {
            let v: f64 = weights
                .iter()
                .enumerate()
                .map(|(k, wt)| wt * rows[(start + k) * out_w + x])
                .sum();
            out[oy * out_w + x] = round8(v);
        }
    }
    out
}

/// OpenCV's `resize(..., INTER_LINEAR)` of a plane by the factor `f` (output size
/// `round(size·f)`): output pixel `o` reads input position `(o + ½)/f − ½`, clamped to the
/// image, bilinearly. (No anti-aliasing: shrinking by 0.2 samples every fifth pixel.)
pub(crate) fn cv_resize_linear(
    plane: &[f64],
    h: usize,
    w: usize,
    f: f64,
) -> (Vec<f64>, usize, usize) {
    let out_h = ((h as f64 * f).round_ties_even() as usize).max(1);
    let out_w = ((w as f64 * f).round_ties_even() as usize).max(1);
    let inv = 1.0 / f;
    let src = |o: usize, len: usize| ((o as f64 + 0.5) * inv - 0.5).clamp(0.0, len as f64 - 1.0);
    let mut out = Vec::with_capacity(out_h * out_w);
    for oy in 0..out_h {
        for ox in 0..out_w {
            out.push(bilinear(
                plane,
                h,
                w,
                src(oy, h),
                src(ox, w),
                Border::Nearest,
            ));
        }
    }
    (out, out_h, out_w)
}

/// An affine map of the plane `(x, y) ↦ (a·x + b·y + c, d·x + e·y + f)`, stored `[a, b, c, d, e,
/// f]` (OpenCV's 2×3 matrix).
pub(crate) type Affine = [f64; 6];

/// The affine map sending the three points `src` onto `dst` (OpenCV's `getAffineTransform`);
/// `None` when the source points are collinear.
pub(crate) fn affine_from_points(src: [[f64; 2]; 3], dst: [[f64; 2]; 3]) -> Option<Affine> {
    // Solve [x y 1] · (a b c)ᵀ = u and the same for (d e f) by Cramer's rule.
    let det3 = |m: [[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let m = [
        [src[0][0], src[0][1], 1.0],
        [src[1][0], src[1][1], 1.0],
        [src[2][0], src[2][1], 1.0],
    ];
    let d = det3(m);
    if d.abs() < 1e-12 {
        return None;
    }
    let solve = |rhs: [f64; 3]| {
        let mut out = [0.0; 3];
        for (col, o) in out.iter_mut().enumerate() {
            let mut mc = m;
            for (row, r) in rhs.iter().enumerate() {
                mc[row][col] = *r;
            }
            *o = det3(mc) / d;
        }
        out
    };
    let p = solve([dst[0][0], dst[1][0], dst[2][0]]);
    let q = solve([dst[0][1], dst[1][1], dst[2][1]]);
    Some([p[0], p[1], p[2], q[0], q[1], q[2]])
}

/// The inverse of an affine map (`None` if it is singular).
pub(crate) fn invert_affine(m: Affine) -> Option<Affine> {
    let [a, b, c, d, e, f] = m;
    let det = a * e - b * d;
    if det.abs() < 1e-12 {
        return None;
    }
    let (ia, ib, id, ie) = (e / det, -b / det, -d / det, a / det);
    Some([ia, ib, -(ia * c + ib * f), id, ie, -(id * c + ie * f)])
}

/// OpenCV's `warpAffine(src, M, (w, h), INTER_LINEAR, BORDER_REFLECT_101)` of a plane, given
/// `inverse` = M⁻¹: output pixel `(x, y)` reads `M⁻¹·(x, y)` bilinearly. As OpenCV, the source
/// position is rounded to 1/32 of a pixel (its `INTER_TAB_SIZE`) before interpolating.
pub(crate) fn warp_affine(plane: &[f64], h: usize, w: usize, inverse: Affine) -> Vec<f64> {
    let q = |v: f64| (v * 32.0).round() / 32.0;
    let [a, b, c, d, e, f] = inverse;
    let mut out = Vec::with_capacity(h * w);
    for y in 0..h {
        for x in 0..w {
            let (xf, yf) = (x as f64, y as f64);
            let sx = q(a * xf + b * yf + c);
            let sy = q(d * xf + e * yf + f);
            out.push(bilinear(plane, h, w, sy, sx, Border::Reflect101));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arange_reproduces_numpy_lengths() {
        let lens: Vec<usize> = [1.06, 1.11, 1.16, 1.21, 1.26]
            .iter()
            .map(|&s| numpy_arange(1.0, s, 0.01).len())
            .collect();
        // numpy: 7, 12, 16, 21, 26 (binary rounding adds 1.06 and 1.11).
        assert_eq!(lens, vec![7, 12, 16, 21, 26]);
        let a = numpy_arange(1.0, 1.06, 0.01);
        assert_eq!(a[0], 1.0);
        assert!((a[6] - 1.06).abs() < 1e-12);
    }

    #[test]
    fn zoom_by_one_is_the_identity() {
        let plane: Vec<f64> = (0..12).map(f64::from).collect();
        assert_eq!(clipped_zoom(&plane, 3, 4, 1.0), plane);
        assert_eq!(zoom_linear(&plane, 3, 4, 3, 4), plane);
    }

    #[test]
    fn box_resize_averages_and_enlarges_by_repetition() {
        // 4 → 2 averages pairs; 2 → 4 repeats.
        let levels = vec![0.0, 2.0, 10.0, 20.0];
        let half = pil_box_resize(&levels, 1, 4, 1, 2);
        assert_eq!(half, vec![1.0, 15.0]);
        let back = pil_box_resize(&half, 1, 2, 1, 4);
        assert_eq!(back, vec![1.0, 1.0, 15.0, 15.0]);
    }

    #[test]
    fn cv_resize_by_a_fifth_samples_every_fifth_pixel() {
        let plane: Vec<f64> = (0..20).map(f64::from).collect();
        let (out, oh, ow) = cv_resize_linear(&plane, 1, 20, 0.2);
        assert_eq!((oh, ow), (1, 4));
        assert_eq!(out, vec![2.0, 7.0, 12.0, 17.0]);
    }

    #[test]
    fn affine_from_points_recovers_a_known_map_and_inverts() {
        let m = [1.1, 0.2, -3.0, -0.1, 0.9, 2.0];
        let apply = |m: Affine, p: [f64; 2]| {
            [
                m[0] * p[0] + m[1] * p[1] + m[2],
                m[3] * p[0] + m[4] * p[1] + m[5],
            ]
        };
        let src = [[26.0, 26.0], [26.0, 6.0], [6.0, 6.0]];
        let dst = src.map(|p| apply(m, p));
        let got = affine_from_points(src, dst).unwrap();
        for (a, b) in got.iter().zip(&m) {
            assert!((a - b).abs() < 1e-9);
        }
        let inv = invert_affine(got).unwrap();
        let p = apply(inv, apply(got, [3.0, 7.0]));
        assert!((p[0] - 3.0).abs() < 1e-9 && (p[1] - 7.0).abs() < 1e-9);
        assert!(affine_from_points([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]], dst).is_none());
    }
}

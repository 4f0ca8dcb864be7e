//! Resampling of image regions into network inputs.
//!
//! MTCNN was trained on OpenCV `INTER_AREA` resizes: area averaging when shrinking, bilinear when
//! enlarging. [`crop_resize`] reproduces that for any (possibly out-of-image) rectangle, padding with black
//! like the reference implementation, and writes the normalised result straight into the layout a network
//! wants, so no intermediate image is built.

use super::input::FaceImage;

/// Per output index: the contributing source indices (in range) and their weights.
fn axis_weights(start: f32, len: f32, out: usize, limit: usize) -> Vec<Vec<(usize, f32)>> {
    let scale = len / out as f32;
    (0..out)
        .map(|i| {
            let mut w = Vec::new();
            if scale > 1.0 {
                // Area: overlap of [a, b) with each source pixel [k, k+1).
                let a = start + i as f32 * scale;
                let b = a + scale;
                let mut k = a.floor();
                while k < b {
                    let overlap = (b.min(k + 1.0) - a.max(k)) / scale;
                    if overlap > 0.0 && k >= 0.0 && (k as usize) < limit {
                        w.push((k as usize, overlap));
                    }
                    k += 1.0;
                }
            } else {
                // Bilinear on pixel centres.
                // Clamped to the rectangle like OpenCV's border replication (of the zero-padded crop).
                let c = (start + (i as f32 + 0.5) * scale - 0.5)
                    .clamp(start, (start + len - 1.0).max(start));
                let k = c.floor();
                let f = c - k;
                for (idx, wt) in [(k, 1.0 - f), (k + 1.0, f)] {
                    if wt > 0.0 && idx >= 0.0 && (idx as usize) < limit {
                        w.push((idx as usize, wt));
                    }
                }
            }
            w
        })
        .collect()
}

/// Output tensor layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `[x][y][c]`: MTCNN's transposed NHWC.
    Xyc,
    /// `[y][x][c]`.
    Yxc,
}

/// Resamples the rectangle (`x`, `y`, `w`, `h`, in source pixels, may extend outside the image) to
/// `ow` x `oh`, maps each value v to (v - 127.5) / 128 and writes it in `layout` order into `out`
/// (which must hold `ow * oh * 3` values).
#[allow(clippy::too_many_arguments)]
pub fn crop_resize(
    img: &FaceImage,
    rect: [f32; 4],
    ow: usize,
    oh: usize,
    layout: Layout,
    out: &mut [f32],
) {
    let [x, y, w, h] = rect;
    let (iw, ih) = (img.width() as usize, img.height() as usize);
    let xs = axis_weights(x, w, ow, iw);
    let ys = axis_weights(y, h, oh, ih);
    let rgb = img.rgb();
    // Horizontal pass per needed source row, then vertical.
    let mut row = vec![0f32; ow * 3];
    let mut acc = vec![0f32; ow * oh * 3];
    let mut row_cache: Vec<Option<Vec<f32>>> = Vec::new();
    row_cache.resize(
        ih.min(ys.iter().flatten().map(|p| p.0 + 1).max().unwrap_or(0)),
        None,
    );
    for (oy, yw) in ys.iter().enumerate() {
        for &(sy, wy) in yw {
            if row_cache[sy].is_none() {
                let src = &rgb[sy * iw * 3..(sy + 1) * iw * 3];
                for (ox, xw) in xs.iter().enumerate() {
                    let mut px = [0f32; 3];
                    for &(sx, wx) in xw {
                        for c in 0..3 {
                            px[c] += wx * f32::from(src[sx * 3 + c]);
                        }
                    }
                    row[ox * 3..ox * 3 + 3].copy_from_slice(&px);
                }
                row_cache[sy] = Some(row.clone());
            }
            if let Some(r) = &row_cache[sy] {
                let dst = &mut acc[oy * ow * 3..(oy + 1) * ow * 3];
                for (d, s) in dst.iter_mut().zip(r) {
                    *d += wy * s;
                }
            }
        }
    }
    for oy in 0..oh {
        for ox in 0..ow {
            let o = match layout {
                Layout::Xyc => (ox * oh + oy) * 3,
                Layout::Yxc => (oy * ow + ox) * 3,
            };
            for c in 0..3 {
                out[o + c] = (acc[(oy * ow + ox) * 3 + c] - 127.5) * 0.007_812_5;
            }
        }
    }
}

/// Shrinks an image by area averaging so that its longer side is at most `max_side`; returns the image and
/// the factor (original / new) to map coordinates back. Returns `None` when no shrinking is needed.
pub fn shrink(img: &FaceImage, max_side: u32) -> Option<(FaceImage, f32)> {
    let long = img.width().max(img.height());
    if long <= max_side {
        return None;
    }
    let f = long as f32 / max_side as f32;
    let (nw, nh) = (
        ((img.width() as f32 / f).round() as usize).max(1),
        ((img.height() as f32 / f).round() as usize).max(1),
    );
    let mut out = vec![0f32; nw * nh * 3];
    crop_resize(
        img,
        [0.0, 0.0, img.width() as f32, img.height() as f32],
        nw,
        nh,
        Layout::Yxc,
        &mut out,
    );
    let rgb = out
        .iter()
        .map(|v| (v / 0.007_812_5 + 127.5).round().clamp(0.0, 255.0) as u8)
        .collect();
    let small = FaceImage::from_rgb8(nw as u32, nh as u32, rgb).ok()?;
    Some((small, img.width() as f32 / nw as f32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_weights_sum_to_one_inside_the_image() {
        for w in axis_weights(0.0, 100.0, 7, 100) {
            let s: f32 = w.iter().map(|p| p.1).sum();
            assert!((s - 1.0).abs() < 1e-4, "{s}");
        }
        for w in axis_weights(0.0, 10.0, 37, 10) {
            let s: f32 = w.iter().map(|p| p.1).sum();
            assert!((s - 1.0).abs() < 1e-4, "{s}");
        }
    }

    #[test]
    fn constant_image_stays_constant() {
        let img = FaceImage::from_rgb8(20, 16, vec![200; 20 * 16 * 3]).expect("valid");
        let mut out = vec![0f32; 7 * 5 * 3];
        crop_resize(&img, [1.0, 2.0, 15.0, 12.0], 7, 5, Layout::Xyc, &mut out);
        for v in out {
            assert!((v - (200.0 - 127.5) / 128.0).abs() < 1e-4);
        }
    }
}

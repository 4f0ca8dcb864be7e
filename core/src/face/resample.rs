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

/// Summed-area table of an image, for area-averaging shrinks at any number of scales.
///
/// The integral of a pixel-constant image over `[0, x) x [0, y)` is the bilinear interpolation of its
/// summed-area table, so the average over any fractional rectangle is four such lookups: the same
/// value as [`crop_resize`]'s weights (up to rounding), at a cost per *output* pixel instead of one pass
/// over the source per call. Detection builds it once per image and cuts every pyramid level and every
/// R-Net/O-Net crop from it; before, each of the ~8 pyramid levels re-read the whole 640x480 frame
/// (~3 ms per level whatever its size).
pub struct Integral<'a> {
    img: &'a FaceImage,
    /// The region the table covers, `[x0, y0, x1, y1]` in whole pixels (the whole image, or a part of
    /// it for [`Integral::around`]).
    region: [usize; 4],
    /// `(h + 1) x (w + 1) x 3` sums over the region, exact in `u32`; empty (use [`crop_resize`]) above
    /// [`Integral::MAX_PIXELS`].
    sat: Vec<u32>,
}

impl<'a> Integral<'a> {
    /// Largest image whose sums fit `u32` (255 per channel and pixel).
    pub const MAX_PIXELS: usize = (u32::MAX / 255) as usize;

    /// Builds the table (one pass over the image).
    pub fn new(img: &'a FaceImage) -> Integral<'a> {
        let (w, h) = (img.width() as usize, img.height() as usize);
        Integral::over(img, [0, 0, w, h])
    }

    /// Builds the table over the part of the image `rect` (`[x1, y1, x2, y2]`) covers, clamped to the
    /// image: tracking a face cuts its crops from around the previous box only, and a table of the whole
    /// frame would cost more than the network run on them. Crops reaching outside the region are cut
    /// from the image directly (same values, slower).
    pub fn around(img: &'a FaceImage, rect: [f32; 4]) -> Integral<'a> {
        let (w, h) = (img.width() as usize, img.height() as usize);
        if !rect.iter().all(|v| v.is_finite()) {
            return Integral::new(img);
        }
        let cut = |v: f32, hi: usize, up: bool| {
            let v = if up { v.ceil() } else { v.floor() };
            v.clamp(0.0, hi as f32) as usize
        };
        let (x0, y0) = (cut(rect[0], w, false), cut(rect[1], h, false));
        let (x1, y1) = (cut(rect[2], w, true), cut(rect[3], h, true));
        if x1 <= x0 || y1 <= y0 {
            return Integral::new(img);
        }
        Integral::over(img, [x0, y0, x1, y1])
    }

    fn over(img: &'a FaceImage, region: [usize; 4]) -> Integral<'a> {
        let [x0, y0, x1, y1] = region;
        let (w, h) = (x1 - x0, y1 - y0);
        if w * h > Self::MAX_PIXELS {
            return Integral {
                img,
                region,
                sat: Vec::new(),
            };
        }
        let iw = img.width() as usize;
        let stride = (w + 1) * 3;
        let mut sat = vec![0u32; stride * (h + 1)];
        for (y, line) in img.rgb().chunks_exact(iw * 3).skip(y0).take(h).enumerate() {
            let src = &line[x0 * 3..x1 * 3];
            let (above, below) = sat.split_at_mut((y + 1) * stride);
            let above = &above[y * stride..];
            let row = &mut below[..stride];
            let mut run = [0u32; 3];
            for x in 0..w {
                for c in 0..3 {
                    run[c] += u32::from(src[x * 3 + c]);
                    row[(x + 1) * 3 + c] = above[(x + 1) * 3 + c] + run[c];
                }
            }
        }
        Integral { img, region, sat }
    }

    /// The image.
    pub fn image(&self) -> &'a FaceImage {
        self.img
    }

    /// Like [`crop_resize`] on the image; uses the table when both axes shrink (area averaging), and
    /// falls back to [`crop_resize`] otherwise.
    pub fn crop_resize(
        &self,
        rect: [f32; 4],
        ow: usize,
        oh: usize,
        layout: Layout,
        out: &mut [f32],
    ) {
        let [x, y, w, h] = rect;
        let (sx, sy) = (w / ow as f32, h / oh as f32);
        let (iw, ih) = (self.img.width() as usize, self.img.height() as usize);
        let [rx0, ry0, rx1, ry1] = self.region;
        // Each side of the rectangle inside the region, or the region's side is the image's edge
        // (beyond it everything is black anyway).
        let covered = (rx0 == 0 || x >= rx0 as f32)
            && (ry0 == 0 || y >= ry0 as f32)
            && (rx1 == iw || x + w <= rx1 as f32)
            && (ry1 == ih || y + h <= ry1 as f32);
        if !(sx > 1.0 && sy > 1.0) || self.sat.is_empty() || !covered {
            crop_resize(self.img, rect, ow, oh, layout, out);
            return;
        }
        // Rectangle edges, clamped to the region (outside the image counts as black, like
        // crop_resize), as the integer cell (in region pixels) and fraction of the bilinear lookup.
        let edges = |start: f32, step: f32, n: usize, lo: usize, hi: usize| -> Vec<(usize, f64)> {
            let len = hi - lo;
            (0..=n)
                .map(|i| {
                    let v = f64::from((start + i as f32 * step - lo as f32).clamp(0.0, len as f32));
                    let k = (v.floor() as usize).min(len.saturating_sub(1));
                    (k, v - k as f64)
                })
                .collect()
        };
        let xe = edges(x, sx, ow, rx0, rx1);
        let ye = edges(y, sy, oh, ry0, ry1);
        let stride = (rx1 - rx0 + 1) * 3;
        let sat = &self.sat;
        // Integral at every edge crossing: (oh + 1) x (ow + 1) x 3.
        let mut g = vec![0f64; (oh + 1) * (ow + 1) * 3];
        for (j, &(ky, fy)) in ye.iter().enumerate() {
            let r0 = &sat[ky * stride..(ky + 1) * stride];
            let r1 = &sat[(ky + 1) * stride..(ky + 2) * stride];
            for (i, &(kx, fx)) in xe.iter().enumerate() {
                for c in 0..3 {
                    let at = |r: &[u32]| {
                        f64::from(r[kx * 3 + c]) * (1.0 - fx) + f64::from(r[(kx + 1) * 3 + c]) * fx
                    };
                    g[(j * (ow + 1) + i) * 3 + c] = at(r0) * (1.0 - fy) + at(r1) * fy;
                }
            }
        }
        let inv_area = 1.0 / (f64::from(sx) * f64::from(sy));
        let gs = (ow + 1) * 3;
        for oy in 0..oh {
            for ox in 0..ow {
                let o = match layout {
                    Layout::Xyc => (ox * oh + oy) * 3,
                    Layout::Yxc => (oy * ow + ox) * 3,
                };
                let (a, b) = (oy * gs + ox * 3, (oy + 1) * gs + ox * 3);
                for c in 0..3 {
                    let sum = g[b + 3 + c] - g[b + c] - g[a + 3 + c] + g[a + c];
                    out[o + c] = ((sum * inv_area) as f32 - 127.5) * 0.007_812_5;
                }
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
    fn integral_matches_direct_area_resampling() {
        let (w, h) = (97usize, 61usize);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 37 % 251) as u8).collect();
        let img = FaceImage::from_rgb8(w as u32, h as u32, rgb).expect("valid");
        // The whole image's table, a region's (inside the image, and at its left edge).
        let tables = [
            Integral::new(&img),
            Integral::around(&img, [20.5, 10.2, 80.0, 50.9]),
            Integral::around(&img, [-5.0, 15.0, 70.0, 61.0]),
        ];
        // Whole image, a crop partly outside, an enlargement (fallback), crops inside the regions, and
        // one crossing the inner region's edge (fallback).
        for (rect, ow, oh) in [
            ([0.0, 0.0, 97.0, 61.0], 29, 18),
            ([-10.5, 20.25, 60.0, 55.0], 24, 24),
            ([3.0, 4.0, 10.0, 10.0], 24, 24),
            ([22.3, 12.0, 48.0, 36.5], 12, 12),
            ([-3.0, 16.0, 50.0, 45.0], 12, 12),
            ([10.0, 12.0, 48.0, 36.5], 12, 12),
        ] {
            for (layout, sat) in [Layout::Xyc, Layout::Yxc]
                .into_iter()
                .flat_map(|l| tables.iter().map(move |t| (l, t)))
            {
                let mut a = vec![0f32; ow * oh * 3];
                let mut b = vec![0f32; ow * oh * 3];
                crop_resize(&img, rect, ow, oh, layout, &mut a);
                sat.crop_resize(rect, ow, oh, layout, &mut b);
                let worst = a
                    .iter()
                    .zip(&b)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0.0, f32::max);
                assert!(worst < 1e-4, "{rect:?}: {worst}");
            }
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

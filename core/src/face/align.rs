//! Alignment: a least-squares similarity transform (rotation, uniform scale, translation) maps the five
//! detected landmarks onto the standard 112x112 ArcFace template, and the face is resampled.
//!
//! The embedding network was trained on faces aligned this way; a wrong template, landmark order or
//! interpolation shows up directly as lost margin between same-person and different-person scores.
//!
//! Resampling: when the crop is smaller than the face in the photo (scale < 1: a face with 130 px between
//! the eyes is shrunk ~4x onto the template's 35 px), the region of the photo the crop covers is first
//! area-averaged down by that scale (like OpenCV `INTER_AREA`, as for the MTCNN inputs), and only then
//! warped bilinearly. Bilinear sampling straight from the full-resolution photo reads 4 of the ~16 source
//! pixels behind each output pixel: the crop aliases, and the embedding then depends on the photo's
//! resolution and on sub-pixel landmark noise (see `models/README.md`, "Alignment resampling").

use super::input::FaceImage;
use super::resample::{Layout, crop_resize};

/// Side of the aligned face.
pub const ALIGNED: usize = 112;

/// The ArcFace / InsightFace 5-point template for 112x112 crops: left eye, right eye, nose tip, left and
/// right mouth corners.
pub const TEMPLATE: [[f32; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// A similarity transform `(x, y) -> (a x - b y + tx, b x + a y + ty)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    /// scale * cos(angle).
    pub a: f32,
    /// scale * sin(angle).
    pub b: f32,
    /// Translation in x.
    pub tx: f32,
    /// Translation in y.
    pub ty: f32,
}

impl Similarity {
    /// Least-squares fit mapping `src` onto `dst` (closed form; the Umeyama solution without reflection).
    /// Returns `None` for degenerate input (all points equal, non-finite values).
    pub fn fit(src: &[[f32; 2]], dst: &[[f32; 2]]) -> Option<Similarity> {
        let n = src.len().min(dst.len()) as f64;
        if n < 2.0 {
            return None;
        }
        let mean = |p: &[[f32; 2]]| {
            let (sx, sy) = p.iter().fold((0f64, 0f64), |acc, q| {
                (acc.0 + f64::from(q[0]), acc.1 + f64::from(q[1]))
            });
            (sx / n, sy / n)
        };
        let (msx, msy) = mean(src);
        let (mdx, mdy) = mean(dst);
        let (mut sxx, mut num_a, mut num_b) = (0f64, 0f64, 0f64);
        for (s, d) in src.iter().zip(dst) {
            let (xs, ys) = (f64::from(s[0]) - msx, f64::from(s[1]) - msy);
            let (xd, yd) = (f64::from(d[0]) - mdx, f64::from(d[1]) - mdy);
            sxx += xs * xs + ys * ys;
            num_a += xs * xd + ys * yd;
            num_b += xs * yd - ys * xd;
        }
        if !(sxx > 1e-9) || !sxx.is_finite() {
            return None;
        }
        let a = num_a / sxx;
        let b = num_b / sxx;
        let tx = mdx - (a * msx - b * msy);
        let ty = mdy - (b * msx + a * msy);
        Some(Similarity {
            a: a as f32,
            b: b as f32,
            tx: tx as f32,
            ty: ty as f32,
        })
    }

    /// Applies the transform to a point.
    pub fn apply(&self, p: [f32; 2]) -> [f32; 2] {
        [
            self.a * p[0] - self.b * p[1] + self.tx,
            self.b * p[0] + self.a * p[1] + self.ty,
        ]
    }

    /// The inverse transform.
    pub fn inverse(&self) -> Option<Similarity> {
        let d = self.a * self.a + self.b * self.b;
        if !(d > 1e-12) {
            return None;
        }
        let (a, b) = (self.a / d, -self.b / d);
        let tx = -(a * self.tx - b * self.ty);
        let ty = -(b * self.tx + a * self.ty);
        Some(Similarity { a, b, tx, ty })
    }
}

/// Warps the face into a 112x112 RGB8 crop (row-major, interleaved); pixels outside the image are black.
/// Returns `None` if the landmarks are degenerate.
pub fn align(img: &FaceImage, landmarks: &[[f32; 2]; 5]) -> Option<Vec<u8>> {
    let fit = Similarity::fit(landmarks, &TEMPLATE)?;
    let scale = (fit.a * fit.a + fit.b * fit.b).sqrt();
    if scale < 1.0
        && let Some(r) = shrunk_region(img, &fit.inverse()?, scale, landmarks)
    {
        let inv = Similarity::fit(&r.landmarks, &TEMPLATE)?.inverse()?;
        return Some(warp(&inv, r.width, r.height, |o| r.rgb[o]));
    }
    let inv = fit.inverse()?;
    let rgb = img.rgb();
    Some(warp(
        &inv,
        img.width() as usize,
        img.height() as usize,
        |o| f32::from(rgb[o]),
    ))
}

/// An area-averaged part of the image, with the landmarks in its own pixel coordinates.
struct Region {
    /// Interleaved RGB, values 0..255.
    rgb: Vec<f32>,
    width: usize,
    height: usize,
    landmarks: [[f32; 2]; 5],
}

/// The part of `img` under the 112x112 crop (plus a one-pixel margin, clipped to the image), area-averaged
/// down by `scale`. `None` when the crop lies entirely outside the image.
fn shrunk_region(
    img: &FaceImage,
    inv: &Similarity,
    scale: f32,
    landmarks: &[[f32; 2]; 5],
) -> Option<Region> {
    let lim = ALIGNED as f32;
    let corners = [[-1.0, -1.0], [lim, -1.0], [-1.0, lim], [lim, lim]].map(|p| inv.apply(p));
    let bound =
        |i: usize, f: fn(f32, f32) -> f32, init: f32| corners.iter().map(|p| p[i]).fold(init, f);
    let (w, h) = (img.width() as f32, img.height() as f32);
    let x0 = bound(0, f32::min, f32::MAX).floor().max(0.0);
    let y0 = bound(1, f32::min, f32::MAX).floor().max(0.0);
    let x1 = (bound(0, f32::max, f32::MIN).ceil() + 1.0).min(w);
    let y1 = (bound(1, f32::max, f32::MIN).ceil() + 1.0).min(h);
    if !(x1 > x0 && y1 > y0) {
        return None;
    }
    let rw = (((x1 - x0) * scale).round() as usize).max(1);
    let rh = (((y1 - y0) * scale).round() as usize).max(1);
    let mut region = vec![0f32; rw * rh * 3];
    crop_resize(
        img,
        [x0, y0, x1 - x0, y1 - y0],
        rw,
        rh,
        Layout::Yxc,
        &mut region,
    );
    // crop_resize writes (v - 127.5) / 128; back to 0..255.
    for v in &mut region {
        *v = *v * 128.0 + 127.5;
    }
    // Pixel centres: source pixel k spans [k, k + 1); region pixel i spans [x0 + i sx, x0 + (i + 1) sx).
    let (sx, sy) = ((x1 - x0) / rw as f32, (y1 - y0) / rh as f32);
    let lm = landmarks.map(|[x, y]| [(x + 0.5 - x0) / sx - 0.5, (y + 0.5 - y0) / sy - 0.5]);
    Some(Region {
        rgb: region,
        width: rw,
        height: rh,
        landmarks: lm,
    })
}

/// Bilinear sample at `(sx, sy)` of a `w` x `h` interleaved RGB source (`px(offset)` reads one channel
/// value); pixels outside the source count as black.
pub(super) fn bilinear(
    w: usize,
    h: usize,
    px: impl Fn(usize) -> f32,
    sx: f32,
    sy: f32,
) -> [f32; 3] {
    let (w, h) = (w as i64, h as i64);
    let (x0, y0) = (sx.floor(), sy.floor());
    let (fx, fy) = (sx - x0, sy - y0);
    let (x0, y0) = (x0 as i64, y0 as i64);
    let mut acc = [0f32; 3];
    for (dy, wy) in [(0, 1.0 - fy), (1, fy)] {
        for (dx, wx) in [(0, 1.0 - fx), (1, fx)] {
            let (x, y) = (x0 + dx, y0 + dy);
            if x < 0 || y < 0 || x >= w || y >= h {
                continue;
            }
            let o = ((y * w + x) * 3) as usize;
            for (c, a) in acc.iter_mut().enumerate() {
                *a += wx * wy * px(o + c);
            }
        }
    }
    acc
}

/// Bilinear warp of a `w` x `h` interleaved RGB source (`px(offset)` reads one channel value) through the
/// crop-to-source transform `inv`; outside the source is black.
fn warp(inv: &Similarity, w: usize, h: usize, px: impl Fn(usize) -> f32) -> Vec<u8> {
    let mut out = vec![0u8; ALIGNED * ALIGNED * 3];
    for v in 0..ALIGNED {
        for u in 0..ALIGNED {
            let [sx, sy] = inv.apply([u as f32, v as f32]);
            let acc = bilinear(w, h, &px, sx, sy);
            let o = (v * ALIGNED + u) * 3;
            for c in 0..3 {
                out[o + c] = acc[c].round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_recovers_a_known_transform() {
        let t = Similarity {
            a: 0.8,
            b: 0.3,
            tx: 5.0,
            ty: -7.0,
        };
        let src: Vec<[f32; 2]> = TEMPLATE
            .iter()
            .map(|p| [p[0] * 2.0 + 10.0, p[1] * 1.5 + 3.0])
            .collect();
        let dst: Vec<[f32; 2]> = src.iter().map(|p| t.apply(*p)).collect();
        let f = Similarity::fit(&src, &dst).expect("non-degenerate");
        assert!((f.a - t.a).abs() < 1e-4 && (f.b - t.b).abs() < 1e-4);
        assert!((f.tx - t.tx).abs() < 1e-2 && (f.ty - t.ty).abs() < 1e-2);
        let inv = f.inverse().expect("invertible");
        let p = inv.apply(f.apply([3.0, 4.0]));
        assert!((p[0] - 3.0).abs() < 1e-3 && (p[1] - 4.0).abs() < 1e-3);
    }

    /// Landmarks of the template scaled by `k` about the origin (a face `k` times larger than the crop).
    fn scaled_template(k: f32, dx: f32, dy: f32) -> [[f32; 2]; 5] {
        TEMPLATE.map(|[x, y]| [x * k + dx, y * k + dy])
    }

    #[test]
    fn a_large_face_is_area_averaged_not_aliased() {
        // One-pixel vertical stripes, black and white: shrunk 4x they must average to mid-grey; point
        // sampling would turn them into a pattern that depends on where the landmarks fall.
        let (w, h) = (600u32, 600u32);
        let rgb: Vec<u8> = (0..w * h)
            .flat_map(|i| [if i % 2 == 0 { 0u8 } else { 255 }; 3])
            .collect();
        let img = FaceImage::from_rgb8(w, h, rgb).expect("valid");
        for dx in [40.0, 40.3, 40.5, 41.7] {
            let crop = align(&img, &scaled_template(4.0, dx, 50.0)).expect("aligned");
            let (lo, hi) = crop
                .iter()
                .fold((255u8, 0u8), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
            assert!(lo >= 120 && hi <= 135, "offset {dx}: values {lo}..{hi}");
        }
    }

    #[test]
    fn the_crop_barely_depends_on_the_photo_resolution() {
        // Coarse structure plus fine texture (period ~3 px, like hair or skin in a large photo), and the
        // same picture at half resolution (2x2 box average): both must give nearly the same crop.
        let (w, h) = (640usize, 640usize);
        let f = |x: f32, y: f32| {
            127.5
                + 40.0 * (x * 0.21).sin() * (y * 0.17).cos()
                + 30.0 * ((x + 2.0 * y) * 0.05).sin()
                + 45.0 * (x * 2.1 + y * 1.3).sin()
        };
        let full: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let v = f((i % w) as f32, (i / w) as f32).round() as u8;
                [v, v / 2, 255 - v]
            })
            .collect();
        let mut half = vec![0u8; (w / 2) * (h / 2) * 3];
        for y in 0..h / 2 {
            for x in 0..w / 2 {
                for c in 0..3 {
                    let s: u32 = [(0, 0), (1, 0), (0, 1), (1, 1)]
                        .iter()
                        .map(|(a, b)| u32::from(full[((2 * y + b) * w + 2 * x + a) * 3 + c]))
                        .sum();
                    half[(y * (w / 2) + x) * 3 + c] = ((s + 2) / 4) as u8;
                }
            }
        }
        let full = FaceImage::from_rgb8(w as u32, h as u32, full).expect("valid");
        let half = FaceImage::from_rgb8((w / 2) as u32, (h / 2) as u32, half).expect("valid");
        let lm = scaled_template(4.0, 60.0, 70.0);
        // Same points at half resolution (pixel centres: x' = (x + 0.5) / 2 - 0.5).
        let lm_half = lm.map(|[x, y]| [f32::midpoint(x, 0.5) - 0.5, f32::midpoint(y, 0.5) - 0.5]);
        let a = align(&full, &lm).expect("aligned");
        let b = align(&half, &lm_half).expect("aligned");
        let mean = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (f32::from(*x) - f32::from(*y)).abs())
            .sum::<f32>()
            / a.len() as f32;
        assert!(mean < 2.0, "mean difference {mean}");
    }

    #[test]
    fn degenerate_landmarks_are_refused() {
        assert!(Similarity::fit(&[[1.0, 1.0]; 5], &TEMPLATE).is_none());
        assert!(Similarity::fit(&[[f32::NAN, 1.0]; 5], &TEMPLATE).is_none());
    }
}

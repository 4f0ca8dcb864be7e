//! Face detection with MTCNN (P-Net proposals over an image pyramid, R-Net refinement, O-Net boxes and
//! five landmarks), following the reference implementation shipped with the models (ipazc/mtcnn port).
//!
//! The Keras-exported networks index their spatial axes as `[x][y]` (width first): inputs are written in
//! that order and outputs read back in it. Boxes and landmarks are returned in pixel coordinates of the
//! image passed in.

use serde::{Deserialize, Serialize};
use tract_nnef::prelude::*;

use super::input::FaceImage;
use super::plan::PlanCache;
use super::resample::{Integral, Layout, shrink};
use crate::{Error, Result};

/// A detected face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Box as `[x1, y1, x2, y2]` in pixels.
    pub bbox: [f32; 4],
    /// O-Net face probability, 0..1.
    pub score: f32,
    /// Landmarks `[x, y]`: left eye, right eye, nose, left mouth corner, right mouth corner (as seen in
    /// the image: "left" is the one with the smaller x).
    pub landmarks: [[f32; 2]; 5],
}

impl Detection {
    /// Width of the box.
    pub fn width(&self) -> f32 {
        self.bbox[2] - self.bbox[0]
    }

    /// Height of the box.
    pub fn height(&self) -> f32 {
        self.bbox[3] - self.bbox[1]
    }
}

/// Detection parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DetectorConfig {
    /// Smallest face searched for, in pixels of the detection image (the input shrunk to `max_side`).
    /// Larger is faster: the pyramid starts at 12 / min_face_size.
    pub min_face_size: f32,
    /// Pyramid scale step (reference: 0.709).
    pub scale_factor: f32,
    /// Score thresholds of P-Net, R-Net, O-Net (reference: 0.6, 0.7, 0.7).
    pub thresholds: [f32; 3],
    /// Longer side of the image detection runs on; larger inputs are shrunk first (landmarks are mapped
    /// back to the full image for alignment).
    pub max_side: u32,
    /// Check-in and enrollment ([`crate::face::FaceEngine::sample`]) first search only for faces at least
    /// this fraction of the detection image's shorter side (1/6: 80 px on a 640x480 selfie, whose face is
    /// typically 150-300 px), which shortens the pyramid to its cheap end. They search again down to
    /// `min_face_size` when nothing is found, or when a second face that would count for the one-face policy
    /// (`QualityConfig::second_face_ratio` of the largest face) could be smaller than the first search's
    /// minimum; so the policy and the "too small" diagnosis are unchanged. 0 disables the first search.
    /// Detection and 1:N identification always use `min_face_size`.
    #[serde(default = "default_checkin_min_face")]
    pub checkin_min_face: f32,
}

fn default_checkin_min_face() -> f32 {
    1.0 / 6.0
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            min_face_size: 40.0,
            scale_factor: 0.709,
            thresholds: [0.6, 0.7, 0.7],
            max_side: 1024,
            checkin_min_face: default_checkin_min_face(),
        }
    }
}

/// The three MTCNN networks with their plan caches.
#[derive(Debug)]
pub struct Mtcnn {
    pub(crate) pnet: PlanCache,
    pub(crate) rnet: PlanCache,
    pub(crate) onet: PlanCache,
}

#[derive(Debug, Clone, Copy)]
struct Cand {
    b: [f32; 4],
    score: f32,
    reg: [f32; 4],
}

fn iou(a: &[f32; 4], b: &[f32; 4], min_mode: bool) -> f32 {
    let area = |r: &[f32; 4]| (r[2] - r[0] + 1.0).max(0.0) * (r[3] - r[1] + 1.0).max(0.0);
    let w = (a[2].min(b[2]) - a[0].max(b[0]) + 1.0).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1]) + 1.0).max(0.0);
    let inter = w * h;
    let denom = if min_mode {
        area(a).min(area(b))
    } else {
        area(a) + area(b) - inter
    };
    if denom <= 0.0 { 0.0 } else { inter / denom }
}

/// Greedy non-maximum suppression: indices kept, best score first.
pub fn nms(boxes: &[[f32; 4]], scores: &[f32], threshold: f32, min_mode: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut keep = Vec::new();
    let mut suppressed = vec![false; boxes.len()];
    for (k, &i) in order.iter().enumerate() {
        if suppressed[i] {
            continue;
        }
        keep.push(i);
        for &j in &order[k + 1..] {
            if !suppressed[j] && iou(&boxes[i], &boxes[j], min_mode) > threshold {
                suppressed[j] = true;
            }
        }
    }
    keep
}

fn nms_cands(c: &[Cand], threshold: f32, min_mode: bool) -> Vec<Cand> {
    let boxes: Vec<[f32; 4]> = c.iter().map(|c| c.b).collect();
    let scores: Vec<f32> = c.iter().map(|c| c.score).collect();
    nms(&boxes, &scores, threshold, min_mode)
        .into_iter()
        .map(|i| c[i])
        .collect()
}

fn regress(b: [f32; 4], r: [f32; 4]) -> [f32; 4] {
    let w = b[2] - b[0];
    let h = b[3] - b[1];
    [
        b[0] + r[0] * w,
        b[1] + r[1] * h,
        b[2] + r[2] * w,
        b[3] + r[3] * h,
    ]
}

fn square(b: [f32; 4]) -> [f32; 4] {
    let w = b[2] - b[0];
    let h = b[3] - b[1];
    let l = w.max(h);
    let x = b[0] + w * 0.5 - l * 0.5;
    let y = b[1] + h * 0.5 - l * 0.5;
    [x.trunc(), y.trunc(), (x + l).trunc(), (y + l).trunc()]
}

fn view<'a>(t: &'a TValue, name: &str) -> Result<tract_ndarray::ArrayViewD<'a, f32>> {
    t.to_plain_array_view::<f32>()
        .map_err(|e| Error::Inference(format!("{name} output: {e}")))
}

impl Mtcnn {
    /// The pyramid scales for an image of this size.
    pub fn scales(cfg: &DetectorConfig, width: u32, height: u32) -> Vec<f32> {
        let m = 12.0 / cfg.min_face_size.max(12.0);
        let mut min_layer = width.min(height) as f32 * m;
        let mut scales = Vec::new();
        let mut s = m;
        while min_layer >= 12.0 && scales.len() < 32 {
            scales.push(s);
            s *= cfg.scale_factor;
            min_layer *= cfg.scale_factor;
        }
        scales
    }

    /// Detects faces; coordinates refer to `img`.
    pub fn detect(&self, cfg: &DetectorConfig, img: &FaceImage) -> Result<Vec<Detection>> {
        let shrunk = shrink(img, cfg.max_side.max(64));
        let (work, factor) = match &shrunk {
            Some((small, f)) => (small, *f),
            None => (img, 1.0),
        };
        let mut dets = self.detect_on(cfg, work)?;
        if shrunk.is_some() {
            for d in &mut dets {
                d.bbox.iter_mut().for_each(|v| *v *= factor);
                d.landmarks.iter_mut().flatten().for_each(|v| *v *= factor);
            }
        }
        Ok(dets)
    }

    fn detect_on(&self, cfg: &DetectorConfig, img: &FaceImage) -> Result<Vec<Detection>> {
        let src = Integral::new(img);
        let mut all = Vec::new();
        for scale in Self::scales(cfg, img.width(), img.height()) {
            all.extend(self.pnet_level(cfg, &src, scale)?);
        }
        self.refine(cfg, &src, &all)
    }

    /// Detection for the one-face check-in policy (see [`DetectorConfig::checkin_min_face`]):
    /// `second_face_ratio` is the fraction of the largest face's width from which another face counts.
    /// The first search runs the small-scale end of the `min_face_size` pyramid; a second search adds
    /// the levels needed, so every level run is one the full pyramid would run too.
    pub fn detect_checkin(
        &self,
        cfg: &DetectorConfig,
        img: &FaceImage,
        second_face_ratio: f32,
    ) -> Result<Vec<Detection>> {
        let shrunk = shrink(img, cfg.max_side.max(64));
        let (work, factor) = match &shrunk {
            Some((small, f)) => (small, *f),
            None => (img, 1.0),
        };
        let scales = Self::scales(cfg, work.width(), work.height());
        let src = Integral::new(work);
        // Index of the first level whose 12-pixel cell covers faces of at least `face` pixels.
        let level_for = |face: f32| {
            let s = 12.0 / face.max(cfg.min_face_size);
            scales
                .iter()
                .position(|v| *v <= s * 1.0001)
                .unwrap_or(scales.len())
        };
        let first = cfg.checkin_min_face * work.width().min(work.height()) as f32;
        let split = level_for(first);
        let mut levels: Vec<Option<Vec<Cand>>> = vec![None; scales.len()];
        for (i, s) in scales.iter().enumerate().skip(split) {
            levels[i] = Some(self.pnet_level(cfg, &src, *s)?);
        }
        let mut dets = if split < scales.len() {
            self.refine(
                cfg,
                &src,
                &levels
                    .iter()
                    .flatten()
                    .flatten()
                    .copied()
                    .collect::<Vec<_>>(),
            )?
        } else {
            Vec::new()
        };
        let widest = dets.iter().map(Detection::width).fold(0.0, f32::max);
        let from = if dets.is_empty() {
            0
        } else {
            level_for(second_face_ratio * widest)
        };
        if from < split {
            for (i, s) in scales.iter().enumerate().take(split).skip(from) {
                levels[i] = Some(self.pnet_level(cfg, &src, *s)?);
            }
            let all: Vec<Cand> = levels.iter().flatten().flatten().copied().collect();
            dets = self.refine(cfg, &src, &all)?;
        }
        if shrunk.is_some() {
            for d in &mut dets {
                d.bbox.iter_mut().for_each(|v| *v *= factor);
                d.landmarks.iter_mut().flatten().for_each(|v| *v *= factor);
            }
        }
        Ok(dets)
    }

    /// Follows a face from the previous frame of a video: O-Net alone on the previous box (grown by 15%
    /// if the face has left it), then once more on its own box, skipping the pyramid and R-Net. `None`
    /// when O-Net no longer sees a face there (the caller then runs a full detection). Coordinates refer
    /// to `img`. Cost: two or three O-Net runs of one crop instead of a whole detection.
    pub fn track(
        &self,
        cfg: &DetectorConfig,
        img: &FaceImage,
        previous: &Detection,
    ) -> Result<Option<Detection>> {
        let b = previous.bbox;
        if !(b.iter().all(|v| v.is_finite()) && b[2] - b[0] >= 12.0 && b[3] - b[1] >= 12.0) {
            return Ok(None);
        }
        let grow = |b: [f32; 4], f: f32| {
            let (cx, cy) = (f32::midpoint(b[0], b[2]), f32::midpoint(b[1], b[3]));
            let (hw, hh) = ((b[2] - b[0]) * f / 2.0, (b[3] - b[1]) * f / 2.0);
            [cx - hw, cy - hh, cx + hw, cy + hh]
        };
        // Every crop below lies within twice the previous box (a square of the grown box, then of
        // O-Net's answer next to it).
        let src = Integral::around(img, grow(square(b), 2.0));
        let one = |b: [f32; 4]| -> Result<Option<Detection>> {
            let cand = Cand {
                b: square(b),
                score: previous.score,
                reg: [0.0; 4],
            };
            Ok(self.onet_stage(cfg, &src, &[cand])?.into_iter().next())
        };
        // The previous box, grown by 15% when the face has moved out of it; then O-Net once more on
        // its own answer, as the full detection does after R-Net, so that the landmarks do not depend
        // on where the previous frame's box happened to be.
        let first = match one(b)? {
            Some(d) => d,
            None => match one(grow(b, 1.15))? {
                Some(d) => d,
                None => return Ok(None),
            },
        };
        one(first.bbox)
    }

    /// Stage 1 at one pyramid scale: P-Net proposals after per-scale NMS.
    fn pnet_level(
        &self,
        cfg: &DetectorConfig,
        src: &Integral<'_>,
        scale: f32,
    ) -> Result<Vec<Cand>> {
        let img = src.image();
        let (w, h) = (img.width() as f32, img.height() as f32);
        {
            let ws = (w * scale).ceil() as usize;
            let hs = (h * scale).ceil() as usize;
            if ws < 12 || hs < 12 {
                return Ok(Vec::new());
            }
            let mut buf = vec![0f32; ws * hs * 3];
            src.crop_resize([0.0, 0.0, w, h], ws, hs, Layout::Xyc, &mut buf);
            let input = Tensor::from_shape(&[1, ws, hs, 3], &buf)
                .map_err(|e| Error::Inference(format!("{e}")))?;
            let out = self.pnet.run(&[ws as i64, hs as i64], input)?;
            let (reg, prob) = (view(&out[0], "pnet")?, view(&out[1], "pnet")?);
            let (ow, oh) = (prob.shape()[1], prob.shape()[2]);
            let mut cands = Vec::new();
            for x in 0..ow {
                for y in 0..oh {
                    let p = prob[[0, x, y, 1]];
                    if p >= cfg.thresholds[0] {
                        let b = [
                            ((2 * x + 1) as f32 / scale).trunc(),
                            ((2 * y + 1) as f32 / scale).trunc(),
                            ((2 * x + 12) as f32 / scale).trunc(),
                            ((2 * y + 12) as f32 / scale).trunc(),
                        ];
                        let r = [
                            reg[[0, x, y, 0]],
                            reg[[0, x, y, 1]],
                            reg[[0, x, y, 2]],
                            reg[[0, x, y, 3]],
                        ];
                        cands.push(Cand {
                            b,
                            score: p,
                            reg: r,
                        });
                    }
                }
            }
            Ok(nms_cands(&cands, 0.5, false))
        }
    }

    /// Stages 2 and 3 on the P-Net proposals of all scales.
    fn refine(
        &self,
        cfg: &DetectorConfig,
        src: &Integral<'_>,
        all: &[Cand],
    ) -> Result<Vec<Detection>> {
        let cands: Vec<Cand> = nms_cands(all, 0.7, false)
            .into_iter()
            .map(|c| Cand {
                b: square(regress(c.b, c.reg)),
                ..c
            })
            .filter(|c| c.b[2] > c.b[0] && c.b[3] > c.b[1])
            .collect();
        if cands.is_empty() {
            return Ok(Vec::new());
        }
        // Stage 2: R-Net on 24x24 crops.
        let out = Self::run_crops(&self.rnet, src, &cands, 24)?;
        let (reg, prob) = (view(&out[0], "rnet")?, view(&out[1], "rnet")?);
        let mut refined = Vec::new();
        for (i, c) in cands.iter().enumerate() {
            let p = prob[[i, 1]];
            if p > cfg.thresholds[1] {
                refined.push(Cand {
                    b: c.b,
                    score: p,
                    reg: [reg[[i, 0]], reg[[i, 1]], reg[[i, 2]], reg[[i, 3]]],
                });
            }
        }
        let cands: Vec<Cand> = nms_cands(&refined, 0.7, false)
            .into_iter()
            .map(|c| {
                let b = square(regress(c.b, c.reg));
                Cand { b, ..c }
            })
            .filter(|c| c.b[2] > c.b[0] && c.b[3] > c.b[1])
            .collect();
        if cands.is_empty() {
            return Ok(Vec::new());
        }
        self.onet_stage(cfg, src, &cands)
    }

    /// Stage 3: O-Net on 48x48 crops of square candidates: final boxes and landmarks, largest first.
    fn onet_stage(
        &self,
        cfg: &DetectorConfig,
        src: &Integral<'_>,
        cands: &[Cand],
    ) -> Result<Vec<Detection>> {
        let out = Self::run_crops(&self.onet, src, cands, 48)?;
        let (reg, pts, prob) = (
            view(&out[0], "onet")?,
            view(&out[1], "onet")?,
            view(&out[2], "onet")?,
        );
        let mut dets = Vec::new();
        for (i, c) in cands.iter().enumerate() {
            let p = prob[[i, 1]];
            if p <= cfg.thresholds[2] {
                continue;
            }
            let (bw, bh) = (c.b[2] - c.b[0], c.b[3] - c.b[1]);
            let mut lm = [[0f32; 2]; 5];
            for (k, l) in lm.iter_mut().enumerate() {
                *l = [c.b[0] + pts[[i, k]] * bw, c.b[1] + pts[[i, k + 5]] * bh];
            }
            let b = regress(c.b, [reg[[i, 0]], reg[[i, 1]], reg[[i, 2]], reg[[i, 3]]]);
            dets.push(Detection {
                bbox: b,
                score: p,
                landmarks: lm,
            });
        }
        let boxes: Vec<[f32; 4]> = dets.iter().map(|d| d.bbox).collect();
        let scores: Vec<f32> = dets.iter().map(|d| d.score).collect();
        let keep = nms(&boxes, &scores, 0.7, true);
        let mut out: Vec<Detection> = keep.into_iter().map(|i| dets[i].clone()).collect();
        // Largest face first: that is the one a check-in is about.
        out.sort_by(|a, b| (b.width() * b.height()).total_cmp(&(a.width() * a.height())));
        Ok(out)
    }

    /// Crops every candidate to `size` x `size` and runs `net` on the batch.
    fn run_crops(
        net: &PlanCache,
        src: &Integral<'_>,
        cands: &[Cand],
        size: usize,
    ) -> Result<TVec<TValue>> {
        // Pad the batch to a power of two so that a handful of concrete plans serve every count.
        let n = cands.len().next_power_of_two();
        let per = size * size * 3;
        let mut buf = vec![0f32; n * per];
        for (c, chunk) in cands.iter().zip(buf.chunks_exact_mut(per)) {
            let r = [c.b[0], c.b[1], c.b[2] - c.b[0], c.b[3] - c.b[1]];
            src.crop_resize(r, size, size, Layout::Xyc, chunk);
        }
        let input = Tensor::from_shape(&[n, size, size, 3], &buf)
            .map_err(|e| Error::Inference(format!("{e}")))?;
        net.run(&[n as i64], input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes() {
        let boxes = [
            [0.0, 0.0, 10.0, 10.0],
            [1.0, 1.0, 11.0, 11.0],
            [50.0, 50.0, 60.0, 60.0],
        ];
        let keep = nms(&boxes, &[0.8, 0.9, 0.5], 0.5, false);
        assert_eq!(keep, vec![1, 2]);
    }

    #[test]
    fn pyramid_starts_at_12_over_min_face() {
        let cfg = DetectorConfig {
            min_face_size: 60.0,
            ..DetectorConfig::default()
        };
        let s = Mtcnn::scales(&cfg, 640, 480);
        assert!((s[0] - 0.2).abs() < 1e-6);
        assert!(s.iter().all(|v| 480.0 * v >= 12.0));
    }
}

//! Feature points of the face tracked in the pixels, frame to frame: the input of the liveness check's
//! flat-versus-3-D test ([`crate::liveness::planarity::track_residual`]).
//!
//! Why pixels and not a face model: a landmark network places its points as on a head whatever it is
//! shown (measured on photos tilted in front of the camera: `core/src/liveness/README.md`). Corners
//! found in the image and followed by optical flow (pyramidal Lucas-Kanade with a forward-backward
//! check, the `optical-flow-lk` crate) go where the pixels go: on a photo, all of them by one
//! homography; on a head, by the depth of what they lie on.
//!
//! Points are chosen (Shi-Tomasi corners) inside the inner face (the convex hull of face-mesh points
//! from the forehead to the chin, shrunk towards its centre, so that background and hair stay out),
//! and followed while they pass the forward-backward check; when fewer than [`MIN_ALIVE`] are left, a
//! new *generation* starts with new points.

use image::GrayImage;
use optical_flow_lk::{
    DEFAULT_MIN_EIGEN_THRESHOLD, TrackParams, TrackStatus, TrackerContext, good_features_to_track,
};

use super::input::FaceImage;
use super::mesh::Mesh;
use crate::liveness::Tracks;

/// Longest side frames are tracked at (larger ones are shrunk by area averaging first).
pub const MAX_SIDE: u32 = 640;
/// Points chosen per generation.
pub const SEEDS: usize = 96;
/// Fewest points alive before a new generation starts.
pub const MIN_ALIVE: usize = 16;
/// The σ, pixels, of `image`'s blur that [`smooth`] reproduces.
#[cfg(test)]
const SMOOTH_SIGMA: f32 = 1.5;
/// Pyramid levels (a 21-pixel window at level 3 follows motions of about 80 pixels per frame).
const LEVELS: usize = 3;
/// Forward-backward tolerance, inter-ocular distances (at least one pixel).
const FB_IODS: f32 = 0.015;
/// Largest mean photometric error of a tracked window, grey levels: beyond it the window no longer
/// looks like where it came from (occlusion, a reflection, a screen's moiré).
const MAX_ERROR: f32 = 8.0;
/// The face-mesh points whose hull is the seeding region: forehead top, forehead sides, brow ends,
/// cheeks, jaw edges, chin.
const HULL: [usize; 10] = [10, 54, 284, 70, 300, 50, 280, 132, 361, 152];
/// The hull is shrunk by this factor towards its centre.
const HULL_SHRINK: f32 = 0.9;

/// The tracking state of one liveness attempt.
pub struct FlowTracker {
    ctx: TrackerContext,
    /// Size of the frames the context holds, and the factor from tracked to original pixels.
    frame: Option<((u32, u32), f32)>,
    generation: u32,
    /// The current generation's points in the last frame, tracked-frame pixels.
    points: Vec<Option<(f32, f32)>>,
}

impl std::fmt::Debug for FlowTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowTracker")
            .field("generation", &self.generation)
            .field("alive", &self.points.iter().flatten().count())
            .finish_non_exhaustive()
    }
}

impl Clone for FlowTracker {
    /// A tracker that starts over (the optical-flow context holds pyramids, not worth copying): the next
    /// frame begins a new generation.
    fn clone(&self) -> Self {
        FlowTracker {
            generation: self.generation.wrapping_add(1),
            ..FlowTracker::new()
        }
    }
}

impl Default for FlowTracker {
    fn default() -> Self {
        FlowTracker::new()
    }
}

/// The grey image of a frame at most [`MAX_SIDE`] long, and the factor back to the frame's pixels.
fn grey(img: &FaceImage) -> (GrayImage, f32) {
    let shrunk = super::resample::shrink(img, MAX_SIDE);
    let (small, f) = shrunk.as_ref().map_or((img, 1.0), |(s, f)| (s, *f));
    let luma: Vec<u8> = small
        .rgb()
        .chunks_exact(3)
        .map(|p| {
            let v = 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]);
            v.round().clamp(0.0, 255.0) as u8
        })
        .collect();
    let (w, h) = (small.width() as usize, small.height() as usize);
    let g = GrayImage::from_raw(small.width(), small.height(), smooth(luma, w, h))
        .unwrap_or_else(|| GrayImage::new(1, 1));
    (g, f)
}

/// The smoothing before tracking, an almost-Gaussian of σ 1.5 pixels (a screen's moiré and the
/// sensor's noise are finer than the face's corners and pull Lucas-Kanade off them; measured on the
/// screen attacks of `liveness-attacks`, `core/src/liveness/README.md`): three passes of a 3-pixel box
/// each way, edges replicated, each rounded to 8 bits, which is exactly what
/// `image::imageops::fast_blur` does at this σ (Kovesi's boxes for 1.5 are all 3 wide; a test holds
/// the two equal). Written out because the generic version accumulates in `f32` and rounds every
/// pixel through `roundf`: it was 13 ms of a 29 ms tracked frame on 640x480 (measured); this is under
/// 1 ms, and the tracked points, so every threshold measured on them, are unchanged.
fn smooth(mut img: Vec<u8>, w: usize, h: usize) -> Vec<u8> {
    if w == 0 || h == 0 || img.len() != w * h {
        return img;
    }
    let third = |a: u8, b: u8, c: u8| ((u16::from(a) + u16::from(b) + u16::from(c) + 1) / 3) as u8;
    let mut tmp = vec![0u8; w * h];
    for _ in 0..3 {
        for (src, dst) in img.chunks_exact(w).zip(tmp.chunks_exact_mut(w)) {
            for (x, d) in dst.iter_mut().enumerate() {
                *d = third(src[x.saturating_sub(1)], src[x], src[(x + 1).min(w - 1)]);
            }
        }
        for y in 0..h {
            let (up, down) = (y.saturating_sub(1), (y + 1).min(h - 1));
            let (a, b, c) = (
                &tmp[up * w..(up + 1) * w],
                &tmp[y * w..(y + 1) * w],
                &tmp[down * w..(down + 1) * w],
            );
            for (((d, a), b), c) in img[y * w..(y + 1) * w].iter_mut().zip(a).zip(b).zip(c) {
                *d = third(*a, *b, *c);
            }
        }
    }
    img
}

/// The seeding region (a convex polygon, in tracked-frame pixels) from the mesh, and the inter-ocular
/// distance there.
fn region(mesh: &Mesh, f: f32) -> Option<(Vec<[f32; 2]>, f32)> {
    let pts: Vec<[f32; 2]> = HULL
        .iter()
        .map(|&i| mesh.points.get(i).map(|p| [p[0] / f, p[1] / f]))
        .collect::<Option<_>>()?;
    let n = pts.len() as f32;
    let c = [
        pts.iter().map(|p| p[0]).sum::<f32>() / n,
        pts.iter().map(|p| p[1]).sum::<f32>() / n,
    ];
    let mut poly: Vec<[f32; 2]> = pts
        .iter()
        .map(|p| {
            [
                c[0] + (p[0] - c[0]) * HULL_SHRINK,
                c[1] + (p[1] - c[1]) * HULL_SHRINK,
            ]
        })
        .collect();
    poly.sort_by(|a, b| {
        let ang = |p: &[f32; 2]| (p[1] - c[1]).atan2(p[0] - c[0]);
        ang(a).total_cmp(&ang(b))
    });
    let eye = |a: usize, b: usize| -> Option<[f32; 2]> {
        let (p, q) = (mesh.points.get(a)?, mesh.points.get(b)?);
        Some([f32::midpoint(p[0], q[0]) / f, f32::midpoint(p[1], q[1]) / f])
    };
    let (l, r) = (eye(33, 133)?, eye(263, 362)?);
    let iod = (r[0] - l[0]).hypot(r[1] - l[1]);
    (iod.is_finite() && iod > 1.0 && poly.iter().flatten().all(|v| v.is_finite()))
        .then_some((poly, iod))
}

/// Whether `p` is inside the convex polygon `poly` (vertices in angular order).
fn inside(poly: &[[f32; 2]], p: [f32; 2]) -> bool {
    let n = poly.len();
    (0..n).all(|i| {
        let (a, b) = (poly[i], poly[(i + 1) % n]);
        (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]) >= 0.0
    })
}

impl FlowTracker {
    /// A tracker with no points yet.
    pub fn new() -> FlowTracker {
        FlowTracker {
            ctx: TrackerContext::new(),
            frame: None,
            generation: 0,
            points: Vec::new(),
        }
    }

    /// Takes the next frame (with the face's mesh, when one was found) and returns the tracked points in
    /// it, in the frame's pixels; `None` when there are none (no face yet, or a face without corners).
    pub fn next(&mut self, img: &FaceImage, mesh: Option<&Mesh>) -> Option<Tracks> {
        let (g, f) = grey(img);
        let dims = g.dimensions();
        if self.frame.is_some_and(|(d, _)| d != dims) {
            // A new frame size (the camera was switched or rotated): start over.
            *self = FlowTracker {
                generation: self.generation.wrapping_add(1),
                ..FlowTracker::new()
            };
        }
        let had_frame = self.frame.is_some();
        self.ctx.advance(&g, LEVELS);
        self.frame = Some((dims, f));
        let area = mesh.and_then(|m| region(m, f));
        if had_frame && !self.points.is_empty() {
            self.follow(area.as_ref().map_or(30.0, |a| a.1));
        }
        let alive = self.points.iter().flatten().count();
        if alive < MIN_ALIVE
            && let Some((poly, iod)) = &area
        {
            self.seed(&g, poly, *iod);
        }
        if self.points.iter().flatten().count() == 0 {
            return None;
        }
        Some(Tracks {
            generation: self.generation,
            points: self
                .points
                .iter()
                .map(|p| p.map(|(x, y)| [x * f, y * f]))
                .collect(),
        })
    }

    /// Follows the current points from the previous frame into this one.
    fn follow(&mut self, iod: f32) {
        let live: Vec<(usize, (f32, f32))> = self
            .points
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.map(|p| (i, p)))
            .collect();
        if live.is_empty() {
            return;
        }
        let from: Vec<(f32, f32)> = live.iter().map(|(_, p)| *p).collect();
        let params = TrackParams {
            window_size: 21,
            max_iterations: 30,
            min_eigen_threshold: DEFAULT_MIN_EIGEN_THRESHOLD,
        };
        let results = self
            .ctx
            .track_fb(&from, None, params, (FB_IODS * iod).max(1.0));
        let mut next = vec![None; self.points.len()];
        for ((i, _), r) in live.iter().zip(results) {
            if r.status == TrackStatus::Tracked
                && r.error <= MAX_ERROR
                && r.pos.0.is_finite()
                && r.pos.1.is_finite()
            {
                next[*i] = Some(r.pos);
            }
        }
        self.points = next;
    }

    /// Starts a new generation with corners inside `poly`.
    fn seed(&mut self, g: &GrayImage, poly: &[[f32; 2]], iod: f32) {
        let (w, h) = g.dimensions();
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for p in poly {
            x0 = x0.min(p[0]);
            y0 = y0.min(p[1]);
            x1 = x1.max(p[0]);
            y1 = y1.max(p[1]);
        }
        let clamp = |v: f32, hi: u32| v.max(0.0).min(hi as f32) as u32;
        let (cx0, cy0, cx1, cy1) = (clamp(x0, w), clamp(y0, h), clamp(x1, w), clamp(y1, h));
        if cx1 <= cx0 + 8 || cy1 <= cy0 + 8 {
            return;
        }
        let crop = image::imageops::crop_imm(g, cx0, cy0, cx1 - cx0, cy1 - cy0).to_image();
        // Low-contrast corners too (quality 0.2 % of the strongest): faces in motion blur have few
        // strong ones, and the forward-backward check drops the points that do not follow.
        let spacing = (iod / 16.0).max(4.0) as u32;
        let seeds: Vec<(f32, f32)> = good_features_to_track(&crop, 0.002, spacing)
            .into_iter()
            .map(|c| (c.x as f32 + cx0 as f32, c.y as f32 + cy0 as f32))
            .filter(|&(x, y)| inside(poly, [x, y]))
            .take(SEEDS)
            .collect();
        if seeds.is_empty() {
            return;
        }
        self.generation = self.generation.wrapping_add(1);
        self.points = seeds.into_iter().map(Some).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smoothing_is_image_s_fast_blur() {
        for (w, h) in [(37usize, 23usize), (1, 5), (6, 1), (640, 3)] {
            let px: Vec<u8> = (0..w * h)
                .map(|i| ((i * 97 + i / 7 * 13) % 256) as u8)
                .collect();
            let g = GrayImage::from_raw(w as u32, h as u32, px.clone()).expect("image");
            let want = image::imageops::fast_blur(&g, SMOOTH_SIGMA).into_raw();
            assert_eq!(smooth(px, w, h), want, "{w}x{h}");
        }
    }

    #[test]
    fn inside_a_convex_polygon() {
        let sq = [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]];
        assert!(inside(&sq, [5.0, 5.0]));
        assert!(!inside(&sq, [11.0, 5.0]));
        assert!(!inside(&sq, [5.0, -1.0]));
    }
}

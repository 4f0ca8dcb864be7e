//! Head pose from the five detector landmarks, without a 3-D model fit.
//!
//! The liveness challenge only needs to know *which way* the head moved and *how far* relative to the
//! person's own neutral pose, not absolute angles. Two scale-free measures do that and are cheap:
//!
//! - **yaw**: the nose tip's offset along the eye line from the face midpoint (mean of the eye midpoint and
//!   the mouth midpoint), divided by the inter-ocular distance. A turning head swings the protruding nose
//!   sideways much more than the eyes and mouth. Positive = nose towards image +x, which in an
//!   **unmirrored** camera frame is the person's left.
//! - **pitch ratio**: where the nose tip sits between the eye line (0) and the mouth line (1), measured
//!   perpendicular to the eye line. Looking up moves the nose tip towards the eyes (the ratio falls).
//!
//! Both are measured in a frame rotated so that the eye line is horizontal, so in-plane roll does not leak
//! into them.

use serde::{Deserialize, Serialize};

/// Landmark order used everywhere in this module (the MTCNN order): left eye, right eye, nose, left mouth
/// corner, right mouth corner, "left" meaning the image's left.
pub type Landmarks = [[f32; 2]; 5];

/// Landmarks closer together than this (pixels) are treated as degenerate.
const MIN_DISTANCE_PX: f64 = 1e-3;

/// Pose measures of one frame (see the module docs for their meaning).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pose {
    /// Nose offset along the eye line from the face midpoint, in inter-ocular distances (+ = image +x).
    pub yaw: f32,
    /// Nose position between the eye line (0) and the mouth line (1).
    pub pitch_ratio: f32,
    /// Inter-ocular distance in pixels.
    pub inter_ocular_px: f32,
    /// In-plane rotation of the eye line, degrees.
    pub roll_deg: f32,
}

impl Pose {
    /// Pose of one set of landmarks; `None` when the geometry is degenerate (eyes on top of each other,
    /// mouth not below the eye line) or not finite.
    pub fn from_landmarks(l: &Landmarks) -> Option<Pose> {
        let p = |i: usize| [f64::from(l[i][0]), f64::from(l[i][1])];
        let (le, re, n, lm, rm) = (p(0), p(1), p(2), p(3), p(4));
        if l.iter().flatten().any(|v| !v.is_finite()) {
            return None;
        }
        let ex = re[0] - le[0];
        let ey = re[1] - le[1];
        let iod = ex.hypot(ey);
        if iod < MIN_DISTANCE_PX {
            return None;
        }
        // Unit vectors: along the eye line, and perpendicular to it pointing down the face.
        let ux = [ex / iod, ey / iod];
        let uy = [-ux[1], ux[0]];
        let eye_mid = [f64::midpoint(le[0], re[0]), f64::midpoint(le[1], re[1])];
        let mouth_mid = [f64::midpoint(lm[0], rm[0]), f64::midpoint(lm[1], rm[1])];
        let dot = |a: [f64; 2], b: [f64; 2]| a[0] * b[0] + a[1] * b[1];
        let sub = |a: [f64; 2], b: [f64; 2]| [a[0] - b[0], a[1] - b[1]];
        let face_mid = [
            f64::midpoint(eye_mid[0], mouth_mid[0]),
            f64::midpoint(eye_mid[1], mouth_mid[1]),
        ];
        let yaw = dot(sub(n, face_mid), ux) / iod;
        let eye_to_mouth = dot(sub(mouth_mid, eye_mid), uy);
        if eye_to_mouth < MIN_DISTANCE_PX {
            return None;
        }
        let pitch_ratio = dot(sub(n, eye_mid), uy) / eye_to_mouth;
        Some(Pose {
            yaw: yaw as f32,
            pitch_ratio: pitch_ratio as f32,
            inter_ocular_px: iod as f32,
            roll_deg: ey.atan2(ex).to_degrees() as f32,
        })
    }

    /// Change from a neutral pose: `(yaw, pitch)` with yaw positive towards image +x and pitch positive
    /// when looking up (nose moving towards the eye line).
    pub fn delta(&self, neutral: &Pose) -> (f32, f32) {
        (
            self.yaw - neutral.yaw,
            neutral.pitch_ratio - self.pitch_ratio,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frontal_face_is_centred_and_roll_free() {
        let l = [
            [100.0, 100.0],
            [160.0, 100.0],
            [130.0, 135.0],
            [108.0, 170.0],
            [152.0, 170.0],
        ];
        let p = Pose::from_landmarks(&l).unwrap();
        assert!(p.yaw.abs() < 1e-6);
        assert!((p.pitch_ratio - 0.5).abs() < 1e-6);
        assert!((p.inter_ocular_px - 60.0).abs() < 1e-4);
        // Rotating the whole face in the image plane changes roll only.
        let (c, s) = (0.4f32.cos(), 0.4f32.sin());
        let r = l.map(|[x, y]| [c * x - s * y + 7.0, s * x + c * y - 3.0]);
        let q = Pose::from_landmarks(&r).unwrap();
        assert!((q.yaw - p.yaw).abs() < 1e-4 && (q.pitch_ratio - p.pitch_ratio).abs() < 1e-4);
        assert!((q.roll_deg - 0.4f32.to_degrees()).abs() < 1e-3);
    }

    #[test]
    fn degenerate_and_non_finite_landmarks_give_none() {
        let same = [[5.0, 5.0]; 5];
        assert!(Pose::from_landmarks(&same).is_none());
        let mut l = [
            [100.0, 100.0],
            [160.0, 100.0],
            [130.0, 135.0],
            [108.0, 170.0],
            [152.0, 170.0],
        ];
        l[2][0] = f32::NAN;
        assert!(Pose::from_landmarks(&l).is_none());
        // Mouth above the eyes (upside-down or garbage landmarks).
        let flipped = [
            [100.0, 100.0],
            [160.0, 100.0],
            [130.0, 80.0],
            [108.0, 60.0],
            [152.0, 60.0],
        ];
        assert!(Pose::from_landmarks(&flipped).is_none());
    }
}

//! Quality gate: is this photo good enough to enroll or to check in with, and if not, why.
//!
//! Reasons are specific so the app can tell the person what to do (move closer, more light, look at the
//! camera, only you in the frame). A failed gate is a normal outcome, not an error.

use serde::{Deserialize, Serialize};

use super::align::ALIGNED;
use super::detect::Detection;

/// Why a photo was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityIssue {
    /// No face was found.
    NoFace,
    /// More than one face of meaningful size (check-in policy: exactly one person in the frame).
    MultipleFaces,
    /// The face is too small (too far from the camera, or a low-resolution photo).
    TooSmall,
    /// The face is cut by the image border.
    FaceCutOff,
    /// The face is blurred (motion or focus).
    Blurred,
    /// The face is too dark.
    TooDark,
    /// The face is over-exposed.
    TooBright,
    /// The head is turned or tilted too far from frontal.
    PoseNotFrontal,
}

/// Thresholds of the gate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QualityConfig {
    /// Smallest accepted distance between the eyes, in pixels of the original image.
    pub min_eye_distance: f32,
    /// A second face counts as "meaningful" when its box is at least this fraction of the main face's width.
    pub second_face_ratio: f32,
    /// Most of the box (fraction of its width/height) allowed outside the image.
    pub max_outside: f32,
    /// Smallest accepted variance of the Laplacian of the aligned grey face.
    pub min_sharpness: f32,
    /// Accepted range of the mean grey level of the aligned face's centre.
    pub brightness: [f32; 2],
    /// Largest accepted |yaw| estimate (nose offset from the eye midline / eye distance).
    pub max_yaw: f32,
    /// Largest accepted roll (eye line angle), degrees.
    pub max_roll_deg: f32,
}

impl Default for QualityConfig {
    fn default() -> Self {
        QualityConfig {
            min_eye_distance: 24.0,
            second_face_ratio: 0.4,
            max_outside: 0.1,
            min_sharpness: 15.0,
            brightness: [40.0, 220.0],
            max_yaw: 0.35,
            max_roll_deg: 30.0,
        }
    }
}

/// The gate's verdict and the measurements behind it (no biometric data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityReport {
    /// True when no issue was found.
    pub passed: bool,
    /// Every issue found (empty when passed).
    pub issues: Vec<QualityIssue>,
    /// Faces detected (any size).
    pub faces_detected: usize,
    /// Distance between the eyes of the main face, pixels.
    pub eye_distance: f32,
    /// Variance of the Laplacian of the aligned face.
    pub sharpness: f32,
    /// Mean grey level of the aligned face's centre, 0..255.
    pub brightness: f32,
    /// Yaw estimate (0 = frontal).
    pub yaw: f32,
    /// Roll, degrees.
    pub roll_deg: f32,
}

impl QualityReport {
    /// A report for a photo with an issue found before any face measurement (no face).
    pub fn failed(issue: QualityIssue, faces_detected: usize) -> QualityReport {
        QualityReport {
            passed: false,
            issues: vec![issue],
            faces_detected,
            eye_distance: 0.0,
            sharpness: 0.0,
            brightness: 0.0,
            yaw: 0.0,
            roll_deg: 0.0,
        }
    }
}

/// Number of faces whose size makes them count for the one-face policy (the main face included).
pub fn meaningful_faces(cfg: &QualityConfig, dets: &[Detection]) -> usize {
    let main = dets.iter().map(Detection::width).fold(0.0, f32::max);
    dets.iter()
        .filter(|d| d.width() >= cfg.second_face_ratio * main)
        .count()
}

/// Judges one face (`det`, with its aligned crop) of an image `width` x `height`; `others` is the number
/// of other meaningful faces (0 when the one-face policy does not apply).
pub fn assess(
    cfg: &QualityConfig,
    det: &Detection,
    aligned: &[u8],
    image_size: (u32, u32),
    faces_detected: usize,
    others: usize,
) -> QualityReport {
    let mut issues = Vec::new();
    if others > 0 {
        issues.push(QualityIssue::MultipleFaces);
    }
    let [le, re, nose, lm, rm] = det.landmarks;
    let eye_distance = ((re[0] - le[0]).powi(2) + (re[1] - le[1]).powi(2)).sqrt();
    if eye_distance < cfg.min_eye_distance {
        issues.push(QualityIssue::TooSmall);
    }
    let (w, h) = (image_size.0 as f32, image_size.1 as f32);
    let [x1, y1, x2, y2] = det.bbox;
    let (bw, bh) = (det.width().max(1.0), det.height().max(1.0));
    let outside_x = ((-x1).max(0.0) + (x2 - w).max(0.0)) / bw;
    let outside_y = ((-y1).max(0.0) + (y2 - h).max(0.0)) / bh;
    if outside_x > cfg.max_outside || outside_y > cfg.max_outside {
        issues.push(QualityIssue::FaceCutOff);
    }
    // Pose from landmarks: roll from the eye line, yaw from the nose's offset from the eye/mouth midline.
    let roll_deg = (re[1] - le[1]).atan2(re[0] - le[0]).to_degrees();
    let mid_x = (le[0] + re[0] + lm[0] + rm[0]) / 4.0;
    let mid_y = (le[1] + re[1] + lm[1] + rm[1]) / 4.0;
    let (c, s) = (roll_deg.to_radians().cos(), roll_deg.to_radians().sin());
    let along = (nose[0] - mid_x) * c + (nose[1] - mid_y) * s;
    let yaw = if eye_distance > 0.0 {
        along / eye_distance
    } else {
        0.0
    };
    if yaw.abs() > cfg.max_yaw || roll_deg.abs() > cfg.max_roll_deg {
        issues.push(QualityIssue::PoseNotFrontal);
    }
    let (sharpness, brightness) = sharpness_and_brightness(aligned);
    if sharpness < cfg.min_sharpness {
        issues.push(QualityIssue::Blurred);
    }
    if brightness < cfg.brightness[0] {
        issues.push(QualityIssue::TooDark);
    } else if brightness > cfg.brightness[1] {
        issues.push(QualityIssue::TooBright);
    }
    QualityReport {
        passed: issues.is_empty(),
        issues,
        faces_detected,
        eye_distance,
        sharpness,
        brightness,
        yaw,
        roll_deg,
    }
}

/// Variance of the 4-neighbour Laplacian and mean grey level over the central part of the aligned face
/// (eyes to mouth, away from background and padding).
fn sharpness_and_brightness(aligned: &[u8]) -> (f32, f32) {
    let grey = |x: usize, y: usize| {
        let o = (y * ALIGNED + x) * 3;
        if o + 2 >= aligned.len() {
            return 0.0;
        }
        0.299 * f32::from(aligned[o])
            + 0.587 * f32::from(aligned[o + 1])
            + 0.114 * f32::from(aligned[o + 2])
    };
    let (mut sum, mut sum2, mut bright, mut n) = (0f64, 0f64, 0f64, 0f64);
    for y in 32..100 {
        for x in 24..88 {
            let g = grey(x, y);
            let lap = grey(x - 1, y) + grey(x + 1, y) + grey(x, y - 1) + grey(x, y + 1) - 4.0 * g;
            sum += f64::from(lap);
            sum2 += f64::from(lap) * f64::from(lap);
            bright += f64::from(g);
            n += 1.0;
        }
    }
    let mean = sum / n;
    ((sum2 / n - mean * mean) as f32, (bright / n) as f32)
}

//! The check's input: what the face engine saw in each frame, and the passive model's score. Values an
//! engine cannot produce (non-finite coordinates, empty or all-zero embeddings) are refused here, before
//! anything is decided from them.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// What the face engine saw in one camera frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameObservation {
    /// Monotonic capture time, ms since boot (same clock as [`super::Challenge::issued_at_ms`]).
    pub t_ms: i64,
    /// Faces detected in the frame (after the engine's own score filtering).
    pub faces: u32,
    /// The face's five landmarks in pixels: left eye, right eye, nose, left mouth, right mouth.
    pub landmarks: Option<[[f32; 2]; 5]>,
    /// The face's box `[x1, y1, x2, y2]` in pixels.
    pub face_box: Option<[f32; 4]>,
    /// L2-normalised embedding, on the frames the engine chose to embed.
    pub embedding: Option<Vec<f32>>,
    /// Sharpness of the face crop (the face engine's measure; higher is sharper).
    pub sharpness: Option<f32>,
    /// The face mesh's points listed in [`super::pose::POSE_POINTS`], image pixels: what the head pose
    /// in degrees is fitted to ([`super::Pose::from_mesh`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesh: Option<Vec<[f32; 2]>>,
    /// Feature points tracked in the pixels from frame to frame (optical flow): what the flat-versus-3-D
    /// test reads ([`super::planarity::track_residual`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracks: Option<Tracks>,
}

/// Feature points of the face tracked in the pixels, frame to frame. Points are chosen (corners inside
/// the face) at the first frame of a *generation* and followed while they stay consistent; when too many
/// are lost, a new generation starts with new points. Two frames can be compared point by point only
/// within one generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tracks {
    /// Which set of points these are.
    pub generation: u32,
    /// The generation's points in this frame, image pixels; `None` once a point is lost.
    pub points: Vec<Option<[f32; 2]>>,
}

/// Most tracked points a frame may carry.
pub const MAX_TRACKS: usize = 256;

impl FrameObservation {
    /// Refuses non-finite landmarks, boxes, embeddings or sharpness, and empty or all-zero embeddings.
    pub fn validate(&self) -> Result<()> {
        if self
            .landmarks
            .is_some_and(|l| l.iter().flatten().any(|v| !v.is_finite()))
        {
            return Err(Error::invalid("frames.landmarks", "not finite"));
        }
        if self
            .face_box
            .is_some_and(|b| b.iter().any(|v| !v.is_finite()))
        {
            return Err(Error::invalid("frames.face_box", "not finite"));
        }
        if let Some(e) = &self.embedding {
            validate_embedding(e)?;
        }
        if self.sharpness.is_some_and(|s| !s.is_finite()) {
            return Err(Error::invalid("frames.sharpness", "not finite"));
        }
        if let Some(m) = &self.mesh
            && (m.len() != super::pose::POSE_POINTS.len()
                || m.iter().flatten().any(|v| !v.is_finite()))
        {
            return Err(Error::invalid(
                "frames.mesh",
                "wrong number of points or not finite",
            ));
        }
        if let Some(t) = &self.tracks
            && (t.points.len() > MAX_TRACKS
                || t.points.iter().flatten().flatten().any(|v| !v.is_finite()))
        {
            return Err(Error::invalid(
                "frames.tracks",
                "too many points or not finite",
            ));
        }
        Ok(())
    }
}

/// Refuses an empty, non-finite or all-zero embedding.
pub(super) fn validate_embedding(e: &[f32]) -> Result<()> {
    if e.is_empty() || e.iter().any(|v| !v.is_finite()) {
        return Err(Error::invalid("frames.embedding", "empty or not finite"));
    }
    if e.iter().all(|v| *v == 0.0) {
        return Err(Error::invalid("frames.embedding", "all zero"));
    }
    Ok(())
}

/// Passive anti-spoof input for one attempt (from the anti-spoof model on the aligned face crop).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PassiveObservation {
    /// The model's score, higher = more likely a spoof.
    pub score: f32,
    /// The package's own sharpness measure on the same crop: pixels whose Laplacian exceeds its
    /// threshold (the package calls fewer than 50 "too blurry"), when computed.
    #[serde(default)]
    pub sharp_pixels: Option<u32>,
}

impl PassiveObservation {
    /// Refuses a non-finite score.
    pub fn validate(&self) -> Result<()> {
        if !self.score.is_finite() {
            return Err(Error::invalid("passive.score", "not finite"));
        }
        Ok(())
    }
}

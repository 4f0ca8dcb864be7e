//! The policy of the liveness decision: every threshold and switch in one place, with its default and
//! where that default comes from (see `README.md` beside this file for the measurements).

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Thresholds and switches of the decision. Defaults are documented with where they come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LivenessPolicy {
    /// Frames come from a mirrored (selfie-preview) image: swaps left and right. Default false: frames as
    /// the sensor delivers them.
    pub mirrored: bool,
    /// Fewest frames in the attempt (default 8: 0.8 s at 10 fps).
    pub min_frames: usize,
    /// Frames averaged (median) for the neutral pose (default 3).
    pub baseline_frames: usize,
    /// Largest gap between consecutive frames, ms (default 1000).
    pub max_frame_gap_ms: i64,
    /// Frames with no face that are tolerated (skipped) (default 6).
    pub max_frames_without_face: usize,
    /// Smallest inter-ocular distance in pixels (default 30): below it landmark noise swamps the geometry.
    pub min_inter_ocular_px: f32,
    /// Yaw change from neutral that counts as a turn, degrees (default 6; see `README.md` beside this
    /// file for the measurements behind every angle).
    pub yaw_threshold_deg: f32,
    /// Pitch change from neutral that counts as a nod, degrees (default 8; no real nod was measured).
    pub pitch_threshold_deg: f32,
    /// A turn is back at neutral when its yaw change is below this, degrees (default 3; the pitch is
    /// not looked at: a turn with a chin lift still comes back).
    pub yaw_return_deg: f32,
    /// A nod is back at neutral when its pitch change is below this, degrees (default 4).
    pub pitch_return_deg: f32,
    /// A movement other than the one asked for ends the attempt when it is this many times its own
    /// threshold (default 1.5): a deliberate movement in the wrong direction, not the pitch wobble of a
    /// turn or an expression. On the asked-for axis the other direction counts from 1 (turning right
    /// when asked to turn left is always wrong).
    pub deliberate_factor: f32,
    /// Smallest parallax of the tracked feature points accepted for every step, inter-ocular distances
    /// (default 0.015): the 75th percentile of their distances from the best plane-to-plane map between
    /// two frames of the step (`planarity::track_residual`).
    pub min_parallax: f32,
    /// Fewest tracked points a parallax is computed from (default 12).
    pub min_parallax_points: usize,
    /// Smallest nose parallax of the five detector landmarks accepted for every step, inter-ocular
    /// distances (default 0.03; `None`: recorded only). The tracked points tell a flat picture from a
    /// head, but a picture bent around a cylinder has depth too; its nose, though, stays on the curve
    /// of the eyes and mouth. On the real videos the completed steps show 0.046 and more.
    pub min_nose_residual: Option<f32>,
    /// Below this total landmark motion (inter-ocular distances) the sequence is static (default 0.01).
    pub static_epsilon: f32,
    /// Fewest embeddings needed for the same-person check (default 2).
    pub min_embeddings: usize,
    /// Smallest pairwise cosine similarity between embeddings (default 0.5: the reference pipeline's
    /// lowest same-person similarity across different photos is 0.64, the highest different-person 0.23).
    pub min_embedding_similarity: f32,
    /// Reject when the passive anti-spoof score (higher = more likely a spoof; the package that ships
    /// the model uses 0.2) is above this. Default `None`: recorded only, because 5 of the 23 genuine
    /// photos of `../shared/faces` score above 0.2 and no spoof data was available.
    pub passive_reject_above: Option<f32>,
    /// Reject when the median sharpness is below this. Default `None`: recorded only.
    pub min_sharpness: Option<f32>,
}

impl Default for LivenessPolicy {
    fn default() -> Self {
        LivenessPolicy {
            mirrored: false,
            min_frames: 8,
            baseline_frames: 3,
            max_frame_gap_ms: 1_000,
            max_frames_without_face: 6,
            min_inter_ocular_px: 30.0,
            yaw_threshold_deg: 6.0,
            pitch_threshold_deg: 8.0,
            yaw_return_deg: 3.0,
            pitch_return_deg: 4.0,
            deliberate_factor: 1.5,
            min_parallax: 0.015,
            min_parallax_points: 12,
            min_nose_residual: Some(0.03),
            static_epsilon: 0.01,
            min_embeddings: 2,
            min_embedding_similarity: 0.5,
            passive_reject_above: None,
            min_sharpness: None,
        }
    }
}

impl LivenessPolicy {
    /// Checks that the thresholds are usable (finite, positive where they must be, return thresholds
    /// below movement thresholds).
    pub fn validate(&self) -> Result<()> {
        let pos = [
            self.min_inter_ocular_px,
            self.yaw_threshold_deg,
            self.pitch_threshold_deg,
            self.yaw_return_deg,
            self.pitch_return_deg,
        ];
        if pos.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(Error::invalid(
                "liveness_policy",
                "thresholds must be finite and positive",
            ));
        }
        if self.yaw_return_deg >= self.yaw_threshold_deg
            || self.pitch_return_deg >= self.pitch_threshold_deg
            || self.yaw_threshold_deg >= 90.0
            || self.pitch_threshold_deg >= 90.0
        {
            return Err(Error::invalid(
                "liveness_policy",
                "return thresholds must be below movement thresholds, and those below 90 degrees",
            ));
        }
        if !(self.deliberate_factor.is_finite() && self.deliberate_factor >= 1.0) {
            return Err(Error::invalid(
                "liveness_policy",
                "deliberate_factor must be at least 1",
            ));
        }
        let others = [
            Some(self.min_parallax),
            self.min_nose_residual,
            Some(self.static_epsilon),
            Some(self.min_embedding_similarity),
            self.passive_reject_above,
            self.min_sharpness,
        ];
        if others.iter().flatten().any(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "liveness_policy",
                "thresholds must be finite",
            ));
        }
        if self.baseline_frames == 0 || self.max_frame_gap_ms <= 0 {
            return Err(Error::invalid(
                "liveness_policy",
                "baseline_frames and max_frame_gap_ms must be positive",
            ));
        }
        Ok(())
    }
}

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
    /// Yaw change (inter-ocular distances) that counts as a turn (default 0.20, ~16° on the mean face).
    pub yaw_threshold: f32,
    /// Pitch-ratio change that counts as a nod (default 0.18, ~16° on the mean face).
    pub pitch_threshold: f32,
    /// Back to neutral: yaw change below this (default 0.08).
    pub yaw_return: f32,
    /// Back to neutral: pitch-ratio change below this (default 0.07).
    pub pitch_return: f32,
    /// Smallest nose parallax (inter-ocular distances) accepted for every step (default 0.12).
    pub min_nose_residual: f32,
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
            yaw_threshold: 0.20,
            pitch_threshold: 0.18,
            yaw_return: 0.08,
            pitch_return: 0.07,
            min_nose_residual: 0.12,
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
            self.yaw_threshold,
            self.pitch_threshold,
            self.yaw_return,
            self.pitch_return,
        ];
        if pos.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(Error::invalid(
                "liveness_policy",
                "thresholds must be finite and positive",
            ));
        }
        if self.yaw_return >= self.yaw_threshold || self.pitch_return >= self.pitch_threshold {
            return Err(Error::invalid(
                "liveness_policy",
                "return thresholds must be below movement thresholds",
            ));
        }
        let others = [
            Some(self.min_nose_residual),
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

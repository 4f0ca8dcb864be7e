//! The outcome of a check ([`LivenessVerdict`]) and the evidence behind it: per step, planarity,
//! consistency and the passive model. These structures are also the typed `details` of the record's
//! [`super::LivenessEvidence`], so they read records of other versions: unknown fields are ignored and
//! missing ones take their defaults.

use serde::{Deserialize, Serialize};

use super::{Challenge, LivenessReason, Movement};

/// Evidence for one requested movement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepEvidence {
    /// The movement requested.
    pub movement: Movement,
    /// Whether it was completed (left neutral in the right direction and came back).
    #[serde(default)]
    pub completed: bool,
    /// Index of the last neutral frame before the movement (one of the nose-parallax references).
    #[serde(default)]
    pub neutral_frame: Option<usize>,
    /// Index of the frame where the movement peaked.
    #[serde(default)]
    pub peak_frame: Option<usize>,
    /// Yaw change from neutral at the peak, degrees (+ = the person's left); for a step not completed,
    /// at its strongest frame so far. Records of versions before the face mesh carried `peak_yaw` in
    /// inter-ocular distances instead; it is not read.
    #[serde(default)]
    pub peak_yaw_deg: f32,
    /// Pitch change from neutral at the peak, degrees (+ = up).
    #[serde(default)]
    pub peak_pitch_deg: f32,
    /// Time the threshold was first crossed, ms after issue.
    #[serde(default)]
    pub reached_ms: Option<i64>,
    /// Time the pose came back to neutral, ms after issue.
    #[serde(default)]
    pub completed_ms: Option<i64>,
    /// Deadline of this step, ms after issue (depends on the previous step's completion; 0 for the steps
    /// after the first one not completed).
    #[serde(default)]
    pub deadline_ms: i64,
    /// Nose parallax of the five detector landmarks, inter-ocular distances: median over pairs (one of
    /// the last 3 neutral frames before the movement, one frame past the movement threshold).
    #[serde(default)]
    pub nose_residual: Option<f32>,
    /// Parallax of the tracked feature points between the peak frame and [`Self::parallax_frame`],
    /// inter-ocular distances (see `planarity::track_residual`): the flat-versus-3-D evidence.
    #[serde(default)]
    pub parallax: Option<f32>,
    /// Points the parallax was computed from.
    #[serde(default)]
    pub parallax_points: Option<usize>,
    /// The frame the peak was compared with (same tracked points, farthest along the step's axis).
    #[serde(default)]
    pub parallax_frame: Option<usize>,
}

impl StepEvidence {
    /// A requested movement nothing has been seen of yet.
    pub fn pending(movement: Movement) -> StepEvidence {
        StepEvidence {
            movement,
            completed: false,
            neutral_frame: None,
            peak_frame: None,
            peak_yaw_deg: 0.0,
            peak_pitch_deg: 0.0,
            reached_ms: None,
            completed_ms: None,
            deadline_ms: 0,
            nose_residual: None,
            parallax: None,
            parallax_points: None,
            parallax_frame: None,
        }
    }
}

/// Summary of the planarity test.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlanarityEvidence {
    /// Tracked-point parallax of each completed step that has one. Records of versions before the
    /// tracked points carried nose residuals here.
    pub residuals: Vec<f32>,
    /// The parallax threshold in force.
    pub threshold: f32,
    /// Smallest parallax over the completed steps.
    pub min_residual: Option<f32>,
    /// Nose residual (five detector landmarks) of each completed step that has one.
    pub nose_residuals: Vec<f32>,
}

/// Summary of the consistency checks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsistencyEvidence {
    /// Frames given.
    pub frames: usize,
    /// Frames used for the pose (exactly one face, landmarks, inside the window).
    pub frames_used: usize,
    /// Frames without a face.
    pub frames_without_face: usize,
    /// Embeddings given.
    pub embeddings: usize,
    /// Lowest pairwise cosine similarity of the embeddings.
    pub min_embedding_similarity: Option<f32>,
    /// Largest landmark displacement from the first used frame, inter-ocular distances.
    pub max_motion: f32,
}

/// Summary of the passive check.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PassiveEvidence {
    /// The anti-spoof score, if the model ran.
    pub score: Option<f32>,
    /// The policy's rejection threshold, if any.
    pub reject_above: Option<f32>,
    /// Median sharpness over frames that carry one.
    pub median_sharpness: Option<f32>,
    /// The anti-spoof package's sharpness count on the scored crop, if the model ran.
    pub sharp_pixels: Option<u32>,
}

/// The outcome of [`super::check`], serialisable into the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LivenessVerdict {
    /// True when no reason applies.
    pub passed: bool,
    /// Why it failed (empty when passed).
    pub reasons: Vec<LivenessReason>,
    /// One entry per requested movement.
    pub steps: Vec<StepEvidence>,
    /// The planarity test.
    pub planarity: PlanarityEvidence,
    /// Frames, faces, embeddings.
    pub consistency: ConsistencyEvidence,
    /// Passive model and sharpness.
    pub passive: PassiveEvidence,
    /// The challenge nonce answered.
    pub nonce: String,
    /// The challenge's movements.
    pub challenge: Vec<Movement>,
}

/// How long after its challenge expired a finished liveness attempt may still be used for a check-in
/// (the time to take a location fix and press the button), ms.
pub const SESSION_GRACE_MS: i64 = 60_000;

impl LivenessVerdict {
    /// Fails the verdict when the check at `now` comes more than [`SESSION_GRACE_MS`] after the
    /// challenge's deadline, or in another boot session.
    pub fn expire_at(&mut self, challenge: &Challenge, now: &crate::clock::MonotonicReading) {
        let age = (now.boot_id == challenge.boot_id)
            .then(|| now.monotonic_ms.saturating_sub(challenge.issued_at_ms));
        if age.is_none_or(|a| a > challenge.total_timeout_ms.saturating_add(SESSION_GRACE_MS)) {
            self.reasons
                .push(LivenessReason::SessionExpired { age_ms: age });
            self.passed = false;
        }
    }
}

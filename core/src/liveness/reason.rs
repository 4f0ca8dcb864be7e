//! Why an attempt was rejected: the reasons with their measurements ([`LivenessReason`], as signed into
//! records) and their bare codes ([`LivenessReasonKind`], for callers that only branch on the kind, such
//! as the app's messages).

use serde::{Deserialize, Serialize};

use super::Movement;

/// Why an attempt was rejected. Several can apply at once.
///
/// Serialised with its code in `reason` (`{"reason": "planar_motion", "step": 0, "residual": 0.03}`), the
/// form signed into attendance records. Other versions may add reasons: a code this version does not
/// know reads as [`LivenessReason::Unknown`] (its fields are dropped), and the enum is non-exhaustive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum LivenessReason {
    /// Fewer frames than the policy requires.
    TooFewFrames {
        /// Frames given (or usable).
        frames: usize,
        /// Frames required.
        required: usize,
    },
    /// A frame's timestamp is not after the previous one.
    TimestampsNotIncreasing {
        /// Index of the first offending frame.
        frame: usize,
    },
    /// Frames captured before the challenge was issued: a replayed recording.
    FramesBeforeChallenge {
        /// How many.
        frames: usize,
    },
    /// Two consecutive frames are too far apart in time.
    FrameGap {
        /// Index of the frame after the gap.
        frame: usize,
        /// The gap, ms.
        gap_ms: i64,
    },
    /// More than one face in a frame.
    MultipleFaces {
        /// Index of the first such frame.
        frame: usize,
        /// Frames with more than one face.
        frames: usize,
    },
    /// Too many frames without a face.
    TooManyFramesWithoutFace {
        /// How many.
        frames: usize,
    },
    /// A frame with one face but no (usable) landmarks.
    MissingLandmarks {
        /// Index of the first such frame.
        frame: usize,
    },
    /// The face is too small for the geometry to be reliable.
    FaceTooSmall {
        /// Smallest inter-ocular distance seen, px.
        inter_ocular_px: f32,
    },
    /// The landmarks did not move at all: the same frame repeated.
    StaticSequence {
        /// Largest landmark displacement from the first frame, inter-ocular distances.
        max_motion: f32,
    },
    /// Not enough embeddings to check that the same person stayed in view.
    TooFewEmbeddings {
        /// Embeddings given.
        embeddings: usize,
        /// Embeddings required.
        required: usize,
    },
    /// Two embeddings of the attempt are not of the same person.
    EmbeddingMismatch {
        /// Lowest pairwise cosine similarity.
        min_similarity: f32,
    },
    /// While a movement was expected, the head moved in another direction (wrong order).
    WrongMovement {
        /// Step index (0-based).
        step: usize,
        /// The movement requested.
        expected: Movement,
        /// The movement seen.
        observed: Movement,
    },
    /// The head made a further clear movement after the last requested step: the answer is not exactly
    /// the challenge (a longer recording whose first movements happen to match is a replay).
    ExtraMovement {
        /// The movement seen.
        observed: Movement,
        /// Index of the frame where it crossed the threshold.
        frame: usize,
    },
    /// The check-in came too long after the challenge was issued (or after a reboot): the answer is
    /// not evidence of a live person *at the time of the check*.
    SessionExpired {
        /// Time from issue to the check, ms (`None` after a reboot).
        age_ms: Option<i64>,
    },
    /// A requested movement never happened (or never returned to neutral).
    StepNotCompleted {
        /// Step index (0-based).
        step: usize,
        /// The movement requested.
        expected: Movement,
    },
    /// A movement was completed after its deadline.
    StepTooLate {
        /// Step index (0-based).
        step: usize,
        /// Completion time relative to the deadline, ms (positive = late).
        late_by_ms: i64,
    },
    /// The tracked feature points moved like points on one flat picture during a step (records of
    /// versions before the tracked points: the nose did).
    PlanarMotion {
        /// Step index (0-based).
        step: usize,
        /// Parallax of the tracked points, inter-ocular distances.
        residual: f32,
    },
    /// The parallax of a step could not be computed (too few points tracked through it, or degenerate
    /// landmarks).
    PlanarityUndetermined {
        /// Step index (0-based).
        step: usize,
    },
    /// The nose did not stand out of the plane of the eyes and mouth during a step (the five detector
    /// landmarks' nose parallax below `LivenessPolicy::min_nose_residual`): a flat or gently bent
    /// picture.
    FlatNose {
        /// Step index (0-based).
        step: usize,
        /// Nose residual, inter-ocular distances.
        residual: f32,
    },
    /// The passive anti-spoof score is above the policy threshold.
    PassiveSpoof {
        /// The score.
        score: f32,
    },
    /// The face crops are blurrier than the policy allows.
    TooBlurry {
        /// Median sharpness.
        sharpness: f32,
    },
    /// A reason written by another version that this one does not know (read from a record; never
    /// produced by this version's check).
    #[serde(other)]
    Unknown,
}

impl LivenessReason {
    /// The reason's kind, without its measurements.
    pub fn kind(&self) -> LivenessReasonKind {
        use LivenessReason as R;
        use LivenessReasonKind as K;
        match self {
            R::TooFewFrames { .. } => K::TooFewFrames,
            R::TimestampsNotIncreasing { .. } => K::TimestampsNotIncreasing,
            R::FramesBeforeChallenge { .. } => K::FramesBeforeChallenge,
            R::FrameGap { .. } => K::FrameGap,
            R::MultipleFaces { .. } => K::MultipleFaces,
            R::TooManyFramesWithoutFace { .. } => K::TooManyFramesWithoutFace,
            R::MissingLandmarks { .. } => K::MissingLandmarks,
            R::FaceTooSmall { .. } => K::FaceTooSmall,
            R::StaticSequence { .. } => K::StaticSequence,
            R::TooFewEmbeddings { .. } => K::TooFewEmbeddings,
            R::EmbeddingMismatch { .. } => K::EmbeddingMismatch,
            R::WrongMovement { .. } => K::WrongMovement,
            R::ExtraMovement { .. } => K::ExtraMovement,
            R::SessionExpired { .. } => K::SessionExpired,
            R::StepNotCompleted { .. } => K::StepNotCompleted,
            R::StepTooLate { .. } => K::StepTooLate,
            R::PlanarMotion { .. } => K::PlanarMotion,
            R::PlanarityUndetermined { .. } => K::PlanarityUndetermined,
            R::FlatNose { .. } => K::FlatNose,
            R::PassiveSpoof { .. } => K::PassiveSpoof,
            R::TooBlurry { .. } => K::TooBlurry,
            R::Unknown => K::Unknown,
        }
    }

    /// No later frame can make an attempt with this reason pass (frames out of order or outside the
    /// window, several faces, a wrong or extra movement, a step answered late): the app should start a
    /// new challenge rather than wait.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            LivenessReason::WrongMovement { .. }
                | LivenessReason::ExtraMovement { .. }
                | LivenessReason::MultipleFaces { .. }
                | LivenessReason::TimestampsNotIncreasing { .. }
                | LivenessReason::FramesBeforeChallenge { .. }
                | LivenessReason::FrameGap { .. }
                | LivenessReason::StepTooLate { .. }
        )
    }
}

/// The kind of a [`LivenessReason`], without its measurements: a plain code to branch on or to show.
/// Serialised as the same snake_case code as the reason's `reason` field. Non-exhaustive: other versions
/// may add kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LivenessReasonKind {
    /// Fewer frames than the policy requires.
    TooFewFrames,
    /// A frame's timestamp is not after the previous one.
    TimestampsNotIncreasing,
    /// Frames captured before the challenge was issued: a replayed recording.
    FramesBeforeChallenge,
    /// Two consecutive frames are too far apart in time.
    FrameGap,
    /// More than one face in a frame.
    MultipleFaces,
    /// Too many frames without a face.
    TooManyFramesWithoutFace,
    /// A frame with one face but no (usable) landmarks.
    MissingLandmarks,
    /// The face is too small for the geometry to be reliable.
    FaceTooSmall,
    /// The landmarks did not move at all: the same frame repeated.
    StaticSequence,
    /// Not enough embeddings to check that the same person stayed in view.
    TooFewEmbeddings,
    /// Two embeddings of the attempt are not of the same person.
    EmbeddingMismatch,
    /// While a movement was expected, the head moved in another direction (wrong order).
    WrongMovement,
    /// The head made a further clear movement after the last requested step: the answer is not exactly
    /// the challenge (a longer recording whose first movements happen to match is a replay).
    ExtraMovement,
    /// The check-in came too long after the challenge was issued (or after a reboot): the answer is
    /// not evidence of a live person *at the time of the check*.
    SessionExpired,
    /// A requested movement never happened (or never returned to neutral).
    StepNotCompleted,
    /// A movement was completed after its deadline.
    StepTooLate,
    /// The tracked points moved like points on one flat picture during a step.
    PlanarMotion,
    /// The parallax of a step could not be computed.
    PlanarityUndetermined,
    /// The nose did not stand out of the plane of the eyes and mouth during a step.
    FlatNose,
    /// The passive anti-spoof score is above the policy threshold.
    PassiveSpoof,
    /// The face crops are blurrier than the policy allows.
    TooBlurry,
    /// A reason this version does not know (see [`LivenessReason::Unknown`]).
    #[serde(other)]
    Unknown,
}

impl LivenessReasonKind {
    /// The stable snake_case code (the `reason` field of the serialised [`LivenessReason`]).
    pub fn as_str(self) -> &'static str {
        use LivenessReasonKind as K;
        match self {
            K::TooFewFrames => "too_few_frames",
            K::TimestampsNotIncreasing => "timestamps_not_increasing",
            K::FramesBeforeChallenge => "frames_before_challenge",
            K::FrameGap => "frame_gap",
            K::MultipleFaces => "multiple_faces",
            K::TooManyFramesWithoutFace => "too_many_frames_without_face",
            K::MissingLandmarks => "missing_landmarks",
            K::FaceTooSmall => "face_too_small",
            K::StaticSequence => "static_sequence",
            K::TooFewEmbeddings => "too_few_embeddings",
            K::EmbeddingMismatch => "embedding_mismatch",
            K::WrongMovement => "wrong_movement",
            K::ExtraMovement => "extra_movement",
            K::SessionExpired => "session_expired",
            K::StepNotCompleted => "step_not_completed",
            K::StepTooLate => "step_too_late",
            K::PlanarMotion => "planar_motion",
            K::PlanarityUndetermined => "planarity_undetermined",
            K::FlatNose => "flat_nose",
            K::PassiveSpoof => "passive_spoof",
            K::TooBlurry => "too_blurry",
            K::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for LivenessReasonKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
